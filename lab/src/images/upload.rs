//! Getting bytes into the library: resumable uploads, whole-body uploads and imports.
//!
//! An upload is a row in `uploads` plus `<id>.part` under the partial directory. Appends are
//! checksummed as they stream and fsynced before the new offset is recorded, so the recorded
//! offset is always safe to resume from. When the last byte arrives the content is checked
//! (checksum, compression, format, quota), qcow2 is converted to zstd-compressed raw, and the
//! file is renamed into the library in the same transaction that inserts the image row.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::probe::{self, Probe};
use super::sync_dir;
use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{Compression, ImageFormat, NewUpload, Upload, UploadState};
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

/// What ingesting a complete upload produced.
struct Ingested {
    path: PathBuf,
    format: ImageFormat,
    compression: Compression,
    stored_size: i64,
    content_size: Option<i64>,
    sha256: String,
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
        // Read again under the lock: the request that held it may have moved the offset.
        let row = self.upload_row(actor, id).await?;
        if row.state != UploadState::Receiving.as_str() {
            return Err(Error::Conflict(format!("the upload is {}", row.state)));
        }
        let part = self.images.work_path(id, "part");
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

        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&part)
            .await?;
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
        drop(file);
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
                            let file =
                                std::fs::OpenOptions::new().write(true).open(entry.path())?;
                            file.set_len(*committed as u64)?;
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

    /// Checks, converts and commits a complete upload; on failure nothing of it remains.
    async fn finish_upload(&self, actor: &Actor, row: UploadRow, sha256: String) -> Result<Upload> {
        self.images
            .processing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(row.id.clone());
        sqlx::query("UPDATE uploads SET state = 'processing', updated_at = $1 WHERE id = $2")
            .bind(crate::now())
            .bind(&row.id)
            .execute(&self.db)
            .await?;
        let result = self.ingest(actor, &row, sha256).await;
        self.images
            .processing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&row.id);
        match result {
            Ok(image_id) => {
                self.remove_work_files(&row.id).await;
                tracing::info!(upload = %row.id, image = image_id, "image added to the library");
                self.upload(actor, &row.id).await
            }
            Err(error) => Err(self.fail_upload(&row, error).await),
        }
    }

    async fn ingest(&self, actor: &Actor, row: &UploadRow, sha256: String) -> Result<i64> {
        if let Some(expected) = row.expected_sha256.as_deref().filter(|e| *e != sha256) {
            return Err(Error::invalid(
                "sha256",
                format!("the uploaded bytes have SHA-256 {sha256}, not the expected {expected}"),
            ));
        }
        let part = self.images.work_path(&row.id, "part");
        let head = read_head(&part).await?;
        let found = probe::probe(&head, row.received as u64)
            .map_err(|message| Error::invalid("content", message))?;
        if let Some(claimed) = probe::compression_claimed_by(&row.filename) {
            if claimed != found.compression {
                let actual = match found.compression {
                    Compression::None => "not compressed".to_string(),
                    other => format!("{other}"),
                };
                return Err(Error::invalid(
                    "filename",
                    format!(
                        "'{}' promises {claimed} compression, but the content is {actual}",
                        row.filename
                    ),
                ));
            }
        }
        let ingested = if found.format == ImageFormat::Qcow2 {
            self.convert_qcow2(&row.id, &part, found).await?
        } else {
            Ingested {
                path: part,
                format: found.format,
                compression: found.compression,
                stored_size: row.received,
                content_size: found.content_size,
                sha256,
            }
        };
        // A raw image's content digest is what a deploy's read-back is checked against.
        let (content_size, content_sha256) = match (ingested.format, ingested.compression) {
            (ImageFormat::Raw, Compression::None) => {
                (Some(ingested.stored_size), ingested.sha256.clone())
            }
            (ImageFormat::Raw, compression) => {
                let path = ingested.path.clone();
                let (size, sha) = blocking(move || content_digest(&path, compression)).await?;
                (Some(size as i64), sha)
            }
            _ => (None, String::new()),
        };
        let usage = self.usage_of(row.owner_id, Some(&row.id)).await?;
        if usage.used + ingested.stored_size > usage.quota {
            return Err(over_quota(usage.used, ingested.stored_size, usage.quota));
        }

        let mut tx = self.write().await?;
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM images WHERE owner_id = $1 AND name = $2",
        )
        .bind(row.owner_id)
        .bind(&row.name)
        .fetch_one(&mut *tx)
        .await?;
        let source = if row.source_url.is_empty() {
            "upload"
        } else {
            &row.source_url
        };
        let image_id: i64 = sqlx::query_scalar(
            "INSERT INTO images (owner_id, name, version, visibility, group_id, description, format,
                compression, stored_size, content_size, sha256, source, created_at,
                raw_size, raw_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING id",
        )
        .bind(row.owner_id)
        .bind(&row.name)
        .bind(version)
        .bind(&row.visibility)
        .bind(row.group_id)
        .bind(&row.description)
        .bind(ingested.format.as_str())
        .bind(ingested.compression.as_str())
        .bind(ingested.stored_size)
        .bind(ingested.content_size)
        .bind(&ingested.sha256)
        .bind(source)
        .bind(crate::now())
        .bind(content_size)
        .bind(&content_sha256)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE uploads SET state = 'done', image_id = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(image_id)
        .bind(crate::now())
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
        let owner_name: String = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
            .bind(row.owner_id)
            .fetch_one(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "image.add",
            &format!("image:{owner_name}/{}:v{version}", row.name),
            &format!(
                "{} {} {} bytes sha256={}",
                ingested.format, ingested.compression, ingested.stored_size, ingested.sha256
            ),
        )
        .await?;
        let target = self.images.image_path(image_id);
        let placed = async {
            tokio::fs::rename(&ingested.path, &target).await?;
            let dir = self.images.dir.clone();
            tokio::task::spawn_blocking(move || sync_dir(&dir))
                .await
                .map_err(std::io::Error::other)?
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&target).await;
            return Err(e.into());
        }
        if let Err(e) = tx.commit().await {
            let _ = tokio::fs::remove_file(&target).await;
            return Err(e.into());
        }
        Ok(image_id)
    }

    /// qcow2 (possibly compressed) → raw → zstd, so machines can write the stream directly.
    async fn convert_qcow2(&self, id: &str, part: &Path, found: Probe) -> Result<Ingested> {
        let qcow2 = if found.compression == Compression::None {
            part.to_path_buf()
        } else {
            let plain = self.images.work_path(id, "qcow2");
            let (from, to, compression) = (part.to_path_buf(), plain.clone(), found.compression);
            blocking(move || decompress_file(&from, &to, compression)).await?;
            plain
        };
        let raw = self.images.work_path(id, "raw");
        let output = tokio::process::Command::new("qemu-img")
            .args(["convert", "-q", "-f", "qcow2", "-O", "raw"])
            .arg(&qcow2)
            .arg(&raw)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| {
                Error::NotNow(format!(
                    "qcow2 images cannot be converted here: running qemu-img (Debian package qemu-utils) failed: {e}"
                ))
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("No space left") {
                return Err(Error::NoSpace);
            }
            return Err(Error::invalid(
                "content",
                format!(
                    "qemu-img could not convert the qcow2 image: {}",
                    stderr.trim()
                ),
            ));
        }
        let zst = self.images.work_path(id, "zst");
        let (from, to) = (raw.clone(), zst.clone());
        let (stored_size, content_size, sha256) =
            blocking(move || compress_zstd(&from, &to)).await?;
        let _ = tokio::fs::remove_file(&raw).await;
        Ok(Ingested {
            path: zst,
            format: ImageFormat::Raw,
            compression: Compression::Zstd,
            stored_size,
            content_size: Some(content_size),
            sha256,
        })
    }

    /// Marks the upload failed with the error's message and removes its files; returns the error.
    async fn fail_upload(&self, row: &UploadRow, error: Error) -> Error {
        tracing::info!(upload = %row.id, %error, "upload failed");
        self.remove_work_files(&row.id).await;
        self.forget_receiving(&row.id);
        let stored = sqlx::query(
            "UPDATE uploads SET state = 'failed', error = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(error.to_string())
        .bind(crate::now())
        .bind(&row.id)
        .execute(&self.db)
        .await;
        if let Err(e) = stored {
            tracing::error!(upload = %row.id, error = %e, "could not record a failed upload");
        }
        error
    }

    async fn remove_work_files(&self, id: &str) {
        for kind in ["part", "qcow2", "raw", "zst"] {
            match tokio::fs::remove_file(self.images.work_path(id, kind)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(upload = id, error = %e, "could not remove upload data"),
            }
        }
    }
}

