//! The lab's "now". The server reads the system clock; tests hold a manual clock and move it,
//! so that reservations can end, notices fall due and deadlines pass without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// UNIX seconds, from the system or from a hand the tests turn. Clones share the hand.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `at` until moved.
    pub fn manual(at: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(at))),
        }
    }

    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(at) => at.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }

    /// Moves a manual clock forward by `seconds`; the system clock cannot be moved (no effect).
    pub fn advance(&self, seconds: i64) {
        if let Some(at) = &self.manual {
            at.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_clones_share_it() {
        let clock = Clock::manual(1_000);
        let seen_elsewhere = clock.clone();
        assert_eq!(clock.now(), 1_000);
        clock.advance(90);
        assert_eq!(seen_elsewhere.now(), 1_090);
        assert!(Clock::system().now() > 1_700_000_000);
    }
}
