//! The last power state read from each machine's BMC, with its age. Pages read it from here, so a
//! slow or dead BMC never holds up a request; a background task keeps it fresh. Also the BMC
//! settings, driver construction, retries, and the background ejection of expired media.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bmc::{Bmc, Driver, Ipmi, PowerState, Redfish, Target, Tls};
use lab::model::BmcKind;
use lab::{Actor, Lab};

/// A reading younger than this is served without asking the BMC again.
pub const FRESH_SECONDS: i64 = 60;
/// For this long after a power action, BMCs (Redfish ones especially) may still report the old
/// state: readings then count as fresh only for [`SETTLING_FRESH_SECONDS`], so the page sees the
/// change within seconds instead of a minute.
pub const SETTLING_SECONDS: i64 = 60;
pub const SETTLING_FRESH_SECONDS: i64 = 2;
/// Default upper bound for one BMC operation, so a dead BMC never hangs a request.
pub const BMC_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for a virtual media insert: BMCs fetch (part of) the image before answering.
pub const MEDIA_INSERT_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts of an idempotent BMC operation whose BMC did not answer or could not be reached.
pub const BMC_ATTEMPTS: u32 = 3;

/// How baas talks to BMCs, from the server's configuration; put into the request context.
#[derive(Debug, Clone)]
pub struct BmcSettings {
    /// Bound for one operation.
    pub timeout: Duration,
    /// The URL BMCs use to reach this server (virtual media URLs start with it).
    pub public_url: String,
}

impl Default for BmcSettings {
    fn default() -> Self {
        BmcSettings {
            timeout: BMC_TIMEOUT,
            public_url: "http://127.0.0.1:3000".into(),
        }
    }
}

impl BmcSettings {
    /// From the request context, or the defaults.
    pub fn current() -> BmcSettings {
        leptos::prelude::use_context::<BmcSettings>().unwrap_or_default()
    }
}

/// Runs an idempotent BMC operation, trying again after 250 ms, then 500 ms, when the BMC did
/// not answer or could not be reached. Other errors (wrong password, refused command) return at once.
pub async fn with_retries<T, F, Fut>(mut operation: F) -> bmc::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bmc::Result<T>>,
{
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(bmc::Error::Timeout { .. } | bmc::Error::Unreachable { .. })
                if attempt < BMC_ATTEMPTS =>
            {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

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

/// The driver for a machine's BMC. A Redfish BMC's certificate is checked against the machine's
/// pinned fingerprint when it has one, else verified against the web PKI.
pub fn driver(access: &lab::BmcAccess, timeout: Duration) -> bmc::Result<Driver> {
    let target = Target {
        address: access.address.clone(),
        username: access.credentials.username.clone(),
        password: access.credentials.password.clone(),
        timeout,
    };
    match access.kind {
        BmcKind::Redfish => {
            let tls = access.tls_pin.map_or(Tls::Verify, Tls::Pinned);
            Redfish::new(target, tls).map(Driver::Redfish)
        }
        _ => Ipmi::with_cipher_suite(target, access.ipmi_cipher_suite).map(Driver::Ipmi),
    }
}

/// Reads every BMC machine's power state once, one after the other (a modest rate for BMCs).
/// Failures are logged and leave the old reading to age out.
pub async fn refresh_all(lab: &Lab, cache: &PowerCache, settings: &BmcSettings) {
    let system = Actor::shell();
    let machines = match lab.machines(&system).await {
        Ok(machines) => machines,
        Err(error) => {
            tracing::warn!(%error, "power refresh: listing machines failed");
            return;
        }
    };
    for machine in machines.into_iter().filter(|m| m.bmc_kind != BmcKind::None) {
        let Ok(access) = lab.bmc_access(&system, machine.id).await else {
            continue;
        };
        let Ok(driver) = driver(&access, settings.timeout) else {
            continue;
        };
        match driver.power_state().await {
            Ok(state) => cache.put(machine.id, state, lab::now()),
            Err(error) => tracing::debug!(machine = %machine.name, %error, "power refresh failed"),
        }
    }
}

/// Ends virtual media whose reservation ended or whose URL expired: the lab closes the URL,
/// this asks the BMC to eject and records its answer.
pub async fn expire_media(lab: &Lab, settings: &BmcSettings) {
    let released = match lab.expire_media().await {
        Ok(released) => released,
        Err(error) => {
            tracing::warn!(%error, "expiring virtual media failed");
            return;
        }
    };
    for release in released {
        let answer = match driver(&release.bmc, settings.timeout) {
            Ok(Driver::Redfish(redfish)) => match with_retries(|| redfish.eject_media()).await {
                Ok(slots) => format!("{}; ejected {} device(s)", release.reason, slots.len()),
                Err(error) => format!("{}; eject failed: {error}", release.reason),
            },
            Ok(_) => format!("{}; the BMC has no virtual media", release.reason),
            Err(error) => format!("{}; eject failed: {error}", release.reason),
        };
        tracing::info!(machine = %release.bmc.machine_name, %answer, "virtual media expired");
        if let Err(error) = lab.finish_detach(release.attachment.id, &answer).await {
            tracing::warn!(%error, "recording an eject failed");
        }
    }
}

/// Deals with reservations that ended (see [`Lab::wrap_up_reservations`]): the lab cancels the
/// holder's queued jobs; this powers off the machines that are due for it, as the system,
/// through the same control path as the power button (audited, not retried), so the next user
/// finds the machine off rather than running the last one's system.
pub async fn wrap_up_reservations(lab: &Lab, cache: &PowerCache, settings: &BmcSettings) {
    let ends = match lab.wrap_up_reservations().await {
        Ok(ends) => ends,
        Err(error) => {
            tracing::warn!(%error, "dealing with ended reservations failed");
            return;
        }
    };
    for end in ends {
        let reservation = &end.reservation;
        tracing::info!(
            machine = %reservation.machine_name,
            reservation = reservation.id,
            holder = %reservation.username,
            cancelled_jobs = end.cancelled_jobs.len(),
            power_off = end.power_off,
            reset_job = ?end.reset_job,
            "reservation ended"
        );
        if !end.power_off {
            continue;
        }
        let off = crate::api::bmc::control::Operation::Power(bmc::PowerAction::Off);
        if let Err(error) = crate::api::bmc::control::run_with(
            lab,
            Some(cache),
            settings,
            &Actor::system(),
            reservation.machine_id,
            off,
        )
        .await
        {
            tracing::warn!(machine = %reservation.machine_name, %error, "power off at reservation end failed");
        }
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
