//! Fencing of the leader's side effects. On PostgreSQL several instances share one lab and one
//! of them — the leader, elected by the conductor — runs the background duties. A hand-over is
//! not instant: for up to a second the old leader may not know yet that it lost. So each
//! election takes a new *epoch* here, and a duty commits (claims) what it is about to do under
//! its epoch before it tells a BMC: once a newer leader took over, the stale leader's claim
//! fails and its action is never sent.

use crate::{Error, Lab, Result};

/// The epoch of the leadership a duty acts under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence(i64);

impl Fence {
    /// No leadership: every claim under it fails (epochs start at 1).
    pub const NONE: Fence = Fence(0);

    pub fn epoch(self) -> i64 {
        self.0
    }
}

impl Lab {
    /// Records that `holder` now leads and returns its fence: the previous leader's claims fail
    /// from here on.
    pub async fn take_leadership(&self, holder: &str) -> Result<Fence> {
        let mut tx = self.write().await?;
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO leadership (id, epoch, holder, since) VALUES (1, 1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1,
                 holder = excluded.holder, since = excluded.since
             RETURNING epoch",
        )
        .bind(holder)
        .bind(self.now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Fence(epoch))
    }

    /// Fails unless `fence` is still the current leadership (a check, not a claim).
    pub async fn still_leading(&self, fence: Option<Fence>) -> Result<()> {
        let mut conn = self.db.acquire().await?;
        Lab::check_fence(&mut conn, fence).await
    }

    /// Inside a write transaction: fails unless `fence` is still the current leadership.
    pub(crate) async fn check_fence(
        tx: &mut sqlx::AnyConnection,
        fence: Option<Fence>,
    ) -> Result<()> {
        let Some(Fence(epoch)) = fence else {
            return Ok(());
        };
        let current: Option<i64> = sqlx::query_scalar("SELECT epoch FROM leadership WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        if current == Some(epoch) {
            Ok(())
        } else {
            Err(Error::Fenced {
                epoch,
                current: current.unwrap_or(0),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobEvent, JobRequest};
    use crate::model::{JobKind, JobState};
    use crate::testing;

    /// During a hand-over the old leader may still be running: whatever it claims after the
    /// new leader took its epoch fails, and the job is the new leader's to start.
    #[tokio::test]
    async fn a_replaced_leader_cannot_claim_what_its_successor_may() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let machine = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let job = lab
            .create_job(
                &admin,
                &JobRequest {
                    machine_id: machine.id,
                    kind: JobKind::Boot,
                    image_id: None,
                    save_as: String::new(),
                    at: None,
                },
            )
            .await
            .unwrap();
        let old = lab.take_leadership("instance-a").await.unwrap();
        let new = lab.take_leadership("instance-b").await.unwrap();
        assert!(new.epoch() > old.epoch());
        assert!(lab.still_leading(Some(new)).await.is_ok());
        assert!(matches!(
            lab.still_leading(Some(old)).await,
            Err(Error::Fenced { .. })
        ));
        assert!(matches!(
            lab.still_leading(Some(Fence::NONE)).await,
            Err(Error::Fenced { .. })
        ));

        let stale = lab
            .job_event_under(Some(old), job.id, JobEvent::Powered, "stale")
            .await;
        assert!(matches!(stale, Err(Error::Fenced { .. })), "{stale:?}");
        assert_eq!(
            lab.job(&admin, job.id).await.unwrap().state,
            JobState::Queued
        );
        let claimed = lab
            .job_event_under(Some(new), job.id, JobEvent::Powered, "claimed")
            .await
            .unwrap();
        assert_eq!(claimed, JobState::Powering);
        lab.note_job_phase(job.id, JobState::Powering, "powered on")
            .await
            .unwrap();
        let phases = lab.job(&admin, job.id).await.unwrap().phases;
        assert_eq!(phases.last().unwrap().detail, "powered on");
    }
}
