//! Getting images in: resumable uploads in the tus 1.0 core protocol (creation, offset, append,
//! termination) for browsers, and one whole-body `PUT` for `curl -T`. Plus listing and deleting.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use lab::model::{Image, ImageFilter, NewUpload, Upload};
use lab::rest_api::{ImageChange, Paged};
use lab::Ending;
use lab::ErrorKind;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use super::{ApiError, ApiResult, Caller};
use crate::state::AppState;

const TUS_VERSION: &str = "1.0.0";
const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// The request body as a reader; a client that goes away ends it with an error.
pub(super) fn body_reader(body: Body) -> impl tokio::io::AsyncRead + Unpin + Send {
    StreamReader::new(body.into_data_stream().map_err(std::io::Error::other))
}

fn image_id(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the image id must be a number"))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn tus_headers(upload: &Upload) -> [(String, String); 3] {
    [
        ("tus-resumable".into(), TUS_VERSION.into()),
        ("upload-offset".into(), upload.received.to_string()),
        ("cache-control".into(), "no-store".into()),
    ]
}

fn with_headers(mut response: Response, headers: &[(String, String)]) -> Response {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `GET /api/v1/images?search=&format=&mine=&all_versions=&limit=&offset=`
#[utoipa::path(get, path = "/api/v1/images", tag = "images", params(ImageFilter, super::Page), responses((status = 200, description = "The images the caller sees", body = Paged<Image>), super::Failures))]
pub async fn list_images(
    State(state): State<AppState>,
    Caller(actor): Caller,
    super::Params(filter): super::Params<ImageFilter>,
    super::Params(page): super::Params<super::Page>,
) -> ApiResult<Json<Paged<Image>>> {
    Ok(Json(page.of(state.lab.images(&actor, &filter).await?)))
}

/// `PATCH /api/v1/images/{id}`: its description, visibility, group or ready pattern (owner or
/// admin).
#[utoipa::path(patch, path = "/api/v1/images/{id}", tag = "images", params(("id" = i64, Path)), request_body = ImageChange, responses((status = 200, description = "Changed", body = Image), super::Failures))]
pub async fn change_image(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    super::Body(change): super::Body<ImageChange>,
) -> ApiResult<Json<Image>> {
    let id = image_id(&id)?;
    let current = state.lab.image(&actor, id).await?;
    let group = current.group.clone().unwrap_or_default();
    let image = state
        .lab
        .update_image(
            &actor,
            id,
            change
                .description
                .as_deref()
                .unwrap_or(&current.description),
            change
                .visibility
                .as_deref()
                .unwrap_or(current.visibility.as_str()),
            change.group.as_deref().unwrap_or(&group),
        )
        .await?;
    let image = match &change.ready_pattern {
        Some(pattern) => state.lab.set_ready_pattern(&actor, id, pattern).await?,
        None => image,
    };
    Ok(Json(image))
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", params(("id" = i64, Path, description = "Image version id")), responses((status = 200, description = "One image version", body = Image), super::Failures))]
pub async fn get_image(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Image>> {
    Ok(Json(state.lab.image(&actor, image_id(&id)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "images", params(("id" = i64, Path, description = "Image version id")), responses((status = 204, description = "Deleted"), super::Failures))]
pub async fn delete_image(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.lab.delete_image(&actor, image_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of a whole-body upload: `PUT /api/v1/images/{name}?visibility=public&sha256=…`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct PutQuery {
    description: String,
    visibility: String,
    group: String,
    sha256: String,
    filename: String,
}

/// `PUT /api/v1/images/{name}`: the body is the whole image (`curl -T file URL`). Adds the next
/// version of `name`; fails, keeping nothing, if the body breaks off or is wrong.
#[utoipa::path(put, path = "/api/v1/images/{id}", tag = "images", params(("id" = String, Path, description = "For PUT, the image *name*: the upload becomes its next version"), PutQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The whole image"), responses((status = 201, description = "The new image version", body = Image), super::Failures))]
pub async fn put_whole_image(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    super::Params(query): super::Params<PutQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let length =
        match header_str(&headers, "content-length") {
            Some(value) => Some(value.parse::<i64>().map_err(|_| {
                ApiError::new(ErrorKind::BadRequest, "Content-Length is not a number")
            })?),
            None => None,
        };
    let new = NewUpload {
        name,
        description: query.description,
        visibility: query.visibility,
        group: query.group,
        length,
        sha256: query.sha256,
        filename: query.filename,
        source_url: String::new(),
    };
    let upload = state.lab.create_upload(&actor, new).await?;
    let done = state
        .lab
        .append_upload(&actor, &upload.id, 0, body_reader(body), Ending::Whole)
        .await?;
    let id = done
        .image_id
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the upload did not finish"))?;
    let image = state.lab.image(&actor, id).await?;
    let mut response = (StatusCode::CREATED, Json(image)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/images/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `OPTIONS /api/v1/uploads`: tus discovery.
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads", security(()), responses((status = 204, description = "tus 1.0 capabilities in the Tus-* headers")))]
pub async fn tus_options() -> Response {
    with_headers(
        StatusCode::NO_CONTENT.into_response(),
        &[
            ("tus-resumable".into(), TUS_VERSION.into()),
            ("tus-version".into(), TUS_VERSION.into()),
            ("tus-extension".into(), "creation,termination".into()),
        ],
    )
}

/// `POST /api/v1/uploads` with `Upload-Length` and `Upload-Metadata` (tus: comma-separated
/// `key base64(value)`; keys name, description, visibility, group, sha256, filename).
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", params(("Upload-Length" = i64, Header, description = "Total bytes"), ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: name, description, visibility, group, sha256, filename (base64 values)")), responses((status = 201, description = "The upload; its URL in Location", body = Upload), super::Failures))]
pub async fn create_upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let length = header_str(&headers, "upload-length")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadRequest,
                "Upload-Length must give the total size in bytes",
            )
        })?;
    let mut new = NewUpload {
        length: Some(length),
        ..Default::default()
    };
    for (key, value) in parse_metadata(header_str(&headers, "upload-metadata").unwrap_or(""))? {
        match key.as_str() {
            "name" => new.name = value,
            "description" => new.description = value,
            "visibility" => new.visibility = value,
            "group" => new.group = value,
            "sha256" => new.sha256 = value,
            "filename" => new.filename = value,
            _ => {}
        }
    }
    let upload = state.lab.create_upload(&actor, new).await?;
    let location = format!("/api/v1/uploads/{}", upload.id);
    let mut headers = tus_headers(&upload).to_vec();
    headers.push(("location".into(), location));
    Ok(with_headers(
        (StatusCode::CREATED, Json(upload)).into_response(),
        &headers,
    ))
}

fn parse_metadata(header: &str) -> ApiResult<Vec<(String, String)>> {
    use base64::Engine;
    let mut pairs = Vec::new();
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, encoded) = item.split_once(' ').unwrap_or((item, ""));
        let value = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("Upload-Metadata: the value of '{key}' is not base64 UTF-8"),
                )
            })?;
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

