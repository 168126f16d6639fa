//! The lab's mail settings for notices: the SMTP server (its password sealed at rest) and the
//! lead times before a reservation's end at which notices go out. Admins only.

use super::*;

impl Lab {
    /// The lead times before a reservation's end at which notices go out, in seconds, longest
    /// first.
    pub async fn notice_leads(&self) -> Result<Vec<i64>> {
        let minutes = match self.setting(LEADS_KEY).await? {
            Some(text) => parse_minutes(&text).unwrap_or_else(|_| DEFAULT_LEAD_MINUTES.to_vec()),
            None => DEFAULT_LEAD_MINUTES.to_vec(),
        };
        Ok(minutes.into_iter().map(|m| m * 60).collect())
    }

    /// The notice settings for the admin's form (never the SMTP password).
    pub async fn notice_settings(&self, actor: &Actor) -> Result<NoticeSettings> {
        actor.require_admin()?;
        let stored = self.stored_smtp().await?;
        Ok(NoticeSettings {
            smtp_host: stored.host,
            smtp_port: i64::from(stored.port),
            smtp_security: stored.security,
            smtp_username: stored.username,
            smtp_password_set: !stored.sealed_password.is_empty(),
            sender: stored.sender,
            lead_minutes: self
                .notice_leads()
                .await?
                .into_iter()
                .map(|s| s / 60)
                .collect(),
        })
    }

    /// The `smtp.*` settings as stored, in one read (the password still sealed).
    async fn stored_smtp(&self) -> Result<StoredSmtp> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM settings WHERE key LIKE 'smtp.%'")
                .fetch_all(&self.db)
                .await?;
        let mut stored = StoredSmtp::default();
        for (key, value) in rows {
            match key.as_str() {
                SMTP_HOST_KEY => stored.host = value,
                SMTP_PORT_KEY => stored.port = value.parse().unwrap_or(25),
                SMTP_SECURITY_KEY => {
                    stored.security = SmtpSecurity::parse(&value).unwrap_or(SmtpSecurity::StartTls)
                }
                SMTP_USERNAME_KEY => stored.username = value,
                SMTP_PASSWORD_KEY => stored.sealed_password = value,
                SENDER_KEY => stored.sender = value,
                _ => {}
            }
        }
        Ok(stored)
    }

    /// Sets the lab's SMTP server, sender and lead times. The password is sealed; an empty one
    /// keeps the stored password, and an empty host turns email off.
    pub async fn set_notice_settings(
        &self,
        actor: &Actor,
        input: NoticeSettingsInput,
    ) -> Result<NoticeSettings> {
        actor.require_admin()?;
        let mut errors = FieldErrors::default();
        let host = input.smtp_host.trim().to_string();
        if host.len() > 253
            || host
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
        {
            errors.add("smtp_host", "must be a host name or an IP address");
        }
        let port = match input.smtp_port.trim() {
            "" => 25,
            text => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    errors.add("smtp_port", "must be a port number (1 to 65535)");
                    25
                }
            },
        };
        let security = match input.smtp_security.trim() {
            "" => SmtpSecurity::StartTls,
            text => SmtpSecurity::parse(text).unwrap_or_else(|| {
                errors.add("smtp_security", "must be none, starttls or tls");
                SmtpSecurity::StartTls
            }),
        };
        let username = validate::text(
            &mut errors,
            "smtp_username",
            &input.smtp_username,
            validate::MAX_TEXT,
            false,
        );
        let sender = input.sender.trim().to_string();
        if !sender.is_empty() && !is_email_address(&sender) {
            errors.add(
                "sender",
                "must be an email address such as baas@lab.example",
            );
        } else if sender.is_empty() && !host.is_empty() {
            errors.add("sender", "name the address notices come from");
        }
        let leads = match parse_minutes(&input.lead_minutes) {
            Ok(leads) => leads,
            Err(message) => {
                errors.add("lead_minutes", message);
                Vec::new()
            }
        };
        if input.smtp_password.len() > validate::MAX_TEXT {
            errors.add("smtp_password", "is too long");
        }
        errors.into_result()?;
        // An empty password keeps the stored one, still sealed.
        let sealed = if input.smtp_password.is_empty() {
            self.stored_smtp().await?.sealed_password
        } else {
            hex::encode(self.secrets.seal(input.smtp_password.as_bytes())?)
        };
        let leads_text = leads
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut tx = self.write().await?;
        put_setting(&mut tx, SMTP_HOST_KEY, &host).await?;
        put_setting(&mut tx, SMTP_PORT_KEY, port).await?;
        put_setting(&mut tx, SMTP_SECURITY_KEY, security).await?;
        put_setting(&mut tx, SMTP_USERNAME_KEY, &username).await?;
        put_setting(&mut tx, SMTP_PASSWORD_KEY, &sealed).await?;
        put_setting(&mut tx, SENDER_KEY, &sender).await?;
        put_setting(&mut tx, LEADS_KEY, &leads_text).await?;
        record(
            &mut tx,
            actor,
            "settings.notices",
            "settings",
            &format!(
                "smtp={host}:{port} security={security} user={username} password_set={} sender={sender} leads={leads_text}",
                !sealed.is_empty()
            ),
        )
        .await?;
        tx.commit().await?;
        self.notice_settings(actor).await
    }

    /// The SMTP server notices are sent through, unsealed; `None` when email is off.
    pub async fn smtp_access(&self) -> Result<Option<SmtpAccess>> {
        let stored = self.stored_smtp().await?;
        if stored.host.is_empty() {
            return Ok(None);
        }
        let password = if stored.sealed_password.is_empty() {
            String::new()
        } else {
            let unreadable =
                |e: String| Error::Secret(format!("stored SMTP password unreadable: {e}"));
            let sealed =
                hex::decode(&stored.sealed_password).map_err(|e| unreadable(e.to_string()))?;
            String::from_utf8(self.secrets.open(&sealed)?).map_err(|e| unreadable(e.to_string()))?
        };
        Ok(Some(SmtpAccess {
            host: stored.host,
            port: stored.port,
            security: stored.security,
            username: stored.username,
            password,
            sender: stored.sender,
        }))
    }
}

/// Lead times in minutes from "1440, 60, 10": positive, at most 30 days, longest first.
fn parse_minutes(text: &str) -> std::result::Result<Vec<i64>, String> {
    let mut minutes = Vec::new();
    for part in text.split([',', ' ', ';']).filter(|p| !p.is_empty()) {
        match part.parse::<i64>() {
            Ok(m) if (1..=30 * 24 * 60).contains(&m) => {
                if !minutes.contains(&m) {
                    minutes.push(m);
                }
            }
            _ => {
                return Err(format!(
                    "'{}' is not a number of minutes from 1 to 43200",
                    part.chars().take(20).collect::<String>()
                ))
            }
        }
    }
    if minutes.len() > 10 {
        return Err("at most 10 lead times".into());
    }
    minutes.sort_unstable_by(|a, b| b.cmp(a));
    Ok(minutes)
}
