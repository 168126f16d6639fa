//! Resets: after each reservation a machine with a reset image (its own, or the lab's default)
//! gets that image written back by a deploy job the system asks for, so the next user finds a
//! known disk. The machine is `resetting` (not bookable) until the job ends: booted makes it
//! available again, anything else puts it in maintenance with the reason and tells the admins.
//! Optionally the holder's disk is saved as an image of theirs first.

use crate::audit::record;
use crate::jobs::JobEvent;
use crate::model::{
    format_utc, ImageFormat, JobImage, JobState, Level, NoticeKind, Reservation, ResetPolicy,
};
use crate::notices::NewNotice;
use crate::settings::put_setting;
use crate::store::Flag;
use crate::{Actor, Error, Lab, Result};

const DEFAULT_IMAGE_KEY: &str = "reset.default_image_id";

impl Lab {
    /// What happens to a machine after each reservation (anyone who may view it may ask).
    pub async fn reset_policy(&self, actor: &Actor, machine_id: i64) -> Result<ResetPolicy> {
        self.require(actor, machine_id, Level::View).await?;
        let (own, Flag(save_before_reset)): (Option<i64>, Flag) =
            sqlx::query_as(
                "SELECT reset_image_id, (save_before_reset = TRUE) AS save_before_reset FROM machines WHERE id = $1",
            )
                .bind(machine_id)
                .fetch_one(&self.db)
                .await?;
        let image = match own {
            Some(id) => self.job_image(id).await?,
            None => None,
        };
        let effective_image = match &image {
            Some(image) => Some(image.clone()),
            None => self.default_reset_image().await?,
        };
        Ok(ResetPolicy {
            image,
            effective_image,
            save_before_reset,
        })
    }

