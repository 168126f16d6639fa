//! Jobs from the machine page: what can be deployed, the machine's current job with its
//! phases and progress, and starting one.

use lab::model::Job;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// An image the caller may write to a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployableImage {
    pub id: i64,
    /// `name v3 (1.2 GiB, zstd)`.
    pub label: String,
}

/// The machine page's job section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOverview {
    /// Whether the caller may start a job now.
    pub can_start: bool,
    /// Raw images the caller sees (only when they may start a job).
    pub images: Vec<DeployableImage>,
    /// The latest job, with its phases.
    pub latest: Option<Job>,
    pub now: i64,
}

#[server(endpoint = "jobs/panel")]
pub async fn job_panel(machine_id: i64) -> Result<JobOverview, AppError> {
    use crate::auth::{actor, lab};
    let (actor, lab) = (actor().await?, lab()?);
    let can_start = lab.may_control_power(&actor, machine_id).await?;
    let latest = match lab.jobs(&actor, machine_id).await?.first() {
        Some(job) => Some(lab.job(&actor, job.id).await?),
        None => None,
    };
    let images = if can_start {
        let filter = lab::model::ImageFilter {
            format: "raw".into(),
            ..Default::default()
        };
        lab.images(&actor, &filter)
            .await?
            .into_iter()
            .map(|image| DeployableImage {
                id: image.id,
                label: format!(
                    "{} v{} ({}, {})",
                    image.name,
                    image.version,
                    lab::model::format_bytes(image.content_size.unwrap_or(image.stored_size)),
                    image.compression
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(JobOverview {
        can_start,
        images,
        latest,
        now: lab::now(),
    })
}

/// Starts a deploy, save or inventory job; `at` (UTC `datetime-local`, optional) schedules it
/// inside the caller's reservation.
#[server(endpoint = "jobs/create")]
pub async fn create_job(
    machine_id: i64,
    kind: String,
    #[server(default)] image_id: Option<i64>,
    #[server(default)] save_as: String,
    #[server(default)] at: String,
) -> Result<Job, AppError> {
    use crate::auth::{actor, lab};
    let kind = lab::model::JobKind::parse(&kind)
        .ok_or_else(|| AppError::invalid("kind", "must be deploy, save, inventory or boot"))?;
    let at = match at.trim() {
        "" => None,
        text => Some(lab::model::parse_datetime_local(text).ok_or_else(|| {
            AppError::invalid("at", "is not a date and time like 2026-11-22T14:00")
        })?),
    };
    let request = lab::jobs::JobRequest {
        machine_id,
        kind,
        image_id,
        save_as,
        at,
    };
    Ok(lab()?.create_job(&actor().await?, &request).await?)
}
