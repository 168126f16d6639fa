//! Whose browser session a request carries. The log-in page writes it, and pages, server
//! functions and the REST API all read it through [`session_user`], so the two fronts agree on
//! what a session means without importing each other.

use lab::Lab;
use tower_sessions::Session;

/// Session key holding the logged-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// Session key holding the user's credentials version at log-in (see [`Lab::session_user`]).
pub const CREDENTIALS_VERSION_KEY: &str = "credentials_version";

/// The client's address, put into request extensions by the server for the audit log.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// Marks `session` as `user`'s, with the credentials they proved just now.
pub async fn start(
    session: &Session,
    user: &lab::model::User,
) -> Result<(), tower_sessions::session::Error> {
    session.insert(USER_ID_KEY, user.id).await?;
    remember_credentials(session, user.credentials_version).await
}

/// Keeps `session` valid after its own user changed their password.
pub async fn remember_credentials(
    session: &Session,
    version: i64,
) -> Result<(), tower_sessions::session::Error> {
    session.insert(CREDENTIALS_VERSION_KEY, version).await
}

/// Session key holding when the session was last seen in use (UNIX seconds).
pub const ACTIVE_AT_KEY: &str = "active_at";

/// The session's user: enabled, with unchanged credentials since log-in. A session in use stays
/// open: its idle timeout starts again (see [`keep_alive`]).
pub async fn session_user(
    lab: &Lab,
    session: &Session,
) -> Result<Option<lab::model::User>, lab::Error> {
    let user_id: Option<i64> = session.get(USER_ID_KEY).await.ok().flatten();
    let version: Option<i64> = session.get(CREDENTIALS_VERSION_KEY).await.ok().flatten();
    let user = match (user_id, version) {
        (Some(user_id), Some(version)) => lab.session_user(user_id, version).await?,
        _ => None,
    };
    if user.is_some() {
        keep_alive(session).await;
    }
    Ok(user)
}

/// Restarts the idle timeout of a session in use. The session store writes a session only
/// when it changed, so this changes it — not on every request (a write each), but once a
/// twentieth of the timeout has passed since the last time.
async fn keep_alive(session: &Session) {
    let Some(tower_sessions::Expiry::OnInactivity(timeout)) = session.expiry() else {
        return;
    };
    let now = lab::now();
    let every = (timeout.whole_seconds() / 20).max(1);
    let active_at: Option<i64> = session.get(ACTIVE_AT_KEY).await.ok().flatten();
    if active_at.is_none_or(|at| now - at >= every) {
        if let Err(error) = session.insert(ACTIVE_AT_KEY, now).await {
            tracing::warn!(%error, "keeping a session alive");
        }
    }
}
