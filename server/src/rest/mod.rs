//! The REST API for scripts and the browser's upload code (`/api/v1/…`), image streaming
//! (`/images/{id}/content`, `/media/…`), boot scripts (`/boot/{mac}.ipxe`) and the management
//! OS (`/boot/mgmt/…`). Callers authenticate with a bearer API token or a session cookie;
//! every decision is the lab's.

mod admin;
mod agent;
mod boot;
mod caller;
mod content;
mod events;
pub(crate) mod imports;
mod jobs;
mod machines;
mod media;
pub mod openapi;
mod reservations;
mod tokens;
mod uploads;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::http::AppState;

pub use agent::NonceBook;
pub use caller::Caller;
pub use openapi::Failures;

/// Every (method, path) the API serves; the authorization matrix test needs a case for each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/machines"),
    ("GET", "/api/v1/machines/{id}"),
    ("GET", "/api/v1/machines/{id}/boot-events"),
    ("GET", "/api/v1/machines/{id}/power"),
    ("POST", "/api/v1/machines/{id}/power"),
    ("PUT", "/api/v1/machines/{id}/boot-device"),
    ("POST", "/api/v1/machines/{id}/bmc-test"),
    ("GET", "/api/v1/reservations"),
    ("POST", "/api/v1/reservations"),
    ("POST", "/api/v1/reservations/any"),
    ("GET", "/api/v1/reservations/{id}"),
    ("PATCH", "/api/v1/reservations/{id}"),
    ("DELETE", "/api/v1/reservations/{id}"),
    ("GET", "/api/v1/calendar"),
    ("GET", "/api/v1/notices"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("DELETE", "/api/v1/jobs/{id}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{id}"),
    ("GET", "/api/v1/groups"),
    ("POST", "/api/v1/groups"),
    ("DELETE", "/api/v1/groups/{id}"),
    ("PUT", "/api/v1/groups/{id}/members/{username}"),
    ("DELETE", "/api/v1/groups/{id}/members/{username}"),
    ("POST", "/api/v1/machines"),
    ("PUT", "/api/v1/machines/{id}"),
    ("DELETE", "/api/v1/machines/{id}"),
    ("GET", "/api/v1/machines/{id}/media"),
    ("POST", "/api/v1/machines/{id}/media"),
    ("DELETE", "/api/v1/media/{id}"),
    ("GET", "/api/v1/machines/{id}/grants"),
    ("POST", "/api/v1/machines/{id}/grants"),
    ("DELETE", "/api/v1/grants/{id}"),
    ("GET", "/api/v1/settings/limits"),
    ("GET", "/api/v1/settings"),
    ("PATCH", "/api/v1/settings"),
    ("POST", "/api/v1/account/password"),
    ("PATCH", "/api/v1/images/{id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/discovered"),
    ("POST", "/api/v1/discovered/{mac}/adopt"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("GET", "/api/v1/images"),
    ("GET", "/api/v1/images/{id}"),
    ("PUT", "/api/v1/images/{id}"),
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
                .put(uploads::put_whole_image)
                .patch(uploads::change_image),
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
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/docs", get(openapi::docs))
        .route("/api/v1/whoami", get(caller::whoami))
        .route(
            "/api/v1/machines",
            get(machines::list).post(admin::create_machine),
        )
        .route(
            "/api/v1/machines/{id}",
            get(machines::show)
                .put(admin::update_machine)
                .delete(admin::delete_machine),
        )
        .route(
            "/api/v1/machines/{id}/grants",
            get(admin::grants).post(admin::grant),
        )
        .route("/api/v1/grants/{id}", axum::routing::delete(admin::revoke))
        .route(
            "/api/v1/machines/{id}/media",
            get(media::list).post(media::attach),
        )
        .route("/api/v1/media/{id}", axum::routing::delete(media::detach))
        .route("/api/v1/users", get(admin::users).post(admin::create_user))
        .route(
            "/api/v1/users/{id}",
            axum::routing::patch(admin::change_user),
        )
        .route(
            "/api/v1/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route(
            "/api/v1/groups/{id}",
            axum::routing::delete(admin::delete_group),
        )
        .route(
            "/api/v1/groups/{id}/members/{username}",
            put(admin::add_member).delete(admin::remove_member),
        )
        .route("/api/v1/settings/limits", get(admin::limits))
        .route(
            "/api/v1/settings",
            get(admin::settings).patch(admin::change_settings),
        )
        .route("/api/v1/account/password", post(tokens::change_password))
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/discovered", get(admin::discovered))
        .route("/api/v1/discovered/{mac}/adopt", post(admin::adopt))
        .route(
            "/api/v1/machines/{id}/boot-events",
            get(machines::boot_events),
        )
        .route(
            "/api/v1/machines/{id}/power",
            get(machines::power_state).post(machines::power),
        )
        .route(
            "/api/v1/machines/{id}/boot-device",
            put(machines::boot_device),
        )
        .route("/api/v1/machines/{id}/bmc-test", post(machines::bmc_test))
        .route(
            "/api/v1/reservations",
            get(reservations::list).post(reservations::create),
        )
        .route("/api/v1/reservations/any", post(reservations::create_any))
        .route("/api/v1/calendar", get(reservations::calendar))
        .route("/api/v1/notices", get(reservations::notices))
        .route(
            "/api/v1/reservations/{id}",
            get(reservations::show)
                .patch(reservations::change)
                .delete(reservations::end),
        )
        .route("/api/v1/jobs", get(jobs::list).post(jobs::create))
        .route("/api/v1/jobs/{id}", get(jobs::show).delete(jobs::cancel))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
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

impl From<app::error::AppError> for ApiError {
    fn from(error: app::error::AppError) -> Self {
        ApiError(error)
    }
}

/// A JSON request body; a body that is not JSON of the expected shape is a 400 or 422 in the
/// API's own error shape (axum's would be plain text).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        match axum::Json::<serde_json::Value>::from_request(request, state).await {
            // Objects only: serde would also read a struct from a JSON array.
            Ok(axum::Json(value)) if value.is_object() => {
                serde_json::from_value(value).map(Body).map_err(|error| {
                    ApiError::new(
                        app::error::ErrorKind::Invalid,
                        format!("the request body does not fit: {error}"),
                    )
                })
            }
            Ok(_) => Err(ApiError::new(
                app::error::ErrorKind::Invalid,
                "the request body must be a JSON object",
            )),
            Err(error) => Err(ApiError::new(
                app::error::ErrorKind::BadRequest,
                format!("the request body must be JSON: {}", error.body_text()),
            )),
        }
    }
}

/// `?limit=&offset=` of a list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct Page {
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Skip this many first.
    pub offset: Option<usize>,
}

impl Page {
    pub fn of<T>(&self, all: Vec<T>) -> lab::rest_api::Paged<T> {
        lab::rest_api::Paged::of(all, self.limit, self.offset)
    }
}

/// Query parameters; a value of the wrong type is a 422 in the API's error shape.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Params(value))
            .map_err(|e| {
                ApiError::new(
                    app::error::ErrorKind::Invalid,
                    format!("the query does not fit: {}", e.body_text()),
                )
            })
    }
}

/// A numeric id from the path; anything else is a 404 naming it.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(app::error::ErrorKind::BadRequest, e.body_text()))?;
        raw.parse().map(Id).map_err(|_| {
            ApiError::new(
                app::error::ErrorKind::NotFound,
                format!("'{raw}' is not an id (a number)"),
            )
        })
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
