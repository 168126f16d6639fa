//! Booking, changing and ending reservations. Times arrive as `datetime-local` text in UTC.

use lab::model::Reservation;
use leptos::prelude::*;

use crate::error::AppError;

#[cfg(feature = "ssr")]
fn parse_time(field: &str, value: &str) -> Result<i64, AppError> {
    lab::model::parse_datetime_local(value)
        .ok_or_else(|| AppError::invalid(field, "is not a date and time like 2026-11-22T14:00"))
}

#[server(endpoint = "reserve")]
pub async fn reserve(
    machine_id: i64,
    start: String,
    end: String,
    note: String,
) -> Result<Reservation, AppError> {
    use crate::auth::{actor, lab};
    let start = parse_time("start", &start)?;
    let end = parse_time("end", &end)?;
    Ok(lab()?
        .reserve(&actor().await?, machine_id, start, end, &note)
        .await?)
}

#[server(endpoint = "reschedule")]
pub async fn reschedule(id: i64, start: String, end: String) -> Result<Reservation, AppError> {
    use crate::auth::{actor, lab};
    let start = parse_time("start", &start)?;
    let end = parse_time("end", &end)?;
    Ok(lab()?.reschedule(&actor().await?, id, start, end).await?)
}

#[server(endpoint = "release")]
pub async fn release(id: i64) -> Result<(), AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.release(&actor().await?, id).await?)
}

#[server(endpoint = "cancel")]
pub async fn cancel(id: i64) -> Result<(), AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.cancel(&actor().await?, id).await?)
}

#[server(endpoint = "my_reservations")]
pub async fn my_reservations() -> Result<Vec<Reservation>, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.my_reservations(&actor().await?).await?)
}
