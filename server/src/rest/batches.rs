//! Batches (`/api/v1/batches…`): one image deployed to a list of machines or to every machine
//! of one of the caller's reservations, all or none; shown with each machine's job, cancelled,
//! and retried on the machines that failed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::batches::BatchTargets;
use lab::model::{Batch, Transfer};
use lab::rest_api::{NewBatch, Paged};

use super::{ApiError, ApiResult, Body, Caller, Id};
use crate::state::AppState;

#[utoipa::path(get, operation_id = "list_batches", path = "/api/v1/batches", tag = "batches", responses((status = 200, description = "The caller's batches of the last month, newest first", body = Paged<Batch>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<Paged<Batch>>> {
    let batches = state.lab.my_batches(&actor).await?;
    Ok(Json(Paged::of(batches, None, None)))
}

/// `POST /api/v1/batches`: `machines` (ids) or `reservation`, not both.
#[utoipa::path(post, operation_id = "create_batch", path = "/api/v1/batches", tag = "batches", request_body = NewBatch, responses((status = 201, description = "One deploy job per machine, created together", body = Batch), super::Failures))]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewBatch>,
) -> ApiResult<(StatusCode, Json<Batch>)> {
    let targets = match (new.machines.is_empty(), new.reservation) {
        (false, None) => BatchTargets::Machines(new.machines),
        (true, Some(reservation)) => BatchTargets::Reservation(reservation),
        _ => {
            return Err(ApiError::invalid(
                "machines",
                "name the machines, or the reservation whose machines to deploy to (not both)",
            ))
        }
    };
    let transfer = match new.transfer.as_deref() {
        None | Some("") | Some("auto") => None,
        Some(text) => Some(
            Transfer::parse(text)
                .ok_or_else(|| ApiError::invalid("transfer", "must be auto, relay or direct"))?,
        ),
    };
    let batch = state
        .lab
        .create_batch(&actor, new.image_id, targets, transfer)
        .await?;
    Ok((StatusCode::CREATED, Json(batch)))
}

#[utoipa::path(get, operation_id = "show_batch", path = "/api/v1/batches/{id}", tag = "batches", params(("id" = i64, Path)), responses((status = 200, description = "The batch with each machine's latest job", body = Batch), super::Failures))]
pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Batch>> {
    Ok(Json(state.lab.batch(&actor, id).await?))
}

/// `DELETE /api/v1/batches/{id}`: cancels every active job of the batch.
#[utoipa::path(delete, operation_id = "cancel_batch", path = "/api/v1/batches/{id}", tag = "batches", params(("id" = i64, Path)), responses((status = 200, description = "Cancelled", body = Batch), super::Failures))]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Batch>> {
    Ok(Json(state.lab.cancel_batch(&actor, id).await?))
}

/// `POST /api/v1/batches/{id}/retry`: deploys again to the machines that failed or were
/// cancelled.
#[utoipa::path(post, operation_id = "retry_batch", path = "/api/v1/batches/{id}/retry", tag = "batches", params(("id" = i64, Path)), responses((status = 200, description = "The batch with the new jobs", body = Batch), super::Failures))]
pub async fn retry(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Batch>> {
    Ok(Json(state.lab.retry_batch(&actor, id).await?))
}
