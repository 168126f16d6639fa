//! The one place a BMC is driven on a person's behalf: the lab authorizes, the `bmc` crate
//! talks, the outcome is audited and the power cache updated. The machine page, the REST API
//! and the reservation wrap-up all come through here. The system's own reads and jobs use
//! [`driver`] and [`with_retries`] directly: the job runner for a job it owns, the power
//! refresh (readings, not actions) and media expiry (`virtual_media::expire`).

use std::future::Future;
use std::time::Duration;

use bmc::{Bmc, BootOverride, DeviceInfo, Driver, Ipmi, PowerAction, PowerState, Redfish, Target};
use lab::model::BmcKind;
use lab::{Actor, BmcAccess};

use crate::{Conductor, Error, Result};

/// Default upper bound for one BMC operation, so a dead BMC never hangs a request.
pub const BMC_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for a virtual media insert: BMCs fetch (part of) the image before answering.
pub const MEDIA_INSERT_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts of an idempotent BMC operation whose BMC did not answer or could not be reached.
pub const BMC_ATTEMPTS: u32 = 3;

/// How baas talks to BMCs, from the server's configuration.
#[derive(Debug, Clone)]
pub struct BmcSettings {
    /// Bound for one operation.
    pub timeout: Duration,
    /// The URL BMCs use to reach this server (virtual media URLs start with it).
    pub public_url: String,
    /// Where recorded consoles go.
    pub console_dir: std::path::PathBuf,
    /// The most a machine's (and a job's) recorded console keeps.
    pub console_log_bytes: u64,
    /// A console viewer idle this long is disconnected.
    pub console_idle_seconds: u64,
}

impl Default for BmcSettings {
    fn default() -> Self {
        BmcSettings {
            timeout: BMC_TIMEOUT,
            public_url: "http://127.0.0.1:3000".into(),
            console_dir: std::env::temp_dir().join("baas-consoles"),
            console_log_bytes: 4 << 20,
            console_idle_seconds: 600,
        }
    }
}

/// Runs an idempotent BMC operation, trying again after 250 ms, then 500 ms, when the BMC did
/// not answer or could not be reached. Other errors (wrong password, refused command) return at once.
pub async fn with_retries<T, F, Fut>(mut operation: F) -> bmc::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bmc::Result<T>>,
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

/// The driver for a machine's BMC. A Redfish BMC's certificate is checked against the machine's
/// pinned fingerprint when it has one, else verified against the web PKI.
pub fn driver(access: &BmcAccess, timeout: Duration) -> bmc::Result<Driver> {
    let target = Target {
        address: access.address.clone(),
        username: access.credentials.username.clone(),
        password: access.credentials.password.clone(),
        timeout,
    };
    match access.kind {
        BmcKind::Redfish => {
            let tls = access.tls_pin.map_or(bmc::Tls::Verify, bmc::Tls::Pinned);
            Redfish::new(target, tls).map(Driver::Redfish)
        }
        _ => Ipmi::with_cipher_suite(target, access.ipmi_cipher_suite).map(Driver::Ipmi),
    }
}

/// The driver of a machine that must have a BMC for what was asked.
pub(crate) fn required_driver(access: &BmcAccess, settings: &BmcSettings) -> Result<Driver> {
    match access.kind {
        BmcKind::None => Err(Error::NoBmc(access.machine_name.clone())),
        _ => driver(access, settings.timeout).map_err(|error| Error::Upstream(error.to_string())),
    }
}

/// An operation on a machine's BMC.
enum Operation {
    Status,
    Power(PowerAction),
    Boot(BootOverride),
    Identify,
}

impl Operation {
    /// The name in the audit log and in error messages.
    fn name(&self) -> &'static str {
        match self {
            Operation::Status => "status",
            Operation::Power(_) => "power",
            Operation::Boot(_) => "boot_device",
            Operation::Identify => "test",
        }
    }
}

enum Outcome {
    /// The state and the UNIX time it was read.
    Power(PowerState, i64),
    Done,
    Device(DeviceInfo),
}

impl Conductor {
    /// The machine's power state and when it was read: from the cache while fresh, else from
    /// the BMC. Needs the right to view the machine's BMC.
    pub async fn power_state(&self, actor: &Actor, machine_id: i64) -> Result<(PowerState, i64)> {
        match self.run(actor, machine_id, Operation::Status).await? {
            Outcome::Power(state, at) => Ok((state, at)),
            _ => Err(Error::Upstream("the BMC gave no power state".into())),
        }
    }

    /// Sends a power action. Never repeated: a lost answer may mean it happened.
    pub async fn power(&self, actor: &Actor, machine_id: i64, action: PowerAction) -> Result<()> {
        self.run(actor, machine_id, Operation::Power(action))
            .await
            .map(drop)
    }

    /// Sets the next boot device.
    pub async fn set_boot(&self, actor: &Actor, machine_id: i64, boot: BootOverride) -> Result<()> {
        self.run(actor, machine_id, Operation::Boot(boot))
            .await
            .map(drop)
    }

    /// Asks the BMC what it is (a check of the address and credentials).
    pub async fn identify(&self, actor: &Actor, machine_id: i64) -> Result<DeviceInfo> {
        match self.run(actor, machine_id, Operation::Identify).await? {
            Outcome::Device(info) => Ok(info),
            _ => Err(Error::Upstream("the BMC did not describe itself".into())),
        }
    }

    /// Authorizes, runs and audits `operation` on machine `machine_id` for `actor`.
    async fn run(&self, actor: &Actor, machine_id: i64, operation: Operation) -> Result<Outcome> {
        let lab = &self.lab;
        let access = lab.bmc_access(actor, machine_id).await?;
        if let Operation::Status = operation {
            if let Some((state, at)) = self.power.fresh(machine_id, lab::now()) {
                return Ok(Outcome::Power(state, at));
            }
        }
        let driver = required_driver(&access, &self.settings)?;
        let name = operation.name();
        let result = match operation {
            Operation::Status => with_retries(|| driver.power_state())
                .await
                .map(|state| Outcome::Power(state, lab::now())),
            Operation::Power(action) => driver.power(action).await.map(|_| Outcome::Done),
            Operation::Boot(boot) => with_retries(|| driver.set_boot(boot))
                .await
                .map(|_| Outcome::Done),
            Operation::Identify => with_retries(|| driver.device_info())
                .await
                .map(Outcome::Device),
        };
        match &result {
            Ok(Outcome::Power(state, at)) => self.power.put(machine_id, *state, *at),
            _ if name == "power" => self.power.acted(machine_id, lab::now()),
            _ => {}
        }
        // Reading the power state changes nothing; only actions go to the audit log.
        if name != "status" {
            let detail = match &result {
                Ok(Outcome::Device(info)) => format!("ok: {info}"),
                Ok(_) => "ok".to_string(),
                Err(error) => format!("failed: {error}"),
            };
            lab.record_bmc_action(actor, &access, name, &detail).await?;
        }
        result.map_err(|error| {
            Error::Upstream(format!("{}: {name} failed: {error}", access.machine_name))
        })
    }
}
