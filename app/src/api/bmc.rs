//! Power and boot-device control through the machine's BMC. The lab decides who may; the `bmc`
//! crate does the talking; every action is audited with its outcome.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The power state as the BMC reported it, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerStatus {
    /// "on" or "off".
    pub state: String,
    pub checked_at: i64,
}

#[cfg(feature = "ssr")]
pub mod control {
    use bmc::{Bmc, BootOverride, DeviceInfo, PowerAction, PowerState};
    use lab::model::BmcKind;
    use lab::{Actor, BmcAccess};
    use leptos::prelude::use_context;

    use crate::error::{AppError, ErrorKind};
    use crate::power::PowerCache;

    /// An operation on a machine's BMC.
    pub enum Operation {
        Status,
        Power(PowerAction),
        Boot(BootOverride),
        Identify,
    }

    pub enum Outcome {
        /// The state and the UNIX time it was read.
        Power(PowerState, i64),
        Done,
        Device(DeviceInfo),
    }

    /// Authorizes, runs and audits `operation` on machine `machine_id` for `actor`, with the
    /// lab, power cache and BMC settings of the request's context.
    pub async fn run(
        actor: &Actor,
        machine_id: i64,
        operation: Operation,
    ) -> Result<Outcome, AppError> {
        let lab = crate::auth::lab()?;
        let cache = use_context::<PowerCache>();
        let settings = crate::power::BmcSettings::current();
        run_with(
            &lab,
            cache.as_ref(),
            &settings,
            actor,
            machine_id,
            operation,
        )
        .await
    }

    /// [`run`] for callers outside a page or server function (the REST API).
    pub async fn run_with(
        lab: &lab::Lab,
        cache: Option<&PowerCache>,
        settings: &crate::power::BmcSettings,
        actor: &Actor,
        machine_id: i64,
        operation: Operation,
    ) -> Result<Outcome, AppError> {
        let access = lab.bmc_access(actor, machine_id).await?;
        if let (Operation::Status, Some(cache)) = (&operation, &cache) {
            if let Some((state, at)) = cache.fresh(machine_id, lab::now()) {
                return Ok(Outcome::Power(state, at));
            }
        }
        let driver = driver(&access, settings)?;
        let (name, result) = match operation {
            Operation::Status => (
                "status",
                crate::power::with_retries(|| driver.power_state())
                    .await
                    .map(|state| Outcome::Power(state, lab::now())),
            ),
            Operation::Power(action) => {
                ("power", driver.power(action).await.map(|_| Outcome::Done))
            }
            Operation::Boot(boot) => (
                "boot_device",
                crate::power::with_retries(|| driver.set_boot(boot))
                    .await
                    .map(|_| Outcome::Done),
            ),
            Operation::Identify => (
                "test",
                crate::power::with_retries(|| driver.device_info())
                    .await
                    .map(Outcome::Device),
            ),
        };
        let detail = match &result {
            Ok(Outcome::Device(info)) => {
                format!("ok: {info}")
            }
            Ok(_) => "ok".to_string(),
            Err(error) => format!("failed: {error}"),
        };
        match (&result, &cache) {
            (Ok(Outcome::Power(state, at)), Some(cache)) => cache.put(machine_id, *state, *at),
            (_, Some(cache)) if name == "power" => cache.acted(machine_id, lab::now()),
            _ => {}
        }
        // Reading the power state changes nothing; only actions go to the audit log.
        if name != "status" {
            lab.record_bmc_action(actor, &access, name, &detail).await?;
        }
        result.map_err(|error| {
            AppError::new(
                ErrorKind::Upstream,
                format!("{}: {name} failed: {error}", access.machine_name),
            )
        })
    }

    pub(crate) fn driver(
        access: &BmcAccess,
        settings: &crate::power::BmcSettings,
    ) -> Result<bmc::Driver, AppError> {
        match access.kind {
            BmcKind::None => Err(AppError::new(
                ErrorKind::Conflict,
                format!("{} has no BMC configured", access.machine_name),
            )),
            _ => crate::power::driver(access, settings.timeout)
                .map_err(|error| AppError::new(ErrorKind::Upstream, error.to_string())),
        }
    }
}

#[server(endpoint = "bmc/power_state")]
pub async fn power_state(machine_id: i64) -> Result<PowerStatus, AppError> {
    use control::{run, Operation, Outcome};
    let actor = crate::auth::actor().await?;
    match run(&actor, machine_id, Operation::Status).await? {
        Outcome::Power(state, checked_at) => Ok(PowerStatus {
            state: if state == bmc::PowerState::On {
                "on"
            } else {
                "off"
            }
            .into(),
            checked_at,
        }),
        _ => Err(AppError::internal("unexpected BMC answer")),
    }
}

/// `action`: on, off, soft-off, cycle, reset.
#[server(endpoint = "bmc/power")]
pub async fn power(machine_id: i64, action: String) -> Result<(), AppError> {
    use control::{run, Operation};
    let action = bmc::PowerAction::parse(&action)
        .ok_or_else(|| AppError::invalid("action", "must be on, off, soft-off, cycle or reset"))?;
    let actor = crate::auth::actor().await?;
    run(&actor, machine_id, Operation::Power(action)).await?;
    Ok(())
}

/// `device`: pxe, disk, cdrom, bios-setup; `persistent` and `uefi` are checkboxes.
#[server(endpoint = "bmc/boot_device")]
pub async fn set_boot_device(
    machine_id: i64,
    device: String,
    persistent: Option<String>,
    uefi: Option<String>,
) -> Result<(), AppError> {
    use control::{run, Operation};
    let device = bmc::BootDevice::parse(&device)
        .ok_or_else(|| AppError::invalid("device", "must be pxe, disk, cdrom or bios-setup"))?;
    let boot = bmc::BootOverride {
        device,
        persistent: persistent.is_some(),
        uefi: uefi.is_some(),
    };
    let actor = crate::auth::actor().await?;
    run(&actor, machine_id, Operation::Boot(boot)).await?;
    Ok(())
}

/// Talks to the BMC and reports what it says about itself.
#[server(endpoint = "bmc/test")]
pub async fn test_bmc(machine_id: i64) -> Result<String, AppError> {
    use control::{run, Operation, Outcome};
    let actor = crate::auth::actor().await?;
    match run(&actor, machine_id, Operation::Identify).await? {
        Outcome::Device(info) => Ok(format!("BMC answered: {info}")),
        _ => Err(AppError::internal("unexpected BMC answer")),
    }
}
