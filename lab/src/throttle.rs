//! Back-off on failed log-ins, per account name and per client address.
//!
//! Kept in memory: a restart forgets it, which costs an attacker nothing they could not get by
//! waiting, and keeps failed attempts from writing to the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before back-off starts.
const FREE_FAILURES: u32 = 5;
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A key that saw no failure for this long starts over.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    records: Mutex<HashMap<String, Record>>,
}

impl LoginThrottle {
    /// Seconds the caller must still wait before trying any of `keys`, if locked.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<u64> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| records.get(k))
            .filter_map(|r| r.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max()
    }

    /// Counts a failure on every key; from the sixth on, each doubles the lock (1 s … 15 min).
    pub fn fail(&self, keys: &[String], now: Instant) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
        for key in keys {
            let record = records.entry(key.clone()).or_insert(Record {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            record.failures += 1;
            record.last_failure = now;
            if record.failures >= FREE_FAILURES {
                let exponent = (record.failures - FREE_FAILURES).min(10);
                let lock = Duration::from_secs(1 << exponent).min(MAX_LOCK);
                record.locked_until = Some(now + lock);
            }
        }
    }

    pub fn succeed(&self, key: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_lock_with_growing_delay_and_success_clears() {
        let throttle = LoginThrottle::default();
        let keys = vec!["user:alice".to_string()];
        let start = Instant::now();
        for _ in 0..4 {
            throttle.fail(&keys, start);
            assert_eq!(throttle.wait(&keys, start), None);
        }
        throttle.fail(&keys, start);
        assert_eq!(throttle.wait(&keys, start), Some(1));
        throttle.fail(&keys, start);
        throttle.fail(&keys, start);
        assert_eq!(throttle.wait(&keys, start), Some(4));
        assert_eq!(throttle.wait(&keys, start + Duration::from_secs(5)), None);
        throttle.succeed("user:alice");
        assert_eq!(throttle.wait(&keys, start), None);
    }
}
