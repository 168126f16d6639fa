//! Boot jobs: "boot this machine into the management OS" requests. A job waits for the
//! machine's next network boot; its boot script then carries a fresh one-time enrolment token
//! (only the SHA-256 is kept) with which the management OS will report back. Requested by the
//! people who may press the machine's power button.

use crate::audit::record;
use crate::model::{BootJob, BootJobState};
use crate::secrets::{random_token, token_sha256};
use crate::{Actor, Error, Lab, Result};

/// A job handed to a booting machine: its id and the enrolment token for the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedJob {
    pub job_id: i64,
    pub enrolment_token: String,
}

impl Lab {
    /// Asks for the management OS at the machine's next network boot.
    pub async fn request_management_boot(&self, actor: &Actor, machine_id: i64) -> Result<BootJob> {
        if !self.may_control_power(actor, machine_id).await? {
            return Err(Error::NotNow(
                "booting a machine is available during your own reservation of it".into(),
            ));
        }
        let mut tx = self.db.begin().await?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN ('pending', 'booting')",
        )
        .bind(machine_id)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_some() {
            return Err(Error::NotNow(
                "this machine already has a boot job; cancel it first".into(),
            ));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO boot_jobs (machine_id, requested_by, state, created_at)
             VALUES ($1, $2, 'pending', $3) RETURNING id",
        )
        .bind(machine_id)
        .bind(actor.user_id)
        .bind(crate::now())
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "boot_job.request",
            &format!("machine:{machine_id}"),
            &format!("job {id}: management OS at next network boot"),
        )
        .await?;
        tx.commit().await?;
        self.boot_job(id).await
    }

    /// Calls off a pending or booting job (same people as requesting it).
    pub async fn cancel_boot_job(&self, actor: &Actor, job_id: i64) -> Result<BootJob> {
        let job = self.boot_job(job_id).await?;
        if !self.may_control_power(actor, job.machine_id).await? {
            return Err(Error::Forbidden);
        }
        let mut tx = self.db.begin().await?;
        let done = sqlx::query(
            "UPDATE boot_jobs SET state = 'cancelled', ended_at = $2, enrolment_token_sha256 = ''
             WHERE id = $1 AND state IN ('pending', 'booting')",
        )
        .bind(job_id)
        .bind(crate::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotNow("the job has already ended".into()));
        }
        record(
            &mut tx,
            actor,
            "boot_job.cancel",
            &format!("machine:{}", job.machine_id),
            &format!("job {job_id}"),
        )
        .await?;
        tx.commit().await?;
        self.boot_job(job_id).await
    }

    /// A machine's latest boot jobs, newest first, for anyone who may view it.
    pub async fn boot_jobs(&self, actor: &Actor, machine_id: i64) -> Result<Vec<BootJob>> {
        self.require(actor, machine_id, crate::model::Level::View)
            .await?;
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_COLUMNS} WHERE j.machine_id = $1 ORDER BY j.id DESC LIMIT 10"
        ))
        .bind(machine_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    /// The machine's open job, if any, now handed to the booting machine with a fresh
    /// enrolment token (a repeated boot gets a new one; the old one stops working).
    /// The token is bound to `address`, the one the machine asked from.
    pub(crate) async fn start_boot_job(
        &self,
        machine_id: i64,
        address: &str,
    ) -> Result<Option<StartedJob>> {
        let token = random_token(32);
        let job_id: Option<i64> = sqlx::query_scalar(
            "UPDATE boot_jobs SET state = 'booting', enrolment_token_sha256 = $2,
                started_at = COALESCE(started_at, $3), enrolment_address = $4
             WHERE machine_id = $1 AND state IN ('pending', 'booting') RETURNING id",
        )
        .bind(machine_id)
        .bind(token_sha256(&token))
        .bind(crate::now())
        .bind(address)
        .fetch_optional(&self.db)
        .await?;
        Ok(job_id.map(|job_id| StartedJob {
            job_id,
            enrolment_token: token,
        }))
    }

    /// The address a job's current enrolment token was handed to (tests).
    #[cfg(test)]
    pub(crate) async fn enrolment_address(&self, job_id: i64) -> String {
        sqlx::query_scalar("SELECT enrolment_address FROM boot_jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(&self.db)
            .await
            .expect("boot job")
    }

    /// Whether the machine has a job waiting for (or in) its next network boot.
    pub(crate) async fn has_open_boot_job(&self, machine_id: i64) -> Result<bool> {
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN ('pending', 'booting')",
        )
        .bind(machine_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(open.is_some())
    }

    async fn boot_job(&self, id: i64) -> Result<BootJob> {
        let row: Option<JobRow> = sqlx::query_as(&format!("{JOB_COLUMNS} WHERE j.id = $1"))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        row.map(job_from_row).ok_or(Error::NotFound("boot job"))
    }
}

const JOB_COLUMNS: &str =
    "SELECT j.id, j.machine_id, u.username, j.state, j.created_at, j.started_at, j.ended_at
     FROM boot_jobs j LEFT JOIN users u ON u.id = j.requested_by";

type JobRow = (
    i64,
    i64,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn job_from_row(row: JobRow) -> BootJob {
    let (id, machine_id, requested_by, state, created_at, started_at, ended_at) = row;
    BootJob {
        id,
        machine_id,
        requested_by,
        state: BootJobState::parse(&state).unwrap_or(BootJobState::Cancelled),
        created_at,
        started_at,
        ended_at,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{BootJobState, Level, Subject};
    use crate::store::testing::{admin, lab, machine_input, user};
    use crate::Error;

    #[tokio::test]
    async fn a_job_waits_for_the_next_boot_gets_a_fresh_token_each_boot_and_can_be_cancelled() {
        let (lab, _dir) = lab().await;
        let machine = lab
            .create_machine(&admin(), machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let job = lab
            .request_management_boot(&admin(), machine.id)
            .await
            .unwrap();
        assert_eq!(job.state, BootJobState::Pending);
        assert!(matches!(
            lab.request_management_boot(&admin(), machine.id).await,
            Err(Error::NotNow(_))
        ));
        let first = lab
            .start_boot_job(machine.id, "10.0.0.5")
            .await
            .unwrap()
            .unwrap();
        let again = lab
            .start_boot_job(machine.id, "10.0.0.5")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.job_id, job.id);
        assert_ne!(first.enrolment_token, again.enrolment_token);
        assert!(first.enrolment_token.len() >= 43, "256 bits");
        let stored: String =
            sqlx::query_scalar("SELECT enrolment_token_sha256 FROM boot_jobs WHERE id = $1")
                .bind(job.id)
                .fetch_one(&lab.db)
                .await
                .unwrap();
        assert_eq!(stored, crate::secrets::token_sha256(&again.enrolment_token));
        assert_eq!(lab.enrolment_address(job.id).await, "10.0.0.5");
        let jobs = lab.boot_jobs(&admin(), machine.id).await.unwrap();
        assert_eq!(jobs[0].state, BootJobState::Booting);

        let cancelled = lab.cancel_boot_job(&admin(), job.id).await.unwrap();
        assert_eq!(cancelled.state, BootJobState::Cancelled);
        assert_eq!(
            lab.start_boot_job(machine.id, "10.0.0.5").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn only_those_who_may_power_the_machine_request_its_boot() {
        let (lab, _dir) = lab().await;
        let machine = lab
            .create_machine(&admin(), machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let viewer = user(&lab, "vera").await;
        let holder = user(&lab, "hugo").await;
        for (who, level) in [(&viewer, Level::View), (&holder, Level::Use)] {
            lab.grant(
                &admin(),
                machine.id,
                Subject::User(who.user_id.unwrap()),
                level,
            )
            .await
            .unwrap();
        }
        assert!(matches!(
            lab.request_management_boot(&viewer, machine.id).await,
            Err(Error::NotNow(_))
        ));
        // A use grant without a running reservation is not enough either.
        assert!(matches!(
            lab.request_management_boot(&holder, machine.id).await,
            Err(Error::NotNow(_))
        ));
        let stranger = user(&lab, "sam").await;
        assert!(lab
            .request_management_boot(&stranger, machine.id)
            .await
            .is_err());
        let job = lab
            .request_management_boot(&admin(), machine.id)
            .await
            .unwrap();
        assert!(matches!(
            lab.cancel_boot_job(&viewer, job.id).await,
            Err(Error::Forbidden)
        ));
    }
}
