//! Change announcements: the lab says what changed (a job moved or made progress), and the web
//! layer fans the announcements out to the browsers and API clients allowed to see them. Each
//! has an increasing id; the most recent ones are kept so a client that reconnects resumes
//! where it left off.
//!
//! With several instances on one database, each also hands its announcements to an outbox
//! that the server carries to the others (PostgreSQL NOTIFY), and re-announces what arrives
//! from them, numbered in its own sequence.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// How many announcements are kept for clients that reconnect.
const KEPT: usize = 1024;

/// One change, naming what to read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: u64,
    /// `job`.
    pub kind: &'static str,
    pub machine_id: i64,
    pub job_id: Option<i64>,
}

/// What kinds of change exist; a kind arriving from another instance must be one of them.
pub const KINDS: &[&str] = &["job"];

#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Change>,
    recent: Arc<Mutex<(u64, VecDeque<Change>)>>,
    outbox: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Change>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(KEPT).0,
            recent: Arc::new(Mutex::new((0, VecDeque::new()))),
            outbox: Default::default(),
        }
    }
}

impl Events {
    pub(crate) fn announce(&self, kind: &'static str, machine_id: i64, job_id: Option<i64>) {
        let change = self.publish(kind, machine_id, job_id);
        if let (Some(outbox), Some(change)) = (self.outbox.get(), change) {
            // A closed outbox means the server is stopping; the local announcement stands.
            let _ = outbox.send(change);
        }
    }

    /// Announces here a change another instance made (it is not sent on again). Unknown kinds
    /// are dropped.
    pub fn relay(&self, kind: &str, machine_id: i64, job_id: Option<i64>) -> bool {
        match KINDS.iter().find(|known| **known == kind) {
            Some(kind) => self.publish(kind, machine_id, job_id).is_some(),
            None => false,
        }
    }

    /// From now on, every change announced here is also handed to the returned receiver, for
    /// the other instances. Only the first call gets one.
    pub fn open_outbox(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.outbox.set(sender).ok().map(|()| receiver)
    }

    fn publish(&self, kind: &'static str, machine_id: i64, job_id: Option<i64>) -> Option<Change> {
        let Ok(mut recent) = self.recent.lock() else {
            return None;
        };
        recent.0 += 1;
        let change = Change {
            id: recent.0,
            kind,
            machine_id,
            job_id,
        };
        if recent.1.len() == KEPT {
            recent.1.pop_front();
        }
        recent.1.push_back(change.clone());
        // Nobody listening is fine.
        let _ = self.sender.send(change.clone());
        Some(change)
    }

    /// Announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }

    /// How many listen now (a test awaits a listener instead of sleeping).
    pub fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }

    /// The kept announcements after `id`, oldest first; `None` when some of them are no longer
    /// kept (the client should read everything again).
    pub fn since(&self, id: u64) -> Option<Vec<Change>> {
        let recent = self.recent.lock().ok()?;
        match recent.1.front() {
            Some(first) if first.id > id + 1 => None,
            _ => Some(recent.1.iter().filter(|c| c.id > id).cloned().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnecting_client_gets_what_it_missed_or_is_told_it_missed_too_much() {
        let events = Events::default();
        let mut live = events.subscribe();
        for job in 1..=3 {
            events.announce("job", 7, Some(job));
        }
        assert_eq!(live.try_recv().unwrap().job_id, Some(1));
        let missed = events.since(1).unwrap();
        assert_eq!(missed.iter().map(|c| c.id).collect::<Vec<_>>(), [2, 3]);
        for _ in 0..KEPT {
            events.announce("job", 7, None);
        }
        assert_eq!(events.since(1), None);
        assert_eq!(events.since(3 + KEPT as u64).unwrap(), []);
    }

    #[test]
    fn changes_go_to_the_outbox_once_and_relayed_ones_are_not_sent_on() {
        let events = Events::default();
        let mut outbox = events.open_outbox().expect("the first outbox");
        assert!(events.open_outbox().is_none(), "only one outbox");
        let mut live = events.subscribe();
        events.announce("job", 7, Some(1));
        assert_eq!(outbox.try_recv().unwrap().job_id, Some(1));
        assert!(events.relay("job", 8, Some(2)));
        assert!(
            !events.relay("nonsense", 8, None),
            "unknown kinds are dropped"
        );
        assert!(
            outbox.try_recv().is_err(),
            "a relayed change is not sent back out"
        );
        let seen: Vec<_> = [live.try_recv().unwrap(), live.try_recv().unwrap()]
            .iter()
            .map(|c| (c.id, c.machine_id))
            .collect();
        assert_eq!(seen, [(1, 7), (2, 8)]);
    }
}
