//! Notices: a reservation's end is near (at the lead times the admin sets), or a machine's reset
//! failed. Each notice is kept for its user (the portal's list and banner) and, per the user's
//! preferences, queued for delivery by email and by webhook. The lab keeps the delivery log with
//! its retries; the conductor's notifier does the sending and reports each attempt back.
//!
//! Here: raising notices and the user's list. `settings` (SMTP, lead times), `preferences`
//! (how each user is reached) and `outbox` (the delivery log) hold the rest; extending the
//! reservation a notice is about is the reservations' business.

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

// The flags are compared, not named: SQLite declares them BOOLEAN (see `store::Flag`).
const SELECT_PREFERENCES: &str = "SELECT (portal = TRUE) AS portal, (email = TRUE) AS email,
        (webhook = TRUE) AS webhook, webhook_url,
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

mod outbox;
mod preferences;
mod settings;

#[cfg(test)]
mod tests;
