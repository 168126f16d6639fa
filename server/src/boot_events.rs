//! Boot events from the network services, written in batches: DHCP and TFTP report from their
//! packet loops, which must never wait for the database, and under load one transaction per
//! event would make SQLite the bottleneck. Events queue here (bounded; when the writer falls
//! that far behind, new events are dropped and counted) and one task commits them together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lab::boot::NewBootEvent;
use lab::Lab;
use tokio::sync::mpsc;

/// Events waiting at most; beyond, the newest are dropped.
const QUEUE: usize = 20_000;
/// Events per transaction at most.
const BATCH: usize = 1_000;

#[derive(Clone)]
pub struct BootEvents {
    queue: mpsc::Sender<NewBootEvent>,
    dropped: Arc<AtomicU64>,
}

impl BootEvents {
    /// Starts the writer task for `lab`.
    pub fn start(lab: Lab) -> BootEvents {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write(lab, receiver, dropped.clone()));
        BootEvents { queue, dropped }
    }

    /// Queues an event without waiting.
    pub fn record(&self, mac: &str, kind: &str, detail: String) {
        let event = NewBootEvent {
            at: lab::now(),
            mac: mac.to_string(),
            kind: kind.to_string(),
            detail,
        };
        if self.queue.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn write(lab: Lab, mut receiver: mpsc::Receiver<NewBootEvent>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut reported = 0;
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(e) = lab.record_boot_events(&batch).await {
            tracing::warn!(error = %e, events = batch.len(), "recording boot events failed");
            // The database may be busy for a moment; do not spin on it.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        batch.clear();
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped != reported {
            tracing::warn!(
                dropped = now_dropped,
                "boot events dropped: the writer fell behind"
            );
            reported = now_dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_events_reach_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("lab.db").display());
        let lab = Lab::open(
            &url,
            lab::SecretBox::new([1; 32]),
            dir.path().join("images"),
        )
        .await
        .unwrap();
        let admin = lab::Actor::shell();
        let input = lab::model::MachineInput {
            name: "node1".into(),
            macs: "52:54:00:00:00:01".into(),
            platform: "x86_64-bios".into(),
            bmc_kind: "none".into(),
            state: "available".into(),
            ..Default::default()
        };
        let machine = lab.create_machine(&admin, input).await.unwrap();
        let events = BootEvents::start(lab.clone());
        for i in 0..2_500 {
            events.record("52:54:00:00:00:01", "dhcp", format!("offer {i}"));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let seen = lab.boot_events(&admin, machine.id).await.unwrap();
            // boot_events shows the newest 50.
            if seen.first().map(|e| e.detail.as_str()) == Some("offer 2499") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "events did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(events.dropped.load(Ordering::Relaxed), 0);
    }
}
