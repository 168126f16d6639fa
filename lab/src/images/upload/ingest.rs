//! The ingest pipeline every finished upload (and import) goes through: the content is checked
//! (checksum, compression, format, quota), qcow2 is converted to zstd-compressed raw, and the
//! file is renamed into the library in the same transaction that inserts the image row.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::probe::{self, Probe};
use super::sync_dir;
use crate::audit::record;
use crate::model::{Compression, ImageFormat, Upload};
use crate::{Actor, Error, Lab, Result};

use super::{UploadRow, READ_CHUNK};

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
    /// Checks, converts and commits a complete upload; on failure nothing of it remains.
    pub(super) async fn finish_upload(
        &self,
        actor: &Actor,
        row: UploadRow,
        sha256: String,
    ) -> Result<Upload> {
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
    pub(super) async fn fail_upload(&self, row: &UploadRow, error: Error) -> Error {
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

    pub(super) async fn remove_work_files(&self, id: &str) {
        for kind in ["part", "qcow2", "raw", "zst"] {
            match tokio::fs::remove_file(self.images.work_path(id, kind)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(upload = id, error = %e, "could not remove upload data"),
            }
        }
    }
}

pub(super) fn over_quota(used: i64, needed: i64, quota: i64) -> Error {
    use crate::model::format_bytes;
    Error::QuotaExceeded(format!(
        "over quota: {} needed, {} of {} already used",
        format_bytes(needed),
        format_bytes(used),
        format_bytes(quota)
    ))
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