    /// Sets a machine's own reset image (`None`: the lab's default) and whether the holder's
    /// disk is saved first. Needs *manage*, and an image the actor may see that is a raw disk.
    pub async fn set_reset_policy(
        &self,
        actor: &Actor,
        machine_id: i64,
        image_id: Option<i64>,
        save_before_reset: bool,
    ) -> Result<ResetPolicy> {
        self.require(actor, machine_id, Level::Manage).await?;
        let label = match image_id {
            Some(id) => Some(self.resettable_image(actor, id).await?),
            None => None,
        };
        let mut tx = self.write().await?;
        let name: String = sqlx::query_scalar(
            "UPDATE machines SET reset_image_id = $1, save_before_reset = $2 WHERE id = $3 RETURNING name",
        )
        .bind(image_id)
        .bind(save_before_reset)
        .bind(machine_id)
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "machine.reset_policy",
            &format!("machine:{name}"),
            &format!(
                "image={} save_before_reset={save_before_reset}",
                label.as_deref().unwrap_or("lab default")
            ),
        )
        .await?;
        tx.commit().await?;
        self.reset_policy(actor, machine_id).await
    }

    /// The lab's default reset image, for machines without their own.
    pub async fn default_reset_image(&self) -> Result<Option<JobImage>> {
        match self
            .setting(DEFAULT_IMAGE_KEY)
            .await?
            .and_then(|id| id.parse::<i64>().ok())
        {
            Some(id) => self.job_image(id).await,
            None => Ok(None),
        }
    }

    /// Sets (or with `None` clears) the lab's default reset image. Admins only.
    pub async fn set_default_reset_image(
        &self,
        actor: &Actor,
        image_id: Option<i64>,
    ) -> Result<Option<JobImage>> {
        actor.require_admin()?;
        let label = match image_id {
            Some(id) => self.resettable_image(actor, id).await?,
            None => "none".into(),
        };
        let mut tx = self.write().await?;
        put_setting(
            &mut tx,
            DEFAULT_IMAGE_KEY,
            image_id.map(|id| id.to_string()).unwrap_or_default(),
        )
        .await?;
        record(&mut tx, actor, "settings.reset_image", "settings", &label).await?;
        tx.commit().await?;
        self.default_reset_image().await
    }

    /// "name vN" of an image the actor may see and a reset may write, else a field error.
    async fn resettable_image(&self, actor: &Actor, id: i64) -> Result<String> {
        match self.image(actor, id).await {
            Ok(image) if image.format == ImageFormat::Raw => {
                Ok(format!("{} v{}", image.name, image.version))
            }
            Ok(image) => Err(Error::invalid(
                "image",
                format!(
                    "is a {} image; only raw disk images can be written to a disk",
                    image.format
                ),
            )),
            Err(Error::NotFound(_)) => {
                Err(Error::invalid("image", "no such image in your library"))
            }
            Err(e) => Err(e),
        }
    }

    async fn job_image(&self, id: i64) -> Result<Option<JobImage>> {
        Ok(sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT id, name, version FROM images WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?
        .map(|(id, name, version)| JobImage { id, name, version }))
    }

    /// Starts the reset after `reservation` when its machine has a reset image, a BMC (the reset
    /// must power the machine itself) and is available: the holder's job still running on it is
    /// cancelled, the machine becomes `resetting` and a deploy job is queued as the system.
    /// Returns the job's id, or `None` when the machine is not reset.
    pub(crate) async fn start_reset(&self, reservation: &Reservation) -> Result<Option<i64>> {
        let policy = self
            .reset_policy(&Actor::system(), reservation.machine_id)
            .await?;
        let Some(image) = policy.effective_image else {
            return Ok(None);
        };
        if self.machine_bmc(reservation.machine_id).await.is_err() {
            return Ok(None);
        }
        let running: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN {}",
            crate::jobs::ACTIVE
        ))
        .bind(reservation.machine_id)
        .fetch_all(&self.db)
        .await?;
        for (job_id,) in running {
            let ended = self
                .job_event(
                    job_id,
                    JobEvent::ReservationEnded,
                    "the reservation ended; the machine is reset",
                )
                .await;
            crate::jobs::unless_moved_meanwhile(ended)?;
        }
        let now = self.now();
        let save_as = if policy.save_before_reset {
            format!("{}-before-reset", reservation.machine_name)
        } else {
            String::new()
        };
        // The saved disk becomes the holder's image, so the job is asked for in their name.
        let requested_by = (!save_as.is_empty()).then_some(reservation.user_id);
        let mut tx = self.write().await?;
        let claimed = sqlx::query(
            "UPDATE machines SET state = 'resetting', state_reason = $1 WHERE id = $2 AND state = 'available'",
        )
        .bind(format!(
            "reset to {} v{} after reservation #{} of {}",
            image.name, image.version, reservation.id, reservation.username
        ))
        .bind(reservation.machine_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let job_id: i64 = sqlx::query_scalar(
            "INSERT INTO boot_jobs (machine_id, requested_by, kind, state, image_id, save_as,
                created_at, scheduled_at, state_at, resets_reservation)
             VALUES ($1, $2, 'deploy', 'queued', $3, $4, $5, $5, $5, $6) RETURNING id",
        )
        .bind(reservation.machine_id)
        .bind(requested_by)
        .bind(image.id)
        .bind(&save_as)
        .bind(now)
        .bind(reservation.id)
        .fetch_one(&mut *tx)
        .await?;
        let what = if save_as.is_empty() {
            format!("reset: deploy {} v{}", image.name, image.version)
        } else {
            format!(
                "reset: deploy {} v{}, saving {}'s disk as {save_as} first",
                image.name, image.version, reservation.username
            )
        };
        sqlx::query(
            "INSERT INTO job_phases (job_id, state, at, detail) VALUES ($1, 'queued', $2, $3)",
        )
        .bind(job_id)
        .bind(now)
        .bind(&what)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &Actor::system(),
            "machine.reset",
            &format!("machine:{}", reservation.machine_name),
            &format!("job {job_id}: {what} (reservation #{})", reservation.id),
        )
        .await?;
        tx.commit().await?;
        self.events
            .announce("job", reservation.machine_id, Some(job_id));
        Ok(Some(job_id))
    }

    /// After a reset job ended (inside [`Lab::end_job`]'s transaction): the machine is available
    /// again, or in maintenance with the reason, and every admin gets a notice.
    pub(crate) async fn finish_reset(
        &self,
        tx: &mut sqlx::AnyConnection,
        job_id: i64,
        machine_id: i64,
        to: JobState,
        detail: &str,
    ) -> Result<()> {
        let (name, reservation_id): (String, Option<i64>) = sqlx::query_as(
            "SELECT m.name, j.resets_reservation FROM boot_jobs j JOIN machines m ON m.id = j.machine_id
             WHERE j.id = $1",
        )
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await?;
        // A reset whose boot nobody could watch (no console) ends as before consoles: the
        // image was written and verified, and the machine told to boot it.
        if to == JobState::Booted || to == JobState::BootUnobserved {
            sqlx::query(
                "UPDATE machines SET state = 'available', state_reason = ''
                 WHERE id = $1 AND state = 'resetting'",
            )
            .bind(machine_id)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        let reason = format!(
            "the reset after reservation #{} {to}: {detail}",
            reservation_id.unwrap_or(0)
        );
        let moved = sqlx::query(
            "UPDATE machines SET state = 'maintenance', state_reason = $1
             WHERE id = $2 AND state = 'resetting'",
        )
        .bind(crate::validate::clip(&reason, crate::validate::MAX_TEXT))
        .bind(machine_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(());
        }
        record(
            tx,
            &Actor::system(),
            "machine.maintenance",
            &format!("machine:{name}"),
            &reason,
        )
        .await?;
        let admins: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE is_admin AND NOT disabled")
                .fetch_all(&mut *tx)
                .await?;
        let subject = format!("{name} is in maintenance: its reset failed");
        let body = format!(
            "baas could not reset {name} after a reservation ({}), so it is in maintenance and \
             cannot be booked.\nWhy: {reason}\nLook at job {job_id} on the machine's page, then \
             make the machine available again in its settings.",
            format_utc(self.now())
        );
        let link = format!("/machines/{machine_id}");
        for (admin,) in admins {
            self.store_notice(
                tx,
                NewNotice {
                    user_id: admin,
                    kind: NoticeKind::ResetFailed,
                    reservation_id,
                    machine_id: Some(machine_id),
                    lead_seconds: 0,
                    end_at: 0,
                    subject: &subject,
                    body: &body,
                    link: &link,
                },
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
