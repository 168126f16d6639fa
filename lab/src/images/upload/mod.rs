//! Getting bytes into the library: resumable uploads (tus), whole-body uploads and imports.
//!
//! An upload is a row in `uploads` plus `<id>.part` under the partial directory. Appends are
//! checksummed as they stream and fsynced before the new offset is recorded, so the recorded
//! offset is always safe to resume from. When the last byte arrives, `ingest` checks the
//! content and moves it into the library.

mod ingest;

pub(crate) use ingest::content_digest;
use ingest::over_quota;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::probe;
use super::sync_dir;
use crate::error::FieldErrors;
use crate::model::{NewUpload, Upload, UploadState};
use crate::{validate, Actor, Error, Lab, Result};

/// An unfinished upload untouched for this long is abandoned and its bytes removed.
pub const UPLOAD_IDLE_SECONDS: i64 = 24 * 3600;
/// Finished and failed uploads stay visible (for progress pages) this long.
const UPLOAD_RECORD_SECONDS: i64 = 7 * 24 * 3600;
const MAX_UPLOAD_BYTES: i64 = 1 << 40;
const READ_CHUNK: usize = 1 << 20;
/// How long an append waits for another request still writing the same upload.
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// The running checksum of an upload's received bytes.
pub(crate) struct Receiving {
    /// Bytes the hasher has seen; `None` until loaded from the file (after a restart).
    offset: Option<i64>,
    hasher: Sha256,
}

/// How an append's body relates to the whole upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// One chunk of a resumable upload; the upload completes when the declared length is reached.
    Resumable,
    /// The body is the whole upload: it completes when the body ends, and fails if the body
    /// breaks off or falls short of the declared length.
    Whole,
}

