//! `GET /images/{id}/content` (users, agents) and `GET /media/{token}/{name}` (BMCs): an image's
//! stored bytes, with Range, ETag and Content-Length.
//! The response carries the file span (see [`crate::listener`]): on a plain HTTP/1.1 connection
//! the kernel sends it with sendfile; otherwise the body reads it in large blocks on the blocking
//! pool with backpressure. Either way memory stays flat whatever the image size and however many
//! machines pull.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lab::ErrorKind;

use std::sync::Arc;

use super::{ApiError, ApiResult, Caller};
use crate::listener::FileSpan;
use crate::state::AppState;

/// Bytes per read from disk and per body frame: large enough for full speed, small enough that
/// many concurrent clients cost little memory.
const BLOCK: usize = 256 << 10;

#[utoipa::path(get, path = "/images/{id}/content", tag = "images", params(("id" = i64, Path), ("Range" = Option<String>, Header)), responses((status = 200, description = "The stored bytes", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of them", body = Vec<u8>), (status = 416, description = "A range outside the file"), super::Failures))]
pub async fn image_content(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the image id must be a number"))?;
    let file = state.lab.open_image(&actor, id).await?;
    serve(&file, &headers).await
}

/// `GET /media/{token}/{name}.iso`: a virtual medium for a BMC. The token is the only
/// credential (BMCs cannot log in); anything but a live attachment's token is "not found".
#[utoipa::path(get, path = "/media/{token}/{file}", tag = "media", security(()), params(("token" = String, Path, description = "The attachment's token, its only credential"), ("file" = String, Path)), responses((status = 200, description = "The ISO", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of it", body = Vec<u8>), super::Failures))]
pub async fn media_content(
    State(state): State<AppState>,
    Path((token, _file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file = state
        .lab
        .media_for_token(&token)
        .await
        .map_err(|_| ApiError::new(ErrorKind::NotFound, "no such medium"))?;
    serve(&file, &headers).await
}

/// The stored bytes of `file`, honouring Range, If-Range and If-None-Match.
pub(super) async fn serve(file: &lab::ImageFile, headers: &HeaderMap) -> ApiResult<Response> {
    let image = &file.image;
    let etag = format!("\"{}\"", image.sha256);
    let length = image.stored_size as u64;

    if let Some(tags) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if tags.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            return Ok(fixed_headers(
                StatusCode::NOT_MODIFIED.into_response(),
                &etag,
            ));
        }
    }
    // A Range counts only if the client's copy (If-Range) is still this content.
    let range_applies = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|tag| tag.trim() == etag);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| range_applies);
    let reader =
        std::fs::File::open(&file.path).map_err(|e| ApiError::from(lab::Error::from(e)))?;
    let mut response = fixed_headers(
        span_response(reader, length, range, "application/octet-stream"),
        &etag,
    );
    if response.status() != StatusCode::RANGE_NOT_SATISFIABLE {
        let disposition = format!(
            "attachment; filename=\"{}-v{}.{}\"",
            image.name,
            image.version,
            extension(image)
        );
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// A file of the boot plane (a management OS's kernel or initrd, a boot program), honouring
/// Range: GRUB's HTTP seeks by asking again for a range (its gzip reader reads a compressed
/// kernel's trailer first, then goes back). Sent like image bytes (sendfile where it can).
/// `None` when there is no such regular file.
pub(super) fn serve_boot_file(
    path: &std::path::Path,
    content_type: &'static str,
    headers: &HeaderMap,
) -> std::io::Result<Option<Response>> {
    let reader = match std::fs::File::open(path) {
        Ok(reader) => reader,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = reader.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    Ok(Some(span_response(reader, meta.len(), range, content_type)))
}

/// The bytes of `reader` (`length` long) that the Range header `range` asks for, or all of
/// them: 200 or 206 with Content-Type, Content-Length, Accept-Ranges and Content-Range, and the
/// span for the listener to send with sendfile; 416 when the range cannot be satisfied.
fn span_response(
    reader: std::fs::File,
    length: u64,
    range: Option<&str>,
    content_type: &'static str,
) -> Response {
    let range = match range.map(|spec| parse_range(spec, length)) {
        Some(None) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Some(range) => range,
        None => None,
    };
    let (start, end) = range.unwrap_or((0, length.saturating_sub(1)));
    let count = if length == 0 { 0 } else { end - start + 1 };
    let span = FileSpan {
        file: Arc::new(reader),
        start,
        count,
    };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (status, file_body(span.clone())).into_response();
    // The listener sends the span itself with sendfile where it can.
    response.extensions_mut().insert(span);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{length}")) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

/// Blocks in flight between a file's reader and its connection.
const BLOCKS_IN_FLIGHT: usize = 2;

/// The span's bytes as a body, for connections the listener's sendfile path does not serve.
/// Nothing happens until the body is first polled; then one task on the blocking pool reads the
/// whole span with `pread` straight into the buffers the connection sends (tokio's `File` would
/// hop to the pool for every read and copy each block once more), and a bounded channel keeps
/// memory flat and stops the reading when the client goes away.
fn file_body(span: FileSpan) -> Body {
    use futures_util::StreamExt;
    let blocks = futures_util::stream::once(async move {
        let (blocks, arriving) =
            tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(BLOCKS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || read_span(&span, blocks));
        futures_util::stream::unfold(arriving, |mut arriving| async move {
            arriving.recv().await.map(|block| (block, arriving))
        })
    })
    .flatten();
    Body::from_stream(blocks)
}

fn read_span(span: &FileSpan, blocks: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>) {
    use std::os::unix::fs::FileExt;
    let (mut offset, end) = (span.start, span.start + span.count);
    while offset < end {
        let want = BLOCK.min((end - offset) as usize);
        let mut block = vec![0u8; want];
        let read = span
            .file
            .read_exact_at(&mut block, offset)
            .map(|_| bytes::Bytes::from(block));
        let failed = read.is_err();
        if blocks.blocking_send(read).is_err() || failed {
            return;
        }
        offset += want as u64;
    }
}

fn fixed_headers(mut response: Response, etag: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    response
}

fn extension(image: &lab::model::Image) -> String {
    use lab::model::{Compression, ImageFormat};
    let base = match image.format {
        ImageFormat::Raw => "raw",
        ImageFormat::Qcow2 => "qcow2",
        ImageFormat::Iso => "iso",
    };
    match image.compression {
        Compression::None => base.to_string(),
        Compression::Gzip => format!("{base}.gz"),
        Compression::Xz => format!("{base}.xz"),
        Compression::Zstd => format!("{base}.zst"),
    }
}

/// One `bytes=` range of a `length`-byte body as inclusive (start, end); `None` when it cannot
/// be satisfied. Several ranges are answered with the first one's span merged (start of the
/// first to end of the last) — rare for images and always correct bytes.
pub(crate) fn parse_range(spec: &str, length: u64) -> Option<(u64, u64)> {
    let ranges = spec.trim().strip_prefix("bytes=")?;
    let mut merged: Option<(u64, u64)> = None;
    for part in ranges.split(',') {
        let (first, last) = part.trim().split_once('-')?;
        let (start, end) = match (first.trim(), last.trim()) {
            ("", suffix) => {
                let suffix: u64 = suffix.parse().ok()?;
                if suffix == 0 || length == 0 {
                    return None;
                }
                (length.saturating_sub(suffix), length - 1)
            }
            (first, "") => (first.parse().ok()?, length.checked_sub(1)?),
            (first, last) => {
                let (start, end): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
                (start, end.min(length.checked_sub(1)?))
            }
        };
        if start > end || start >= length {
            return None;
        }
        merged = Some(match merged {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-5000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=-5000", 1000), Some((0, 999)));
        assert_eq!(parse_range("bytes=0-9, 20-29", 1000), Some((0, 29)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=50-10", 1000), None);
        assert_eq!(parse_range("bytes=-0", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=a-b", 1000), None);
    }
}
