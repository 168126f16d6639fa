//! `baas images upload`: a file into the library over the tus protocol the upload page uses, in
//! 8 MiB chunks with a progress bar. Where an upload of the same file (same server, path, size
//! and modification time) was interrupted, the next run asks the server how far it got and
//! sends only the rest.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use lab::model::{Image, Upload, UploadState};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::output::progress;
use super::{Client, ClientError, Failure, Result};

const CHUNK: usize = 8 << 20;

/// Where the id of an unfinished upload of this file is kept between runs.
fn resume_file(client: &Client, file: &Path, name: &str) -> Result<PathBuf> {
    let meta = std::fs::metadata(file)
        .map_err(|e| ClientError::new(Failure::Other, format!("{}: {e}", file.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let key = Sha256::digest(format!(
        "{}\n{}\n{}\n{modified}\n{name}",
        client.server,
        absolute.display(),
        meta.len()
    ));
    let dir = super::Saved::path()
        .parent()
        .map(|p| p.join("uploads"))
        .unwrap_or_else(|| PathBuf::from("uploads"));
    Ok(dir.join(hex::encode(&key[..16])))
}

/// Uploads `file` as the next version of `name`; returns the new image.
pub async fn upload(
    client: &Client,
    file: &Path,
    name: &str,
    visibility: &str,
    max_rate: u64,
    quiet: bool,
) -> Result<Image> {
    let local =
        |e: std::io::Error| ClientError::new(Failure::Other, format!("{}: {e}", file.display()));
    let length = std::fs::metadata(file).map_err(local)?.len();
    let state = resume_file(client, file, name)?;
    let mut upload_id = None;
    let mut offset = 0u64;
    if let Ok(id) = std::fs::read_to_string(&state) {
        let id = id.trim().to_string();
        match client.get::<Upload>(&format!("/api/v1/uploads/{id}")).await {
            Ok(known) if known.state == UploadState::Receiving => {
                offset = known.received as u64;
                if !quiet {
                    eprintln!(
                        "resuming the earlier upload at {}",
                        super::output::bytes(offset)
                    );
                }
                upload_id = Some(id);
            }
            _ => {}
        }
    }
    let id = match upload_id {
        Some(id) => id,
        None => {
            let encode = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
            let filename = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let metadata = format!(
                "name {},filename {},visibility {}",
                encode(name),
                encode(&filename),
                encode(visibility)
            );
            let response = client
                .send(
                    client
                        .request(Method::POST, "/api/v1/uploads")
                        .header("tus-resumable", "1.0.0")
                        .header("upload-length", length.to_string())
                        .header("upload-metadata", metadata),
                )
                .await?;
            let created: Upload = response.json().await.map_err(|e| {
                ClientError::new(Failure::Server, format!("the upload was not created: {e}"))
            })?;
            if let Some(dir) = state.parent() {
                std::fs::create_dir_all(dir).map_err(local)?;
            }
            std::fs::write(&state, &created.id).map_err(local)?;
            created.id
        }
    };

    let mut source = std::fs::File::open(file).map_err(local)?;
    source.seek(SeekFrom::Start(offset)).map_err(local)?;
    let mut buffer = vec![0u8; CHUNK];
    let (started, first) = (Instant::now(), offset);
    let mut image_id = None;
    while offset < length || length == 0 {
        let want = CHUNK.min((length - offset) as usize);
        source.read_exact(&mut buffer[..want]).map_err(local)?;
        let response = client
            .send(
                client
                    .request(Method::PATCH, &format!("/api/v1/uploads/{id}"))
                    .header("tus-resumable", "1.0.0")
                    .header("upload-offset", offset.to_string())
                    .header("content-type", "application/offset+octet-stream")
                    .body(buffer[..want].to_vec()),
            )
            .await;
        let response = match response {
            Ok(response) => response,
            // The server already had it (an earlier run's last chunk arrived): ask where it is.
            Err(error) if error.failure == Failure::Conflict => {
                let known: Upload = client.get(&format!("/api/v1/uploads/{id}")).await?;
                offset = known.received as u64;
                source.seek(SeekFrom::Start(offset)).map_err(local)?;
                if known.image_id.is_some() {
                    image_id = known.image_id;
                    break;
                }
                continue;
            }
            Err(error) => return Err(error),
        };
        if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
            return Err(ClientError::new(
                Failure::Server,
                format!("PATCH answered {}", response.status()),
            ));
        }
        offset += want as u64;
        image_id = response
            .headers()
            .get("image-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let elapsed = started.elapsed().as_secs_f64().max(0.001);
        if !quiet {
            progress(
                name,
                offset,
                length,
                ((offset - first) as f64 / elapsed) as u64,
            );
        }
        if max_rate > 0 {
            let due = std::time::Duration::from_secs_f64((offset - first) as f64 / max_rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        if length == 0 {
            break;
        }
    }
    if !quiet {
        eprintln!();
    }
    let _ = std::fs::remove_file(&state);
    let image_id = match image_id {
        Some(id) => id,
        None => {
            let known: Upload = client.get(&format!("/api/v1/uploads/{id}")).await?;
            known.image_id.ok_or_else(|| {
                ClientError::new(
                    Failure::Invalid,
                    format!("the server did not keep the image: {}", known.error),
                )
            })?
        }
    };
    client.get(&format!("/api/v1/images/{image_id}")).await
}
