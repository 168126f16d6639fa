//! Notices: a reservation's end is near (at the lead times the admin sets), or a machine's reset
//! failed. Each notice is kept for its user (the portal's list and banner) and, per the user's
//! preferences, queued for delivery by email and by webhook. The lab keeps the delivery log with
//! its retries; the server's notifier does the sending and reports each attempt back.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{
    format_utc, Delivery, DeliveryState, NoticeChannel, NoticeKind, NoticePreferences,
    NoticePreferencesInput, NoticeSettings, NoticeSettingsInput, SmtpSecurity,
};
use crate::settings::put_setting;
use crate::store::Flag;
use crate::{validate, Actor, Error, Lab, Result};

pub use crate::model::Notice;

const LEADS_KEY: &str = "notices.lead_minutes";
const SMTP_HOST_KEY: &str = "smtp.host";
const SMTP_PORT_KEY: &str = "smtp.port";
const SMTP_SECURITY_KEY: &str = "smtp.security";
const SMTP_USERNAME_KEY: &str = "smtp.username";
const SMTP_PASSWORD_KEY: &str = "smtp.password";
const SENDER_KEY: &str = "smtp.sender";

/// Lead times when an admin has set none: a day, an hour and ten minutes before the end.
pub const DEFAULT_LEAD_MINUTES: [i64; 3] = [24 * 60, 60, 10];

/// A delivery gives up after this many attempts.
pub const MAX_ATTEMPTS: i64 = 6;

/// How long a claimed delivery is someone's before another notifier may try it.
const CLAIM_SECONDS: i64 = 120;

/// Seconds to wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour.
pub fn backoff_seconds(attempts: i64) -> i64 {
    (30i64 << attempts.clamp(1, 8).saturating_sub(1)).min(3600)
}

/// What the notifier needs to reach the lab's SMTP server (the password unsealed).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpAccess {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: String,
    pub sender: String,
}

impl std::fmt::Debug for SmtpAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

/// The `smtp.*` settings as stored.
struct StoredSmtp {
    host: String,
    port: u16,
    security: SmtpSecurity,
    username: String,
    /// Hex of the sealed password; empty for none.
    sealed_password: String,
    sender: String,
}

impl Default for StoredSmtp {
    fn default() -> Self {
        StoredSmtp {
            host: String::new(),
            port: 25,
            security: SmtpSecurity::StartTls,
            username: String::new(),
            sealed_password: String::new(),
            sender: String::new(),
        }
    }
}

/// A delivery the notifier is to attempt now.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery_id: i64,
    pub channel: NoticeChannel,
    /// The address or URL.
    pub target: String,
    pub attempts: i64,
    pub notice: Notice,
    pub username: String,
    /// The webhook's signing key (for webhooks with a secret).
    pub webhook_secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    kind: String,
    reservation_id: Option<i64>,
    machine_id: Option<i64>,
    machine_name: Option<String>,
    end_at: i64,
    subject: String,
    body: String,
    link: String,
    created_at: i64,
    read_at: Option<i64>,
}

