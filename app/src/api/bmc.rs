//! Power and boot-device control through the machine's BMC, asked of the conductor of the
//! request's context (which authorizes, drives the BMC and audits).

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

#[server(endpoint = "bmc/power_state")]
pub async fn power_state(machine_id: i64) -> Result<PowerStatus, AppError> {
    let actor = crate::auth::actor().await?;
    let (state, checked_at) = crate::auth::conductor()?
        .power_state(&actor, machine_id)
        .await?;
    Ok(PowerStatus {
        state: if state == bmc::PowerState::On {
            "on"
        } else {
            "off"
        }
        .into(),
        checked_at,
    })
}

/// `action`: on, off, soft-off, cycle, reset.
#[server(endpoint = "bmc/power")]
pub async fn power(machine_id: i64, action: String) -> Result<(), AppError> {
    let action = bmc::PowerAction::parse(&action)
        .ok_or_else(|| AppError::invalid("action", "must be on, off, soft-off, cycle or reset"))?;
    let actor = crate::auth::actor().await?;
    crate::auth::conductor()?
        .power(&actor, machine_id, action)
        .await?;
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
    let device = bmc::BootDevice::parse(&device)
        .ok_or_else(|| AppError::invalid("device", "must be pxe, disk, cdrom or bios-setup"))?;
    let boot = bmc::BootOverride {
        device,
        persistent: persistent.is_some(),
        uefi: uefi.is_some(),
    };
    let actor = crate::auth::actor().await?;
    crate::auth::conductor()?
        .set_boot(&actor, machine_id, boot)
        .await?;
    Ok(())
}

/// Talks to the BMC and reports what it says about itself.
#[server(endpoint = "bmc/test")]
pub async fn test_bmc(machine_id: i64) -> Result<String, AppError> {
    let actor = crate::auth::actor().await?;
    let info = crate::auth::conductor()?
        .identify(&actor, machine_id)
        .await?;
    Ok(format!("BMC answered: {info}"))
}
