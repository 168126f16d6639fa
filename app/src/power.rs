//! The last power state read from each machine's BMC, with its age. Pages read it from here, so a
//! slow or dead BMC never holds up a request; a background task keeps it fresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bmc::{Bmc, Driver, Ipmi, PowerState, Redfish, Target, Tls};
use lab::model::BmcKind;
use lab::{Actor, Lab};

/// A reading younger than this is served without asking the BMC again.
pub const FRESH_SECONDS: i64 = 60;
/// Upper bound for one BMC operation, so a dead BMC never hangs a request.
pub const BMC_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared between the request handlers and the refresher. Cheap to clone.
#[derive(Clone, Default)]
pub struct PowerCache {
    readings: Arc<Mutex<HashMap<i64, (PowerState, i64)>>>,
}

impl PowerCache {
    /// The last reading of a machine and when it was taken, if still fresh at `now`.
    pub fn fresh(&self, machine_id: i64, now: i64) -> Option<(PowerState, i64)> {
        let readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings
            .get(&machine_id)
            .copied()
            .filter(|(_, at)| now - at < FRESH_SECONDS)
    }

    pub fn put(&self, machine_id: i64, state: PowerState, at: i64) {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings.insert(machine_id, (state, at));
    }

    /// Drops a reading that an action has made stale.
    pub fn forget(&self, machine_id: i64) {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings.remove(&machine_id);
    }
}

/// The driver for a machine's BMC. A Redfish BMC's certificate is checked against the machine's
/// pinned fingerprint when it has one, else verified against the web PKI.
pub fn driver(access: &lab::BmcAccess) -> bmc::Result<Driver> {
    let target = Target {
        address: access.address.clone(),
        username: access.credentials.username.clone(),
        password: access.credentials.password.clone(),
        timeout: BMC_TIMEOUT,
    };
    match access.kind {
        BmcKind::Redfish => {
            let tls = access.tls_pin.map_or(Tls::Verify, Tls::Pinned);
            Redfish::new(target, tls).map(Driver::Redfish)
        }
        _ => Ok(Driver::Ipmi(Ipmi::new(target))),
    }
}

/// Reads every BMC machine's power state once, one after the other (a modest rate for BMCs).
/// Failures are logged and leave the old reading to age out.
pub async fn refresh_all(lab: &Lab, cache: &PowerCache) {
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
        let Ok(driver) = driver(&access) else {
            continue;
        };
        match driver.power_state().await {
            Ok(state) => cache.put(machine.id, state, lab::now()),
            Err(error) => tracing::debug!(machine = %machine.name, %error, "power refresh failed"),
        }
    }
}
