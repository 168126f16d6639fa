//! Reservations (`/api/v1/reservations…`): the caller's own, or one machine's; booking,
//! moving the end (or, before it began, the start), and giving one back. A clash is a 409 that
//! names the reservation in the way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::model::{Reservation, ReservationState};
use lab::rest_api::{AnyReservation, NewReservation, Paged, ReservationChange, ReservationSet};
use serde::Deserialize;

use super::{ApiResult, Body, Caller, Id, Params};
use crate::state::AppState;

/// `GET /api/v1/reservations?machine=&limit=&offset=`: without `machine`, the caller's own
/// (current and future first, then the last month); with it, that machine's.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct ReservationQuery {
    machine: Option<i64>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[utoipa::path(get, operation_id = "list_reservations", path = "/api/v1/reservations", tag = "reservations", params(ReservationQuery), responses((status = 200, description = "Reservations", body = Paged<Reservation>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<ReservationQuery>,
) -> ApiResult<Json<Paged<Reservation>>> {
    let reservations = match query.machine {
        Some(machine) => state.lab.machine_reservations(&actor, machine).await?,
        None => state.lab.my_reservations(&actor).await?,
    };
    Ok(Json(Paged::of(reservations, query.limit, query.offset)))
}

#[utoipa::path(post, operation_id = "create_reservation", path = "/api/v1/reservations", tag = "reservations", request_body = NewReservation, responses((status = 201, description = "Booked", body = Reservation), super::Failures))]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewReservation>,
) -> ApiResult<(StatusCode, Json<Reservation>)> {
    let reservation = state
        .lab
        .reserve(&actor, new.machine_id, new.start_at, new.end_at, &new.note)
        .await?;
    Ok((StatusCode::CREATED, Json(reservation)))
}

/// `POST /api/v1/reservations/any`: books `count` free machines with the tag that the caller
/// may use, all or none; when too few are free then, the 409 says how many are and from when
/// enough are.
#[utoipa::path(post, operation_id = "reserve_any", path = "/api/v1/reservations/any", tag = "reservations", request_body = AnyReservation, responses((status = 201, description = "Booked on free machines with the tag, all at once", body = ReservationSet), super::Failures))]
pub async fn create_any(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<AnyReservation>,
) -> ApiResult<(StatusCode, Json<ReservationSet>)> {
    let reservations = state
        .lab
        .reserve_set(
            &actor,
            &new.tag,
            new.count.unwrap_or(1),
            new.start_at,
            new.end_at,
            &new.note,
        )
        .await?;
    let set_id = reservations
        .first()
        .map(|r| r.set_id.unwrap_or(r.id))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(ReservationSet {
            set_id,
            reservations,
        }),
    ))
}

#[utoipa::path(get, operation_id = "show_reservation", path = "/api/v1/reservations/{id}", tag = "reservations", params(("id" = i64, Path)), responses((status = 200, description = "One reservation", body = Reservation), super::Failures))]
pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Reservation>> {
    Ok(Json(state.lab.reservation(&actor, id).await?))
}

#[utoipa::path(patch, operation_id = "change_reservation", path = "/api/v1/reservations/{id}", tag = "reservations", params(("id" = i64, Path)), request_body = ReservationChange, responses((status = 200, description = "Moved", body = Reservation), super::Failures))]
pub async fn change(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(change): Body<ReservationChange>,
) -> ApiResult<Json<Reservation>> {
    let current = state.lab.reservation(&actor, id).await?;
    let start = change.start_at.unwrap_or(current.start_at);
    let end = change.end_at.unwrap_or(current.end_at);
    Ok(Json(state.lab.reschedule(&actor, id, start, end).await?))
}

/// `DELETE /api/v1/reservations/{id}`: the holder gives it back; a manager of the machine
/// (or an admin) ends someone else's.
#[utoipa::path(delete, operation_id = "end_reservation", path = "/api/v1/reservations/{id}", tag = "reservations", params(("id" = i64, Path)), responses((status = 204, description = "Released (own) or cancelled (managed)"), super::Failures))]
pub async fn end(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    let current = state.lab.reservation(&actor, id).await?;
    if current.state != ReservationState::Active {
        return Err(lab::Error::Conflict(format!("reservation {id} has already ended")).into());
    }
    if actor.user_id == Some(current.user_id) {
        state.lab.release(&actor, id).await?;
    } else {
        state.lab.cancel(&actor, id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/calendar?tag=&from=&to=`: the machines the caller may view (with the tag) and
/// their active reservations in `[from, to)` (Unix seconds; default: today, 00:00 UTC, for a week).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct CalendarQuery {
    tag: String,
    from: Option<i64>,
    to: Option<i64>,
}

#[utoipa::path(get, operation_id = "calendar", path = "/api/v1/calendar", tag = "reservations", params(CalendarQuery), responses((status = 200, description = "Machines and their bookings in the window", body = Vec<lab::model::CalendarRow>), super::Failures))]
pub async fn calendar(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<CalendarQuery>,
) -> ApiResult<Json<Vec<lab::model::CalendarRow>>> {
    let now = state.lab.now();
    let from = query.from.unwrap_or(now - now.rem_euclid(86_400));
    let to = query.to.unwrap_or(from.saturating_add(7 * 86_400));
    Ok(Json(
        state.lab.calendar(&actor, &query.tag, from, to).await?,
    ))
}

/// `GET /api/v1/notices?unread=`: the caller's notices, newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct NoticeQuery {
    /// Only those not read yet.
    unread: bool,
}

#[utoipa::path(get, operation_id = "list_notices", path = "/api/v1/notices", tag = "reservations", params(NoticeQuery), responses((status = 200, description = "The caller's notices", body = Vec<lab::model::Notice>), super::Failures))]
pub async fn notices(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<NoticeQuery>,
) -> ApiResult<Json<Vec<lab::model::Notice>>> {
    Ok(Json(state.lab.notices(&actor, query.unread).await?))
}
