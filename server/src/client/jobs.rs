//! `baas deploy`, `save`, `jobs`: jobs on machines, followed to their end with `--wait`.

use std::time::Duration;

use lab::model::{Job, JobState};
use lab::rest_api::{NewJob, Paged};
use reqwest::Method;

use super::commands::{image_id, machine_id, JobCommand};
use super::output::{show, when};
use super::{Client, ClientError, Failure, Result};

pub(super) async fn deploy(
    client: &Client,
    json: bool,
    image: String,
    machine: String,
    save_as: String,
    wait: bool,
) -> Result<()> {
    let new = NewJob {
        machine_id: machine_id(client, &machine).await?,
        kind: "deploy".into(),
        image_id: Some(image_id(client, &image).await?),
        save_as,
        at: None,
    };
    start_job(client, &new, wait, json).await?;
    Ok(())
}

pub(super) async fn save(
    client: &Client,
    json: bool,
    machine: String,
    name: String,
    wait: bool,
) -> Result<()> {
    let new = NewJob {
        machine_id: machine_id(client, &machine).await?,
        kind: "save".into(),
        image_id: None,
        save_as: name,
        at: None,
    };
    start_job(client, &new, wait, json).await?;
    Ok(())
}

pub(super) async fn run(
    client: &Client,
    json: bool,
    machine: Option<String>,
    command: Option<JobCommand>,
) -> Result<()> {
    match command {
        Some(JobCommand::Show { job }) => {
            let job: Job = client.get(&format!("/api/v1/jobs/{job}")).await?;
            let rows = job
                .phases
                .iter()
                .map(|p| vec![p.state.to_string(), when(p.at), p.detail.clone()])
                .collect();
            show(json, &job, &["phase", "at", "detail"], rows);
        }
        Some(JobCommand::Cancel { job }) => {
            let job: Job = client
                .call(Method::DELETE, &format!("/api/v1/jobs/{job}"), &())
                .await?;
            show(json, &job, &["job"], vec![vec![job_line(&job)]]);
        }
        None => {
            let path = match machine {
                Some(machine) => format!(
                    "/api/v1/jobs?machine={}",
                    machine_id(client, &machine).await?
                ),
                None => "/api/v1/jobs".into(),
            };
            let page: Paged<Job> = client.get(&path).await?;
            let rows = page
                .items
                .iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.machine.clone(),
                        j.kind.to_string(),
                        j.state.to_string(),
                        j.image
                            .as_ref()
                            .map(|i| format!("{} v{}", i.name, i.version))
                            .unwrap_or_default(),
                        when(j.created_at),
                    ]
                })
                .collect();
            show(
                json,
                &page,
                &["id", "machine", "kind", "state", "image", "created"],
                rows,
            );
        }
    };
    Ok(())
}

/// Creates the job and, with `wait`, follows it to its end, showing phases and a progress bar.
pub(super) async fn start_job(client: &Client, new: &NewJob, wait: bool, json: bool) -> Result<()> {
    let job: Job = client.call(Method::POST, "/api/v1/jobs", new).await?;
    if !wait {
        show(json, &job, &["job"], vec![vec![job_line(&job)]]);
        return Ok(());
    }
    if !json {
        eprintln!("job {} created: {}", job.id, job_line(&job));
    }
    let path = format!("/api/v1/jobs/{}", job.id);
    let mut shown_phases = 0;
    loop {
        let job: Job = client.get_patiently(&path).await?;
        if !json {
            for phase in job.phases.iter().skip(shown_phases) {
                eprintln!(
                    "\r{:<11} {}  {}",
                    phase.state.to_string(),
                    when(phase.at),
                    phase.detail
                );
            }
            shown_phases = job.phases.len();
            if job.progress.total > 0 && !job.state.is_final() {
                super::output::progress(
                    &job.state.to_string(),
                    job.progress.done as u64,
                    job.progress.total as u64,
                    job.progress.bytes_per_second as u64,
                );
            }
        }
        if job.state.is_final() {
            if json {
                println!("{}", serde_json::to_string_pretty(&job).unwrap_or_default());
            }
            return match job.state {
                JobState::Booted => Ok(()),
                JobState::BootUnobserved => Err(ClientError::new(
                    Failure::Unobserved,
                    format!("job {} ended boot-unobserved: {}", job.id, job.reason),
                )),
                state => Err(ClientError::new(
                    Failure::Other,
                    format!(
                        "job {} ended {state}: {} {}",
                        job.id, job.failed_step, job.reason
                    ),
                )),
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(super) fn job_line(job: &Job) -> String {
    let image = job
        .image
        .as_ref()
        .map(|i| format!(" of {} v{}", i.name, i.version))
        .unwrap_or_default();
    format!(
        "job {}: {}{image} on {}: {}",
        job.id, job.kind, job.machine, job.state
    )
}
