//! IPMI 2.0 over RMCP+ ("lanplus") with ipmi-rs. ipmi-rs has no chassis commands, so power,
//! status and boot flags are sent as raw requests; each is a few bytes, decoded here.
//!
//! ipmi-rs is blocking (a std UDP socket): every operation runs on a blocking thread, bounded by
//! the target's timeout.

use std::time::Duration;

use ipmi_rs::connection::{IpmiConnection, LogicalUnit, Message, Request, RequestTargetAddress};
use ipmi_rs::rmcp::{ActivationError, CipherSuite, Rmcp, V2_0ActivationError};

use crate::{
    Bmc, BootDevice, BootOverride, DeviceInfo, Error, PowerAction, PowerState, Result, Target,
};

const DEFAULT_PORT: u16 = 623;
const NETFN_CHASSIS: u8 = 0x00;
const NETFN_APP: u8 = 0x06;

/// A BMC spoken to over IPMI lanplus (RMCP+), with cipher suite 3 (HMAC-SHA1, AES-CBC-128)
/// unless told otherwise. The suite is asked for directly: BMCs such as `ipmi_sim` do not
/// answer Get Channel Cipher Suites.
#[derive(Debug, Clone)]
pub struct Ipmi {
    target: Target,
    cipher_suite: CipherSuite,
}

impl Ipmi {
    pub fn new(target: Target) -> Self {
        Ipmi {
            target,
            cipher_suite: CipherSuite::Suite3,
        }
    }

    /// With RMCP+ cipher suite `suite` (1, 2 or 3: the SHA1-based suites ipmi-rs implements).
    pub fn with_cipher_suite(target: Target, suite: u8) -> Result<Self> {
        let cipher_suite = CipherSuite::from_id(suite).ok_or_else(|| Error::Protocol {
            address: target.address.clone(),
            message: format!("cipher suite {suite} is not supported (1, 2 and 3 are)"),
        })?;
        Ok(Ipmi {
            target,
            cipher_suite,
        })
    }

    /// Opens an authenticated administrator session and runs `operation` in it, off the runtime.
    async fn with_session<T, F>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Session) -> Result<T> + Send + 'static,
    {
        let target = self.target.clone();
        let suite = self.cipher_suite;
        let address = target.address.clone();
        let limit = target.timeout;
        let work = tokio::task::spawn_blocking(move || {
            let mut session = Session::open(&target, suite)?;
            operation(&mut session)
        });
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Protocol {
                address,
                message: format!("driver thread failed: {join}"),
            }),
            Err(_) => Err(Error::Timeout {
                address,
                seconds: limit.as_secs().max(1),
            }),
        }
    }
}

impl Bmc for Ipmi {
    async fn power_state(&self) -> Result<PowerState> {
        self.with_session(|session| {
            let status = session.command("Get Chassis Status", NETFN_CHASSIS, 0x01, vec![])?;
            let current = status
                .first()
                .copied()
                .ok_or_else(|| session.protocol("empty chassis status"))?;
            Ok(if current & 0x01 == 1 {
                PowerState::On
            } else {
                PowerState::Off
            })
        })
        .await
    }

    async fn power(&self, action: PowerAction) -> Result<()> {
        let code = match action {
            PowerAction::Off => 0x00,
            PowerAction::On => 0x01,
            PowerAction::Cycle => 0x02,
            PowerAction::Reset => 0x03,
            PowerAction::SoftOff => 0x05,
        };
        self.with_session(move |session| {
            session.command("Chassis Control", NETFN_CHASSIS, 0x02, vec![code])?;
            Ok(())
        })
        .await
    }

    async fn set_boot(&self, boot: BootOverride) -> Result<()> {
        let data = boot_flags(boot);
        self.with_session(move |session| {
            session.command("Set System Boot Options", NETFN_CHASSIS, 0x08, data)?;
            Ok(())
        })
        .await
    }

    async fn device_info(&self) -> Result<DeviceInfo> {
        self.with_session(|session| {
            let data = session.command("Get Device ID", NETFN_APP, 0x01, vec![])?;
            parse_device_id(&data).ok_or_else(|| session.protocol("short Get Device ID response"))
        })
        .await
    }
}

/// Set System Boot Options, parameter 5 (boot flags): valid, once/persistent, legacy/EFI, device.
fn boot_flags(boot: BootOverride) -> Vec<u8> {
    let mut flags = 0x80;
    if boot.persistent {
        flags |= 0x40;
    }
    if boot.uefi {
        flags |= 0x20;
    }
    let device = match boot.device {
        BootDevice::Pxe => 0x01,
        BootDevice::Disk => 0x02,
        BootDevice::Cdrom => 0x05,
        BootDevice::BiosSetup => 0x06,
    };
    vec![0x05, flags, device << 2, 0x00, 0x00, 0x00]
}

fn parse_device_id(data: &[u8]) -> Option<DeviceInfo> {
    if data.len() < 11 {
        return None;
    }
    Some(DeviceInfo {
        protocol: format!("IPMI {}.{}", data[4] & 0x0f, data[4] >> 4),
        vendor: format!(
            "IANA {}",
            u32::from_le_bytes([data[6], data[7], data[8], 0])
        ),
        model: format!(
            "product {:#06x}, device {:#04x}",
            u16::from_le_bytes([data[9], data[10]]),
            data[0]
        ),
        firmware: format!("{}.{:02x}", data[2] & 0x7f, data[3]),
    })
}