/// `GET /api/v1/uploads/{id}`: the upload as JSON (progress of imports, errors).
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 200, description = "The upload", body = Upload), super::Failures))]
pub async fn upload_status(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Upload>> {
    Ok(Json(state.lab.upload(&actor, &id).await?))
}

/// `HEAD /api/v1/uploads/{id}`: where to resume.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 200, description = "Upload-Offset: where to resume"), super::Failures))]
pub async fn upload_offset(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let upload = state.lab.upload(&actor, &id).await?;
    let mut headers = tus_headers(&upload).to_vec();
    if let Some(length) = upload.length {
        headers.push(("upload-length".into(), length.to_string()));
    }
    Ok(with_headers(StatusCode::OK.into_response(), &headers))
}

/// `PATCH /api/v1/uploads/{id}` with `Upload-Offset`: appends the body. When the last byte
/// arrives the image is checked and added; the answer then names it in `Image-Id`.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path), ("Upload-Offset" = i64, Header)), request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"), responses((status = 204, description = "Appended; Image-Id names the image once complete"), super::Failures))]
pub async fn append_upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if header_str(&headers, "content-type") != Some(OFFSET_CONTENT_TYPE) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("Content-Type must be {OFFSET_CONTENT_TYPE}"),
        ));
    }
    let offset = header_str(&headers, "upload-offset")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::new(ErrorKind::BadRequest, "Upload-Offset is required"))?;
    let upload = state
        .lab
        .append_upload(&actor, &id, offset, body_reader(body), Ending::Resumable)
        .await?;
    let mut headers = tus_headers(&upload).to_vec();
    if let Some(image) = upload.image_id {
        headers.push(("image-id".into(), image.to_string()));
    }
    Ok(with_headers(
        StatusCode::NO_CONTENT.into_response(),
        &headers,
    ))
}

/// `DELETE /api/v1/uploads/{id}`: cancels and removes the received bytes.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 204, description = "Cancelled, its bytes removed"), super::Failures))]
pub async fn cancel_upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state.lab.cancel_upload(&actor, &id).await?;
    Ok(with_headers(
        StatusCode::NO_CONTENT.into_response(),
        &[("tus-resumable".into(), TUS_VERSION.into())],
    ))
}
