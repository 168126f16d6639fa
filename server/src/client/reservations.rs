//! `baas reserve`, `extend`, `release`, `reservations`: bookings.

use lab::model::Reservation;
use lab::rest_api::{AnyReservation, NewReservation, Paged, ReservationChange, ReservationSet};
use reqwest::Method;

use super::commands::machine_id;
use super::output::{parse_duration, parse_time, show, when};
use super::{Client, ClientError, Failure, Result};

/// What `baas reserve` books: one named machine, or `count` machines with a tag.
pub(super) enum Booking {
    Machine(String),
    Tagged { tag: String, count: u32 },
}

pub(super) async fn reserve(
    client: &Client,
    json: bool,
    what: Booking,
    duration: Option<String>,
    from: String,
    until: Option<String>,
    note: String,
) -> Result<()> {
    let start_at = parse_time(&from)?;
    let end_at = match (duration, until) {
        (Some(duration), _) => start_at + parse_duration(&duration)?,
        (None, Some(until)) => parse_time(&until)?,
        (None, None) => {
            return Err(ClientError::new(
                Failure::Usage,
                "say how long: --for 2h or --until TIME",
            ))
        }
    };
    match what {
        Booking::Machine(machine) => {
            let machine_id = machine_id(client, &machine).await?;
            let new = NewReservation {
                machine_id,
                start_at,
                end_at,
                note,
            };
            let reservation: Reservation = client
                .call(Method::POST, "/api/v1/reservations", &new)
                .await?;
            show_reservations(json, &reservation, std::slice::from_ref(&reservation));
        }
        Booking::Tagged { tag, count } => {
            let new = AnyReservation {
                tag,
                count: Some(count),
                start_at,
                end_at,
                note,
            };
            let set: ReservationSet = client
                .call(Method::POST, "/api/v1/reservations/any", &new)
                .await?;
            show_reservations(json, &set, &set.reservations);
            if !json && set.reservations.len() > 1 {
                println!(
                    "set {}: deploy to all of it with baas deploy IMAGE --reservation {}",
                    set.set_id, set.set_id
                );
            }
        }
    }
    Ok(())
}

pub(super) async fn extend(
    client: &Client,
    json: bool,
    reservation: i64,
    by: Option<String>,
    until: Option<String>,
) -> Result<()> {
    let path = format!("/api/v1/reservations/{reservation}");
    let end_at = match (by, until) {
        (Some(by), _) => {
            let current: Reservation = client.get(&path).await?;
            current.end_at + parse_duration(&by)?
        }
        (None, Some(until)) => parse_time(&until)?,
        (None, None) => {
            return Err(ClientError::new(
                Failure::Usage,
                "say how: --by 1h or --until TIME",
            ))
        }
    };
    let change = ReservationChange {
        start_at: None,
        end_at: Some(end_at),
    };
    let changed: Reservation = client.call(Method::PATCH, &path, &change).await?;
    show_reservations(json, &changed, std::slice::from_ref(&changed));
    Ok(())
}

pub(super) async fn release(client: &Client, json: bool, reservation: i64) -> Result<()> {
    client
        .act::<()>(
            Method::DELETE,
            &format!("/api/v1/reservations/{reservation}"),
            None,
        )
        .await?;
    if !json {
        println!("reservation {reservation} released");
    }
    Ok(())
}

pub(super) async fn list(client: &Client, json: bool, machine: Option<String>) -> Result<()> {
    let path = match machine {
        Some(machine) => format!(
            "/api/v1/reservations?machine={}",
            machine_id(client, &machine).await?
        ),
        None => "/api/v1/reservations".into(),
    };
    let page: Paged<Reservation> = client.get(&path).await?;
    show_reservations(json, &page, &page.items);
    Ok(())
}

pub(super) fn show_reservations<T: serde::Serialize>(
    json: bool,
    value: &T,
    reservations: &[Reservation],
) {
    let rows = reservations
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.machine_name.clone(),
                r.username.clone(),
                when(r.start_at),
                when(r.end_at),
                r.state.to_string(),
                r.note.clone(),
            ]
        })
        .collect();
    show(
        json,
        value,
        &["id", "machine", "user", "from", "until", "state", "note"],
        rows,
    );
}
