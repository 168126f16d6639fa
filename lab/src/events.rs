//! Change announcements: the lab says what changed (a job moved or made progress), and the web
//! layer fans the announcements out to the browsers and API clients allowed to see them. Each
//! has an increasing id; the most recent ones are kept so a client that reconnects resumes
//! where it left off.

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

#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Change>,
    recent: Arc<Mutex<(u64, VecDeque<Change>)>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(KEPT).0,
            recent: Arc::new(Mutex::new((0, VecDeque::new()))),
        }
    }
}

impl Events {
    pub(crate) fn announce(&self, kind: &'static str, machine_id: i64, job_id: Option<i64>) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
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
        let _ = self.sender.send(change);
    }

    /// Announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
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
}
