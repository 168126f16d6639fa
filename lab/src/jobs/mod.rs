//! Jobs: what a machine does in the management OS — write an image to its disk (*deploy*),
//! read its disk into a new image version (*save*), report its hardware (*inventory*) or just
//! run the management OS (*boot*).
//!
//! A job is requested by the people who may press the machine's power button, for now or for a
//! time inside their reservation, and moves through persisted states, each with its time:
//! queued → powering → netbooting → enrolled → saving → writing → verifying → rebooting →
//! booted, or failed (with the step and the reason) or cancelled. Which event moves a job from
//! which state is one table, [`transition`] (in `transitions.rs`); every caller sends an event
//! through [`Lab::job_event`]. The conductor's job runner drives the power and the timeouts;
//! the boot services and the agent report here. A machine has at most one active job; its disk
//! counts as holding an image only after a verified write.

mod transitions;

pub use transitions::{transition, JobEvent, Observation, Refusal, Verdict};

use crate::audit::record;
use crate::model::{ImageFormat, Job, JobImage, JobKind, JobPhase, JobProgress, JobState, Level};
use crate::secrets::{random_token, token_sha256};
use crate::{validate, Actor, Error, FieldErrors, Lab, Result};

/// A job as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub machine_id: i64,
    pub kind: JobKind,
    /// The image a deploy writes.
    pub image_id: Option<i64>,
    /// Save the disk as the next version of this image name (required for a save; optional
    /// before a deploy). Empty: no save.
    pub save_as: String,
    /// When to start (Unix seconds); `None` or a past time: now.
    pub at: Option<i64>,
}

/// A job request that passed its checks; the insert still refuses a second active job.
#[derive(Debug, Clone)]
pub(crate) struct CheckedJob {
    pub(crate) request: JobRequest,
    /// When it is due, and when it was asked for.
    pub(crate) at: i64,
    pub(crate) now: i64,
    pub(crate) image: Option<crate::model::Image>,
    pub(crate) save_as: String,
}

/// How long each phase may take before the job fails with the reason. The progress timeout
/// counts from the agent's last report, so a long write never times out while it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimeouts {
    /// From powering (or the request, without a BMC) to the boot script being served.
    pub netboot: i64,
    /// From the boot script being served to the agent's enrolment.
    pub enrol: i64,
    /// Without any word from the agent while it saves, writes or verifies.
    pub progress: i64,
    /// From the agent's last report to the machine's next network boot (or its final word).
    pub reboot: i64,
}

impl Default for JobTimeouts {
    fn default() -> Self {
        JobTimeouts {
            netboot: 600,
            enrol: 600,
            progress: 120,
            reboot: 600,
        }
    }
}

impl JobTimeouts {
    /// Why an active job has outlived its phase at `now`, if it has: the reason names the
    /// phase, the time allowed and what was last heard.
    pub fn overdue(&self, job: &Job, now: i64) -> Option<String> {
        let minutes = |seconds: i64| {
            if seconds % 60 == 0 {
                format!("{} min", seconds / 60)
            } else {
                format!("{seconds} s")
            }
        };
        let last_word = job.progress.at.unwrap_or(job.state_at).max(job.state_at);
        let said = if job.agent_said.is_empty() {
            String::new()
        } else {
            format!("; it last said: {}", job.agent_said)
        };
        match job.state {
            JobState::Powering if now - job.state_at > self.netboot => Some(format!(
                "{} did not network-boot within {} after it was powered for the job",
                job.machine,
                minutes(self.netboot)
            )),
            JobState::Netbooting if now - job.state_at > self.enrol => Some(format!(
                "no agent enrolled within {} after the management OS was served to {}",
                minutes(self.enrol),
                job.machine
            )),
            state if state.agent_at_work() && now - last_word > self.progress => Some(format!(
                "no word from the agent for {} while {}{said}",
                minutes(self.progress),
                job.state
            )),
            _ => None,
        }
    }
}

/// How long an enrolment token stays valid after the script that carried it was served.
pub const ENROL_TOKEN_SECONDS: i64 = 600;

/// A job handed to a booting machine: its id and the enrolment token for the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedJob {
    pub job_id: i64,
    pub enrolment_token: String,
}

/// The states in which a job counts as the machine's one active job.
pub(crate) const ACTIVE: &str =
    "('queued', 'powering', 'netbooting', 'enrolled', 'saving', 'writing', 'verifying', 'rebooting', 'booting')";

