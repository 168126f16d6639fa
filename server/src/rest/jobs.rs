//! Jobs (`/api/v1/jobs…`): deploy, save, inventory and management-OS boots, created by the same
//! rules as on the machine page (within the caller's reservation, one active job a machine),
//! listed, shown with their phases, and cancelled.

use app::error::AppError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::jobs::JobRequest;
use lab::model::{Job, JobKind};
use lab::rest_api::{NewJob, Paged};
use serde::Deserialize;

use super::{ApiResult, Body, Caller, Id, Params};
use crate::http::AppState;

/// `GET /api/v1/jobs?machine=&limit=&offset=`: one machine's jobs, newest first; without
/// `machine`, the latest job of every machine the caller sees.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JobQuery {
    machine: Option<i64>,
    limit: Option<usize>,
    offset: Option<usize>,
}

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

pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewJob>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let kind = JobKind::parse(&new.kind)
        .ok_or_else(|| AppError::invalid("kind", "must be deploy, save, inventory or boot"))?;
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

pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.lab.job(&actor, id).await?))
}

/// `DELETE /api/v1/jobs/{id}`: cancels an active job; the ended job is returned.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.lab.cancel_job(&actor, id).await?))
}
