//! Who is calling the API: a bearer API token, else the browser session.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use axum::Json;
use conductor::session::{session_user, ClientAddress};
use lab::Actor;
use lab::ErrorKind;
use tower_sessions::Session;

use super::{ApiError, ApiResult};
use crate::state::AppState;

/// The authenticated caller of an API route.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::Unauthenticated,
                        "the Authorization header must be 'Bearer <API token>'",
                    )
                })?;
            return Ok(Caller(state.lab.token_actor(token.trim(), &address).await?));
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorKind::Internal, "sessions are not configured"))?;
        let user = session_user(&state.lab, &session).await?;
        user.map(|u| Caller(Actor::user(u.id, &u.username, u.is_admin, &address)))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Unauthenticated,
                    "log in, or send an API token as 'Authorization: Bearer <token>'",
                )
            })
    }
}

/// `GET /api/v1/whoami`: the caller's name, to check a token.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "session", responses((status = 200, description = "The caller", body = lab::rest_api::Whoami), super::Failures))]
pub async fn whoami(Caller(actor): Caller) -> Json<lab::rest_api::Whoami> {
    Json(lab::rest_api::Whoami {
        id: actor.user_id,
        username: actor.username,
        is_admin: actor.is_admin,
    })
}