impl Lab {
    /// Asks for a job. The caller must be allowed to control the machine's power, at the job's
    /// time: admins and managers always, *use* holders inside their own reservation.
    pub async fn create_job(&self, actor: &Actor, request: &JobRequest) -> Result<Job> {
        let checked = self.check_job(actor, request).await?;
        let mut tx = self.write().await?;
        let id = self.insert_job(&mut tx, actor, &checked, None).await?;
        tx.commit().await?;
        self.events.announce("job", request.machine_id, Some(id));
        self.load_job(id).await
    }

    /// Checks a job request (permission at its time, its image, its save) without writing.
    pub(crate) async fn check_job(
        &self,
        actor: &Actor,
        request: &JobRequest,
    ) -> Result<CheckedJob> {
        let now = self.now();
        let at = request.at.filter(|at| *at > now).unwrap_or(now);
        let level = self.require(actor, request.machine_id, Level::View).await?;
        if level < Level::Manage {
            if level < Level::Use {
                return Err(Error::Forbidden);
            }
            let covered: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM reservations WHERE machine_id = $1 AND user_id = $2
                 AND state = 'active' AND start_at <= $3 AND end_at > $3",
            )
            .bind(request.machine_id)
            .bind(actor.user_id)
            .bind(at)
            .fetch_optional(&self.db)
            .await?;
            if covered.is_none() {
                return Err(Error::NotNow(if at == now {
                    "jobs on this machine are available during your own reservation of it".into()
                } else {
                    "the job's time is outside your reservations of this machine".into()
                }));
            }
        }
        let mut errors = FieldErrors::default();
        let image = match (request.kind, request.image_id) {
            (JobKind::Deploy, Some(id)) => match self.image(actor, id).await {
                Ok(image) if image.format != ImageFormat::Raw => {
                    errors.add(
                        "image",
                        format!(
                            "is a {} image; only raw disk images can be written to a disk",
                            image.format
                        ),
                    );
                    None
                }
                Ok(image) => Some(image),
                Err(Error::NotFound(_)) => {
                    errors.add("image", "no such image in your library");
                    None
                }
                Err(e) => return Err(e),
            },
            (JobKind::Deploy, None) => {
                errors.add("image", "choose the image to deploy");
                None
            }
            _ => None,
        };
        let save_as = match (request.kind, request.save_as.trim()) {
            (JobKind::Save, "") => {
                errors.add("save_as", "name the image the disk is saved as");
                String::new()
            }
            (JobKind::Save | JobKind::Deploy, name) if !name.is_empty() => {
                validate::identifier(&mut errors, "save_as", name)
            }
            _ => String::new(),
        };
        if !save_as.is_empty() && actor.user_id.is_none() {
            errors.add(
                "save_as",
                "a saved disk becomes an image of the user who asked; the shell has no library",
            );
        }
        errors.into_result()?;
        Ok(CheckedJob {
            request: request.clone(),
            at,
            now,
            image,
            save_as,
        })
    }

    /// Inserts a checked job in `tx`, unless the machine has an active job (a conflict).
    pub(crate) async fn insert_job(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        actor: &Actor,
        checked: &CheckedJob,
        batch_id: Option<i64>,
    ) -> Result<i64> {
        let CheckedJob {
            request,
            at,
            now,
            image,
            save_as,
        } = checked;
        let (at, now) = (*at, *now);
        let open: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN {ACTIVE}"
        ))
        .bind(request.machine_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(open) = open {
            return Err(Error::Conflict(format!(
                "this machine already has an active job ({open}); cancel it first"
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO boot_jobs (machine_id, requested_by, kind, state, image_id, save_as,
                created_at, scheduled_at, state_at, batch_id)
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $6, $8) RETURNING id",
        )
        .bind(request.machine_id)
        .bind(actor.user_id)
        .bind(request.kind.as_str())
        .bind(image.as_ref().map(|i| i.id))
        .bind(save_as)
        .bind(now)
        .bind(at)
        .bind(batch_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict("this machine already has an active job; cancel it first".into())
            }
            e => e.into(),
        })?;
        let what = match (&image, save_as.as_str()) {
            (Some(image), "") => format!("deploy {} v{}", image.name, image.version),
            (Some(image), save) => {
                format!(
                    "deploy {} v{}, saving the disk as {save} first",
                    image.name, image.version
                )
            }
            (None, _) if request.kind == JobKind::Save => format!("save the disk as {save_as}"),
            (None, _) => request.kind.to_string(),
        };
        let when = if at > now {
            format!(", due at {}", crate::model::format_rfc3339(at))
        } else {
            String::new()
        };
        sqlx::query(
            "INSERT INTO job_phases (job_id, state, at, detail) VALUES ($1, 'queued', $2, $3)",
        )
        .bind(id)
        .bind(now)
        .bind(format!("{what}{when}"))
        .execute(&mut **tx)
        .await?;
        record(
            tx,
            actor,
            "job.create",
            &format!("machine:{}", request.machine_id),
            &format!("job {id}: {what}{when}"),
        )
        .await?;
        Ok(id)
    }

    /// Asks for the management OS at the machine's next network boot, and nothing else.
    pub async fn request_management_boot(&self, actor: &Actor, machine_id: i64) -> Result<Job> {
        self.create_job(
            actor,
            &JobRequest {
                machine_id,
                kind: JobKind::Boot,
                image_id: None,
                save_as: String::new(),
                at: None,
            },
        )
        .await
    }

    /// Calls off an active job (the people who may request one). A deploy that had started
    /// writing leaves the disk unknown.
    pub async fn cancel_job(&self, actor: &Actor, job_id: i64) -> Result<Job> {
        let job = self.load_job(job_id).await?;
        if !self.may_control_power(actor, job.machine_id).await? {
            return Err(Error::Forbidden);
        }
        let cancelled = self
            .job_event(
                job_id,
                JobEvent::Cancel,
                &format!("cancelled by {}", actor.username),
            )
            .await;
        if let Err(Error::Refused(Refusal::Ended(_))) = cancelled {
            return Err(Error::NotNow("the job has already ended".into()));
        }
        cancelled?;
        let mut conn = self.db.acquire().await?;
        record(
            &mut conn,
            actor,
            "job.cancel",
            &format!("machine:{}", job.machine_id),
            &format!("job {job_id}"),
        )
        .await?;
        self.load_job(job_id).await
    }

    /// A machine's latest jobs, newest first, for anyone who may view it.
    pub async fn jobs(&self, actor: &Actor, machine_id: i64) -> Result<Vec<Job>> {
        self.require(actor, machine_id, Level::View).await?;
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_COLUMNS} WHERE j.machine_id = $1 ORDER BY j.id DESC LIMIT 10"
        ))
        .bind(machine_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    /// The machine's latest job with its phases, for anyone who may view the machine.
    pub async fn latest_job(&self, actor: &Actor, machine_id: i64) -> Result<Option<Job>> {
        self.require(actor, machine_id, Level::View).await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM boot_jobs WHERE machine_id = $1")
                .bind(machine_id)
                .fetch_one(&self.db)
                .await?;
        match latest {
            Some(id) => Ok(Some(self.load_job(id).await?)),
            None => Ok(None),
        }
    }

    /// One job with its phases, for anyone who may view its machine.
    pub async fn job(&self, actor: &Actor, job_id: i64) -> Result<Job> {
        let job = self.load_job(job_id).await?;
        self.require(actor, job.machine_id, Level::View)
            .await
            .map_err(|_| Error::NotFound("job"))?;
        Ok(job)
    }

    /// Jobs whose time has come and that nobody has started yet (the job runner's work list).
    pub async fn due_jobs(&self) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_COLUMNS} WHERE j.state = 'queued' AND j.scheduled_at <= $1 ORDER BY j.id"
        ))
        .bind(self.now())
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    /// Every active job (the job runner checks their timeouts).
    pub async fn active_jobs(&self) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_COLUMNS} WHERE j.state IN {ACTIVE} ORDER BY j.id"
        ))
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    /// Applies what happened to a job, as [`transition`] says: the job moves (recording the
    /// phase, an audit entry and a machine event), stays, or the event is refused with the
    /// reason. When another caller moved the job meanwhile, the event is judged again against
    /// where the job is now. Returns the job's state after the event.
    pub async fn job_event(&self, job_id: i64, event: JobEvent, detail: &str) -> Result<JobState> {
        self.job_event_under(None, job_id, event, detail).await
    }

    /// As [`Lab::job_event`], for a duty of the leader: committed only while `fence` is still the
    /// current leadership (else [`Error::Fenced`] and nothing changes). A duty moves the job
    /// this way *before* it acts on the machine, so that a stale leader never acts.
    pub async fn job_event_under(
        &self,
        fence: Option<crate::leadership::Fence>,
        job_id: i64,
        event: JobEvent,
        detail: &str,
    ) -> Result<JobState> {
        loop {
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM boot_jobs WHERE id = $1")
                    .bind(job_id)
                    .fetch_optional(&self.db)
                    .await?;
            let state = state
                .and_then(|s| JobState::parse(&s))
                .ok_or(Error::NotFound("job"))?;
            let next = transition(state, &event).map_err(Error::Refused)?;
            if next == state {
                return Ok(state);
            }
            let moved = if next.is_final() {
                let step = match &event {
                    JobEvent::BmcFailed => JobState::Powering.as_str(),
                    JobEvent::Result(Verdict::Failed(step)) if !step.is_empty() => step,
                    JobEvent::Timeout { phase } => phase.as_str(),
                    JobEvent::Result(Verdict::Failed(_)) => state.as_str(),
                    JobEvent::Observed(Observation::Failure(_)) => JobState::Booting.as_str(),
                    _ => "",
                };
                self.end_job(fence, job_id, state, next, step, detail)
                    .await?
            } else {
                self.move_job(fence, job_id, state, next, detail).await?
            };
            if moved {
                return Ok(next);
            }
        }
    }

    /// Sets the detail of the job's latest phase `state` to what came of an action: a duty
    /// claims a phase before it acts and tells after (also when the job moved on meanwhile).
    pub async fn note_job_phase(&self, job_id: i64, state: JobState, detail: &str) -> Result<()> {
        sqlx::query(
            "UPDATE job_phases SET detail = $3 WHERE id =
                (SELECT MAX(id) FROM job_phases WHERE job_id = $1 AND state = $2)",
        )
        .bind(job_id)
        .bind(state.as_str())
        .bind(clip(detail))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Moves a job from `from` to the active state `to`. False when the job was elsewhere
    /// (someone else moved it first).
    async fn move_job(
        &self,
        fence: Option<crate::leadership::Fence>,
        job_id: i64,
        from: JobState,
        to: JobState,
        detail: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write().await?;
        Lab::check_fence(&mut tx, fence).await?;
        // The phase being left keeps how far its bytes got (the counters start over).
        let progress: Option<(i64, i64)> = sqlx::query_as(
            "SELECT bytes_done, bytes_total FROM boot_jobs WHERE id = $1 AND state = $2",
        )
        .bind(job_id)
        .bind(from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((done, total)) = progress.filter(|(_, total)| *total > 0) {
            let reached = format!(
                "{} of {} ({} %)",
                crate::model::format_bytes(done),
                crate::model::format_bytes(total),
                done.saturating_mul(100) / total
            );
            sqlx::query(
                "UPDATE job_phases SET detail = CASE WHEN detail = '' THEN $3 ELSE detail || '; ' || $3 END
                 WHERE id = (SELECT MAX(id) FROM job_phases WHERE job_id = $1 AND state = $2)",
            )
            .bind(job_id)
            .bind(from.as_str())
            .bind(reached)
            .execute(&mut *tx)
            .await?;
        }
        let machine: Option<(i64, String)> = sqlx::query_as(
            "UPDATE boot_jobs SET state = $2, state_at = $3,
                started_at = CASE WHEN $2 = 'powering' THEN COALESCE(started_at, $3) ELSE started_at END,
                bytes_done = 0, bytes_total = 0, bytes_per_second = 0, progress_at = NULL
             WHERE id = $1 AND state = $4
             RETURNING machine_id, (SELECT mac FROM machine_macs a WHERE a.machine_id = boot_jobs.machine_id ORDER BY mac LIMIT 1)",
        )
        .bind(job_id)
        .bind(to.as_str())
        .bind(now)
        .bind(from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((machine_id, mac)) = machine else {
            return Ok(false);
        };
        self.note_transition(&mut tx, job_id, machine_id, &mac, to, detail, now)
            .await?;
        tx.commit().await?;
        self.events.announce("job", machine_id, Some(job_id));
        Ok(true)
    }

    /// Ends a job in `from` as booted, failed (with the step) or cancelled. A deploy that ends
    /// other than booted after it may have written leaves the disk unknown. False when the job
    /// was elsewhere.
    async fn end_job(
        &self,
        fence: Option<crate::leadership::Fence>,
        job_id: i64,
        from: JobState,
        to: JobState,
        step: &str,
        reason: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write().await?;
        Lab::check_fence(&mut tx, fence).await?;
        let ended: Option<(i64, String, String)> = sqlx::query_as(
            "UPDATE boot_jobs SET state = $2, state_at = $3, ended_at = $3, failed_step = $4,
                reason = $5, enrolment_token_sha256 = ''
             WHERE id = $1 AND state = $6
             RETURNING machine_id, kind,
                (SELECT mac FROM machine_macs a WHERE a.machine_id = boot_jobs.machine_id ORDER BY mac LIMIT 1)",
        )
        .bind(job_id)
        .bind(to.as_str())
        .bind(now)
        .bind(clip(step))
        .bind(clip(reason))
        .bind(from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((machine_id, kind, mac)) = ended else {
            return Ok(false);
        };
        let touched_disk = kind == JobKind::Deploy.as_str()
            && matches!(
                from,
                JobState::Writing | JobState::Verifying | JobState::Rebooting
            );
        if to != JobState::Booted && touched_disk {
            sqlx::query(
                "UPDATE machines SET disk_state = 'unknown', disk_image_id = NULL WHERE id = $1",
            )
            .bind(machine_id)
            .execute(&mut *tx)
            .await?;
        }
        let detail = match to {
            JobState::Failed => format!("{step}: {reason}"),
            _ => reason.to_string(),
        };
        self.note_transition(&mut tx, job_id, machine_id, &mac, to, &detail, now)
            .await?;
        let resets: Option<i64> =
            sqlx::query_scalar("SELECT resets_reservation FROM boot_jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await?;
        if resets.is_some() {
            self.finish_reset(&mut tx, job_id, machine_id, to, &detail)
                .await?;
        }
        self.tell_requester(&mut tx, job_id, to, &detail).await?;
        tx.commit().await?;
        self.events.announce("job", machine_id, Some(job_id));
        Ok(true)
    }

    /// Tells the person who asked for a job how it ended (booted, boot-unobserved, failed or
    /// cancelled) through their notice channels: the machine, the image, the time it took and,
    /// when it did not come up, why. Jobs baas started itself (resets) tell the admins their
    /// own way.
    async fn tell_requester(
        &self,
        tx: &mut sqlx::AnyConnection,
        job_id: i64,
        to: JobState,
        detail: &str,
    ) -> Result<()> {
        #[derive(sqlx::FromRow)]
        struct Ended {
            requested_by: Option<i64>,
            kind: String,
            machine_id: i64,
            machine: String,
            image: Option<String>,
            version: Option<i64>,
            created_at: i64,
            started_at: Option<i64>,
        }
        let row: Option<Ended> = sqlx::query_as(
            "SELECT j.requested_by, j.kind, j.machine_id, m.name AS machine, i.name AS image,
                    i.version, j.created_at, j.started_at
             FROM boot_jobs j JOIN machines m ON m.id = j.machine_id
             LEFT JOIN images i ON i.id = j.image_id WHERE j.id = $1",
        )
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(Ended {
            requested_by: Some(user_id),
            kind,
            machine_id,
            machine,
            image,
            version,
            created_at,
            started_at,
        }) = row
        else {
            return Ok(());
        };
        let what = match (image, version) {
            (Some(image), Some(version)) => format!("{kind} of {image} v{version}"),
            _ => kind,
        };
        let took = self.now() - started_at.unwrap_or(created_at);
        let took = if took >= 120 {
            format!("{} min {} s", took / 60, took % 60)
        } else {
            format!("{took} s")
        };
        let subject = format!("{machine}: {what} {to}");
        let outcome = match to {
            JobState::Booted => "The machine is up: it showed so on its console.".to_string(),
            JobState::BootUnobserved => format!("The image was written and verified and the machine rebooted, but its boot could not be watched: {detail}"),
            JobState::Failed => format!("Why: {detail}"),
            _ => detail.to_string(),
        };
        let body = format!(
            "Job {job_id} ({what} on {machine}) ended {to} after {took}.\n{outcome}\nIts console: /api/v1/jobs/{job_id}/console"
        );
        self.store_notice(
            tx,
            crate::notices::NewNotice {
                user_id,
                kind: crate::model::NoticeKind::JobEnded,
                reservation_id: None,
                machine_id: Some(machine_id),
                lead_seconds: 0,
                end_at: 0,
                subject: &subject,
                body: &body,
                link: &format!("/machines/{machine_id}"),
            },
        )
        .await?;
        Ok(())
    }

    /// A phase row, an audit entry and a machine event for one transition.
    #[allow(clippy::too_many_arguments)]
    async fn note_transition(
        &self,
        tx: &mut sqlx::AnyConnection,
        job_id: i64,
        machine_id: i64,
        mac: &str,
        to: JobState,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        let detail = clip(detail);
        sqlx::query("INSERT INTO job_phases (job_id, state, at, detail) VALUES ($1, $2, $3, $4)")
            .bind(job_id)
            .bind(to.as_str())
            .bind(now)
            .bind(&detail)
            .execute(&mut *tx)
            .await?;
        let text = if detail.is_empty() {
            format!("job {job_id}: {to}")
        } else {
            format!("job {job_id}: {to} ({detail})")
        };
        record(
            tx,
            &Actor::system(),
            "job.state",
            &format!("machine:{machine_id}"),
            &text,
        )
        .await?;
        sqlx::query(
            "INSERT INTO boot_events (at, mac, machine_id, kind, detail) VALUES ($1, $2, $3, 'job', $4)",
        )
        .bind(now)
        .bind(mac)
        .bind(machine_id)
        .bind(&text)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The machine's active job, due now, handed to the booting machine with a fresh enrolment
    /// token (a repeated boot gets a new one; the old one stops working). The token is bound to
    /// `address`, the one the machine asked from. A job whose agent already reported back is not
    /// restarted unless the machine boots again before it finished: then it starts over from
    /// the netboot.
    pub(crate) async fn start_boot_job(
        &self,
        machine_id: i64,
        address: &str,
    ) -> Result<Option<StartedJob>> {
        let now = self.now();
        let due: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN {ACTIVE}
               AND state NOT IN ('rebooting', 'booting') AND scheduled_at <= $2"
        ))
        .bind(machine_id)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        let Some(job_id) = due else {
            return Ok(None);
        };
        let token = random_token(32);
        sqlx::query(
            "UPDATE boot_jobs SET enrolment_token_sha256 = $2, token_issued_at = $3,
                enrolment_address = $4, started_at = COALESCE(started_at, $3)
             WHERE id = $1",
        )
        .bind(job_id)
        .bind(token_sha256(&token))
        .bind(now)
        .bind(address)
        .execute(&self.db)
        .await?;
        let served = self
            .job_event(
                job_id,
                JobEvent::ScriptServed,
                &format!("management OS served to {address}"),
            )
            .await;
        unless_moved_meanwhile(served)?;
        Ok(Some(StartedJob {
            job_id,
            enrolment_token: token,
        }))
    }

    /// The machine network-booted to its own disk: a job waiting for exactly that is done.
    pub(crate) async fn local_boot_seen(&self, machine_id: i64, address: &str) -> Result<()> {
        let rebooting: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state = 'rebooting'",
        )
        .bind(machine_id)
        .fetch_optional(&self.db)
        .await?;
        if let Some(job_id) = rebooting {
            let seen = self
                .job_event(
                    job_id,
                    JobEvent::LocalBootSeen,
                    &format!("the machine network-booted from {address} and was sent to its disk"),
                )
                .await;
            unless_moved_meanwhile(seen)?;
        }
        Ok(())
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

    /// Whether the machine has an active job that is due.
    pub(crate) async fn has_open_boot_job(&self, machine_id: i64) -> Result<bool> {
        let open: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM boot_jobs WHERE machine_id = $1 AND state IN {ACTIVE}
               AND state NOT IN ('rebooting', 'booting') AND scheduled_at <= $2"
        ))
        .bind(machine_id)
        .bind(self.now())
        .fetch_optional(&self.db)
        .await?;
        Ok(open.is_some())
    }

    /// Whether an active job uses the image (it cannot be deleted meanwhile).
    pub(crate) async fn image_in_use_by_job(&self, image_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT id FROM boot_jobs WHERE image_id = $1 AND state IN {ACTIVE} LIMIT 1"
        ))
        .bind(image_id)
        .fetch_optional(&self.db)
        .await?)
    }

    /// Each machine's latest job in the batch, by machine name, in one read (without phases,
    /// as in every list).
    pub(crate) async fn batch_jobs(&self, batch_id: i64) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_COLUMNS} WHERE j.id IN
                (SELECT MAX(id) FROM boot_jobs WHERE batch_id = $1 GROUP BY machine_id)
             ORDER BY m.name"
        ))
        .bind(batch_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    pub(crate) async fn load_job(&self, id: i64) -> Result<Job> {
        let row: Option<JobRow> = sqlx::query_as(&format!("{JOB_COLUMNS} WHERE j.id = $1"))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        let mut job = row.map(JobRow::into_job).ok_or(Error::NotFound("job"))?;
        let phases: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT state, at, detail FROM job_phases WHERE job_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?;
        job.phases = phases
            .into_iter()
            .filter_map(|(state, at, detail)| {
                Some(JobPhase {
                    state: JobState::parse(&state)?,
                    at,
                    detail,
                })
            })
            .collect();
        Ok(job)
    }
}

