//! Who may press a machine's power and boot buttons, and what a BMC driver needs to do it.
//! The drivers themselves live in the `bmc` crate; this module only decides and records.

use crate::machines::BmcCredentials;
use crate::model::{BmcKind, Level};
use crate::{Actor, Error, Lab, Result};

/// A machine's BMC as handed to a driver, after authorization. Never serialised.
#[derive(Debug, Clone)]
pub struct BmcAccess {
    pub machine_id: i64,
    pub machine_name: String,
    pub kind: BmcKind,
    pub address: String,
    pub credentials: BmcCredentials,
    /// SHA-256 of the BMC's certificate to accept instead of a verified one.
    pub tls_pin: Option<[u8; 32]>,
    /// RMCP+ cipher suite for IPMI.
    pub ipmi_cipher_suite: u8,
}

impl Lab {
    /// Admins and managers always; *use* holders only during their own active reservation.
    pub async fn may_control_power(&self, actor: &Actor, machine_id: i64) -> Result<bool> {
        let level = self.require(actor, machine_id, Level::View).await?;
        if level >= Level::Manage {
            return Ok(true);
        }
        if level < Level::Use {
            return Ok(false);
        }
        Ok(self.holding_now(actor, machine_id).await?.is_some())
    }

    /// The active reservation of the machine `actor` holds now, if any.
    pub(crate) async fn holding_now(&self, actor: &Actor, machine_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM reservations
             WHERE machine_id = $1 AND user_id = $2 AND state = 'active' AND start_at <= $3 AND end_at > $3",
        )
        .bind(machine_id)
        .bind(actor.user_id)
        .bind(crate::now())
        .fetch_optional(&self.db)
        .await?)
    }

    /// The BMC of a machine, for an actor allowed to control it.
    pub async fn bmc_access(&self, actor: &Actor, machine_id: i64) -> Result<BmcAccess> {
        if !self.may_control_power(actor, machine_id).await? {
            return Err(Error::NotNow(
                "power and boot control is available during your own reservation of this machine"
                    .into(),
            ));
        }
        self.machine_bmc(machine_id).await
    }

    /// The machine's BMC, without a permission check: for the lab's own housekeeping.
    pub(crate) async fn machine_bmc(&self, machine_id: i64) -> Result<BmcAccess> {
        let (name, kind, address, pin, suite): (String, String, String, String, i64) = sqlx::query_as(
            "SELECT name, bmc_kind, bmc_address, bmc_tls_pin, ipmi_cipher_suite FROM machines WHERE id = $1",
        )
        .bind(machine_id)
        .fetch_one(&self.db)
        .await?;
        let kind = BmcKind::parse(&kind).unwrap_or(BmcKind::None);
        if kind == BmcKind::None || address.is_empty() {
            return Err(Error::Conflict(format!("{name} has no BMC configured")));
        }
        let credentials = self.bmc_credentials(machine_id).await?.unwrap_or_default();
        Ok(BmcAccess {
            machine_id,
            machine_name: name,
            kind,
            address,
            credentials,
            tls_pin: decode_pin(&pin),
            ipmi_cipher_suite: u8::try_from(suite).unwrap_or(3),
        })
    }

    /// Audits one BMC action and its outcome ("ok" or the error).
    pub async fn record_bmc_action(
        &self,
        actor: &Actor,
        access: &BmcAccess,
        action: &str,
        outcome: &str,
    ) -> Result<()> {
        self.audit_event(
            actor,
            &format!("bmc.{action}"),
            &format!("machine:{}", access.machine_name),
            outcome,
        )
        .await
    }
}

/// 64 hex digits (as validated on input) to 32 bytes.
fn decode_pin(pin: &str) -> Option<[u8; 32]> {
    if pin.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(pin.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use crate::model::{Level, MachineInput, Subject};
    use crate::testing;
    use crate::Error;

    #[tokio::test]
    async fn power_control_needs_manage_or_an_own_running_reservation() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let holder = testing::user(&lab, "holder").await;
        let waiting = testing::user(&lab, "waiting").await;
        let manager = testing::user(&lab, "manager").await;
        let machine = lab
            .create_machine(
                &admin,
                MachineInput {
                    bmc_kind: "ipmi".into(),
                    bmc_address: "127.0.0.1:623".into(),
                    bmc_username: "admin".into(),
                    bmc_password: "secret-pw".into(),
                    ..testing::machine_input("node1", "52:54:00:00:00:01")
                },
            )
            .await
            .unwrap()
            .id;
        for (user, level) in [
            (&holder, Level::Use),
            (&waiting, Level::Use),
            (&manager, Level::Manage),
        ] {
            lab.grant(&admin, machine, Subject::User(user.user_id.unwrap()), level)
                .await
                .unwrap();
        }
        let now = crate::now();
        lab.reserve(&holder, machine, now, now + 3600, "")
            .await
            .unwrap();
        lab.reserve(&waiting, machine, now + 7200, now + 9000, "")
            .await
            .unwrap();

        let access = lab.bmc_access(&holder, machine).await.unwrap();
        assert_eq!(access.credentials.password, "secret-pw");
        assert_eq!(access.tls_pin, None);
        assert!(lab.bmc_access(&manager, machine).await.is_ok());
        assert!(lab.bmc_access(&admin, machine).await.is_ok());
        assert!(matches!(
            lab.bmc_access(&waiting, machine).await,
            Err(Error::NotNow(_))
        ));
        let stranger = testing::user(&lab, "stranger").await;
        assert!(matches!(
            lab.bmc_access(&stranger, machine).await,
            Err(Error::NotFound(_))
        ));
    }
}

#[cfg(test)]
mod pin_tests {
    use super::decode_pin;
    use crate::testing;

    #[tokio::test]
    async fn certificate_pins_are_normalised_validated_and_decoded() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let colons = (0..32)
            .map(|i| format!("{i:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let input = crate::model::MachineInput {
            bmc_kind: "redfish".into(),
            bmc_address: "https://bmc.example:8443".into(),
            bmc_tls_pin: colons,
            ..testing::machine_input("rf1", "52:54:00:00:00:01")
        };
        let machine = lab.create_machine(&admin, input).await.unwrap();
        assert_eq!(
            machine.bmc_tls_pin,
            (0..32).map(|i| format!("{i:02x}")).collect::<String>()
        );
        let access = lab.bmc_access(&admin, machine.id).await.unwrap();
        assert_eq!(access.tls_pin.unwrap()[31], 31);

        let bad = crate::model::MachineInput {
            bmc_tls_pin: "abc".into(),
            ..testing::machine_input("rf2", "52:54:00:00:00:02")
        };
        let err = lab.create_machine(&admin, bad).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "bmc_tls_pin");
        assert_eq!(decode_pin("zz"), None);
    }
}
