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
    /// The machine's latest jobs, newest first (the history under the current one).
    pub recent: Vec<Job>,
    /// Whether the server has a management OS to boot; without one, jobs wait.
    pub management_os_configured: bool,
    pub now: i64,
    /// What the disk holds: an image a verified deploy wrote, or unknown.
    pub disk: String,
    /// The last hardware report of the machine's agent.
    pub hardware: Option<lab::agent_protocol::HardwareReport>,
    /// When the agent was last heard from, and whether it has gone silent (two heartbeats
    /// missed while its job runs).
    pub agent_seen: Option<i64>,
    pub agent_silent: bool,
    /// The last lines the machine printed on its console during the latest job, for those
    /// who may see its console (empty otherwise, or without a recording).
    pub console_tail: Vec<String>,
}

/// The raw images `actor` sees, as the deploy forms list them.
#[cfg(feature = "ssr")]
pub(crate) async fn deployable_images(
    lab: &lab::Lab,
    actor: &lab::Actor,
) -> Result<Vec<DeployableImage>, AppError> {
    let filter = lab::model::ImageFilter {
        format: "raw".into(),
        ..Default::default()
    };
    Ok(lab
        .images(actor, &filter)
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
        .collect())
}

/// How many of the latest job's console lines the panel shows.
pub const CONSOLE_TAIL_LINES: usize = 15;

#[server(endpoint = "jobs/panel")]
pub async fn job_panel(machine_id: i64) -> Result<JobOverview, AppError> {
    use crate::auth::{actor, lab};
    let (actor, lab) = (actor().await?, lab()?);
    let can_start = lab.may_control_power(&actor, machine_id).await?;
    let latest = lab.latest_job(&actor, machine_id).await?;
    let images = if can_start {
        deployable_images(&lab, &actor).await?
    } else {
        Vec::new()
    };
    let now = lab::now();
    let agent_seen = lab.machine_agent_seen(&actor, machine_id).await?;
    let agent_running = latest.as_ref().is_some_and(|job| job.state.agent_at_work());
    let silence = 2 * lab::agents::HEARTBEAT_SECONDS as i64;
    let disk = match lab.machine_disk(&actor, machine_id).await? {
        (_, Some(id)) => match lab.image(&actor, id).await {
            Ok(image) => format!(
                "{} v{} (written and verified by baas)",
                image.name, image.version
            ),
            Err(_) => "an image you cannot see (written and verified by baas)".into(),
        },
        _ => "unknown (no verified deploy since the last change)".into(),
    };
    // The job's console: for whoever asked for it and the machine's managers (as the API's
    // job console): the holder now may not read the previous holder's job.
    let console_tail = match &latest {
        Some(job)
            if job.requested_by.as_deref() == Some(actor.username.as_str())
                || matches!(
                    lab.console_role(&actor, machine_id).await,
                    Ok(lab::consoles::ConsoleRole::Manager)
                ) =>
        {
            let log = crate::auth::conductor()?.consoles().job_log(job.id);
            let text = String::from_utf8_lossy(&log);
            let lines: Vec<String> = text
                .split(['\r', '\n'])
                .map(str::trim_end)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect();
            lines[lines.len().saturating_sub(CONSOLE_TAIL_LINES)..].to_vec()
        }
        _ => Vec::new(),
    };
    Ok(JobOverview {
        console_tail,
        can_start,
        images,
        latest,
        recent: lab.jobs(&actor, machine_id).await?,
        // The build of this machine's architecture, not any build.
        management_os_configured: use_context::<crate::api::machines::NetbootSettings>()
            .unwrap_or_default()
            .management_os
            .serves(lab.machine(&actor, machine_id).await?.platform),
        now,
        disk,
        hardware: lab.machine_hardware(&actor, machine_id).await?,
        agent_silent: agent_running && agent_seen.is_some_and(|seen| now - seen > silence),
        agent_seen,
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