fn over_quota(used: i64, needed: i64, quota: i64) -> Error {
    use crate::model::format_bytes;
    Error::QuotaExceeded(format!(
        "over quota: {} needed, {} of {} already used",
        format_bytes(needed),
        format_bytes(used),
        format_bytes(quota)
    ))
}

/// 128 random bits, hex: unguessable, and safe as a file name.
fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn read_head(path: &Path) -> Result<Vec<u8>> {
    let file = tokio::fs::File::open(path).await?;
    let mut head = Vec::with_capacity(probe::HEAD_LEN);
    file.take(probe::HEAD_LEN as u64)
        .read_to_end(&mut head)
        .await?;
    Ok(head)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Storage(e.to_string()))?
}

/// The uncompressed content of the stored file at `from`, as a reader.
pub(crate) fn decompressed(
    from: &Path,
    compression: Compression,
) -> Result<Box<dyn std::io::Read>> {
    let input = std::io::BufReader::with_capacity(READ_CHUNK, std::fs::File::open(from)?);
    Ok(match compression {
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::None => Box::new(input),
    })
}

/// The size and SHA-256 of the uncompressed content of the stored file at `from`: what a deploy
/// writes to a disk and reads back.
pub(crate) fn content_digest(from: &Path, compression: Compression) -> Result<(u64, String)> {
    let mut reader = decompressed(from, compression)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer).map_err(|e| {
            Error::invalid(
                "content",
                format!("the {compression} stream does not decompress: {e}"),
            )
        })?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

