//! The last power state read from each machine's BMC, with its age. Pages and the API read it
//! from here, so a slow or dead BMC never holds up a request; the refresher keeps it fresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bmc::PowerState;

/// A reading younger than this is served without asking the BMC again.
pub const FRESH_SECONDS: i64 = 60;
/// For this long after a power action, BMCs (Redfish ones especially) may still report the old
/// state: readings then count as fresh only for [`SETTLING_FRESH_SECONDS`], so the page sees the
/// change within seconds instead of a minute.
pub const SETTLING_SECONDS: i64 = 60;
pub const SETTLING_FRESH_SECONDS: i64 = 2;

/// Shared between the request handlers and the refresher. Cheap to clone.
#[derive(Clone, Default)]
pub struct PowerCache {
    readings: Arc<Mutex<Readings>>,
}

#[derive(Default)]
struct Readings {
    /// Machine → (state, when read).
    latest: HashMap<i64, (PowerState, i64)>,
    /// Machine → when its last power action was sent.
    acted_at: HashMap<i64, i64>,
}

impl PowerCache {
    /// The last reading of a machine and when it was taken, if still fresh at `now`.
    pub fn fresh(&self, machine_id: i64, now: i64) -> Option<(PowerState, i64)> {
        let readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        let settling = readings
            .acted_at
            .get(&machine_id)
            .is_some_and(|acted| now - acted < SETTLING_SECONDS);
        let fresh_for = if settling {
            SETTLING_FRESH_SECONDS
        } else {
            FRESH_SECONDS
        };
        readings
            .latest
            .get(&machine_id)
            .copied()
            .filter(|(_, at)| now - at < fresh_for)
    }

    pub fn put(&self, machine_id: i64, state: PowerState, at: i64) {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings.latest.insert(machine_id, (state, at));
    }

    /// A power action was sent at `now`: the reading is stale, and the next ones may be too.
    pub fn acted(&self, machine_id: i64, now: i64) {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings.latest.remove(&machine_id);
        readings.acted_at.insert(machine_id, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_stay_fresh_a_minute_but_only_seconds_while_an_action_settles() {
        let cache = PowerCache::default();
        cache.put(1, PowerState::Off, 1000);
        assert_eq!(cache.fresh(1, 1059), Some((PowerState::Off, 1000)));
        assert_eq!(cache.fresh(1, 1060), None);
        cache.acted(1, 2000);
        assert_eq!(
            cache.fresh(1, 2000),
            None,
            "the action made the reading stale"
        );
        // The BMC has not applied it yet: this reading is kept only briefly.
        cache.put(1, PowerState::Off, 2001);
        assert!(cache.fresh(1, 2002).is_some());
        assert_eq!(cache.fresh(1, 2003), None);
        cache.put(1, PowerState::On, 2070);
        assert!(cache.fresh(1, 2100).is_some(), "settled: a minute again");
    }
}
