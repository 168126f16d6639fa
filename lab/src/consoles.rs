//! Machines' serial consoles, as the lab sees them: who may watch or type, which consoles are
//! kept open and recorded (a reserved machine's, a machine's with a job), and the audit of
//! who opened, took over or sent BREAK. Driving the console is the conductor's business.

use crate::bmc_access::BmcAccess;
use crate::model::Level;
use crate::{Actor, Error, Lab, Result};

/// What a person may do with a machine's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRole {
    /// The holder of the machine's current reservation (its id): types, and sees what the
    /// machine printed since the reservation began, not before.
    Holder { reservation: i64 },
    /// A manager of the machine or an admin: watches, and may take the keyboard.
    Manager,
}

/// A console the lab wants recorded, with whom its output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub machine_id: i64,
    /// The machine's started job: its part of the console is kept with it.
    pub job_id: Option<i64>,
    /// The reservation running now: its holder sees the console from its start.
    pub reservation_id: Option<i64>,
}

impl Lab {
    /// The caller's role at `machine_id`'s console. Users who may only view the machine, or use
    /// it outside their reservation, do not see the console.
    pub async fn console_role(&self, actor: &Actor, machine_id: i64) -> Result<ConsoleRole> {
        let level = self.require(actor, machine_id, Level::View).await?;
        if level >= Level::Use {
            if let Some(reservation) = self.holding_now(actor, machine_id).await? {
                return Ok(ConsoleRole::Holder { reservation });
            }
        }
        if level >= Level::Manage {
            return Ok(ConsoleRole::Manager);
        }
        Err(Error::NotNow(
            "the console is open to the machine's current holder and its managers".into(),
        ))
    }

    /// The machines whose consoles baas keeps open and records now: those with an IPMI BMC
    /// that are reserved right now or have a started job, each with that job's id and the
    /// reservation running now. A job queued for later (inside a future reservation) is not
    /// the machine's job yet: what the machine prints now belongs to its current holder.
    pub async fn consoles_to_record(&self) -> Result<Vec<Recorded>> {
        let now = crate::now();
        let active = crate::jobs::ACTIVE;
        let started = format!("j.state IN {active} AND j.state <> 'queued'");
        let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT m.id,
                    (SELECT MAX(j.id) FROM boot_jobs j WHERE j.machine_id = m.id AND {started}),
                    (SELECT MAX(r.id) FROM reservations r
                      WHERE r.machine_id = m.id AND r.state = 'active'
                        AND r.start_at <= $1 AND r.end_at > $1)
             FROM machines m
             WHERE m.bmc_kind = 'ipmi' AND m.bmc_address <> ''
               AND (EXISTS (SELECT 1 FROM reservations r
                             WHERE r.machine_id = m.id AND r.state = 'active'
                               AND r.start_at <= $1 AND r.end_at > $1)
                    OR EXISTS (SELECT 1 FROM boot_jobs j WHERE j.machine_id = m.id AND {started}))
             ORDER BY m.id"
        ))
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(machine_id, job_id, reservation_id)| Recorded {
                machine_id,
                job_id,
                reservation_id,
            })
            .collect())
    }

    /// Every job the machine ever had (their console recordings go with the machine).
    pub async fn machine_job_ids(&self, machine_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM boot_jobs WHERE machine_id = $1")
                .bind(machine_id)
                .fetch_all(&self.db)
                .await?,
        )
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

const FAILURE_PATTERNS_KEY: &str = "console.failure_patterns";
const SETTLE_SECONDS_KEY: &str = "console.settle_seconds";

/// Console lines that mean a boot failed, unless admins set their own: a kernel panic or Oops,
/// a root file system that cannot be mounted, an initramfs or systemd emergency shell.
pub const DEFAULT_FAILURE_PATTERNS: &[&str] = &[
    "Kernel panic - not syncing",
    "Oops:",
    "VFS: Unable to mount root fs",
    "Entering emergency mode",
    "You are in emergency mode",
    "dracut-initqueue[",
    "(initramfs) ",
    "Give root password for maintenance",
];

/// How long, by default, an image without a ready pattern must print without a failure
/// before its boot counts as up.
pub const DEFAULT_SETTLE_SECONDS: i64 = 20;

/// How a deploy's boot is judged from the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootWatch {
    /// The image's "I am up" line (empty: none).
    pub ready_pattern: String,
    pub failure_patterns: Vec<String>,
    pub settle_seconds: i64,
}

/// What the console printed since the machine was sent to its disk says, after `elapsed`
/// seconds of a `limit`, the machine having printed nothing for the last `quiet` seconds: the
/// observation and why, or `None` to keep watching.
pub fn judge(
    watch: &BootWatch,
    printed: &str,
    elapsed: i64,
    quiet: i64,
    limit: i64,
) -> Option<(crate::jobs::Observation, String)> {
    use crate::jobs::Observation;
    let failed = |line: &&str| {
        watch
            .failure_patterns
            .iter()
            .any(|p| !p.is_empty() && line.contains(p.as_str()))
    };
    if let Some(line) = printed.split(['\r', '\n']).find(failed) {
        let line = line.trim().to_string();
        let why = format!("the console showed: {line}");
        return Some((Observation::Failure(line), why));
    }
    let silent = printed.trim().is_empty();
    if !watch.ready_pattern.is_empty() {
        if printed.contains(&watch.ready_pattern) {
            return Some((
                Observation::Up,
                format!("the console showed {:?}", watch.ready_pattern),
            ));
        }
        if elapsed > limit {
            let why = format!(
                "{:?} did not show on the console within {limit} s{}",
                watch.ready_pattern,
                if silent { " (nothing was printed)" } else { "" }
            );
            return Some((Observation::Failure(why.clone()), why));
        }
        return None;
    }
    if !silent && quiet >= watch.settle_seconds {
        return Some((
            Observation::Up,
            format!(
                "the new system printed on its console, then {} s passed quietly without a failure",
                watch.settle_seconds
            ),
        ));
    }
    if !silent && elapsed > limit {
        return Some((
            Observation::Up,
            format!("the new system printed on its console without a failure for {limit} s"),
        ));
    }
    if silent && elapsed > limit {
        return Some((
            Observation::Unwatched,
            format!("written and verified, rebooted; nothing was printed on the console within {limit} s, so the boot was not observed"),
        ));
    }
    None
}

