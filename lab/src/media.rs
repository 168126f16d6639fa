//! Virtual media pass-through: who may insert which ISO into which machine's BMC, the random
//! per-attachment token that alone opens the ISO's URL, and when an attachment must end (on
//! request, when its reservation ends, when its token expires). Talking to the BMC is the
//! caller's part, between `begin_*` and `finish_*`.

use crate::audit::record;
use crate::bmc_access::BmcAccess;
use crate::images::ImageFile;
use crate::model::{BmcKind, Compression, ImageFormat, MediaAttachment, MediaState};
use crate::{Actor, Error, Lab, Result};

/// Longest life of a media URL when no reservation bounds it (admins, managers).
pub const MEDIA_MAX_SECONDS: i64 = 8 * 3600;

/// An attachment about to be inserted: the BMC to ask and the secret for the URL.
#[derive(Debug, Clone)]
pub struct MediaGrant {
    pub attachment: MediaAttachment,
    pub bmc: BmcAccess,
    /// Goes into the URL the BMC fetches; not stored.
    pub token: String,
}

/// An attachment to end, with the BMC to ask.
#[derive(Debug, Clone)]
pub struct MediaRelease {
    pub attachment: MediaAttachment,
    pub bmc: BmcAccess,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: i64,
    machine_id: i64,
    image_id: Option<i64>,
    image_label: String,
    username: Option<String>,
    state: String,
    bmc_answer: String,
    created_at: i64,
    expires_at: i64,
    detached_at: Option<i64>,
}

impl From<AttachmentRow> for MediaAttachment {
    fn from(row: AttachmentRow) -> Self {
        MediaAttachment {
            id: row.id,
            machine_id: row.machine_id,
            image_id: row.image_id,
            image: row.image_label,
            username: row.username.unwrap_or_else(|| "(deleted user)".into()),
            state: MediaState::parse(&row.state).unwrap_or(MediaState::Failed),
            bmc_answer: row.bmc_answer,
            created_at: row.created_at,
            expires_at: row.expires_at,
            detached_at: row.detached_at,
        }
    }
}

const ATTACHMENT_SELECT: &str = "SELECT a.id, a.machine_id, a.image_id, a.image_label,
        u.username, a.state, a.bmc_answer, a.created_at, a.expires_at, a.detached_at
    FROM media_attachments a LEFT JOIN users u ON u.id = a.user_id";

