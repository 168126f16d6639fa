//! Talking to baseboard management controllers: power and next boot device.
//!
//! One trait, [`Bmc`], and one driver per protocol. Callers hand in an address and credentials;
//! deciding who may press a button is the lab's job, not this crate's.

mod ipmi;
mod redfish;
pub mod sol;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ipmi::Ipmi;
pub use redfish::{MediaSlot, Redfish, Tls};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerAction {
    On,
    /// Hard power off.
    Off,
    /// Ask the operating system to shut down (ACPI).
    SoftOff,
    /// Off, then on.
    Cycle,
    /// Hard reset.
    Reset,
}

impl PowerAction {
    pub const ALL: [PowerAction; 5] = [
        PowerAction::On,
        PowerAction::Off,
        PowerAction::SoftOff,
        PowerAction::Cycle,
        PowerAction::Reset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::SoftOff => "soft-off",
            PowerAction::Cycle => "cycle",
            PowerAction::Reset => "reset",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootDevice {
    Pxe,
    Disk,
    Cdrom,
    BiosSetup,
}

impl BootDevice {
    pub const ALL: [BootDevice; 4] = [
        BootDevice::Pxe,
        BootDevice::Disk,
        BootDevice::Cdrom,
        BootDevice::BiosSetup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BootDevice::Pxe => "pxe",
            BootDevice::Disk => "disk",
            BootDevice::Cdrom => "cdrom",
            BootDevice::BiosSetup => "bios-setup",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == value)
    }
}

/// The next boot: which device, for one boot or every boot, in UEFI or legacy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootOverride {
    pub device: BootDevice,
    pub persistent: bool,
    pub uefi: bool,
}

/// What the BMC says about itself, for "test connection".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// "IPMI 2.0", "Redfish 1.6.0", …
    pub protocol: String,
    pub vendor: String,
    pub model: String,
    pub firmware: String,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} {}, firmware {}",
            self.protocol, self.vendor, self.model, self.firmware
        )
    }
}

/// Where a BMC is and how to log in. The password lives only as long as one operation.
#[derive(Clone)]
pub struct Target {
    /// `host` or `host:port`.
    pub address: String,
    pub username: String,
    pub password: String,
    /// Upper bound for one whole operation (connect, authenticate, command).
    pub timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("BMC at {address} did not answer within {seconds} s")]
    Timeout { address: String, seconds: u64 },
    #[error("BMC at {address} is unreachable: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("BMC at {address} refused the log-in of {username} (wrong user name or password?)")]
    Authentication { address: String, username: String },
    #[error("BMC at {address} rejected {command}: completion code {code:#04x} ({meaning})")]
    Command {
        address: String,
        command: &'static str,
        code: u8,
        meaning: &'static str,
    },
    #[error("BMC at {address}: {message}")]
    Protocol { address: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One BMC protocol.
pub trait Bmc {
    fn power_state(&self) -> impl Future<Output = Result<PowerState>> + Send;
    fn power(&self, action: PowerAction) -> impl Future<Output = Result<()>> + Send;
    fn set_boot(&self, boot: BootOverride) -> impl Future<Output = Result<()>> + Send;
    fn device_info(&self) -> impl Future<Output = Result<DeviceInfo>> + Send;
}

/// Any of the drivers, chosen per machine at run time.
#[derive(Debug, Clone)]
pub enum Driver {
    Ipmi(Ipmi),
    Redfish(Redfish),
}

impl Bmc for Driver {
    async fn power_state(&self) -> Result<PowerState> {
        match self {
            Driver::Ipmi(d) => d.power_state().await,
            Driver::Redfish(d) => d.power_state().await,
        }
    }

    async fn power(&self, action: PowerAction) -> Result<()> {
        match self {
            Driver::Ipmi(d) => d.power(action).await,
            Driver::Redfish(d) => d.power(action).await,
        }
    }

    async fn set_boot(&self, boot: BootOverride) -> Result<()> {
        match self {
            Driver::Ipmi(d) => d.set_boot(boot).await,
            Driver::Redfish(d) => d.set_boot(boot).await,
        }
    }

    async fn device_info(&self) -> Result<DeviceInfo> {
        match self {
            Driver::Ipmi(d) => d.device_info().await,
            Driver::Redfish(d) => d.device_info().await,
        }
    }
}