impl From<NoticeRow> for Notice {
    fn from(r: NoticeRow) -> Self {
        Notice {
            id: r.id,
            kind: NoticeKind::parse(&r.kind).unwrap_or(NoticeKind::Ending),
            reservation_id: r.reservation_id,
            machine_id: r.machine_id,
            machine_name: r.machine_name.unwrap_or_default(),
            end_at: r.end_at,
            subject: r.subject,
            body: r.body,
            link: r.link,
            created_at: r.created_at,
            read_at: r.read_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct PreferencesRow {
    #[sqlx(try_from = "Flag")]
    portal: bool,
    #[sqlx(try_from = "Flag")]
    email: bool,
    #[sqlx(try_from = "Flag")]
    webhook: bool,
    webhook_url: String,
    webhook_secret: Option<Vec<u8>>,
}

const SELECT_PREFERENCES: &str = "SELECT portal, email, webhook, webhook_url,
        webhook_secret
     FROM notice_preferences WHERE user_id = $1";

impl Default for PreferencesRow {
    /// A user who never chose: portal and email on.
    fn default() -> Self {
        PreferencesRow {
            portal: true,
            email: true,
            webhook: false,
            webhook_url: String::new(),
            webhook_secret: None,
        }
    }
}

/// An active reservation ending within the longest lead time.
#[derive(sqlx::FromRow)]
struct EndingRow {
    id: i64,
    user_id: i64,
    machine_id: i64,
    machine: String,
    start_at: i64,
    end_at: i64,
    /// When its holder was last sent an ending notice.
    last_told: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    notice_id: i64,
    subject: String,
    channel: String,
    target: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: String,
    sent_at: Option<i64>,
    created_at: i64,
}

const SELECT_NOTICES: &str = "SELECT n.id, n.kind, n.reservation_id, n.machine_id,
        m.name AS machine_name, n.end_at, n.subject, n.body, n.link, n.created_at, n.read_at
     FROM notices n LEFT JOIN machines m ON m.id = n.machine_id";

/// "1 day", "2 hours", "10 minutes": a lead time in words.
pub fn lead_words(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if seconds % 86_400 == 0 {
        plural(seconds / 86_400, "day")
    } else if seconds % 3600 == 0 {
        plural(seconds / 3600, "hour")
    } else {
        plural((seconds / 60).max(1), "minute")
    }
}

/// A notice about to be stored for one user, with what decides its deliveries.
pub(crate) struct NewNotice<'a> {
    pub user_id: i64,
    pub kind: NoticeKind,
    pub reservation_id: Option<i64>,
    pub machine_id: Option<i64>,
    pub lead_seconds: i64,
    pub end_at: i64,
    pub subject: &'a str,
    pub body: &'a str,
    pub link: &'a str,
}

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

    /// Raises the notices that fell due: for each active reservation that has not ended, the
    /// shortest lead time whose moment has come (after the reservation began) gets a notice,
    /// unless the holder was already told something since that moment. So a server that was
    /// down sends one notice, not every missed one, and after an extension the lead times fall
    /// due again for the new end. Returns the new notices' ids.
    pub async fn raise_due_notices(&self) -> Result<Vec<i64>> {
        let now = self.now();
        let leads = self.notice_leads().await?;
        let Some(longest) = leads.iter().copied().max() else {
            return Ok(Vec::new());
        };
        let ending: Vec<EndingRow> = sqlx::query_as(
            "SELECT r.id, r.user_id, r.machine_id, m.name AS machine, r.start_at, r.end_at,
                (SELECT MAX(n.created_at) FROM notices n
                 WHERE n.reservation_id = r.id AND n.kind = 'ending') AS last_told
             FROM reservations r JOIN machines m ON m.id = r.machine_id
             WHERE r.state = 'active' AND r.end_at > $1 AND r.end_at <= $2
             ORDER BY r.end_at",
        )
        .bind(now)
        .bind(now + longest)
        .fetch_all(&self.db)
        .await?;
        let mut raised = Vec::new();
        for EndingRow {
            id: reservation_id,
            user_id,
            machine_id,
            machine,
            start_at,
            end_at,
            last_told,
        } in ending
        {
            let due = leads
                .iter()
                .copied()
                .filter(|lead| end_at - lead <= now && end_at - lead > start_at)
                .min();
            let Some(lead) = due else { continue };
            if last_told.is_some_and(|told| told >= end_at - lead) {
                continue;
            }
            // What is left, to the minute: the lead time itself unless baas was late.
            let left = ((end_at - now + 30) / 60).max(1) * 60;
            let subject = format!("Your reservation of {machine} ends in {}", lead_words(left));
            let body = format!(
                "Your reservation #{reservation_id} of {machine} ends at {}.\n\
                 After it ends, your queued jobs on the machine are cancelled and the machine is \
                 reset or powered off.\n\
                 To keep it longer, extend the reservation from the link below while the \
                 calendar and the lab's limits allow.",
                format_utc(end_at)
            );
            let link = format!("/reservations/{reservation_id}/extend");
            let mut tx = self.write().await?;
            let id = self
                .store_notice(
                    &mut tx,
                    NewNotice {
                        user_id,
                        kind: NoticeKind::Ending,
                        reservation_id: Some(reservation_id),
                        machine_id: Some(machine_id),
                        lead_seconds: lead,
                        end_at,
                        subject: &subject,
                        body: &body,
                        link: &link,
                    },
                )
                .await?;
            tx.commit().await?;
            if let Some(id) = id {
                raised.push(id);
            }
        }
        Ok(raised)
    }

    /// Stores one notice (unless the same was stored before) and queues its deliveries by the
    /// user's preferences. Returns the new notice's id.
    pub(crate) async fn store_notice(
        &self,
        tx: &mut sqlx::AnyConnection,
        notice: NewNotice<'_>,
    ) -> Result<Option<i64>> {
        let now = self.now();
        let PreferencesRow {
            portal,
            email,
            webhook,
            webhook_url,
            ..
        } = sqlx::query_as(SELECT_PREFERENCES)
            .bind(notice.user_id)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_default();
        // Off in the portal: kept for the delivery log, but never shown as unread.
        let read_at = if portal { None } else { Some(now) };
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notices (user_id, reservation_id, machine_id, kind, lead_seconds, end_at,
                subject, body, link, created_at, read_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(notice.user_id)
        .bind(notice.reservation_id)
        .bind(notice.machine_id)
        .bind(notice.kind.as_str())
        .bind(notice.lead_seconds)
        .bind(notice.end_at)
        .bind(notice.subject)
        .bind(notice.body)
        .bind(notice.link)
        .bind(now)
        .bind(read_at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(None) };
        let address: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(notice.user_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut targets = Vec::new();
        if email && !address.is_empty() {
            targets.push((NoticeChannel::Email, address));
        }
        if webhook && !webhook_url.is_empty() {
            targets.push((NoticeChannel::Webhook, webhook_url));
        }
        for (channel, target) in targets {
            sqlx::query(
                "INSERT INTO notice_deliveries (notice_id, channel, target, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(channel.as_str())
            .bind(target)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Ok(Some(id))
    }

    /// The actor's notices, newest first (the last 200); `unread` keeps only unread ones.
    pub async fn notices(&self, actor: &Actor, unread: bool) -> Result<Vec<Notice>> {
        let Some(user_id) = actor.user_id else {
            return Ok(Vec::new());
        };
        let rows: Vec<NoticeRow> = sqlx::query_as(&format!(
            "{SELECT_NOTICES} WHERE n.user_id = $1 AND ($2 = FALSE OR n.read_at IS NULL)
             ORDER BY n.id DESC LIMIT 200"
        ))
        .bind(user_id)
        .bind(unread)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Notice::from).collect())
    }

    /// Marks one of the actor's notices (or, with `None`, all of them) as read.
    pub async fn mark_notices_read(&self, actor: &Actor, id: Option<i64>) -> Result<()> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let done = sqlx::query(
            "UPDATE notices SET read_at = $1
             WHERE user_id = $2 AND read_at IS NULL AND ($3 IS NULL OR id = $3)",
        )
        .bind(self.now())
        .bind(user_id)
        .bind(id)
        .execute(&self.db)
        .await?;
        if id.is_some() && done.rows_affected() == 0 {
            let mine: Option<i64> =
                sqlx::query_scalar("SELECT id FROM notices WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .fetch_optional(&self.db)
                    .await?;
            mine.ok_or(Error::NotFound("notice"))?;
        }
        Ok(())
    }

    /// The delivery log of the actor's notices, newest first (the last 200).
    pub async fn deliveries(&self, actor: &Actor) -> Result<Vec<Delivery>> {
        let Some(user_id) = actor.user_id else {
            return Ok(Vec::new());
        };
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.notice_id, n.subject, d.channel, d.target, d.state, d.attempts,
                    d.next_attempt_at, d.last_error, d.sent_at, d.created_at
                 FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
                 WHERE n.user_id = $1 ORDER BY d.id DESC LIMIT 200",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                id: r.id,
                notice_id: r.notice_id,
                subject: r.subject,
                channel: NoticeChannel::parse(&r.channel).unwrap_or(NoticeChannel::Email),
                target: r.target,
                state: DeliveryState::parse(&r.state).unwrap_or(DeliveryState::Failed),
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                sent_at: r.sent_at,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Claims up to `limit` deliveries that are due, for one notifier to attempt now: each is
    /// someone else's again only if no outcome came back within two minutes.
    pub async fn claim_deliveries(&self, limit: i64) -> Result<Vec<Outgoing>> {
        let now = self.now();
        let mut tx = self.write().await?;
        let due: Vec<(i64, i64, String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT d.id, d.notice_id, d.channel, d.target, d.attempts, n.user_id, u.username
             FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
                JOIN users u ON u.id = n.user_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for (delivery_id, notice_id, channel, target, attempts, user_id, username) in due {
            sqlx::query("UPDATE notice_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(now + CLAIM_SECONDS)
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?;
            let notice: NoticeRow = sqlx::query_as(&format!("{SELECT_NOTICES} WHERE n.id = $1"))
                .bind(notice_id)
                .fetch_one(&mut *tx)
                .await?;
            let channel = NoticeChannel::parse(&channel).unwrap_or(NoticeChannel::Email);
            let webhook_secret = if channel == NoticeChannel::Webhook {
                let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar(
                    "SELECT webhook_secret FROM notice_preferences WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
                match sealed.flatten() {
                    Some(sealed) => {
                        Some(String::from_utf8(self.secrets.open(&sealed)?).map_err(|e| {
                            Error::Secret(format!("webhook secret unreadable: {e}"))
                        })?)
                    }
                    None => None,
                }
            } else {
                None
            };
            claimed.push(Outgoing {
                delivery_id,
                channel,
                target,
                attempts,
                notice: notice.into(),
                username,
                webhook_secret,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records one attempt's outcome: sent, or failed with the reason — retried after a growing
    /// pause until [`MAX_ATTEMPTS`], then given up. Returns the delivery's new state.
    pub async fn record_delivery(
        &self,
        delivery_id: i64,
        outcome: std::result::Result<(), String>,
    ) -> Result<DeliveryState> {
        let now = self.now();
        let attempts: i64 =
            sqlx::query_scalar::<_, i64>("SELECT attempts FROM notice_deliveries WHERE id = $1")
                .bind(delivery_id)
                .fetch_optional(&self.db)
                .await?
                .ok_or(Error::NotFound("delivery"))?
                + 1;
        let (state, error, next) = match &outcome {
            Ok(()) => (DeliveryState::Sent, String::new(), now),
            Err(reason) if attempts >= MAX_ATTEMPTS => (DeliveryState::Failed, reason.clone(), now),
            Err(reason) => (
                DeliveryState::Pending,
                reason.clone(),
                now + backoff_seconds(attempts),
            ),
        };
        sqlx::query(
            "UPDATE notice_deliveries SET state = $1, attempts = $2, last_error = $3,
                next_attempt_at = $4, sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END
             WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(attempts)
        .bind(validate::clip(&error, validate::MAX_TEXT))
        .bind(next)
        .bind(now)
        .bind(delivery_id)
        .execute(&self.db)
        .await?;
        Ok(state)
    }

    /// Extends an own reservation (or one of a machine one manages) by `seconds` from its
    /// current end, when the calendar and the lab's limits allow; the error says why not.
    pub async fn extend_reservation(
        &self,
        actor: &Actor,
        id: i64,
        seconds: i64,
    ) -> Result<crate::model::Reservation> {
        let current = self.reservation(actor, id).await?;
        self.require_owner_or_manager(actor, &current).await?;
        if !(60..=365 * 86_400).contains(&seconds) {
            return Err(Error::invalid("by", "extend by one minute to a year"));
        }
        self.reschedule(actor, id, current.start_at, current.end_at + seconds)
            .await
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

/// A plain address: something@host.domain, no spaces or angle brackets (it goes in headers).
fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';' | '\\'))
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    text.len() <= 2000
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests;