impl Lab {
    /// Starts attaching `image_id` to `machine_id`: the actor must be allowed to control the
    /// machine (as for power), see the image, and the image must be an uncompressed ISO; the
    /// machine's BMC must speak Redfish and have nothing attached through baas already.
    pub async fn begin_attach(
        &self,
        actor: &Actor,
        machine_id: i64,
        image_id: i64,
    ) -> Result<MediaGrant> {
        let bmc = self.bmc_access(actor, machine_id).await?;
        if bmc.kind != BmcKind::Redfish {
            return Err(Error::Conflict(format!(
                "{} has an {} BMC; virtual media needs Redfish",
                bmc.machine_name, bmc.kind
            )));
        }
        let image = self
            .image(actor, image_id)
            .await
            .map_err(|_| Error::invalid("image_id", "no such image"))?;
        if image.format != ImageFormat::Iso || image.compression != Compression::None {
            return Err(Error::invalid(
                "image_id",
                "must be an uncompressed ISO image; a BMC mounts ISOs as they are",
            ));
        }
        let now = self.now();
        // A use holder's URL dies with their reservation; others get a bounded life.
        let reservation: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, end_at FROM reservations
             WHERE machine_id = $1 AND user_id = $2 AND state = 'active' AND start_at <= $3 AND end_at > $3",
        )
        .bind(machine_id)
        .bind(actor.user_id)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        let expires_at = match reservation {
            Some((_, end)) => end.min(now + MEDIA_MAX_SECONDS),
            None => now + MEDIA_MAX_SECONDS,
        };
        let token = crate::secrets::random_token(32);
        let mut tx = self.write().await?;
        let busy: Option<String> = sqlx::query_scalar(
            "SELECT image_label FROM media_attachments
             WHERE machine_id = $1 AND state IN ('attaching', 'attached')",
        )
        .bind(machine_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(name) = busy {
            return Err(Error::Conflict(format!(
                "{} already has {name} attached; detach it first",
                bmc.machine_name
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO media_attachments (machine_id, image_id, image_label, user_id, reservation_id,
                token_hash, expires_at, state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'attaching', $8) RETURNING id",
        )
        .bind(machine_id)
        .bind(image_id)
        .bind(format!("{} v{}", image.name, image.version))
        .bind(actor.user_id)
        .bind(reservation.map(|(id, _)| id))
        .bind(crate::secrets::token_sha256(&token))
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "media.attach",
            &format!("machine:{}", bmc.machine_name),
            &format!("{} v{}", image.name, image.version),
        )
        .await?;
        tx.commit().await?;
        Ok(MediaGrant {
            attachment: self.attachment(id).await?,
            bmc,
            token,
        })
    }

    /// Records the BMC's answer to an insert: attached, or failed with its error.
    pub async fn finish_attach(
        &self,
        id: i64,
        outcome: std::result::Result<String, String>,
    ) -> Result<MediaAttachment> {
        let (state, answer) = match outcome {
            Ok(answer) => (MediaState::Attached, answer),
            Err(error) => (MediaState::Failed, error),
        };
        sqlx::query("UPDATE media_attachments SET state = $1, bmc_answer = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(&answer)
            .bind(id)
            .execute(&self.db)
            .await?;
        self.attachment(id).await
    }

    /// Starts detaching: the same people who may attach. Ends the token at once, so the BMC can
    /// no longer read the image whatever it answers.
    pub async fn begin_detach(&self, actor: &Actor, attachment_id: i64) -> Result<MediaRelease> {
        let attachment = self.attachment(attachment_id).await?;
        self.require(actor, attachment.machine_id, crate::model::Level::View)
            .await?;
        let bmc = self.bmc_access(actor, attachment.machine_id).await?;
        if !matches!(
            attachment.state,
            MediaState::Attaching | MediaState::Attached
        ) {
            return Err(Error::Conflict(format!(
                "the medium is already {}",
                attachment.state
            )));
        }
        self.audit_event(
            actor,
            "media.detach",
            &format!("machine:{}", bmc.machine_name),
            &attachment.image,
        )
        .await?;
        self.end_attachment(attachment_id, "detached on request")
            .await?;
        Ok(MediaRelease {
            attachment: self.attachment(attachment_id).await?,
            bmc,
            reason: "detached on request".into(),
        })
    }

    /// Records the BMC's answer to an eject.
    pub async fn finish_detach(&self, id: i64, answer: &str) -> Result<MediaAttachment> {
        sqlx::query("UPDATE media_attachments SET bmc_answer = $1 WHERE id = $2")
            .bind(answer)
            .bind(id)
            .execute(&self.db)
            .await?;
        self.attachment(id).await
    }

    /// Attachments whose token expired or whose reservation ended; each is ended here (its URL
    /// stops working) and returned for the caller to eject at the BMC.
    pub async fn expire_media(&self) -> Result<Vec<MediaRelease>> {
        self.expire_media_under(None).await
    }

    /// As [`Lab::expire_media`], for the leader's duty: each attachment is ended (claimed)
    /// under `fence` before it is returned for ejecting, so it is ejected once, and never by a
    /// replaced leader.
    pub async fn expire_media_under(
        &self,
        fence: Option<crate::leadership::Fence>,
    ) -> Result<Vec<MediaRelease>> {
        let now = self.now();
        let due: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT a.id, a.machine_id,
                    CASE WHEN a.expires_at <= $1 THEN 'its URL expired' ELSE 'the reservation ended' END
             FROM media_attachments a LEFT JOIN reservations r ON r.id = a.reservation_id
             WHERE a.state IN ('attaching', 'attached')
               AND (a.expires_at <= $1 OR (a.reservation_id IS NOT NULL
                    AND (r.id IS NULL OR r.state <> 'active' OR r.end_at <= $1)))",
        )
        .bind(now)
        .fetch_all(&self.db)
        .await?;
        let mut released = Vec::new();
        for (id, machine_id, reason) in due {
            let mut tx = self.write().await?;
            match Lab::check_fence(&mut tx, fence).await {
                Ok(()) => {}
                // Replaced meanwhile: what this leader claimed so far is still its to eject.
                Err(Error::Fenced { .. }) if !released.is_empty() => break,
                Err(error) => return Err(error),
            }
            let claimed = sqlx::query(
                "UPDATE media_attachments SET state = 'detached', detached_at = $1, bmc_answer = $2
                 WHERE id = $3 AND state IN ('attaching', 'attached')",
            )
            .bind(now)
            .bind(&reason)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            tx.commit().await?;
            if !claimed {
                continue;
            }
            self.audit_event(
                &Actor::system(),
                "media.expire",
                &format!("attachment:{id}"),
                &reason,
            )
            .await?;
            match self.machine_bmc(machine_id).await {
                Ok(bmc) => released.push(MediaRelease {
                    attachment: self.attachment(id).await?,
                    bmc,
                    reason,
                }),
                Err(e) => {
                    tracing::warn!(attachment = id, error = %e, "expired medium has no BMC to eject from")
                }
            }
        }
        Ok(released)
    }

    /// The machine's attachments, newest first, for anyone who may view the machine.
    pub async fn media_attachments(
        &self,
        actor: &Actor,
        machine_id: i64,
    ) -> Result<Vec<MediaAttachment>> {
        self.require(actor, machine_id, crate::model::Level::View)
            .await?;
        let rows: Vec<AttachmentRow> = sqlx::query_as(&format!(
            "{ATTACHMENT_SELECT} WHERE a.machine_id = $1 ORDER BY a.id DESC LIMIT 20"
        ))
        .bind(machine_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The image a media URL's token opens: only while its attachment is live and unexpired.
    /// Visibility was checked when the attachment was made; the token stands for that decision.
    pub async fn media_for_token(&self, token: &str) -> Result<ImageFile> {
        let image_id: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT image_id FROM media_attachments
             WHERE token_hash = $1 AND state IN ('attaching', 'attached') AND expires_at > $2",
        )
        .bind(crate::secrets::token_sha256(token))
        .bind(self.now())
        .fetch_optional(&self.db)
        .await?;
        let image_id = image_id.flatten().ok_or(Error::NotFound("medium"))?;
        let image = self.image(&Actor::system(), image_id).await?;
        Ok(ImageFile {
            path: self.images.image_path(image_id),
            image,
        })
    }

    /// Names the machines an image is attached to right now (deletion waits for them).
    pub(crate) async fn image_attached_to(&self, image_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT m.name FROM media_attachments a JOIN machines m ON m.id = a.machine_id
             WHERE a.image_id = $1 AND a.state IN ('attaching', 'attached') ORDER BY m.name",
        )
        .bind(image_id)
        .fetch_all(&self.db)
        .await?)
    }

    async fn attachment(&self, id: i64) -> Result<MediaAttachment> {
        let row: Option<AttachmentRow> =
            sqlx::query_as(&format!("{ATTACHMENT_SELECT} WHERE a.id = $1"))
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        row.map(Into::into).ok_or(Error::NotFound("attachment"))
    }

    async fn end_attachment(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE media_attachments SET state = 'detached', detached_at = $1, bmc_answer = $2
             WHERE id = $3",
        )
        .bind(self.now())
        .bind(reason)
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Level, MachineInput, MediaState, Subject};
    use crate::testing;
    use crate::{Actor, Error, Lab};

