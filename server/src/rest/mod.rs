//! The REST API for scripts and the browser's upload code (`/api/v1/…`), image streaming
//! (`/images/{id}/content`, `/media/…`), boot scripts (`/boot/{mac}.ipxe`) and the management
//! OS (`/boot/mgmt/…`). Callers authenticate with a bearer API token or a session cookie;
//! every decision is the lab's.

mod agent;
mod boot;
mod caller;
mod content;
mod events;
mod imports;
mod uploads;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub use agent::NonceBook;
pub use caller::Caller;

/// Every (method, path) the API serves; the authorization matrix test needs a case for each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/images"),
    ("GET", "/api/v1/images/{id}"),
    ("PUT", "/api/v1/images/{name}"),
    ("DELETE", "/api/v1/images/{id}"),
    ("OPTIONS", "/api/v1/uploads"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/uploads/{id}"),
    ("HEAD", "/api/v1/uploads/{id}"),
    ("PATCH", "/api/v1/uploads/{id}"),
    ("DELETE", "/api/v1/uploads/{id}"),
    ("POST", "/api/v1/imports"),
    ("GET", "/images/{id}/content"),
    ("GET", "/media/{token}/{file}"),
    ("GET", "/boot/{file}"),
    ("GET", "/boot/mgmt/{file}"),
    ("POST", "/agent/v1/enrol"),
    ("POST", "/agent/v1/heartbeat"),
    ("GET", "/agent/v1/job"),
    ("GET", "/agent/v1/image"),
    ("POST", "/agent/v1/progress"),
    ("POST", "/agent/v1/result"),
    ("POST", "/agent/v1/save"),
    ("PATCH", "/agent/v1/save"),
];

/// The API routes, merged into the main router (which adds sessions and the other layers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images", get(uploads::list_images))
        .route(
            "/api/v1/images/{id}",
            get(uploads::get_image)
                .delete(uploads::delete_image)
                .put(uploads::put_whole_image),
        )
        .route(
            "/api/v1/uploads",
            post(uploads::create_upload).options(uploads::tus_options),
        )
        .route(
            "/api/v1/uploads/{id}",
            get(uploads::upload_status)
                .head(uploads::upload_offset)
                .patch(uploads::append_upload)
                .delete(uploads::cancel_upload),
        )
        .route("/api/v1/imports", post(imports::start_import))
        .route("/images/{id}/content", get(content::image_content))
        .route("/media/{token}/{file}", get(content::media_content))
        .route("/boot/{file}", get(boot::boot_script))
        .route("/boot/mgmt/{file}", get(boot::management_os_file))
        .route("/api/v1/whoami", get(caller::whoami))
        .route("/api/v1/events", get(events::events))
        .route("/agent/v1/enrol", post(agent::enrol))
        .route("/agent/v1/heartbeat", post(agent::heartbeat))
        .route("/agent/v1/job", get(agent::job))
        .route("/agent/v1/image", get(agent::image))
        .route("/agent/v1/progress", post(agent::progress))
        .route("/agent/v1/result", post(agent::result))
        .route(
            "/agent/v1/save",
            post(agent::save_target).patch(agent::save_piece),
        )
}

/// An API failure as JSON `{kind, error, fields}` with the matching status.
pub struct ApiError(app::error::AppError);

impl From<lab::Error> for ApiError {
    fn from(error: lab::Error) -> Self {
        ApiError(error.into())
    }
}

impl ApiError {
    pub fn new(kind: app::error::ErrorKind, message: impl Into<String>) -> Self {
        ApiError(app::error::AppError::new(kind, message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.0)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
