//! The REST API for scripts and the browser's upload code (`/api/v1/…`), image streaming
//! (`/images/{id}/content`, `/media/…`), boot scripts (`/boot/{mac}.ipxe`) and the management
//! OS (`/boot/mgmt/…`). Callers authenticate with a bearer API token or a session cookie;
//! every decision is the lab's.

mod admin;
mod agents;
mod batches;
mod boot;
mod caller;
mod console;
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
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use serde::de::DeserializeOwned;

use lab::ErrorKind;

use crate::state::AppState;

pub use agents::NonceBook;
pub use caller::Caller;
pub use openapi::Failures;

/// Every route the API serves, one line each. The router is built from it, and the
/// authorization matrix and the OpenAPI check (which schemathesis then trusts) read it through
/// [`served`]: a route cannot be added to one and escape the others.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    use axum::routing::{delete, get, head, options, patch, post, put};
    use Method as M;
    vec![
        (M::GET, "/api/v1/openapi.json", get(openapi::document)),
        (M::GET, "/api/v1/docs", get(openapi::docs)),
        (M::GET, "/api/v1/whoami", get(caller::whoami)),
        (M::GET, "/api/v1/events", get(events::events)),
        (M::GET, "/api/v1/machines", get(machines::list)),
        (M::GET, "/api/v1/machines/{id}", get(machines::show)),
        (
            M::GET,
            "/api/v1/machines/{id}/boot-events",
            get(machines::boot_events),
        ),
        (
            M::GET,
            "/api/v1/machines/{id}/power",
            get(machines::power_state),
        ),
        (
            M::POST,
            "/api/v1/machines/{id}/power",
            post(machines::power),
        ),
        (
            M::PUT,
            "/api/v1/machines/{id}/boot-device",
            put(machines::boot_device),
        ),
        (
            M::POST,
            "/api/v1/machines/{id}/bmc-test",
            post(machines::bmc_test),
        ),
        (M::GET, "/api/v1/machines/{id}/console", get(console::live)),
        (
            M::GET,
            "/api/v1/machines/{id}/console/log",
            get(console::machine_log),
        ),
        (M::GET, "/api/v1/reservations", get(reservations::list)),
        (M::POST, "/api/v1/reservations", post(reservations::create)),
        (
            M::POST,
            "/api/v1/reservations/any",
            post(reservations::create_any),
        ),
        (M::GET, "/api/v1/reservations/{id}", get(reservations::show)),
        (
            M::PATCH,
            "/api/v1/reservations/{id}",
            patch(reservations::change),
        ),
        (
            M::DELETE,
            "/api/v1/reservations/{id}",
            delete(reservations::end),
        ),
        (M::GET, "/api/v1/calendar", get(reservations::calendar)),
        (M::GET, "/api/v1/notices", get(reservations::notices)),
        (M::GET, "/api/v1/batches", get(batches::list)),
        (M::POST, "/api/v1/batches", post(batches::create)),
        (M::GET, "/api/v1/batches/{id}", get(batches::show)),
        (M::DELETE, "/api/v1/batches/{id}", delete(batches::cancel)),
        (M::POST, "/api/v1/batches/{id}/retry", post(batches::retry)),
        (M::GET, "/api/v1/jobs", get(jobs::list)),
        (M::POST, "/api/v1/jobs", post(jobs::create)),
        (M::GET, "/api/v1/jobs/{id}", get(jobs::show)),
        (M::DELETE, "/api/v1/jobs/{id}", delete(jobs::cancel)),
        (M::GET, "/api/v1/jobs/{id}/console", get(console::job_log)),
        (M::GET, "/api/v1/users", get(admin::users)),
        (M::POST, "/api/v1/users", post(admin::create_user)),
        (M::PATCH, "/api/v1/users/{id}", patch(admin::change_user)),
        (M::GET, "/api/v1/groups", get(admin::groups)),
        (M::POST, "/api/v1/groups", post(admin::create_group)),
        (
            M::DELETE,
            "/api/v1/groups/{id}",
            delete(admin::delete_group),
        ),
        (
            M::PUT,
            "/api/v1/groups/{id}/members/{username}",
            put(admin::add_member),
        ),
        (
            M::DELETE,
            "/api/v1/groups/{id}/members/{username}",
            delete(admin::remove_member),
        ),
        (M::POST, "/api/v1/machines", post(admin::create_machine)),
        (M::PUT, "/api/v1/machines/{id}", put(admin::update_machine)),
        (
            M::DELETE,
            "/api/v1/machines/{id}",
            delete(admin::delete_machine),
        ),
        (M::GET, "/api/v1/machines/{id}/media", get(media::list)),
        (M::POST, "/api/v1/machines/{id}/media", post(media::attach)),
        (M::DELETE, "/api/v1/media/{id}", delete(media::detach)),
        (M::GET, "/api/v1/machines/{id}/grants", get(admin::grants)),
        (M::POST, "/api/v1/machines/{id}/grants", post(admin::grant)),
        (M::DELETE, "/api/v1/grants/{id}", delete(admin::revoke)),
        (M::GET, "/api/v1/settings/limits", get(admin::limits)),
        (M::GET, "/api/v1/settings", get(admin::settings)),
        (M::PATCH, "/api/v1/settings", patch(admin::change_settings)),
        (
            M::POST,
            "/api/v1/account/password",
            post(tokens::change_password),
        ),
        (
            M::PATCH,
            "/api/v1/images/{id}",
            patch(uploads::change_image),
        ),
        (M::GET, "/api/v1/audit", get(admin::audit)),
        (M::GET, "/api/v1/discovered", get(admin::discovered)),
        (
            M::POST,
            "/api/v1/discovered/{mac}/adopt",
            post(admin::adopt),
        ),
        (M::GET, "/api/v1/tokens", get(tokens::list)),
        (M::POST, "/api/v1/tokens", post(tokens::create)),
        (M::DELETE, "/api/v1/tokens/{id}", delete(tokens::revoke)),
        (M::GET, "/api/v1/images", get(uploads::list_images)),
        (M::GET, "/api/v1/images/{id}", get(uploads::get_image)),
        (M::PUT, "/api/v1/images/{id}", put(uploads::put_whole_image)),
        (
            M::DELETE,
            "/api/v1/images/{id}",
            delete(uploads::delete_image),
        ),
        (M::OPTIONS, "/api/v1/uploads", options(uploads::tus_options)),
        (M::POST, "/api/v1/uploads", post(uploads::create_upload)),
        (M::GET, "/api/v1/uploads/{id}", get(uploads::upload_status)),
        (
            M::HEAD,
            "/api/v1/uploads/{id}",
            head(uploads::upload_offset),
        ),
        (
            M::PATCH,
            "/api/v1/uploads/{id}",
            patch(uploads::append_upload),
        ),
        (
            M::DELETE,
            "/api/v1/uploads/{id}",
            delete(uploads::cancel_upload),
        ),
        (M::POST, "/api/v1/imports", post(imports::start_import)),
        (M::GET, "/images/{id}/content", get(content::image_content)),
        (M::GET, "/media/{token}/{file}", get(content::media_content)),
        (M::GET, "/boot/{file}", get(boot::boot_script)),
        (M::GET, "/boot/grub/grub.cfg", get(boot::grub_config)),
        (M::GET, "/boot/mgmt/{file}", get(boot::management_os_file)),
        (
            M::GET,
            "/boot/mgmt/arm64/{file}",
            get(boot::arm64_management_os_file),
        ),
        (M::GET, "/boot/firmware/{file}", get(boot::firmware_file)),
        (M::POST, "/agent/v1/enrol", post(agents::enrol)),
        (M::POST, "/agent/v1/heartbeat", post(agents::heartbeat)),
        (M::GET, "/agent/v1/job", get(agents::job)),
        (M::GET, "/agent/v1/image", get(agents::image)),
        (M::POST, "/agent/v1/progress", post(agents::progress)),
        (M::POST, "/agent/v1/result", post(agents::result)),
        (M::POST, "/agent/v1/relay", post(agents::relay)),
        (M::POST, "/agent/v1/save", post(agents::save_target)),
        (M::PATCH, "/agent/v1/save", patch(agents::save_piece)),
    ]
}

