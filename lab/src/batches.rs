//! Batches: one image deployed to many machines in one step. A batch groups one ordinary deploy
//! job per machine, each moving through the job state machine on its own; it is asked for all
//! or none (every machine checked first, every job inserted in one transaction). With enough
//! machines the agents stream the image to each other through the relay (`relay.rs`) instead
//! of each pulling it from baas.

use std::collections::BTreeMap;

use crate::audit::record;
use crate::jobs::{CheckedJob, JobRequest, Refusal};
use crate::model::{Batch, JobKind, JobState, Level, Transfer};
use crate::reservations::MAX_SET;
use crate::{Actor, Error, Lab, Result};

#[derive(sqlx::FromRow)]
struct BatchRow {
    requester_id: Option<i64>,
    requested_by: Option<String>,
    transfer: String,
    created_at: i64,
}

/// From how many machines a batch uses the relay unless told otherwise: with two, the relay
/// saves one stream and costs a hop.
pub const RELAY_MIN_MACHINES: usize = 3;

/// Which machines a batch deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchTargets {
    /// These machines (ids).
    Machines(Vec<i64>),
    /// Every machine of the caller's reservation, or of the set it was booked with.
    Reservation(i64),
}

impl Lab {
    /// Deploys `image_id` to every target machine, all or none: each machine must be one the
    /// caller may deploy to now and have no active job. `transfer` left out: the relay from
    /// [`RELAY_MIN_MACHINES`] machines on.
    pub async fn create_batch(
        &self,
        actor: &Actor,
        image_id: i64,
        targets: BatchTargets,
        transfer: Option<Transfer>,
    ) -> Result<Batch> {
        let mut machines = match targets {
            BatchTargets::Machines(ids) => ids,
            BatchTargets::Reservation(id) => self.reservation_set_machines(actor, id).await?,
        };
        let mut seen = std::collections::HashSet::new();
        machines.retain(|id| seen.insert(*id));
        if machines.is_empty() || machines.len() > MAX_SET as usize {
            return Err(Error::invalid(
                "machines",
                format!("deploy to 1 to {MAX_SET} machines at once"),
            ));
        }
        let checked = self.check_deploys(actor, image_id, &machines).await?;
        let transfer = transfer.unwrap_or(if machines.len() >= RELAY_MIN_MACHINES {
            Transfer::Relay
        } else {
            Transfer::Direct
        });
        let now = self.now();
        let mut tx = self.write().await?;
        let batch_id: i64 = sqlx::query_scalar(
            "INSERT INTO batches (requested_by, image_id, transfer, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(actor.user_id)
        .bind(image_id)
        .bind(transfer.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let jobs = self
            .insert_deploys(&mut tx, actor, &checked, batch_id)
            .await?;
        record(
            &mut tx,
            actor,
            "batch.create",
            &format!("batch:{batch_id}"),
            &format!(
                "image {image_id} to {} machines ({transfer})",
                machines.len()
            ),
        )
        .await?;
        tx.commit().await?;
        for (machine_id, job_id) in jobs {
            self.events.announce("job", machine_id, Some(job_id));
        }
        self.batch(actor, batch_id).await
    }

    /// A batch with each machine's latest job in it. The requester and admins see all of it;
    /// others the machines they may view (a batch with none of those does not exist for them).
    pub async fn batch(&self, actor: &Actor, id: i64) -> Result<Batch> {
        let row: Option<BatchRow> = sqlx::query_as(
            "SELECT b.requested_by AS requester_id, u.username AS requested_by, b.transfer,
                    b.created_at
             FROM batches b LEFT JOIN users u ON u.id = b.requested_by WHERE b.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        let BatchRow {
            requester_id,
            requested_by,
            transfer,
            created_at,
        } = row.ok_or(Error::NotFound("batch"))?;
        let sees_all = actor.is_admin || (requester_id.is_some() && requester_id == actor.user_id);
        let mut jobs = Vec::new();
        for job in self.batch_jobs(id).await? {
            if sees_all
                || self
                    .require(actor, job.machine_id, Level::View)
                    .await
                    .is_ok()
            {
                jobs.push(job);
            }
        }
        if jobs.is_empty() && !sees_all {
            return Err(Error::NotFound("batch"));
        }
        let image = jobs.iter().find_map(|j| j.image.clone());
        Ok(Batch {
            id,
            requested_by,
            image,
            transfer: Transfer::parse(&transfer).unwrap_or(Transfer::Direct),
            created_at,
            jobs,
        })
    }

    /// Calls off every active job of the batch the caller may control.
    pub async fn cancel_batch(&self, actor: &Actor, id: i64) -> Result<Batch> {
        let batch = self.batch(actor, id).await?;
        let (mut active, mut forbidden) = (0, 0);
        for job in batch.jobs.iter().filter(|j| !j.state.is_final()) {
            active += 1;
            match self.cancel_job(actor, job.id).await {
                Ok(_) => {}
                // Not the caller's to stop: the others still are.
                Err(Error::Forbidden) => forbidden += 1,
                // Ended meanwhile.
                Err(Error::NotNow(_) | Error::Refused(Refusal::Ended(_))) => {}
                Err(other) => return Err(other),
            }
        }
        if active > 0 && forbidden == active {
            return Err(Error::Forbidden);
        }
        self.batch(actor, id).await
    }

    /// Deploys again to the batch's machines whose job failed or was cancelled, as new jobs of
    /// the same batch, all or none. The requester's (or an admin's) to do: the jobs join the
    /// batch's relay.
    pub async fn retry_batch(&self, actor: &Actor, id: i64) -> Result<Batch> {
        let batch = self.batch(actor, id).await?;
        let requester: Option<i64> =
            sqlx::query_scalar("SELECT requested_by FROM batches WHERE id = $1")
                .bind(id)
                .fetch_one(&self.db)
                .await?;
        if !actor.is_admin && (requester.is_none() || requester != actor.user_id) {
            return Err(Error::Forbidden);
        }
        let image_id = batch
            .image
            .as_ref()
            .map(|i| i.id)
            .ok_or(Error::NotNow("the batch's image is gone".into()))?;
        let again: Vec<i64> = batch
            .jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Failed | JobState::Cancelled))
            .map(|j| j.machine_id)
            .collect();
        if again.is_empty() {
            return Err(Error::Conflict(
                "no machine of this batch failed or was cancelled".into(),
            ));
        }
        let checked = self.check_deploys(actor, image_id, &again).await?;
        let mut tx = self.write().await?;
        let jobs = self.insert_deploys(&mut tx, actor, &checked, id).await?;
        record(
            &mut tx,
            actor,
            "batch.retry",
            &format!("batch:{id}"),
            &format!("{} machines again", jobs.len()),
        )
        .await?;
        tx.commit().await?;
        for (machine_id, job_id) in jobs {
            self.events.announce("job", machine_id, Some(job_id));
        }
        self.batch(actor, id).await
    }

    /// Checks a deploy of the image to each machine before anything is written; the refusals
    /// are told together, each naming its machine.
    async fn check_deploys(
        &self,
        actor: &Actor,
        image_id: i64,
        machines: &[i64],
    ) -> Result<Vec<CheckedJob>> {
        let mut checked = Vec::with_capacity(machines.len());
        let mut refusals = Vec::new();
        let mut not_now = false;
        for machine_id in machines {
            let request = JobRequest {
                machine_id: *machine_id,
                kind: JobKind::Deploy,
                image_id: Some(image_id),
                save_as: String::new(),
                at: None,
            };
            match self.check_job(actor, &request).await {
                Ok(job) => checked.push(job),
                // The image is the same for all: its error once, with the field named. A
                // machine the caller may not see is not named.
                Err(refused @ (Error::Invalid(_) | Error::NotFound(_))) => return Err(refused),
                Err(Error::Forbidden) => {
                    not_now = true;
                    let name = self.machine_name(*machine_id).await?;
                    refusals.push(format!("{name}: you may not deploy to it"));
                }
                Err(Error::NotNow(why)) => {
                    not_now = true;
                    refusals.push(format!("{}: {why}", self.machine_name(*machine_id).await?));
                }
                Err(Error::Conflict(why)) => {
                    refusals.push(format!("{}: {why}", self.machine_name(*machine_id).await?));
                }
                Err(other) => return Err(other),
            }
        }
        if refusals.is_empty() {
            return Ok(checked);
        }
        let why = format!("nothing was deployed; {}", refusals.join("; "));
        Err(if not_now {
            Error::NotNow(why)
        } else {
            Error::Conflict(why)
        })
    }

    /// Inserts the checked jobs into the batch in `tx`; a machine that has an active job
    /// meanwhile is named. Returns (machine, job) pairs.
    async fn insert_deploys(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        actor: &Actor,
        checked: &[CheckedJob],
        batch_id: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut jobs = Vec::with_capacity(checked.len());
        for job in checked {
            match self.insert_job(tx, actor, job, Some(batch_id)).await {
                Ok(id) => jobs.push((job.request.machine_id, id)),
                Err(Error::Conflict(why)) => {
                    let name = self.machine_name(job.request.machine_id).await?;
                    return Err(Error::Conflict(format!(
                        "nothing was deployed; {name}: {why}"
                    )));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(jobs)
    }

    /// Whether the batch's agents stream the image to each other.
    pub(crate) async fn relays(&self, batch_id: i64) -> Result<bool> {
        let transfer: Option<String> =
            sqlx::query_scalar("SELECT transfer FROM batches WHERE id = $1")
                .bind(batch_id)
                .fetch_optional(&self.db)
                .await?;
        Ok(transfer.as_deref().and_then(Transfer::parse) == Some(Transfer::Relay))
    }

    /// The caller's batches of the last month, newest first.
    pub async fn my_batches(&self, actor: &Actor) -> Result<Vec<Batch>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM batches WHERE requested_by = $1 AND created_at > $2 ORDER BY id DESC LIMIT 50",
        )
        .bind(actor.user_id)
        .bind(self.now() - 30 * 86_400)
        .fetch_all(&self.db)
        .await?;
        let mut batches = Vec::with_capacity(ids.len());
        for id in ids {
            batches.push(self.batch(actor, id).await?);
        }
        Ok(batches)
    }

    /// The machines of a reservation the caller may see, or of the whole set it was booked
    /// with, whose bookings are still running or to come.
    pub async fn reservation_set_machines(&self, actor: &Actor, id: i64) -> Result<Vec<i64>> {
        let reservation = self.reservation(actor, id).await?;
        let Some(set) = reservation.set_id else {
            return Ok(vec![reservation.machine_id]);
        };
        let members: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, machine_id FROM reservations
             WHERE set_id = $1 AND state = 'active' AND end_at > $2 ORDER BY id",
        )
        .bind(set)
        .bind(self.now())
        .fetch_all(&self.db)
        .await?;
        let mut machines = BTreeMap::new();
        for (reservation_id, machine_id) in members {
            if self.reservation(actor, reservation_id).await.is_ok() {
                machines.insert(reservation_id, machine_id);
            }
        }
        Ok(machines.into_values().collect())
    }

    async fn machine_name(&self, machine_id: i64) -> Result<String> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT name FROM machines WHERE id = $1")
                .bind(machine_id)
                .fetch_optional(&self.db)
                .await?
                .unwrap_or_else(|| format!("machine {machine_id}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::tests::{new_upload, upload_whole};
    use crate::jobs::tests::raw_disk;
    use crate::model::{MachineInput, Subject};
    use crate::testing::{admin, lab, machine_input, user};

    /// `count` machines tagged `rack` that `holder` may use, booked by them now as one set, and
    /// their raw image; returns (machines, the set's reservation id, image).
    async fn set_held_by(lab: &Lab, holder: &Actor, count: usize) -> (Vec<i64>, i64, i64) {
        let mut machines = Vec::new();
        for i in 0..count {
            let machine = lab
                .create_machine(
                    &admin(),
                    MachineInput {
                        tags: "rack".into(),
                        ..machine_input(&format!("node-{i}"), &format!("52:54:00:00:02:{i:02x}"))
                    },
                )
                .await
                .unwrap();
            lab.grant(
                &admin(),
                machine.id,
                Subject::User(holder.user_id.unwrap()),
                Level::Use,
            )
            .await
            .unwrap();
            machines.push(machine.id);
        }
        let now = lab.now();
        let set = lab
            .reserve_set(holder, "rack", count as u32, now - 60, now + 3600, "")
            .await
            .unwrap();
        let raw = raw_disk(1 << 20);
        let image = upload_whole(lab, holder, new_upload("debian", Some(raw.len())), &raw)
            .await
            .unwrap();
        (machines, set[0].id, image)
    }

    async fn jobs_of_batches(lab: &Lab) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM boot_jobs WHERE batch_id IS NOT NULL")
            .fetch_one(&lab.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_batch_deploys_to_every_machine_of_a_reserved_set_all_or_none() {
        let (lab, _dir) = lab().await;
        let alice = user(&lab, "alice").await;
        let (machines, set, image) = set_held_by(&lab, &alice, 3).await;

        // One machine is busy: nothing is deployed, and the answer names it.
        let busy = lab
            .request_management_boot(&admin(), machines[2])
            .await
            .unwrap();
        match lab
            .create_batch(&alice, image, BatchTargets::Reservation(set), None)
            .await
        {
            Err(Error::Conflict(why)) => assert!(why.contains("node-2"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(jobs_of_batches(&lab).await, 0, "all or none");
        lab.cancel_job(&admin(), busy.id).await.unwrap();

        let batch = lab
            .create_batch(&alice, image, BatchTargets::Reservation(set), None)
            .await
            .unwrap();
        assert_eq!(batch.transfer, Transfer::Relay, "three machines relay");
        assert_eq!(batch.jobs.len(), 3);
        assert!(batch
            .jobs
            .iter()
            .all(|j| j.batch_id == Some(batch.id) && j.state == JobState::Queued));
        let tally = batch.tally();
        assert_eq!((tally.machines, tally.active, tally.booted), (3, 3, 0));

        // Someone who may use one of its machines sees that machine's part, and may not
        // retry the batch (the requester's).
        let carol = user(&lab, "carol").await;
        lab.grant(
            &admin(),
            machines[0],
            Subject::User(carol.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
        assert_eq!(lab.batch(&carol, batch.id).await.unwrap().jobs.len(), 1);
        assert!(matches!(
            lab.retry_batch(&carol, batch.id).await,
            Err(Error::Forbidden)
        ));
        // Someone who may see none of its machines does not see the batch.
        let bob = user(&lab, "bob").await;
        assert!(matches!(
            lab.batch(&bob, batch.id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            lab.cancel_batch(&bob, batch.id).await,
            Err(Error::NotFound(_))
        ));

        // Cancelled, then retried: a new job per machine, in the same batch.
        let cancelled = lab.cancel_batch(&alice, batch.id).await.unwrap();
        assert!(cancelled.finished());
        assert_eq!(cancelled.tally().cancelled, 3);
        let retried = lab.retry_batch(&alice, batch.id).await.unwrap();
        assert_eq!(retried.tally().active, 3);
        assert!(retried
            .jobs
            .iter()
            .all(|j| !batch.jobs.iter().any(|old| old.id == j.id)));
        match lab.retry_batch(&alice, batch.id).await {
            Err(Error::Conflict(why)) => assert!(why.contains("no machine"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(lab.my_batches(&alice).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn two_machines_stream_directly_and_a_machine_outside_the_reservation_is_refused() {
        let (lab, _dir) = lab().await;
        let alice = user(&lab, "alice").await;
        let (machines, _, image) = set_held_by(&lab, &alice, 2).await;
        let outside = lab
            .create_machine(&admin(), machine_input("elsewhere", "52:54:00:00:03:01"))
            .await
            .unwrap();
        lab.grant(
            &admin(),
            outside.id,
            Subject::User(alice.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
        let mut targets = machines.clone();
        targets.push(outside.id);
        match lab
            .create_batch(&alice, image, BatchTargets::Machines(targets), None)
            .await
        {
            Err(Error::NotNow(why)) => assert!(why.contains("elsewhere"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(jobs_of_batches(&lab).await, 0);
        let batch = lab
            .create_batch(&alice, image, BatchTargets::Machines(machines), None)
            .await
            .unwrap();
        assert_eq!(batch.transfer, Transfer::Direct);
        match lab
            .create_batch(&alice, image, BatchTargets::Machines(Vec::new()), None)
            .await
        {
            Err(Error::Invalid(fields)) => assert!(fields.to_string().contains("machines")),
            other => panic!("{other:?}"),
        }
    }
}
