//! Logging in and out, who am I, and changing one's own password.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
}

#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<UserInfo, AppError> {
    use crate::auth::{
        client_address, keep_device, lab, presented_devices, session, start_session,
    };
    let devices = presented_devices();
    let address = client_address();
    let client = lab::LoginClient {
        address: &address,
        devices: &devices,
    };
    let lab = lab()?;
    let user = lab
        .authenticate_client(&username, &password, client)
        .await?;
    keep_device(&lab.remember_device(user.id, &devices).await?, &devices);
    let session = session().await?;
    // A new id on log-in, so a session id planted before log-in is worthless.
    session.cycle_id().await.map_err(AppError::internal)?;
    start_session(&session, &user).await?;
    Ok(UserInfo {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        is_admin: user.is_admin,
    })
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::auth::{current_actor, lab, session};
    if let Some(actor) = current_actor().await? {
        lab()?
            .audit_event(
                &actor,
                "session.logout",
                &format!("user:{}", actor.username),
                "",
            )
            .await?;
    }
    session().await?.flush().await.map_err(AppError::internal)?;
    Ok(())
}

/// The logged-in user, or `None` for anonymous visitors.
#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<UserInfo>, AppError> {
    use crate::auth::{current_actor, lab};
    let Some(actor) = current_actor().await? else {
        return Ok(None);
    };
    let user = match actor.user_id {
        Some(id) => lab()?.user(id).await?,
        None => None,
    };
    Ok(user.map(|u| UserInfo {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        is_admin: u.is_admin,
    }))
}

#[server(endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    use crate::auth::{actor, lab, remember_credentials, session};
    let actor = actor().await?;
    let version = lab()?
        .change_own_password(&actor, &current_password, &new_password)
        .await?;
    // Every other session of this user has ended; this one carries on.
    remember_credentials(&session().await?, version).await
}
