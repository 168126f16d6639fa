//! `baas events`: the lab's live changes as they happen. A person reads one line per change —
//! the time, the machine and where its job stands now; `--json` keeps the raw events (with the
//! job as it stands) for scripts.

use lab::model::Job;
use reqwest::Method;

use super::commands::{machine_id, with_query};
use super::jobs::job_line;
use super::output::{parse_duration, when};
use super::{Client, ClientError, Failure, Result};

pub(super) async fn follow(
    client: &Client,
    json: bool,
    machine: Option<String>,
    duration: Option<String>,
) -> Result<()> {
    let mut query = Vec::new();
    if let Some(machine) = machine {
        query.push(("machine", machine_id(client, &machine).await?.to_string()));
    }
    if let Some(duration) = duration {
        query.push(("max_seconds", parse_duration(&duration)?.to_string()));
    }
    events(client, &with_query("/api/v1/events", &query), json).await?;
    Ok(())
}

/// Prints the server-sent events of `path` as they come: one line (or JSON object) each.
pub(super) async fn events(client: &Client, path: &str, json: bool) -> Result<()> {
    use futures_util::StreamExt;
    let response = client
        .send(
            client
                .request(Method::GET, path)
                .header("accept", "text/event-stream"),
        )
        .await?;
    let mut stream = response.bytes_stream();
    let mut pending = String::new();
    let (mut event, mut data, mut id) = (String::new(), String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ClientError::new(Failure::Server, format!("the event stream broke: {e}"))
        })?;
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line = pending[..end].trim_end_matches('\r').to_string();
            pending.drain(..=end);
            if let Some(value) = line.strip_prefix("event:") {
                event = value.trim().to_string();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim());
            } else if let Some(value) = line.strip_prefix("id:") {
                id = value.trim().to_string();
            } else if line.is_empty() && !data.is_empty() {
                let fields = serde_json::from_str::<serde_json::Value>(&data)
                    .unwrap_or(serde_json::Value::String(data.clone()));
                let job = match fields["job_id"].as_i64() {
                    // The job as it stands now: the event only says that it changed.
                    Some(job) => client.get::<Job>(&format!("/api/v1/jobs/{job}")).await.ok(),
                    None => None,
                };
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": id, "event": event, "data": fields, "job": job })
                    );
                } else {
                    println!("{}", describe(&event, &job));
                }
                data.clear();
                event.clear();
            }
        }
    }
    Ok(())
}

/// One event for a person: when, which machine, and the job's state and progress.
fn describe(event: &str, job: &Option<Job>) -> String {
    let now = when(lab::now());
    match (event, job) {
        ("resync", _) => format!("{now}  (changes were missed; what follows is current)"),
        (_, Some(job)) if !job.state.is_final() && job.progress.total > 0 => format!(
            "{now}  {} ({}%)",
            job_line(job),
            job.progress.done * 100 / job.progress.total
        ),
        (_, Some(job)) => format!("{now}  {}", job_line(job)),
        (event, None) => format!("{now}  {event}"),
    }
}
