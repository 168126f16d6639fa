//! The notifier: raises the lab's notices as they fall due and delivers them — by email through
//! the lab's SMTP server, and by webhook as a JSON POST signed with HMAC-SHA256 — reporting
//! every attempt back to the lab, which keeps the delivery log and decides on retries.

use std::time::Duration;

use hmac::{Hmac, Mac};
use lab::model::{format_rfc3339, NoticeChannel, NoticeKind, SmtpSecurity};
use lab::notices::{Outgoing, SmtpAccess};
use lab::Lab;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sha2::Sha256;

/// The header carrying a webhook body's signature: `sha256=` and the hex HMAC-SHA256 of the
/// exact body bytes under the user's secret.
pub const SIGNATURE_HEADER: &str = "x-baas-signature-256";

/// How many deliveries one pass attempts.
const BATCH: i64 = 20;

/// One pass (every few seconds, see [`crate::duties`]): raise due notices and attempt due
/// deliveries; returns how many deliveries were attempted.
pub async fn tick(lab: &Lab, public_url: &str) -> lab::Result<usize> {
    let raised = lab.raise_due_notices().await?;
    if !raised.is_empty() {
        tracing::info!(notices = raised.len(), "notices raised");
    }
    let outgoing = lab.claim_deliveries(BATCH).await?;
    let attempted = outgoing.len();
    if attempted == 0 {
        return Ok(0);
    }
    let smtp = lab.smtp_access().await?;
    let policy = lab.egress_policy().await?;
    for delivery in outgoing {
        let outcome = match delivery.channel {
            NoticeChannel::Email => match &smtp {
                Some(smtp) => send_email(smtp, &delivery, public_url).await,
                None => Err("no SMTP server is set up in Settings".to_string()),
            },
            NoticeChannel::Webhook => send_webhook(&policy, &delivery, public_url).await,
        };
        if let Err(reason) = &outcome {
            tracing::info!(delivery = delivery.delivery_id, channel = %delivery.channel, target = %delivery.target, %reason, "notice delivery failed");
        }
        lab.record_delivery(delivery.delivery_id, outcome).await?;
    }
    Ok(attempted)
}

/// The full URL of a portal path such as a notice's link.
fn portal_url(public_url: &str, path: &str) -> String {
    format!("{}{path}", public_url.trim_end_matches('/'))
}

/// Sends one notice as a plain-text email.
async fn send_email(
    smtp: &SmtpAccess,
    delivery: &Outgoing,
    public_url: &str,
) -> Result<(), String> {
    let notice = &delivery.notice;
    let mut text = format!("Hello {},\n\n{}\n", delivery.username, notice.body);
    if !notice.link.is_empty() {
        let action = match notice.kind {
            NoticeKind::Ending => "Extend the reservation",
            NoticeKind::ResetFailed | NoticeKind::JobEnded => "The machine",
        };
        text.push_str(&format!(
            "\n{action}: {}\n",
            portal_url(public_url, &notice.link)
        ));
    }
    text.push_str(&format!(
        "\nYour notices and how you get them: {}\n-- \nbaas\n",
        portal_url(public_url, "/notices")
    ));
    let from: Mailbox = smtp
        .sender
        .parse()
        .map_err(|e| format!("the sender address in Settings is unusable: {e}"))?;
    let to: Mailbox = delivery
        .target
        .parse()
        .map_err(|e| format!("the address {} is unusable: {e}", delivery.target))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&notice.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| format!("composing the email: {e}"))?;
    let builder = match smtp.security {
        SmtpSecurity::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        }
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| format!("SMTP server {}: {e}", smtp.host))?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| format!("SMTP server {}: {e}", smtp.host))?,
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(20)));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.clone(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP server {}:{}: {e}", smtp.host, smtp.port))
}

/// What a webhook receives.
#[derive(Serialize)]
struct WebhookBody<'a> {
    /// `reservation.ending` or `machine.reset_failed`.
    event: &'static str,
    delivery_id: i64,
    notice_id: i64,
    user: &'a str,
    subject: &'a str,
    text: &'a str,
    machine: &'a str,
    machine_id: Option<i64>,
    reservation_id: Option<i64>,
    /// RFC 3339, for `reservation.ending`.
    ends_at: Option<String>,
    /// The portal page that extends the reservation (or the machine's page).
    link: Option<String>,
    /// RFC 3339: when this attempt was made (receivers may refuse stale ones).
    sent_at: String,
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts one notice to the user's webhook, through the lab's egress policy.
async fn send_webhook(
    policy: &lab::egress::EgressPolicy,
    delivery: &Outgoing,
    public_url: &str,
) -> Result<(), String> {
    use crate::egress_client::{describe, egress_client, literal_host, refusal};
    let notice = &delivery.notice;
    let url = reqwest::Url::parse(&delivery.target)
        .map_err(|e| format!("the webhook URL is unusable: {e}"))?;
    if let Some(ip) = literal_host(&url) {
        policy.check(ip)?;
    }
    let body = WebhookBody {
        event: match notice.kind {
            NoticeKind::Ending => "reservation.ending",
            NoticeKind::ResetFailed => "machine.reset_failed",
            NoticeKind::JobEnded => "job.ended",
        },
        delivery_id: delivery.delivery_id,
        notice_id: notice.id,
        user: &delivery.username,
        subject: &notice.subject,
        text: &notice.body,
        machine: &notice.machine_name,
        machine_id: notice.machine_id,
        reservation_id: notice.reservation_id,
        ends_at: (notice.end_at > 0).then(|| format_rfc3339(notice.end_at)),
        link: (!notice.link.is_empty()).then(|| portal_url(public_url, &notice.link)),
        sent_at: format_rfc3339(lab::now()),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let mut request = egress_client(policy.clone())?
        .post(url)
        .timeout(Duration::from_secs(15))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-baas-event", body.event)
        .header("x-baas-delivery", delivery.delivery_id.to_string());
    if let Some(secret) = &delivery.webhook_secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, &bytes));
    }
    let response = request
        .body(bytes)
        .send()
        .await
        .map_err(|e| match refusal(&e) {
            Some(reason) => reason,
            None => describe(&e),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let said: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect();
    Err(format!("the webhook answered {status}: {}", said.trim()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hex_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