    async fn upload(lab: &Lab, actor: &Actor, name: &str, bytes: &[u8]) -> i64 {
        crate::images::tests::upload_whole(
            lab,
            actor,
            crate::images::tests::new_upload(name, None),
            bytes,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_holder_attaches_an_iso_whose_url_lives_only_while_the_attachment_does() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let holder = testing::user(&lab, "holder").await;
        let stranger = testing::user(&lab, "stranger").await;
        let machine = lab
            .create_machine(
                &admin,
                MachineInput {
                    bmc_kind: "redfish".into(),
                    bmc_address: "127.0.0.1:8443".into(),
                    ..testing::machine_input("node1", "52:54:00:00:00:01")
                },
            )
            .await
            .unwrap()
            .id;
        lab.grant(
            &admin,
            machine,
            Subject::User(holder.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
        let now = crate::now();
        let reservation = lab
            .reserve(&holder, machine, now - 60, now + 3600, "")
            .await
            .unwrap();
        let iso = upload(
            &lab,
            &holder,
            "installer",
            &crate::images::test_iso(64 * 2048),
        )
        .await;
        let disk = upload(&lab, &holder, "disk", &crate::images::test_disk(8192)).await;

        let err = lab.begin_attach(&holder, machine, disk).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "image_id");
        assert!(matches!(
            lab.begin_attach(&stranger, machine, iso).await,
            Err(Error::NotFound(_))
        ));

        let grant = lab.begin_attach(&holder, machine, iso).await.unwrap();
        assert_eq!(grant.attachment.state, MediaState::Attaching);
        assert_eq!(grant.attachment.expires_at, reservation.end_at);
        assert!(grant.token.len() >= 43);
        let file = lab.media_for_token(&grant.token).await.unwrap();
        assert_eq!(file.image.id, iso);
        assert!(lab.media_for_token("guess").await.is_err());
        lab.finish_attach(grant.attachment.id, Ok("inserted into Cd".into()))
            .await
            .unwrap();
        assert!(matches!(
            lab.begin_attach(&holder, machine, iso).await,
            Err(Error::Conflict(_))
        ));
        let err = lab.delete_image(&holder, iso).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("attached as virtual media to node1"),
            "{err}"
        );

        let release = lab
            .begin_detach(&holder, grant.attachment.id)
            .await
            .unwrap();
        assert_eq!(release.attachment.state, MediaState::Detached);
        assert!(lab.media_for_token(&grant.token).await.is_err());

        // A new attachment ends by itself when the reservation does.
        let again = lab.begin_attach(&holder, machine, iso).await.unwrap();
        lab.finish_attach(again.attachment.id, Ok(String::new()))
            .await
            .unwrap();
        assert!(lab.expire_media().await.unwrap().is_empty());
        lab.release(&holder, reservation.id).await.unwrap();
        let expired = lab.expire_media().await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].reason, "the reservation ended");
        assert!(lab.media_for_token(&again.token).await.is_err());
        let listed = lab.media_attachments(&holder, machine).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|a| a.state == MediaState::Detached));
        lab.delete_image(&holder, iso).await.unwrap();
    }
}
