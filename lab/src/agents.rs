//! Agents: the management OS's side of a job. An agent enrols once with the one-time token its
//! boot script carried and its own ed25519 public key; from then on the key is its identity
//! (the server checks the signatures), and it may see and report on its own job only.

use crate::agent_protocol::{
    AgentPhase, HardwareReport, Order, OrderImage, Outcome, Progress, SaveTarget, Saved,
};
use crate::jobs::{
    clip, transition, unless_moved_meanwhile, JobEvent, Refusal, Verdict, ENROL_TOKEN_SECONDS,
};
use crate::model::{Compression, JobKind, JobState};
use crate::secrets::token_sha256;
use crate::validate::same_ip;
use crate::{Error, ImageFile, Lab, Result};

/// Seconds between heartbeats; an agent silent for two intervals is flagged.
pub const HEARTBEAT_SECONDS: u64 = 10;

/// An enrolled agent, as its key identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: i64,
    pub mac: String,
    /// `None` for an unknown machine being enlisted.
    pub machine_id: Option<i64>,
    pub machine: String,
    pub job_id: Option<i64>,
}

impl Lab {
    /// Enrols the agent holding `public_key` (hex): the token must be the one most recently
    /// handed to `mac`, less than [`ENROL_TOKEN_SECONDS`] ago, and be presented from the
    /// address it was handed to. Single use.
    pub async fn enrol_agent(
        &self,
        token: &str,
        mac: &str,
        public_key: &str,
        address: &str,
    ) -> Result<Agent> {
        let refused = || Error::InvalidToken;
        let mac = crate::validate::parse_mac(mac).ok_or_else(refused)?;
        let now = crate::now();
        let sha = token_sha256(token);
        let mut tx = self.write().await?;
        let job: Option<(i64, i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT j.id, j.machine_id, m.name, j.enrolment_address, j.token_issued_at
             FROM boot_jobs j JOIN machines m ON m.id = j.machine_id
             JOIN machine_macs a ON a.machine_id = j.machine_id AND a.mac = $2
             WHERE j.enrolment_token_sha256 = $1 AND j.enrolment_token_sha256 <> ''",
        )
        .bind(&sha)
        .bind(&mac)
        .fetch_optional(&mut *tx)
        .await?;
        let (machine_id, machine, job_id) = match job {
            Some((job_id, machine_id, machine, bound, issued)) => {
                if !same_ip(&bound, address)
                    || issued.is_none_or(|at| now - at > ENROL_TOKEN_SECONDS)
                {
                    return Err(refused());
                }
                sqlx::query("UPDATE boot_jobs SET enrolment_token_sha256 = '' WHERE id = $1")
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                (Some(machine_id), machine, Some(job_id))
            }
            None => {
                let bound: Option<String> = sqlx::query_scalar(
                    "SELECT enrolment_address FROM discovered_machines
                     WHERE mac = $1 AND enrolment_token_sha256 = $2 AND enrolment_token_sha256 <> ''",
                )
                .bind(&mac)
                .bind(&sha)
                .fetch_optional(&mut *tx)
                .await?;
                match bound {
                    Some(bound) if same_ip(&bound, address) => {
                        sqlx::query(
                            "UPDATE discovered_machines SET enrolment_token_sha256 = '' WHERE mac = $1",
                        )
                        .bind(&mac)
                        .execute(&mut *tx)
                        .await?;
                        (None, String::new(), None)
                    }
                    _ => return Err(refused()),
                }
            }
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO agents (public_key, mac, machine_id, job_id, address, enrolled_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(public_key)
        .bind(&mac)
        .bind(machine_id)
        .bind(job_id)
        .bind(clip(address))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict("this key is already enrolled".into())
            }
            e => e.into(),
        })?;
        tx.commit().await?;
        if let Some(job_id) = job_id {
            let enrolled = self
                .job_event(
                    job_id,
                    JobEvent::AgentEnrolled,
                    &format!("agent {id} enrolled from {address}"),
                )
                .await;
            unless_moved_meanwhile(enrolled)?;
            // A plain boot is done once the management OS is up and talking.
            if self.load_job(job_id).await?.kind == JobKind::Boot {
                let up = self
                    .job_event(
                        job_id,
                        JobEvent::Result(Verdict::Done),
                        "the management OS is up",
                    )
                    .await;
                unless_moved_meanwhile(up)?;
            }
        }
        Ok(Agent {
            id,
            mac,
            machine_id,
            machine,
            job_id,
        })
    }

    /// The agent whose public key (hex) this is.
    pub async fn agent(&self, public_key: &str) -> Result<Agent> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            mac: String,
            machine_id: Option<i64>,
            machine: Option<String>,
            job_id: Option<i64>,
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT a.id, a.mac, a.machine_id, m.name AS machine, a.job_id FROM agents a
             LEFT JOIN machines m ON m.id = a.machine_id WHERE a.public_key = $1",
        )
        .bind(public_key)
        .fetch_optional(&self.db)
        .await?;
        let row = row.ok_or(Error::InvalidToken)?;
        Ok(Agent {
            id: row.id,
            mac: row.mac,
            machine_id: row.machine_id,
            machine: row.machine.unwrap_or_default(),
            job_id: row.job_id,
        })
    }

    /// Records a heartbeat and the hardware it reports (also on the machine, when it has one).
    /// An inventory job is done with its first report.
    pub async fn agent_heartbeat(&self, agent: &Agent, hardware: &HardwareReport) -> Result<()> {
        let report = serde_json::to_string(hardware).unwrap_or_default();
        let now = crate::now();
        sqlx::query("UPDATE agents SET last_seen = $2, hardware = $3 WHERE id = $1")
            .bind(agent.id)
            .bind(now)
            .bind(&report)
            .execute(&self.db)
            .await?;
        if let Some(machine_id) = agent.machine_id {
            sqlx::query("UPDATE machines SET hardware = $2 WHERE id = $1")
                .bind(machine_id)
                .bind(&report)
                .execute(&self.db)
                .await?;
        }
        if let Some(job_id) = agent.job_id {
            let job = self.load_job(job_id).await?;
            if job.kind == JobKind::Inventory && job.state == JobState::Enrolled {
                let reported = self
                    .job_event(job_id, JobEvent::Result(Verdict::Done), "hardware reported")
                    .await;
                unless_moved_meanwhile(reported)?;
            }
        }
        Ok(())
    }

    /// The agent's job: what to do, and for a deploy the image and how to check it.
    pub async fn agent_order(&self, agent: &Agent) -> Result<Order> {
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let job = self.load_job(job_id).await?;
        if job.state.is_final() && !(job.kind == JobKind::Boot && job.state == JobState::Booted) {
            return Err(Error::NotNow(format!("job {job_id} has {}", job.state)));
        }
        let image = match &job.image {
            Some(image) => {
                let (compression, stored_size, stored_sha256): (String, i64, String) =
                    sqlx::query_as(
                        "SELECT compression, stored_size, sha256 FROM images WHERE id = $1",
                    )
                    .bind(image.id)
                    .fetch_one(&self.db)
                    .await?;
                let (raw_size, raw_sha256) = self.raw_digest(image.id).await?;
                Some(OrderImage {
                    id: image.id,
                    name: image.name.clone(),
                    version: image.version,
                    compression,
                    stored_size: stored_size as u64,
                    stored_sha256,
                    raw_size,
                    raw_sha256,
                })
            }
            None => None,
        };
        let relay = match job.batch_id {
            Some(batch) if job.kind == JobKind::Deploy => self.relays(batch).await?,
            _ => false,
        };
        Ok(Order {
            job_id,
            kind: job.kind,
            image,
            save_as: job.save_as,
            disk: String::new(),
            relay,
        })
    }

    /// The image of the agent's own deploy job, for streaming.
    pub async fn agent_image(&self, agent: &Agent) -> Result<ImageFile> {
        let job_id = agent.job_id.ok_or(Error::NotFound("image"))?;
        let job = self.load_job(job_id).await?;
        match (&job.image, job.state.is_final()) {
            (Some(image), false) => self.open_image(&crate::Actor::system(), image.id).await,
            _ => Err(Error::NotFound("image")),
        }
    }

    /// A progress report: moves the job into the reported phase (forward only) and keeps the
    /// byte counts for the pages.
    pub async fn agent_progress(&self, agent: &Agent, progress: &Progress) -> Result<()> {
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let phase = AgentPhase::parse(&progress.phase)
            .ok_or_else(|| Error::invalid("phase", "must be saving, writing or verifying"))?;
        let job = self.load_job(job_id).await?;
        if job.state.is_final() {
            return Err(Error::NotNow(format!("job {job_id} has {}", job.state)));
        }
        // Judged against the job as loaded: going back is the agent's mistake. A move by
        // someone else meanwhile (a cancel, a timeout) is not: the counts are kept regardless.
        let event = JobEvent::Progress(phase);
        if let Err(Refusal::Backwards { state, phase }) = transition(job.state, &event) {
            return Err(Error::Conflict(format!(
                "job {job_id} is {state}; it cannot go back to {phase}"
            )));
        }
        let moved = self
            .job_event(job_id, event, &clip(&progress.message))
            .await;
        unless_moved_meanwhile(moved)?;
        sqlx::query(
            "UPDATE boot_jobs SET bytes_done = $2, bytes_total = $3, bytes_per_second = $4,
                progress_at = $5, agent_said = $6 WHERE id = $1",
        )
        .bind(job_id)
        .bind(progress.done.min(i64::MAX as u64) as i64)
        .bind(progress.total.min(i64::MAX as u64) as i64)
        .bind(progress.bytes_per_second.min(i64::MAX as u64) as i64)
        .bind(crate::now())
        .bind(clip(&progress.message))
        .execute(&self.db)
        .await?;
        sqlx::query("UPDATE agents SET last_seen = $2 WHERE id = $1")
            .bind(agent.id)
            .bind(crate::now())
            .execute(&self.db)
            .await?;
        self.events.announce("job", job.machine_id, Some(job_id));
        Ok(())
    }

    /// The agent's final word. A deploy succeeds only with the read-back digest equal to the
    /// image's; then the machine's disk holds the image and the job waits for the reboot.
    pub async fn agent_result(
        &self,
        agent: &Agent,
        outcome: &Outcome,
    ) -> Result<crate::model::Job> {
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let job = self.load_job(job_id).await?;
        if job.state.is_final() {
            return Err(Error::NotNow(format!("job {job_id} has {}", job.state)));
        }
        if !outcome.ok {
            let step = if outcome.step.is_empty() {
                job.state.as_str()
            } else {
                &outcome.step
            };
            let failed = self
                .job_event(
                    job_id,
                    JobEvent::Result(Verdict::Failed(step.to_string())),
                    &outcome.reason,
                )
                .await;
            unless_moved_meanwhile(failed)?;
            return self.load_job(job_id).await;
        }
        match (job.kind, &job.image) {
            (JobKind::Deploy, Some(image)) => {
                let (_, raw_sha256) = self.raw_digest(image.id).await?;
                if !outcome.written_sha256.eq_ignore_ascii_case(&raw_sha256) {
                    let failed = self
                        .job_event(
                            job_id,
                            JobEvent::Result(Verdict::Failed("verify".into())),
                            &format!(
                                "the disk reads back as SHA-256 {}, the image is {raw_sha256}",
                                clip(&outcome.written_sha256)
                            ),
                        )
                        .await;
                    unless_moved_meanwhile(failed)?;
                    return self.load_job(job_id).await;
                }
                sqlx::query(
                    "UPDATE machines SET disk_state = 'image', disk_image_id = $2 WHERE id = $1",
                )
                .bind(job.machine_id)
                .bind(image.id)
                .execute(&self.db)
                .await?;
                let verified = self
                    .job_event(
                        job_id,
                        JobEvent::Result(Verdict::Verified),
                        &format!(
                            "{} v{} written to {} and verified; rebooting",
                            image.name,
                            image.version,
                            clip(&outcome.disk)
                        ),
                    )
                    .await;
                unless_moved_meanwhile(verified)?;
            }
            (JobKind::Deploy, None) => {
                let failed = self
                    .job_event(
                        job_id,
                        JobEvent::Result(Verdict::Failed("deploy".into())),
                        "the image was deleted",
                    )
                    .await;
                unless_moved_meanwhile(failed)?;
            }
            (JobKind::Save, _) => {
                let saved: Option<i64> =
                    sqlx::query_scalar("SELECT saved_image_id FROM boot_jobs WHERE id = $1")
                        .bind(job_id)
                        .fetch_one(&self.db)
                        .await?;
                let (verdict, detail) = if saved.is_none() {
                    (Verdict::Failed("save".into()), "no saved image arrived")
                } else {
                    (Verdict::Verified, "disk saved and checked; rebooting")
                };
                let judged = self
                    .job_event(job_id, JobEvent::Result(verdict), detail)
                    .await;
                unless_moved_meanwhile(judged)?;
            }
            _ => {
                let done = self
                    .job_event(
                        job_id,
                        JobEvent::Result(Verdict::Done),
                        &clip(&outcome.reason),
                    )
                    .await;
                unless_moved_meanwhile(done)?;
            }
        }
        self.load_job(job_id).await
    }

    /// The machine's last hardware report, for anyone who may view it.
    pub async fn machine_hardware(
        &self,
        actor: &crate::Actor,
        machine_id: i64,
    ) -> Result<Option<HardwareReport>> {
        self.require(actor, machine_id, crate::model::Level::View)
            .await?;
        let report: String = sqlx::query_scalar("SELECT hardware FROM machines WHERE id = $1")
            .bind(machine_id)
            .fetch_one(&self.db)
            .await?;
        Ok(serde_json::from_str(&report).ok())
    }

    /// When the machine's agent was last heard from, if one ever enrolled.
    pub async fn machine_agent_seen(
        &self,
        actor: &crate::Actor,
        machine_id: i64,
    ) -> Result<Option<i64>> {
        self.require(actor, machine_id, crate::model::Level::View)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT MAX(last_seen) FROM agents WHERE machine_id = $1")
                .bind(machine_id)
                .fetch_one(&self.db)
                .await?,
        )
    }

    /// What the machine's disk holds: `("image", Some(id))` after a verified deploy, else
    /// `("unknown", None)`.
    pub async fn machine_disk(
        &self,
        actor: &crate::Actor,
        machine_id: i64,
    ) -> Result<(String, Option<i64>)> {
        self.require(actor, machine_id, crate::model::Level::View)
            .await?;
        Ok(
            sqlx::query_as("SELECT disk_state, disk_image_id FROM machines WHERE id = $1")
                .bind(machine_id)
                .fetch_one(&self.db)
                .await?,
        )
    }

    /// The SHA-256 and size of the image's uncompressed content, computed once and kept.
    pub async fn raw_digest(&self, image_id: i64) -> Result<(u64, String)> {
        let known: (String, Option<i64>, String) =
            sqlx::query_as("SELECT raw_sha256, raw_size, compression FROM images WHERE id = $1")
                .bind(image_id)
                .fetch_optional(&self.db)
                .await?
                .ok_or(Error::NotFound("image"))?;
        if let (sha, Some(size), _) = &known {
            if !sha.is_empty() {
                return Ok((*size as u64, sha.clone()));
            }
        }
        let compression = Compression::parse(&known.2).unwrap_or(Compression::None);
        let path = self.images.image_path(image_id);
        let (size, sha) = tokio::task::spawn_blocking(move || {
            crate::images::upload::content_digest(&path, compression)
        })
        .await
        .map_err(|e| Error::Secret(format!("digest task: {e}")))??;
        sqlx::query("UPDATE images SET raw_sha256 = $2, raw_size = $3 WHERE id = $1")
            .bind(image_id)
            .bind(&sha)
            .bind(size as i64)
            .execute(&self.db)
            .await?;
        Ok((size, sha))
    }
}