fn decompress_file(from: &Path, to: &Path, compression: Compression) -> Result<()> {
    let mut decoder = decompressed(from, compression)?;
    let mut output = std::fs::File::create(to)?;
    std::io::copy(&mut decoder, &mut output).map_err(|e| match e.raw_os_error() {
        Some(28) => Error::NoSpace,
        _ => Error::invalid(
            "content",
            format!("the {compression} stream does not decompress: {e}"),
        ),
    })?;
    output.sync_all()?;
    Ok(())
}

/// Compresses `from` into `to`; returns (compressed size, raw size, SHA-256 of the output).
fn compress_zstd(from: &Path, to: &Path) -> Result<(i64, i64, String)> {
    struct Hashing<W> {
        inner: W,
        hasher: Sha256,
        written: u64,
    }
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            self.written += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let input = std::fs::File::open(from)?;
    let raw_size = input.metadata()?.len();
    let output = Hashing {
        inner: std::io::BufWriter::with_capacity(READ_CHUNK, std::fs::File::create(to)?),
        hasher: Sha256::new(),
        written: 0,
    };
    let mut encoder = zstd::stream::write::Encoder::new(output, 3)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(raw_size))?;
    std::io::copy(
        &mut std::io::BufReader::with_capacity(READ_CHUNK, input),
        &mut encoder,
    )?;
    let mut output = encoder.finish()?;
    std::io::Write::flush(&mut output)?;
    let file = output
        .inner
        .into_inner()
        .map_err(|e| Error::from(e.into_error()))?;
    file.sync_all()?;
    Ok((
        output.written as i64,
        raw_size as i64,
        hex::encode(output.hasher.finalize()),
    ))
}
