//! Who is calling: the session's user as a lab [`Actor`], and the guards server functions use.

use lab::{Actor, Lab};
use leptos::prelude::*;
use tower_sessions::Session;

use crate::error::{AppError, ErrorKind};

use conductor::session::session_user;
pub use conductor::session::ClientAddress;
use conductor::Conductor;

/// Marks `session` as `user`'s, with the credentials they proved just now.
pub async fn start_session(session: &Session, user: &lab::model::User) -> Result<(), AppError> {
    conductor::session::start(session, user)
        .await
        .map_err(AppError::internal)
}

/// Keeps `session` valid after its own user changed their password.
pub async fn remember_credentials(session: &Session, version: i64) -> Result<(), AppError> {
    conductor::session::remember_credentials(session, version)
        .await
        .map_err(AppError::internal)
}

/// The conductor of the request's context: what drives BMCs on the caller's behalf.
pub fn conductor() -> Result<Conductor, AppError> {
    use_context::<Conductor>()
        .ok_or_else(|| AppError::new(ErrorKind::Internal, "the conductor is not configured"))
}

pub fn lab() -> Result<Lab, AppError> {
    Ok(conductor()?.lab().clone())
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| AppError::new(ErrorKind::Internal, "sessions are not configured"))
}

/// Whether cookies the app sets carry `Secure` (the site is served over HTTPS).
#[derive(Debug, Clone, Copy)]
pub struct SecureCookies(pub bool);

/// The browser's known-device tokens (see `lab::throttle`): a browser that logged in to an
/// account before is never locked out of it by strangers' failures.
const DEVICE_COOKIE: &str = "baas_device";
/// Accounts one browser is remembered for.
const DEVICES_PER_BROWSER: usize = 4;

/// The known-device tokens the request presented.
pub fn presented_devices() -> Vec<String> {
    let Some(parts) = use_context::<http::request::Parts>() else {
        return Vec::new();
    };
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == DEVICE_COOKIE)
        .flat_map(|(_, tokens)| tokens.split('.'))
        .filter(|token| !token.is_empty() && token.len() <= 64)
        .take(DEVICES_PER_BROWSER)
        .map(str::to_string)
        .collect()
}

/// Keeps `token` (this log-in's account) first among the browser's known-device tokens.
pub fn keep_device(token: &str, presented: &[String]) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let tokens: Vec<&str> = std::iter::once(token)
        .chain(presented.iter().map(String::as_str).filter(|t| *t != token))
        .take(DEVICES_PER_BROWSER)
        .collect();
    let secure = use_context::<SecureCookies>().is_some_and(|s| s.0);
    let cookie = format!(
        "{DEVICE_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        tokens.join("."),
        lab::throttle::DEVICE_DAYS * 86_400,
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = http::HeaderValue::from_str(&cookie) {
        response.append_header(http::header::SET_COOKIE, value);
    }
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