impl Lab {
    /// The upload the agent of a save (or a deploy saving first) sends the disk into: created as
    /// the job's requester's next version of the job's image name on the first call, the same
    /// one (at its committed offset) after a restart. Quota and checks are the library's.
    pub async fn agent_save_target(
        &self,
        agent: &Agent,
    ) -> Result<(crate::Actor, String, SaveTarget)> {
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let job = self.load_job(job_id).await?;
        if job.state.is_final() || job.save_as.is_empty() {
            return Err(Error::NotFound("save"));
        }
        let owner = self.job_owner(job_id).await?;
        let existing: String =
            sqlx::query_scalar("SELECT save_upload_id FROM boot_jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(&self.db)
                .await?;
        if !existing.is_empty() {
            if let Ok(upload) = self.upload(&owner, &existing).await {
                if upload.state == crate::model::UploadState::Receiving {
                    return Ok((
                        owner,
                        existing,
                        SaveTarget {
                            offset: upload.received as u64,
                            name: job.save_as,
                        },
                    ));
                }
            }
        }
        let upload = self
            .create_upload(
                &owner,
                crate::model::NewUpload {
                    name: job.save_as.clone(),
                    description: format!("disk of {} saved by job {job_id}", job.machine),
                    visibility: "private".into(),
                    ..Default::default()
                },
            )
            .await?;
        sqlx::query("UPDATE boot_jobs SET save_upload_id = $2 WHERE id = $1")
            .bind(job_id)
            .bind(&upload.id)
            .execute(&self.db)
            .await?;
        Ok((
            owner,
            upload.id,
            SaveTarget {
                offset: 0,
                name: job.save_as,
            },
        ))
    }

    /// Appends a piece of the saved disk at `offset`; the last piece (empty) finishes the upload
    /// and checks the SHA-256 of the uncompressed content against what the agent read from the
    /// disk. Returns the new image once finished.
    pub async fn agent_save_piece(
        &self,
        agent: &Agent,
        offset: u64,
        body: &[u8],
        last: Option<&str>,
    ) -> Result<Option<Saved>> {
        let (owner, upload_id, _) = self.agent_save_target(agent).await?;
        let ending = match last {
            Some(_) => crate::Ending::Whole,
            None => crate::Ending::Resumable,
        };
        let upload = self
            .append_upload(&owner, &upload_id, offset as i64, body, ending)
            .await?;
        let (Some(raw_sha256), Some(image_id)) = (last, upload.image_id) else {
            return Ok(None);
        };
        let job_id = agent.job_id.ok_or(Error::NotFound("job"))?;
        let (_, digest) = self.raw_digest(image_id).await?;
        if !digest.eq_ignore_ascii_case(raw_sha256) {
            self.delete_image(&owner, image_id).await?;
            let failed = self
                .job_event(
                    job_id,
                    JobEvent::Result(Verdict::Failed("save".into())),
                    &format!(
                        "the saved image decompresses to SHA-256 {digest}, the agent read {}",
                        clip(raw_sha256)
                    ),
                )
                .await;
            unless_moved_meanwhile(failed)?;
            return Err(Error::invalid(
                "raw_sha256",
                "does not match the saved content",
            ));
        }
        sqlx::query("UPDATE boot_jobs SET saved_image_id = $2 WHERE id = $1")
            .bind(job_id)
            .bind(image_id)
            .execute(&self.db)
            .await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM images WHERE id = $1")
            .bind(image_id)
            .fetch_one(&self.db)
            .await?;
        let job = self.load_job(job_id).await?;
        self.events.announce("job", job.machine_id, Some(job_id));
        Ok(Some(Saved { image_id, version }))
    }

    /// Records a signed request's nonce (`key:nonce`); true the first time any instance saw it.
    pub async fn first_use_of_nonce(&self, key: &str, nonce: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO agent_nonces (nonce, seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(format!("{key}:{nonce}"))
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets nonces seen before `before` (requests that old are refused by their time anyway).
    pub async fn forget_nonces_before(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM agent_nonces WHERE seen_at < $1")
            .bind(before)
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected())
    }

    /// The user a job works for (its requester).
    async fn job_owner(&self, job_id: i64) -> Result<crate::Actor> {
        let owner: Option<(i64, String, crate::store::Flag)> = sqlx::query_as(
            "SELECT u.id, u.username, (u.is_admin = TRUE) FROM boot_jobs j JOIN users u ON u.id = j.requested_by
             WHERE j.id = $1",
        )
        .bind(job_id)
        .fetch_optional(&self.db)
        .await?;
        let (id, name, crate::store::Flag(admin)) =
            owner.ok_or(Error::NotFound("the job's user"))?;
        Ok(crate::Actor::user(id, &name, admin, "agent"))
    }
}