#[derive(sqlx::FromRow, Clone)]
struct UploadRow {
    id: String,
    owner_id: i64,
    name: String,
    description: String,
    visibility: String,
    group_id: Option<i64>,
    length: Option<i64>,
    expected_sha256: Option<String>,
    filename: String,
    source_url: String,
    received: i64,
    state: String,
    error: String,
    image_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl UploadRow {
    fn to_upload(&self) -> Upload {
        Upload {
            id: self.id.clone(),
            owner_id: self.owner_id,
            name: self.name.clone(),
            length: self.length,
            received: self.received,
            state: UploadState::parse(&self.state).unwrap_or(UploadState::Failed),
            error: self.error.clone(),
            image_id: self.image_id,
            source_url: self.source_url.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl Lab {
    /// Starts an upload (or an import, when `source_url` is set) owned by `actor`.
    pub async fn create_upload(&self, actor: &Actor, new: NewUpload) -> Result<Upload> {
        let owner = actor.user_id.ok_or(Error::Forbidden)?;
        let mut errors = FieldErrors::default();
        let name = validate::identifier(&mut errors, "name", &new.name);
        let description = validate::text(
            &mut errors,
            "description",
            &new.description,
            validate::MAX_LONG_TEXT,
            false,
        );
        let filename = validate::text(&mut errors, "filename", &new.filename, 255, false);
        let (visibility, group_id) = self
            .visibility_choice(&mut errors, actor, &new.visibility, &new.group)
            .await?;
        if let Some(length) = new.length {
            if length <= 0 {
                errors.add("length", "must be more than 0 bytes");
            } else if length > MAX_UPLOAD_BYTES {
                errors.add("length", "must be at most 1 TiB");
            }
        }
        let sha256 = new.sha256.trim().to_ascii_lowercase();
        if !sha256.is_empty()
            && (sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()))
        {
            errors.add("sha256", "must be 64 hexadecimal digits");
        }
        let source_url = new.source_url.trim().to_string();
        let web_url = source_url.starts_with("http://") || source_url.starts_with("https://");
        if !source_url.is_empty() && !web_url {
            errors.add("url", "must be an http:// or https:// URL");
        }
        errors.into_result()?;

        let usage = self.usage_of(owner, None).await?;
        let needed = new.length.unwrap_or(1);
        if usage.used + needed > usage.quota {
            return Err(over_quota(usage.used, needed, usage.quota));
        }

        let id = random_id();
        let now = crate::now();
        tokio::fs::File::create(self.images.work_path(&id, "part")).await?;
        let inserted = sqlx::query(
            "INSERT INTO uploads (id, owner_id, name, description, visibility, group_id, length,
                expected_sha256, filename, source_url, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&id)
        .bind(owner)
        .bind(&name)
        .bind(&description)
        .bind(visibility.as_str())
        .bind(group_id)
        .bind(new.length)
        .bind((!sha256.is_empty()).then_some(&sha256))
        .bind(&filename)
        .bind(&source_url)
        .bind(now)
        .execute(&self.db)
        .await;
        if let Err(e) = inserted {
            self.remove_work_files(&id).await;
            return Err(e.into());
        }
        self.upload(actor, &id).await
    }

    /// An upload as its owner (or an admin) sees it; others get "not found".
    pub async fn upload(&self, actor: &Actor, id: &str) -> Result<Upload> {
        Ok(self.upload_row(actor, id).await?.to_upload())
    }

    /// The actor's recent uploads and imports, newest first.
    pub async fn uploads(&self, actor: &Actor) -> Result<Vec<Upload>> {
        let rows: Vec<UploadRow> =
            sqlx::query_as("SELECT * FROM uploads WHERE owner_id = $1 ORDER BY created_at DESC")
                .bind(actor.user_id.unwrap_or(-1))
                .fetch_all(&self.db)
                .await?;
        Ok(rows.iter().map(UploadRow::to_upload).collect())
    }

    /// Appends `body` at `offset` (which must be where the upload stands). Returns the upload
    /// afterwards: still receiving, or done with its image. A body that breaks off keeps what
    /// arrived for a resumable upload and fails a whole one.
    pub async fn append_upload(
        &self,
        actor: &Actor,
        id: &str,
        offset: i64,
        mut body: impl AsyncRead + Unpin,
        ending: Ending,
    ) -> Result<Upload> {
        self.upload_row(actor, id).await?;
        let slot = self.receiving_slot(id);
        let mut receiving = tokio::time::timeout(WRITER_WAIT, slot.lock())
            .await
            .map_err(|_| Error::Conflict("another request is still writing this upload".into()))?;
        // The file's own lock keeps out a writer on another instance (sharing the image
        // directory), from before the upload is read until after its bytes are committed.
        let part = self.images.work_path(id, "part");
        let Some(file) = lock_part(&part)? else {
            // An upload that ended has no work file any more: say how it ended.
            let row = self.upload_row(actor, id).await?;
            return Err(Error::Conflict(format!("the upload is {}", row.state)));
        };
        // Read again under the locks: the request that held them may have moved the offset.
        let row = self.upload_row(actor, id).await?;
        if row.state != UploadState::Receiving.as_str() {
            return Err(Error::Conflict(format!("the upload is {}", row.state)));
        }
        let mut received = row.received;
        if receiving.offset != Some(received) {
            received = self.reload_checksum(&row, &part, &mut receiving).await?;
        }
        if offset != received {
            return Err(Error::Conflict(format!(
                "the upload is at offset {received}, not {offset}"
            )));
        }
        let began_at = received;
        // Without a declared length the quota is enforced while the bytes arrive.
        let room = match row.length {
            Some(_) => None,
            None => {
                let usage = self.usage_of(row.owner_id, Some(id)).await?;
                Some(usage.quota - usage.used)
            }
        };

        let mut file = tokio::fs::File::from_std(file);
        let mut buffer = vec![0u8; READ_CHUNK];
        let mut broke_off = None;
        let mut refusal = None;
        loop {
            let n = match body.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    broke_off = Some(e);
                    break;
                }
            };
            let after = received + n as i64;
            if let Some(length) = row.length.filter(|length| after > *length) {
                refusal = Some(Error::invalid(
                    "content",
                    format!("more bytes than the declared length of {length}"),
                ));
                break;
            }
            if let Some(room) = room.filter(|room| after > *room) {
                refusal = Some(Error::QuotaExceeded(format!(
                    "over quota: the upload went past the {} left of the quota",
                    crate::model::format_bytes(room)
                )));
                break;
            }
            if let Err(e) = file.write_all(&buffer[..n]).await {
                refusal = Some(e.into());
                break;
            }
            receiving.hasher.update(&buffer[..n]);
            received = after;
        }
        if refusal.is_none() {
            if let Err(e) = async {
                file.flush().await?;
                file.sync_data().await
            }
            .await
            {
                refusal = Some(e.into());
            }
        }
        if let Some(error) = refusal {
            drop(receiving);
            return Err(self.fail_upload(&row, error).await);
        }
        // Conditional on the offset this append began at: another instance appending to the
        // same upload at once (a client retrying elsewhere) loses here instead of both counting.
        let committed = sqlx::query(
            "UPDATE uploads SET received = $1, updated_at = $2 WHERE id = $3 AND received = $4",
        )
        .bind(received)
        .bind(crate::now())
        .bind(id)
        .bind(began_at)
        .execute(&self.db)
        .await?;
        drop(file);
        if committed.rows_affected() == 0 {
            receiving.offset = None;
            return Err(Error::Conflict(
                "another request wrote this upload meanwhile; ask where it stands and resume"
                    .into(),
            ));
        }
        receiving.offset = Some(received);

        let complete = match (ending, row.length, &broke_off) {
            (Ending::Resumable, Some(length), _) => received == length,
            (Ending::Resumable, None, _) => false,
            (Ending::Whole, _, Some(e)) => {
                let error = Error::invalid(
                    "content",
                    format!("the upload broke off after {received} bytes: {e}"),
                );
                drop(receiving);
                return Err(self.fail_upload(&row, error).await);
            }
            (Ending::Whole, Some(length), None) if received != length => {
                let error = Error::invalid(
                    "content",
                    format!("truncated: {received} of {length} bytes arrived"),
                );
                drop(receiving);
                return Err(self.fail_upload(&row, error).await);
            }
            (Ending::Whole, _, None) => true,
        };
        if let Some(e) = broke_off {
            tracing::info!(upload = id, received, error = %e, "upload interrupted; it can resume");
        }
        if !complete {
            return self.upload(actor, id).await;
        }
        if received == 0 {
            drop(receiving);
            return Err(self
                .fail_upload(&row, Error::invalid("content", "the upload is empty"))
                .await);
        }
        let sha256 = hex::encode(std::mem::take(&mut receiving.hasher).finalize());
        receiving.offset = None;
        drop(receiving);
        self.forget_receiving(id);
        let mut row = row;
        row.received = received;
        self.finish_upload(actor, row, sha256).await
    }

    /// Cancels an unfinished upload and removes its bytes.
    pub async fn cancel_upload(&self, actor: &Actor, id: &str) -> Result<()> {
        let row = self.upload_row(actor, id).await?;
        if row.state == UploadState::Done.as_str() {
            return Err(Error::Conflict("the upload has already finished".into()));
        }
        let slot = self.receiving_slot(id);
        let _writer = tokio::time::timeout(WRITER_WAIT, slot.lock())
            .await
            .map_err(|_| Error::Conflict("another request is still writing this upload".into()))?;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        self.remove_work_files(id).await;
        self.forget_receiving(id);
        Ok(())
    }

    /// Marks an upload failed with `reason` (e.g. an import whose source failed), removing its
    /// bytes. Owner or admin.
    pub async fn abandon_upload(&self, actor: &Actor, id: &str, reason: &str) -> Result<()> {
        let row = self.upload_row(actor, id).await?;
        if row.state == UploadState::Receiving.as_str() {
            self.fail_upload(&row, Error::NotNow(reason.to_string()))
                .await;
        }
        Ok(())
    }

    /// Cleans up after a crash or long idleness: unfinished work from a previous run fails,
    /// abandoned uploads and stray files are removed, and each receiving upload's file is cut
    /// back to its last committed offset. Run at start and now and then.
    ///
    /// Uploads touched within the last `quiet_seconds` are left alone: with several instances
    /// sharing the image directory, another one may be writing or processing them right now.
    /// A single instance passes 0 at start (nothing else can be at work).
    pub async fn recover_uploads(&self, quiet_seconds: i64) -> Result<usize> {
        let now = crate::now();
        let quiet_since = now - quiet_seconds;
        let mut cleaned = 0;
        let stale: Vec<UploadRow> = sqlx::query_as(
            "SELECT * FROM uploads WHERE (state = 'processing' AND updated_at <= $2)
                OR (state = 'receiving' AND updated_at < $1)",
        )
        .bind(now - UPLOAD_IDLE_SECONDS)
        .bind(quiet_since)
        .fetch_all(&self.db)
        .await?;
        for row in stale {
            let busy = self.receiving_slot(&row.id).try_lock().map(drop).is_err();
            if busy || self.processing_now(&row.id) {
                continue;
            }
            let reason = if row.state == "processing" {
                "the server stopped while processing this upload"
            } else {
                "abandoned: no data for a day"
            };
            self.fail_upload(&row, Error::NotNow(reason.into())).await;
            cleaned += 1;
        }
        sqlx::query("DELETE FROM uploads WHERE state IN ('done', 'failed') AND updated_at < $1")
            .bind(now - UPLOAD_RECORD_SECONDS)
            .execute(&self.db)
            .await?;

        let receiving: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, received FROM uploads WHERE state = 'receiving'")
                .fetch_all(&self.db)
                .await?;
        let receiving: std::collections::HashMap<String, i64> = receiving.into_iter().collect();
        let busy_elsewhere: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM uploads WHERE state IN ('receiving', 'processing') AND updated_at > $1",
        )
        .bind(quiet_since)
        .fetch_all(&self.db)
        .await?;
        let busy_elsewhere: std::collections::HashSet<String> =
            busy_elsewhere.into_iter().collect();
        let mut entries = tokio::fs::read_dir(&self.images.partial).await?;
        while let Some(entry) = entries.next_entry().await? {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let id = file_name.split('.').next().unwrap_or_default();
            if busy_elsewhere.contains(id) {
                continue;
            }
            let keep = match file_name.strip_suffix(".part") {
                Some(id) if !self.processing_now(id) => match receiving.get(id) {
                    Some(committed) => {
                        let len = entry.metadata().await?.len() as i64;
                        if len > *committed && self.receiving_slot(id).try_lock().is_ok() {
                            // Not while a writer anywhere holds the file (a long append), and
                            // to what is committed once it is ours (a writer may just have).
                            if let Ok(Some(file)) = lock_part(&entry.path()) {
                                let committed: Option<i64> = sqlx::query_scalar(
                                    "SELECT received FROM uploads WHERE id = $1 AND state = 'receiving'",
                                )
                                .bind(id)
                                .fetch_optional(&self.db)
                                .await?;
                                if let Some(committed) = committed {
                                    file.set_len(committed as u64)?;
                                }
                            }
                        }
                        true
                    }
                    None => false,
                },
                Some(_) => true,
                None => file_name
                    .split('.')
                    .next()
                    .is_some_and(|id| self.processing_now(id)),
            };
            if !keep {
                tokio::fs::remove_file(entry.path()).await?;
                cleaned += 1;
            }
        }

        let images: Vec<i64> = sqlx::query_scalar("SELECT id FROM images")
            .fetch_all(&self.db)
            .await?;
        let images: std::collections::HashSet<i64> = images.into_iter().collect();
        let mut entries = tokio::fs::read_dir(&self.images.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let orphan = file_name
                .strip_suffix(".img")
                .and_then(|id| id.parse::<i64>().ok())
                .is_some_and(|id| !images.contains(&id));
            if orphan {
                tracing::warn!(file = %file_name, "removing an image file without a library entry");
                tokio::fs::remove_file(entry.path()).await?;
                cleaned += 1;
            }
        }
        Ok(cleaned)
    }