/// The meaning of common IPMI completion codes, for error messages.
fn completion_meaning(code: u8) -> &'static str {
    match code {
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC3 => "timeout while processing",
        0xC7 => "request data length invalid",
        0xC9 => "parameter out of range",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for this sensor or record",
        0xD4 => "insufficient privilege level",
        0xD5 => "command not supported in present state",
        0xD6 => "command sub-function disabled or unavailable",
        _ => "unspecified error",
    }
}

/// An activated RMCP+ session at administrator privilege.
pub(crate) struct Session {
    rmcp: Rmcp,
    address: String,
}

impl Session {
    pub(crate) fn open(target: &Target, suite: CipherSuite) -> Result<Session> {
        let address = if target.address.contains(':') {
            target.address.clone()
        } else {
            format!("{}:{DEFAULT_PORT}", target.address)
        };
        // Per-packet wait; the whole operation is bounded by the caller's timeout.
        let packet_timeout = (target.timeout / 4).max(Duration::from_millis(250));
        let mut rmcp =
            Rmcp::new(address.as_str(), packet_timeout).map_err(|e| Error::Unreachable {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        rmcp.activate_with_cipher_suite(
            true,
            Some(&target.username),
            Some(target.password.as_bytes()),
            suite,
        )
        .map_err(|e| activation_error(&address, &target.username, e))?;
        let mut session = Session { rmcp, address };
        // Chassis commands need administrator privilege; sessions start at user level.
        session.command("Set Session Privilege Level", NETFN_APP, 0x3B, vec![0x04])?;
        Ok(session)
    }

    fn command(
        &mut self,
        command: &'static str,
        netfn: u8,
        cmd: u8,
        data: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let mut request = Request::new(
            Message::new_raw(netfn, cmd, data),
            RequestTargetAddress::Bmc(LogicalUnit::Zero),
        );
        let response = self
            .rmcp
            .send_recv(&mut request)
            .map_err(|e| self.protocol(&format!("{command} failed: {e:?}")))?;
        match response.cc() {
            0 => Ok(response.data().to_vec()),
            code => Err(Error::Command {
                address: self.address.clone(),
                command,
                code,
                meaning: completion_meaning(code),
            }),
        }
    }

    /// Sends `message` and returns the completion code with the data, whatever the code.
    pub(crate) fn raw(&mut self, message: Message) -> Result<(u8, Vec<u8>)> {
        let mut request = Request::new(message, RequestTargetAddress::Bmc(LogicalUnit::Zero));
        let response = self
            .rmcp
            .send_recv(&mut request)
            .map_err(|e| self.protocol(&format!("request failed: {e:?}")))?;
        Ok((response.cc(), response.data().to_vec()))
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Ends the session on the BMC (best effort: BMCs hold few sessions, and an abandoned one
    /// lingers until it times out).
    pub(crate) fn close(&mut self) {
        if let Some(id) = self.rmcp.session_id() {
            let _ = self.raw(Message::new_raw(NETFN_APP, 0x3C, id.to_le_bytes().to_vec()));
        }
    }

    /// The RMCP connection, to carry the session on elsewhere.
    pub(crate) fn into_rmcp(self) -> Rmcp {
        self.rmcp
    }

    pub(crate) fn protocol(&self, message: &str) -> Error {
        Error::Protocol {
            address: self.address.clone(),
            message: message.to_string(),
        }
    }
}

fn activation_error(address: &str, username: &str, error: ActivationError) -> Error {
    match error {
        ActivationError::BindSocket(e)
        | ActivationError::PingSend(e)
        | ActivationError::PongReceive(e) => Error::Unreachable {
            address: address.to_string(),
            reason: e.to_string(),
        },
        ActivationError::V2_0(
            V2_0ActivationError::RakpMessage2Parse(_)
            | V2_0ActivationError::RakpMessage2Validate(_)
            | V2_0ActivationError::RakpMessage4Parse(_)
            | V2_0ActivationError::RakpMessage4Validate(_)
            | V2_0ActivationError::RakpMessage4InvalidIntegrityCheckValue
            | V2_0ActivationError::ServerAuthenticationFailed,
        ) => Error::Authentication {
            address: address.to_string(),
            username: username.to_string(),
        },
        other => Error::Protocol {
            address: address.to_string(),
            message: format!("session activation failed: {other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_flags_encode_device_mode_and_persistence() {
        let once_pxe_legacy = BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            uefi: false,
        };
        assert_eq!(boot_flags(once_pxe_legacy), [0x05, 0x80, 0x04, 0, 0, 0]);
        let always_disk_uefi = BootOverride {
            device: BootDevice::Disk,
            persistent: true,
            uefi: true,
        };
        assert_eq!(boot_flags(always_disk_uefi), [0x05, 0xE0, 0x08, 0, 0, 0]);
        let cd = BootOverride {
            device: BootDevice::Cdrom,
            persistent: false,
            uefi: true,
        };
        assert_eq!(boot_flags(cd)[2], 0x14);
    }

    #[test]
    fn device_id_responses_are_decoded_and_short_ones_refused() {
        let data = [
            0x20, 0x81, 0x02, 0x09, 0x51, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
        ];
        let info = parse_device_id(&data).unwrap();
        assert_eq!(info.firmware, "2.09");
        assert_eq!(info.protocol, "IPMI 1.5");
        assert_eq!(info.vendor, "IANA 4753");
        assert_eq!(info.model, "product 0x0f02, device 0x20");
        assert!(parse_device_id(&data[..5]).is_none());
    }
}
