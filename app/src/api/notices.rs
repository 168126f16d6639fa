//! Notices and how they reach the user, the extension a notice links to, and the admin's
//! notice settings (SMTP server, lead times).

use lab::model::{Delivery, Notice, NoticePreferences, NoticeSettings, Reservation};
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "notices")]
pub async fn my_notices() -> Result<Vec<Notice>, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.notices(&actor().await?, false).await?)
}

/// How many unread notices the user has (the navigation's badge; none before log-in, as the
/// navigation is on every page, the login page too).
#[server(endpoint = "unread_notices")]
pub async fn unread_notices() -> Result<usize, AppError> {
    use crate::auth::{current_actor, lab};
    match current_actor().await? {
        Some(actor) => Ok(lab()?.notices(&actor, true).await?.len()),
        None => Ok(0),
    }
}

/// Marks one notice (or, without `id`, all) as read.
#[server(endpoint = "mark_notices_read")]
pub async fn mark_notices_read(id: Option<i64>) -> Result<(), AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.mark_notices_read(&actor().await?, id).await?)
}

#[server(endpoint = "notice_preferences")]
pub async fn get_notice_preferences() -> Result<NoticePreferences, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.notice_preferences(&actor().await?).await?)
}

/// Checkboxes arrive only when ticked.
#[server(endpoint = "set_notice_preferences")]
pub async fn set_notice_preferences(
    email_address: String,
    portal: Option<String>,
    email: Option<String>,
    webhook: Option<String>,
    webhook_url: String,
    webhook_secret: String,
) -> Result<NoticePreferences, AppError> {
    use crate::auth::{actor, lab};
    let input = lab::model::NoticePreferencesInput {
        email_address,
        portal: portal.is_some(),
        email: email.is_some(),
        webhook: webhook.is_some(),
        webhook_url,
        webhook_secret,
    };
    Ok(lab()?
        .set_notice_preferences(&actor().await?, input)
        .await?)
}

/// The delivery log of the user's notices.
#[server(endpoint = "deliveries")]
pub async fn my_deliveries() -> Result<Vec<Delivery>, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.deliveries(&actor().await?).await?)
}

#[server(endpoint = "reservation")]
pub async fn get_reservation(id: i64) -> Result<Reservation, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.reservation(&actor().await?, id).await?)
}

/// Extends a reservation by `minutes` from its current end.
#[server(endpoint = "extend_reservation")]
pub async fn extend_reservation(id: i64, minutes: String) -> Result<Reservation, AppError> {
    use crate::auth::{actor, lab};
    let minutes: i64 = minutes
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("minutes", "must be a whole number of minutes"))?;
    Ok(lab()?
        .extend_reservation(&actor().await?, id, minutes.saturating_mul(60))
        .await?)
}

#[server(endpoint = "admin/notice_settings")]
pub async fn get_notice_settings() -> Result<NoticeSettings, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.notice_settings(&admin().await?).await?)
}

#[server(endpoint = "admin/set_notice_settings")]
pub async fn set_notice_settings(
    smtp_host: String,
    smtp_port: String,
    smtp_security: String,
    smtp_username: String,
    smtp_password: String,
    sender: String,
    lead_minutes: String,
) -> Result<NoticeSettings, AppError> {
    use crate::auth::{admin, lab};
    let input = lab::model::NoticeSettingsInput {
        smtp_host,
        smtp_port,
        smtp_security,
        smtp_username,
        smtp_password,
        sender,
        lead_minutes,
    };
    Ok(lab()?.set_notice_settings(&admin().await?, input).await?)
}