    async fn upload_row(&self, actor: &Actor, id: &str) -> Result<UploadRow> {
        let row: Option<UploadRow> = sqlx::query_as("SELECT * FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        row.filter(|row| actor.is_admin || actor.is(row.owner_id))
            .ok_or(Error::NotFound("upload"))
    }

    fn receiving_slot(&self, id: &str) -> Arc<tokio::sync::Mutex<Receiving>> {
        let mut slots = self
            .images
            .receiving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots
            .entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Receiving {
                    offset: None,
                    hasher: Sha256::new(),
                }))
            })
            .clone()
    }

    fn forget_receiving(&self, id: &str) {
        self.images
            .receiving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(id);
    }

    /// Whether this process is converting or committing upload `id` right now.
    fn processing_now(&self, id: &str) -> bool {
        self.images
            .processing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(id)
    }

    /// Rebuilds the running checksum from the file (after a restart), cutting off any bytes
    /// past the committed offset. Returns the offset to continue from.
    async fn reload_checksum(
        &self,
        row: &UploadRow,
        part: &Path,
        receiving: &mut Receiving,
    ) -> Result<i64> {
        let part = part.to_path_buf();
        let committed = row.received;
        let (hasher, offset) = tokio::task::spawn_blocking(move || -> Result<(Sha256, i64)> {
            use std::io::Read;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&part)?;
            let len = file.metadata()?.len() as i64;
            let offset = len.min(committed);
            if len > offset {
                file.set_len(offset as u64)?;
            }
            let mut hasher = Sha256::new();
            let mut reader =
                std::io::BufReader::with_capacity(READ_CHUNK, file).take(offset as u64);
            std::io::copy(&mut reader, &mut hasher)?;
            Ok((hasher, offset))
        })
        .await
        .map_err(|e| Error::Storage(e.to_string()))??;
        if offset != committed {
            sqlx::query("UPDATE uploads SET received = $1 WHERE id = $2")
                .bind(offset)
                .bind(&row.id)
                .execute(&self.db)
                .await?;
        }
        receiving.hasher = hasher;
        receiving.offset = Some(offset);
        Ok(offset)
    }
}

/// 128 random bits, hex: unguessable, and safe as a file name.
fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Opens an upload's work file for appending with an exclusive lock on it (`None`: there is no
/// such file), or refuses at once when a writer (on any instance sharing the image directory)
/// holds it.
fn lock_part(part: &Path) -> Result<Option<std::fs::File>> {
    let file = match std::fs::OpenOptions::new().append(true).open(part) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Conflict(
            "another request is writing this upload right now; ask where it stands and resume"
                .into(),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}
