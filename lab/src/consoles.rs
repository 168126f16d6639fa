//! Machines' serial consoles, as the lab sees them: who may watch or type, which consoles are
//! kept open and recorded (a reserved machine's, a machine's with a job), and the audit of
//! who opened, took over or sent BREAK. Driving the console is the conductor's business.

use crate::bmc_access::BmcAccess;
use crate::model::Level;
use crate::{Actor, Error, Lab, Result};

/// What a person may do with a machine's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRole {
    /// The holder of the machine's current reservation: types.
    Holder,
    /// A manager of the machine or an admin: watches, and may take the keyboard.
    Manager,
}

impl Lab {
    /// The caller's role at `machine_id`'s console. Users who may only view the machine, or use
    /// it outside their reservation, do not see the console.
    pub async fn console_role(&self, actor: &Actor, machine_id: i64) -> Result<ConsoleRole> {
        let level = self.require(actor, machine_id, Level::View).await?;
        if level >= Level::Use && self.holds_now(actor, machine_id).await? {
            return Ok(ConsoleRole::Holder);
        }
        if level >= Level::Manage {
            return Ok(ConsoleRole::Manager);
        }
        Err(Error::NotNow(
            "the console is open to the machine's current holder and its managers".into(),
        ))
    }

    /// Whether `actor` holds an active reservation of the machine now.
    async fn holds_now(&self, actor: &Actor, machine_id: i64) -> Result<bool> {
        let now = crate::now();
        let holding: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM reservations
             WHERE machine_id = $1 AND user_id = $2 AND state = 'active' AND start_at <= $3 AND end_at > $3",
        )
        .bind(machine_id)
        .bind(actor.user_id)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        Ok(holding.is_some())
    }

    /// The machines whose consoles baas keeps open and records now: those with an IPMI BMC
    /// that are reserved right now or have an active job, each with that job's id.
    pub async fn consoles_to_record(&self) -> Result<Vec<(i64, Option<i64>)>> {
        let now = crate::now();
        let active = crate::jobs::ACTIVE;
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT m.id,
                    (SELECT MAX(j.id) FROM boot_jobs j WHERE j.machine_id = m.id AND j.state IN {active})
             FROM machines m
             WHERE m.bmc_kind = 'ipmi' AND m.bmc_address <> ''
               AND (EXISTS (SELECT 1 FROM reservations r
                             WHERE r.machine_id = m.id AND r.state = 'active'
                               AND r.start_at <= $1 AND r.end_at > $1)
                    OR EXISTS (SELECT 1 FROM boot_jobs j
                                WHERE j.machine_id = m.id AND j.state IN {active}))
             ORDER BY m.id"
        ))
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        Ok(rows)
    }

    /// The BMC to open a console through, for someone with a [`ConsoleRole`] or for the lab's
    /// own recording.
    pub async fn console_bmc(&self, machine_id: i64) -> Result<BmcAccess> {
        self.machine_bmc(machine_id).await
    }

    /// Audits a console action (`open`, `take_keyboard`, `take_over_sol`, `break`, `close`).
    pub async fn record_console_action(
        &self,
        actor: &Actor,
        machine_id: i64,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        let name: String = sqlx::query_scalar("SELECT name FROM machines WHERE id = $1")
            .bind(machine_id)
            .fetch_one(&self.db)
            .await?;
        self.audit_event(
            actor,
            &format!("console.{action}"),
            &format!("machine:{name}"),
            detail,
        )
        .await
    }
}
