//! Who is calling: the session's user as a lab [`Actor`], and the guards server functions use.

use lab::{Actor, Lab};
use leptos::prelude::*;
use tower_sessions::Session;

use crate::error::{AppError, ErrorKind};

/// Session key holding the logged-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// Session key holding the user's credentials version at log-in (see [`Lab::session_user`]).
pub const CREDENTIALS_VERSION_KEY: &str = "credentials_version";

/// Marks `session` as `user`'s, with the credentials they proved just now.
pub async fn start_session(session: &Session, user: &lab::model::User) -> Result<(), AppError> {
    session
        .insert(USER_ID_KEY, user.id)
        .await
        .map_err(AppError::internal)?;
    remember_credentials(session, user.credentials_version).await
}

/// Keeps `session` valid after its own user changed their password.
pub async fn remember_credentials(session: &Session, version: i64) -> Result<(), AppError> {
    session
        .insert(CREDENTIALS_VERSION_KEY, version)
        .await
        .map_err(AppError::internal)
}

/// The session's user: enabled, with unchanged credentials since log-in. Pages, server
/// functions and the REST API all ask this one function.
pub async fn session_user(
    lab: &Lab,
    session: &Session,
) -> Result<Option<lab::model::User>, lab::Error> {
    let user_id: Option<i64> = session.get(USER_ID_KEY).await.ok().flatten();
    let version: Option<i64> = session.get(CREDENTIALS_VERSION_KEY).await.ok().flatten();
    match (user_id, version) {
        (Some(user_id), Some(version)) => lab.session_user(user_id, version).await,
        _ => Ok(None),
    }
}

/// The client's address, put into request extensions by the server.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

pub fn lab() -> Result<Lab, AppError> {
    use_context::<Lab>().ok_or_else(|| AppError::new(ErrorKind::Internal, "lab is not configured"))
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| AppError::new(ErrorKind::Internal, "sessions are not configured"))
}

pub fn client_address() -> String {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ClientAddress>().cloned())
        .map(|a| a.0)
        .unwrap_or_default()
}

/// The logged-in, enabled user, if any. A disabled account's session stops working at once.
pub async fn current_actor() -> Result<Option<Actor>, AppError> {
    let session = session().await?;
    let user = session_user(&lab()?, &session).await?;
    Ok(user.map(|u| Actor::user(u.id, &u.username, u.is_admin, &client_address())))
}

/// The logged-in user, or a 401.
pub async fn actor() -> Result<Actor, AppError> {
    current_actor().await?.ok_or_else(AppError::unauthenticated)
}

/// A logged-in admin, or a 401/403.
pub async fn admin() -> Result<Actor, AppError> {
    let actor = actor().await?;
    if actor.is_admin {
        Ok(actor)
    } else {
        Err(AppError::new(ErrorKind::Forbidden, "permission denied"))
    }
}
