//! Each user's choice of how notices reach them: the portal, email to an address, a webhook with
//! a signing secret sealed at rest (never shown again).

use super::*;

impl Lab {
    /// The actor's own notice preferences.
    pub async fn notice_preferences(&self, actor: &Actor) -> Result<NoticePreferences> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let email_address: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let row: Option<PreferencesRow> = sqlx::query_as(SELECT_PREFERENCES)
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?;
        let PreferencesRow {
            portal,
            email,
            webhook,
            webhook_url,
            webhook_secret: secret,
        } = row.unwrap_or_default();
        Ok(NoticePreferences {
            email_address,
            portal,
            email,
            webhook,
            webhook_url,
            webhook_secret_set: secret.is_some(),
        })
    }

    /// Sets the actor's email address and which notices they get where. A webhook needs an
    /// http(s) URL; its secret (empty keeps the stored one) is sealed and never shown again.
    pub async fn set_notice_preferences(
        &self,
        actor: &Actor,
        input: NoticePreferencesInput,
    ) -> Result<NoticePreferences> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let mut errors = FieldErrors::default();
        let address = input.email_address.trim().to_string();
        if !address.is_empty() && !is_email_address(&address) {
            errors.add(
                "email_address",
                "must be an email address such as ada@lab.example",
            );
        }
        if input.email && address.is_empty() {
            errors.add("email_address", "give an address to get notices by email");
        }
        let url = input.webhook_url.trim().to_string();
        if !url.is_empty() && !is_http_url(&url) {
            errors.add("webhook_url", "must be an http:// or https:// URL");
        }
        if input.webhook && url.is_empty() {
            errors.add("webhook_url", "give the URL notices are posted to");
        }
        if input.webhook_secret.len() > validate::MAX_TEXT {
            errors.add("webhook_secret", "is too long (at most 200 characters)");
        }
        errors.into_result()?;
        let secret = if input.webhook_secret.is_empty() {
            sqlx::query_scalar::<_, Option<Vec<u8>>>(
                "SELECT webhook_secret FROM notice_preferences WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .flatten()
        } else {
            Some(self.secrets.seal(input.webhook_secret.as_bytes())?)
        };
        let mut tx = self.write().await?;
        sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
            .bind(&address)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO notice_preferences (user_id, portal, email, webhook, webhook_url, webhook_secret)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id) DO UPDATE SET portal = excluded.portal, email = excluded.email,
                webhook = excluded.webhook, webhook_url = excluded.webhook_url,
                webhook_secret = excluded.webhook_secret",
        )
        .bind(user_id)
        .bind(input.portal)
        .bind(input.email)
        .bind(input.webhook)
        .bind(&url)
        .bind(secret)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "notices.preferences",
            &format!("user:{}", actor.username),
            &format!(
                "portal={} email={} webhook={} url={url}",
                input.portal, input.email, input.webhook
            ),
        )
        .await?;
        tx.commit().await?;
        self.notice_preferences(actor).await
    }
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    text.len() <= 2000
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}