/// An event's outcome where a refusal only means another caller moved the job first, or a
/// deleted machine took its job along (races the caller does not need to report): the refusal is
/// logged and dropped.
pub fn unless_moved_meanwhile(outcome: Result<JobState>) -> Result<()> {
    match outcome {
        Ok(_) => Ok(()),
        Err(Error::Refused(refusal)) => {
            tracing::debug!(%refusal, "job event dropped");
            Ok(())
        }
        Err(Error::NotFound("job")) => {
            tracing::debug!("job event dropped: the job is gone");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Text from machines and agents, bounded.
pub(crate) fn clip(text: &str) -> String {
    validate::clip(text, 500)
}

const JOB_COLUMNS: &str = "SELECT j.id, j.machine_id, m.name AS machine, j.kind, j.state,
        u.username AS requested_by, j.image_id, i.name AS image_name, i.version AS image_version,
        j.save_as, j.saved_image_id AS saved_id, s.name AS saved_name, s.version AS saved_version,
        j.created_at, COALESCE(j.scheduled_at, j.created_at) AS scheduled_at,
        COALESCE(j.state_at, j.created_at) AS state_at, j.started_at, j.ended_at, j.failed_step,
        j.reason, j.agent_said, j.bytes_done, j.bytes_total, j.bytes_per_second, j.progress_at,
        j.batch_id
     FROM boot_jobs j JOIN machines m ON m.id = j.machine_id
     LEFT JOIN users u ON u.id = j.requested_by
     LEFT JOIN images i ON i.id = j.image_id
     LEFT JOIN images s ON s.id = j.saved_image_id";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    machine_id: i64,
    machine: String,
    kind: String,
    state: String,
    requested_by: Option<String>,
    image_id: Option<i64>,
    image_name: Option<String>,
    image_version: Option<i64>,
    save_as: String,
    saved_id: Option<i64>,
    saved_name: Option<String>,
    saved_version: Option<i64>,
    created_at: i64,
    scheduled_at: i64,
    state_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    failed_step: String,
    reason: String,
    agent_said: String,
    bytes_done: i64,
    bytes_total: i64,
    bytes_per_second: i64,
    progress_at: Option<i64>,
    batch_id: Option<i64>,
}

impl JobRow {
    fn into_job(self) -> Job {
        let image = |id: Option<i64>, name: Option<String>, version: Option<i64>| {
            Some(JobImage {
                id: id?,
                name: name?,
                version: version?,
            })
        };
        Job {
            id: self.id,
            machine_id: self.machine_id,
            machine: self.machine,
            kind: JobKind::parse(&self.kind).unwrap_or(JobKind::Boot),
            state: JobState::parse(&self.state).unwrap_or(JobState::Failed),
            requested_by: self.requested_by,
            image: image(self.image_id, self.image_name, self.image_version),
            save_as: self.save_as,
            saved_image: image(self.saved_id, self.saved_name, self.saved_version),
            created_at: self.created_at,
            scheduled_at: self.scheduled_at,
            state_at: self.state_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            failed_step: self.failed_step,
            reason: self.reason,
            agent_said: self.agent_said,
            progress: JobProgress {
                done: self.bytes_done,
                total: self.bytes_total,
                bytes_per_second: self.bytes_per_second,
                at: self.progress_at,
            },
            phases: Vec::new(),
            batch_id: self.batch_id,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
#[test]
fn the_active_states_in_sql_are_the_models() {
    let listed: Vec<String> = JobState::ACTIVE.iter().map(|s| format!("'{s}'")).collect();
    assert_eq!(ACTIVE, format!("({})", listed.join(", ")));
}
