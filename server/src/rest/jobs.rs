//! Jobs (`/api/v1/jobs…`): deploy, save, inventory and management-OS boots, created by the same
//! rules as on the machine page (within the caller's reservation, one active job a machine),
//! listed, shown with their phases, and cancelled.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::jobs::JobRequest;
use lab::model::{Job, JobKind};
use lab::rest_api::{NewJob, Paged};
use serde::Deserialize;

use super::{ApiError, ApiResult, Body, Caller, Id, Params};
use crate::state::AppState;

/// `GET /api/v1/jobs?machine=&limit=&offset=`: one machine's jobs, newest first; without
/// `machine`, the latest job of every machine the caller sees.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct JobQuery {
    machine: Option<i64>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[utoipa::path(get, operation_id = "list_jobs", path = "/api/v1/jobs", tag = "jobs", params(JobQuery), responses((status = 200, description = "Jobs", body = Paged<Job>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<JobQuery>,
) -> ApiResult<Json<Paged<Job>>> {
    let jobs = match query.machine {
        Some(machine) => state.lab.jobs(&actor, machine).await?,
        None => {
            let mut latest = Vec::new();
            for machine in state.lab.machines(&actor).await? {
                if let Some(job) = state.lab.latest_job(&actor, machine.id).await? {
                    latest.push(job);
                }
            }
            latest.sort_by_key(|job| std::cmp::Reverse(job.id));
            latest
        }
    };
    Ok(Json(Paged::of(jobs, query.limit, query.offset)))
}

#[utoipa::path(post, operation_id = "create_job", path = "/api/v1/jobs", tag = "jobs", request_body = NewJob, responses((status = 201, description = "Created", body = Job), super::Failures))]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewJob>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let kind = JobKind::parse(&new.kind)
        .ok_or_else(|| ApiError::invalid("kind", "must be deploy, save, inventory or boot"))?;
    let request = JobRequest {
        machine_id: new.machine_id,
        kind,
        image_id: new.image_id,
        save_as: new.save_as,
        at: new.at,
    };
    let job = state.lab.create_job(&actor, &request).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

#[utoipa::path(get, operation_id = "show_job", path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, description = "One job with its phases", body = Job), super::Failures))]
pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.lab.job(&actor, id).await?))
}

/// `DELETE /api/v1/jobs/{id}`: cancels an active job; the ended job is returned.
#[utoipa::path(delete, operation_id = "cancel_job", path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, description = "Cancelled", body = Job), super::Failures))]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.lab.cancel_job(&actor, id).await?))
}
