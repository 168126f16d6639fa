//! Per-client fairness for the DHCP listeners: each MAC may send a burst and then a few
//! requests a second; the rest is dropped before any work is done for it, so one client (or
//! a broken NIC looping its DISCOVERs) cannot starve the others or flood the boot events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A PXE boot takes about ten packets (firmware DISCOVER retries, the port-4011 request, then
/// iPXE's own exchange); twice that passes at once.
const BURST: f64 = 20.0;
const PER_SECOND: f64 = 2.0;
/// Beyond this many tracked clients, only those still paying back a burst are kept.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Default)]
pub struct ClientLimiter {
    buckets: Mutex<HashMap<[u8; 6], (f64, Instant)>>,
}

impl ClientLimiter {
    /// Whether a request from `mac` may be answered now (and spends one token if so).
    pub fn allow(&self, mac: [u8; 6]) -> bool {
        self.allow_at(mac, Instant::now())
    }

    fn allow_at(&self, mac: [u8; 6], now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&mac) {
            buckets.retain(|_, (tokens, at)| refill(*tokens, *at, now) < BURST);
            // Still full: that many distinct clients at once is a flood of made-up MACs, which
            // a per-client limit cannot tell apart; start over rather than scan on every packet.
            if buckets.len() >= MAX_TRACKED / 2 {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(mac).or_insert((BURST, now));
        let available = refill(*tokens, *at, now);
        *at = now;
        if available >= 1.0 {
            *tokens = available - 1.0;
            true
        } else {
            *tokens = available;
            false
        }
    }
}

fn refill(tokens: f64, since: Instant, now: Instant) -> f64 {
    (tokens + now.saturating_duration_since(since).as_secs_f64() * PER_SECOND).min(BURST)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flooding_client_is_held_to_its_rate_while_others_pass() {
        let limiter = ClientLimiter::default();
        let start = Instant::now();
        let (flooder, other) = ([1; 6], [2; 6]);
        let passed = (0..1000)
            .filter(|_| limiter.allow_at(flooder, start))
            .count();
        assert_eq!(passed, BURST as usize);
        assert!(
            limiter.allow_at(other, start),
            "another client is not affected"
        );
        // One second later, two more.
        let later = start + Duration::from_secs(1);
        let passed = (0..1000)
            .filter(|_| limiter.allow_at(flooder, later))
            .count();
        assert_eq!(passed, PER_SECOND as usize);
    }
}