/// Every (method, path) the API serves; the authorization matrix test needs a case for each.
pub fn served() -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method_name(&method), path))
        .collect()
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The API routes, merged into the main router (which adds sessions and the other layers).
/// The methods of one path are merged into one method router.
pub fn routes() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
}

// An API failure as JSON `{kind, error, fields}` with the matching status. The server
// functions answer in the same shape with their own type; the document has called this one
// `AppError` (with the description below) since its first version, and clients may know it so.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AppError, description = "Every error of the API and the server functions.")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<lab::FieldError>,
}

impl From<lab::Error> for ApiError {
    fn from(error: lab::Error) -> Self {
        let kind = error.kind();
        if kind == ErrorKind::Internal {
            return ApiError::internal(error);
        }
        ApiError {
            kind,
            error: error.to_string(),
            fields: error.field_errors().to_vec(),
        }
    }
}

impl From<conductor::Error> for ApiError {
    fn from(error: conductor::Error) -> Self {
        match error {
            conductor::Error::Lab(error) => error.into(),
            error => ApiError::new(error.kind(), error.to_string()),
        }
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
                        ErrorKind::Invalid,
                        format!("the request body does not fit: {error}"),
                    )
                })
            }
            Ok(_) => Err(ApiError::new(
                ErrorKind::Invalid,
                "the request body must be a JSON object",
            )),
            Err(error) => Err(ApiError::new(
                ErrorKind::BadRequest,
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
                    ErrorKind::Invalid,
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
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, e.body_text()))?;
        raw.parse().map(Id).map_err(|_| {
            ApiError::new(
                ErrorKind::NotFound,
                format!("'{raw}' is not an id (a number)"),
            )
        })
    }
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            error: message.into(),
            fields: Vec::new(),
        }
    }

    /// One invalid field, named.
    pub fn invalid(field: &str, message: &str) -> Self {
        lab::Error::invalid(field, message).into()
    }

    /// An infrastructure failure: logged in full, reported without details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(ErrorKind::Internal, lab::INTERNAL_MESSAGE)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
