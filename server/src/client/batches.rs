//! `baas deploy IMAGE node-01 node-02 …` and `--reservation R`: one image to many machines as a
//! batch, followed with `--wait` as one line per change and a summary, exiting 0 only when
//! every machine booted the image.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lab::model::{Batch, JobState};
use lab::rest_api::{NewBatch, Paged};
use reqwest::Method;

use super::commands::{image_id, machine_id, BatchCommand};
use super::output::{bytes, show};
use super::{Client, ClientError, Failure, Result};

/// How often the batch is read while waiting, and how often the summary line is repeated.
const POLL: Duration = Duration::from_secs(2);
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

pub(super) async fn deploy(
    client: &Client,
    json: bool,
    image: String,
    machines: Vec<String>,
    reservation: Option<i64>,
    transfer: Option<String>,
    wait: bool,
) -> Result<()> {
    let mut ids = Vec::with_capacity(machines.len());
    for machine in &machines {
        ids.push(machine_id(client, machine).await?);
    }
    let new = NewBatch {
        image_id: image_id(client, &image).await?,
        machines: ids,
        reservation,
        transfer,
    };
    let batch: Batch = client.call(Method::POST, "/api/v1/batches", &new).await?;
    if !wait {
        show_batch(json, &batch);
        return Ok(());
    }
    if !json {
        eprintln!(
            "batch {}: {} to {} machines ({})",
            batch.id,
            image,
            batch.jobs.len(),
            batch.transfer
        );
    }
    follow(client, json, batch.id).await
}

pub(super) async fn run(client: &Client, json: bool, command: Option<BatchCommand>) -> Result<()> {
    match command {
        None => {
            let page: Paged<Batch> = client.get("/api/v1/batches").await?;
            let rows = page
                .items
                .iter()
                .map(|b| {
                    vec![
                        b.id.to_string(),
                        b.image
                            .as_ref()
                            .map(|i| format!("{} v{}", i.name, i.version))
                            .unwrap_or_default(),
                        b.transfer.to_string(),
                        b.tally().summary(),
                    ]
                })
                .collect();
            show(
                json,
                &page,
                &["batch", "image", "transfer", "machines"],
                rows,
            );
            Ok(())
        }
        Some(BatchCommand::Show { batch, wait: false }) => {
            let batch: Batch = client.get(&format!("/api/v1/batches/{batch}")).await?;
            show_batch(json, &batch);
            Ok(())
        }
        Some(BatchCommand::Show { batch, wait: true }) => follow(client, json, batch).await,
        Some(BatchCommand::Cancel { batch }) => {
            let batch: Batch = client
                .call(Method::DELETE, &format!("/api/v1/batches/{batch}"), &())
                .await?;
            show_batch(json, &batch);
            Ok(())
        }
        Some(BatchCommand::Retry { batch, wait }) => {
            let retried: Batch = client
                .call(Method::POST, &format!("/api/v1/batches/{batch}/retry"), &())
                .await?;
            if wait {
                follow(client, json, retried.id).await
            } else {
                show_batch(json, &retried);
                Ok(())
            }
        }
    }
}

/// Follows a batch to its end: a line whenever a machine changes phase, a summary now and then.
async fn follow(client: &Client, json: bool, id: i64) -> Result<()> {
    let path = format!("/api/v1/batches/{id}");
    let mut seen: HashMap<i64, JobState> = HashMap::new();
    let mut summarised = Instant::now();
    loop {
        let batch: Batch = client.get_patiently(&path).await?;
        if !json {
            for job in &batch.jobs {
                if seen.insert(job.id, job.state) != Some(job.state) {
                    let why = if job.state == JobState::Failed {
                        format!("  {}: {}", job.failed_step, job.reason)
                    } else {
                        String::new()
                    };
                    eprintln!("{:<16} {}{why}", job.machine, job.state);
                }
            }
            if summarised.elapsed() >= SUMMARY_EVERY || batch.finished() {
                eprintln!("{}", summary(&batch));
                summarised = Instant::now();
            }
        }
        if batch.finished() {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&batch).unwrap_or_default()
                );
            }
            let failures: Vec<String> = batch
                .jobs
                .iter()
                .filter(|j| !matches!(j.state, JobState::Booted | JobState::BootUnobserved))
                .map(|j| {
                    format!("{} {} {} {}", j.machine, j.state, j.failed_step, j.reason)
                        .trim_end()
                        .to_string()
                })
                .collect();
            let unobserved: Vec<&str> = batch
                .jobs
                .iter()
                .filter(|j| j.state == JobState::BootUnobserved)
                .map(|j| j.machine.as_str())
                .collect();
            if !failures.is_empty() {
                return Err(ClientError::new(
                    Failure::Other,
                    format!(
                        "batch {id}: {} of {} machines did not boot the image:\n  {}",
                        failures.len(),
                        batch.jobs.len(),
                        failures.join("\n  ")
                    ),
                ));
            }
            if !unobserved.is_empty() {
                // As for one deploy: written, verified and rebooted, but nobody saw the boot.
                return Err(ClientError::new(
                    Failure::Unobserved,
                    format!(
                        "batch {id}: written, verified and rebooted everywhere; the boot of {} could not be watched",
                        unobserved.join(", ")
                    ),
                ));
            }
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `8 machines: 3 booted, 1 failed, 4 running; 1.2 GiB of 2.0 GiB written at 80 MiB/s, about 10 s left`.
fn summary(batch: &Batch) -> String {
    let tally = batch.tally();
    let mut line = format!("{} machines: {}", tally.machines, tally.summary());
    if tally.bytes_total > 0 {
        line.push_str(&format!(
            "; {} of {} written",
            bytes(tally.bytes_done as u64),
            bytes(tally.bytes_total as u64)
        ));
        if let Some(left) = tally.seconds_left() {
            line.push_str(&format!(
                " at {}/s, about {left} s left",
                bytes(tally.bytes_per_second as u64)
            ));
        }
    }
    line
}

fn show_batch(json: bool, batch: &Batch) {
    let rows = batch
        .jobs
        .iter()
        .map(|j| {
            vec![
                batch.id.to_string(),
                j.machine.clone(),
                j.id.to_string(),
                j.state.to_string(),
            ]
        })
        .collect();
    show(json, batch, &["batch", "machine", "job", "state"], rows);
}
