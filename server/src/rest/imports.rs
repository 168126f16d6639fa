//! `POST /api/v1/imports`: the server fetches an image from an HTTP(S) URL into an upload whose
//! progress the caller follows at `/api/v1/uploads/{id}`, like one of its own uploads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use conductor::egress_client::{describe, egress_client, literal_host, refusal};
use futures_util::TryStreamExt;
use lab::model::{NewUpload, Upload};
use lab::Ending;
use lab::ErrorKind;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use super::{ApiError, ApiResult, Caller};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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
/// stream in the background. Internal destinations are refused (see [`lab::egress`]) — for the
/// URL as given, for every address its name resolves to, and for every redirect.
#[utoipa::path(post, path = "/api/v1/imports", tag = "images", request_body = ImportRequest, responses((status = 202, description = "The import, running", body = Upload), super::Failures))]
pub async fn start_import(
    State(state): State<AppState>,
    Caller(actor): Caller,
    super::Body(request): super::Body<ImportRequest>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let url = reqwest::Url::parse(request.url.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .filter(|url| url.host().is_some())
        .ok_or_else(|| url_error("must be an http:// or https:// URL"))?;
    let policy = state.lab.egress_policy().await?;
    if let Some(ip) = literal_host(&url) {
        policy.check(ip).map_err(|reason| url_error(&reason))?;
    }
    let client = egress_client(policy).map_err(ApiError::internal)?;
    let filename = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default()
        .to_string();
    let response = client
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| match refusal(&e) {
            Some(reason) => url_error(&reason),
            None => ApiError::new(
                ErrorKind::Upstream,
                format!("fetching {url}: {}", describe(&e)),
            ),
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

fn url_error(reason: &str) -> ApiError {
    ApiError::invalid("url", reason)
}