impl Lab {
    /// How job `job`'s boot is judged: its image's ready pattern and the lab's failure
    /// patterns and settle time.
    pub async fn boot_watch(&self, job: &crate::model::Job) -> Result<BootWatch> {
        let ready_pattern: Option<String> = match &job.image {
            Some(image) => {
                sqlx::query_scalar("SELECT ready_pattern FROM images WHERE id = $1")
                    .bind(image.id)
                    .fetch_optional(&self.db)
                    .await?
            }
            None => None,
        };
        Ok(BootWatch {
            ready_pattern: ready_pattern.unwrap_or_default(),
            failure_patterns: self.failure_patterns().await?,
            settle_seconds: self.settle_seconds().await?,
        })
    }

    /// The console lines that fail a deploy's boot, one per entry.
    pub async fn failure_patterns(&self) -> Result<Vec<String>> {
        Ok(match self.setting(FAILURE_PATTERNS_KEY).await? {
            Some(text) => text
                .lines()
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect(),
            None => DEFAULT_FAILURE_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        })
    }

    /// How long a boot without a ready pattern must print without failure to count as up.
    pub async fn settle_seconds(&self) -> Result<i64> {
        Ok(self
            .setting(SETTLE_SECONDS_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_SETTLE_SECONDS))
    }

    /// Replaces the failure patterns (one per line; empty lines dropped). Admins only.
    pub async fn set_failure_patterns(&self, actor: &Actor, patterns: &str) -> Result<()> {
        actor.require_admin()?;
        let lines: Vec<&str> = patterns
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.iter().any(|l| l.len() > 200) {
            return Err(Error::invalid(
                "console_failure_patterns",
                "a pattern is at most 200 characters",
            ));
        }
        let text = lines.join("\n");
        let mut tx = self.write().await?;
        crate::settings::put_setting(&mut tx, FAILURE_PATTERNS_KEY, &text).await?;
        crate::audit::record(
            &mut tx,
            actor,
            "settings.console",
            "settings",
            &format!("failure_patterns={}", lines.len()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the settle time (1 s to 1 h). Admins only.
    pub async fn set_settle_seconds(&self, actor: &Actor, seconds: i64) -> Result<()> {
        actor.require_admin()?;
        if !(1..=3600).contains(&seconds) {
            return Err(Error::invalid(
                "console_settle_seconds",
                "between 1 and 3600 seconds",
            ));
        }
        let mut tx = self.write().await?;
        crate::settings::put_setting(&mut tx, SETTLE_SECONDS_KEY, seconds).await?;
        crate::audit::record(
            &mut tx,
            actor,
            "settings.console",
            "settings",
            &format!("settle_seconds={seconds}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Observation;

    fn watch(ready: &str) -> BootWatch {
        BootWatch {
            ready_pattern: ready.into(),
            failure_patterns: DEFAULT_FAILURE_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            settle_seconds: 20,
        }
    }

    #[test]
    fn a_panic_fails_the_boot_with_its_line() {
        let printed = "[    0.9] Run /init\r\n[    1.2] VFS: Unable to mount root fs on unknown-block(0,0)\r\n[    1.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n";
        let (observation, _) = judge(&watch("login:"), printed, 3, 0, 600).unwrap();
        assert_eq!(
            observation,
            Observation::Failure(
                "[    1.2] VFS: Unable to mount root fs on unknown-block(0,0)".into()
            )
        );
    }

    #[test]
    fn a_ready_pattern_is_waited_for_and_its_absence_fails_in_time() {
        let w = watch("login:");
        assert_eq!(judge(&w, "booting...\r\n", 100, 90, 600), None);
        assert_eq!(
            judge(&w, "booting...\r\nnode login: ", 101, 0, 600)
                .unwrap()
                .0,
            Observation::Up
        );
        let (late, why) = judge(&w, "booting...\r\n", 601, 500, 600).unwrap();
        assert!(matches!(late, Observation::Failure(_)));
        assert!(why.contains("did not show"), "{why}");
    }

    #[test]
    fn without_a_ready_pattern_output_and_quiet_make_it_up_and_silence_is_unobserved() {
        let w = watch("");
        assert_eq!(judge(&w, "hello\r\n", 5, 5, 600), None, "not settled yet");
        assert_eq!(
            judge(&w, "hello\r\nstill booting\r\n", 60, 3, 600),
            None,
            "output that goes on is not settled, however long ago it began"
        );
        assert_eq!(
            judge(&w, "hello\r\n", 25, 20, 600).unwrap().0,
            Observation::Up
        );
        assert_eq!(judge(&w, "", 300, 300, 600), None);
        assert_eq!(
            judge(&w, "", 601, 601, 600).unwrap().0,
            Observation::Unwatched
        );
    }
}
