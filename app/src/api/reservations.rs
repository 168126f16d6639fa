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

/// The lab calendar: machines × the `days` days from `from` (a date, `YYYY-MM-DD`, UTC; empty:
/// today), filtered by tag.
#[server(endpoint = "calendar")]
pub async fn calendar(
    tag: String,
    from: String,
    days: i64,
) -> Result<lab::model::CalendarView, AppError> {
    use crate::auth::{actor, lab};
    let lab = lab()?;
    let now = lab.now();
    let from = match from.trim() {
        "" => now - now.rem_euclid(86_400),
        text => lab::model::parse_datetime_local(&format!("{text}T00:00"))
            .ok_or_else(|| AppError::invalid("from", "is not a date like 2026-12-01"))?,
    };
    let days = days.clamp(1, 31);
    let to = from + days * 86_400;
    Ok(lab::model::CalendarView {
        rows: lab.calendar(&actor().await?, &tag, from, to).await?,
        from,
        to,
        now,
    })
}

/// Books `count` free machines with the tag for the chosen time, all or none.
#[server(endpoint = "reserve_any")]
pub async fn reserve_any(
    tag: String,
    count: String,
    start: String,
    end: String,
    note: String,
) -> Result<Vec<Reservation>, AppError> {
    use crate::auth::{actor, lab};
    let count = match count.trim() {
        "" => 1,
        text => text
            .parse::<u32>()
            .map_err(|_| AppError::invalid("count", "is not a whole number of machines"))?,
    };
    let start = parse_time("start", &start)?;
    let end = parse_time("end", &end)?;
    Ok(lab()?
        .reserve_set(&actor().await?, &tag, count, start, end, &note)
        .await?)
}
