//! `POST /api/v1/imports`: the server fetches an image from an HTTP(S) URL into an upload whose
//! progress the caller follows at `/api/v1/uploads/{id}`, like one of its own uploads.

use std::time::Duration;

use app::error::ErrorKind;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::TryStreamExt;
use lab::model::{NewUpload, Upload};
use lab::Ending;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use super::{ApiError, ApiResult, Caller};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImportRequest {
    url: String,
    name: String,
    description: String,
    visibility: String,
    group: String,
    sha256: String,
}

/// Answers once the source has answered (so a dead URL is reported at once); the bytes then
/// stream in the background.
pub async fn start_import(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(request): Json<ImportRequest>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let url = reqwest::Url::parse(request.url.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| {
            let mut error = ApiError::new(
                ErrorKind::Invalid,
                "url: must be an http:// or https:// URL",
            );
            error.0.fields.push(lab::FieldError {
                field: "url".into(),
                message: "must be an http:// or https:// URL".into(),
            });
            error
        })?;
    let filename = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default()
        .to_string();
    let response = state
        .http_client
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| {
            ApiError::new(
                ErrorKind::Upstream,
                format!("fetching {url}: {}", describe(&e)),
            )
        })?;
    let new = NewUpload {
        name: request.name,
        description: request.description,
        visibility: request.visibility,
        group: request.group,
        length: response.content_length().map(|l| l as i64),
        sha256: request.sha256,
        filename,
        source_url: url.to_string(),
    };
    let upload = state.lab.create_upload(&actor, new).await?;
    let lab = state.lab.clone();
    let id = upload.id.clone();
    tokio::spawn(async move {
        let body = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
        match lab.append_upload(&actor, &id, 0, body, Ending::Whole).await {
            Ok(done) => {
                tracing::info!(upload = %id, image = ?done.image_id, %url, "import finished")
            }
            Err(e) => tracing::info!(upload = %id, %url, error = %e, "import failed"),
        }
    });
    Ok((StatusCode::ACCEPTED, Json(upload)))
}

fn describe(error: &reqwest::Error) -> String {
    if let Some(status) = error.status() {
        format!("the server answered {status}")
    } else if error.is_timeout() {
        "no answer in time".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.to_string()
    }
}

/// The client imports use: bounded connect time, no cookies, at most 5 redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("baas/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
