//! Progress reports to baas, about once a second: phase, bytes done and total, the rate.

use std::time::{Duration, Instant};

use lab::agent_protocol::{AgentPhase, Progress};

use crate::client::Client;
use crate::Failure;

const EVERY: Duration = Duration::from_secs(1);

pub struct Reporter<'a> {
    client: &'a Client,
    last: Option<Instant>,
    phase: Option<AgentPhase>,
}

impl<'a> Reporter<'a> {
    pub fn new(client: &'a Client) -> Self {
        Reporter {
            client,
            last: None,
            phase: None,
        }
    }

    /// Reports unless the last report, of the same phase, was less than a second ago.
    pub fn tick(
        &mut self,
        phase: AgentPhase,
        done: u64,
        total: u64,
        since: Instant,
        message: &str,
    ) -> Result<(), Failure> {
        if Some(phase) == self.phase && self.last.is_some_and(|last| last.elapsed() < EVERY) {
            return Ok(());
        }
        self.tick_now(phase, done, total, since, message)
    }

    /// Reports now. A refusal (the job was cancelled, say) stops the work.
    pub fn tick_now(
        &mut self,
        phase: AgentPhase,
        done: u64,
        total: u64,
        since: Instant,
        message: &str,
    ) -> Result<(), Failure> {
        self.last = Some(Instant::now());
        self.phase = Some(phase);
        let seconds = since.elapsed().as_secs_f64();
        let progress = Progress {
            phase: phase.as_str().into(),
            done,
            total,
            bytes_per_second: if seconds > 0.0 {
                (done as f64 / seconds) as u64
            } else {
                0
            },
            message: message.into(),
        };
        self.client
            .expect::<serde_json::Value>(
                phase.as_str(),
                "POST",
                "/agent/v1/progress",
                Some(&progress),
            )
            .map(|_| ())
    }
}
