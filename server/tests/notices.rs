//! Notices leave baas for real receivers: email through a real SMTP server (Debian's
//! python3-aiosmtpd, with a login) and webhooks to an HTTP receiver that checks the HMAC
//! signature; failed attempts are retried after their pause and the delivery log shows it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use common::process::{have, Killed, LogLines};
use common::TestServer;
use hmac::{Hmac, Mac};
use lab::model::{
    DeliveryState, Level, NoticeChannel, NoticePreferencesInput, NoticeSettingsInput, Subject,
};
use lab::{Actor, Clock};
use sha2::Sha256;

const PUBLIC_URL: &str = "http://baas.lab.example";
const WEBHOOK_SECRET: &str = "hook-secret-1";

/// A real SMTP server on loopback that takes mail from `baas`/`mail-pass-1` into `out`.
fn smtp_sink(out: &std::path::Path) -> Option<(Killed, u16)> {
    if !std::path::Path::new("/usr/bin/python3").exists()
        || !common::process::sh("/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null")
    {
        common::process::skipped("python3-aiosmtpd is not installed (./dev test installs it)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/smtp_sink.py");
    let child = std::process::Command::new("/usr/bin/python3")
        .args([
            script,
            &port.to_string(),
            out.to_str().unwrap(),
            "baas",
            "mail-pass-1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let lines = LogLines::follow(child.0.stdout.take().unwrap());
    lines
        .wait_for("ready", Duration::from_secs(20))
        .expect("the SMTP server started");
    Some((child, port))
}

/// What the webhook receiver saw: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// An HTTP receiver that answers 503 to its first request and 204 after.
async fn webhook_receiver() -> (Received, u16) {
    let received: Received = Default::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body.to_vec()));
                if seen.len() == 1 {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy, try later")
                } else {
                    (StatusCode::NO_CONTENT, "")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, port)
}

fn mails(out: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_reaches_a_real_smtp_server_and_a_signed_webhook_that_is_retried() {
    if !have("python3") {
        return;
    }
    let mail_dir = tempfile::tempdir().unwrap();
    let Some((_smtp, smtp_port)) = smtp_sink(mail_dir.path()) else {
        return;
    };
    let (received, hook_port) = webhook_receiver().await;
    let server = TestServer::start().await;
    let clock = Clock::manual(lab::now());
    let lab = server.lab.clone().with_clock(clock.clone());
    let shell = Actor::shell();

    lab.set_notice_settings(
        &shell,
        NoticeSettingsInput {
            smtp_host: "127.0.0.1".into(),
            smtp_port: smtp_port.to_string(),
            smtp_security: "none".into(),
            smtp_username: "baas".into(),
            smtp_password: "mail-pass-1".into(),
            sender: "baas@lab.example".into(),
            lead_minutes: "60, 10".into(),
        },
    )
    .await
    .unwrap();
    // Webhooks go through the egress policy like imports: loopback only when allowed.
    lab.set_import_networks(&shell, "127.0.0.0/8")
        .await
        .unwrap();
    let machine = server.add_machine("node7", "52:54:00:00:07:07", None).await;
    let alice_id = server.add_user("alice").await;
    let alice = Actor::user(alice_id, "alice", false, "127.0.0.1");
    lab.grant(&shell, machine, Subject::User(alice_id), Level::Use)
        .await
        .unwrap();
    lab.set_notice_preferences(
        &alice,
        NoticePreferencesInput {
            email_address: "alice@lab.example".into(),
            portal: true,
            email: true,
            webhook: true,
            webhook_url: format!("http://127.0.0.1:{hook_port}/hook"),
            webhook_secret: WEBHOOK_SECRET.into(),
        },
    )
    .await
    .unwrap();
    let now = lab.now();
    let reservation = lab
        .reserve(&alice, machine, now, now + 3600, "")
        .await
        .unwrap();

    assert_eq!(
        conductor::notifier::tick(&lab, PUBLIC_URL).await.unwrap(),
        0
    );
    clock.advance(3000); // ten minutes left
    assert_eq!(
        conductor::notifier::tick(&lab, PUBLIC_URL).await.unwrap(),
        2
    );

    // The email, as the SMTP server received it after baas logged in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails(mail_dir.path()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = mails(mail_dir.path()).pop().expect("the email arrived");
    assert!(mail.contains("X-Sink-Login: baas"), "{mail}");
    assert!(mail.contains("X-Sink-Rcpt: alice@lab.example"), "{mail}");
    assert!(mail.contains("From: baas@lab.example"), "{mail}");
    assert!(
        mail.contains("Subject: Your reservation of node7 ends in 10 minutes"),
        "{mail}"
    );
    let link = format!("{PUBLIC_URL}/reservations/{}/extend", reservation.id);
    assert!(
        mail.contains(&link),
        "the email carries the extension link: {mail}"
    );

    // The webhook: answered 503 the first time, so the delivery waits for its retry.
    let first = received.lock().unwrap().clone();
    assert_eq!(first.len(), 1);
    let (headers, body) = &first[0];
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-baas-signature-256"].to_str().unwrap(), expected);
    assert_eq!(headers["x-baas-event"], "reservation.ending");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["user"], "alice");
    assert_eq!(json["machine"], "node7");
    assert_eq!(json["reservation_id"], reservation.id);
    assert_eq!(json["link"], link.as_str());

    let log = lab.deliveries(&alice).await.unwrap();
    let hook = log
        .iter()
        .find(|d| d.channel == NoticeChannel::Webhook)
        .unwrap();
    assert_eq!((hook.state, hook.attempts), (DeliveryState::Pending, 1));
    assert!(hook.last_error.contains("503"), "{}", hook.last_error);
    assert!(hook.last_error.contains("busy, try later"));
    let email = log
        .iter()
        .find(|d| d.channel == NoticeChannel::Email)
        .unwrap();
    assert_eq!(email.state, DeliveryState::Sent);

    assert_eq!(
        conductor::notifier::tick(&lab, PUBLIC_URL).await.unwrap(),
        0,
        "not before the pause"
    );
    clock.advance(30);
    assert_eq!(
        conductor::notifier::tick(&lab, PUBLIC_URL).await.unwrap(),
        1
    );
    assert_eq!(received.lock().unwrap().len(), 2);
    let hook = lab
        .deliveries(&alice)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.channel == NoticeChannel::Webhook)
        .unwrap();
    assert_eq!((hook.state, hook.attempts), (DeliveryState::Sent, 2));

    // Without loopback allowed, the webhook is refused before any connection is made.
    lab.set_import_networks(&shell, "").await.unwrap();
    let bob_id = server.add_user("bob").await;
    let bob = Actor::user(bob_id, "bob", false, "127.0.0.1");
    lab.grant(&shell, machine, Subject::User(bob_id), Level::Use)
        .await
        .unwrap();
    lab.set_notice_preferences(
        &bob,
        NoticePreferencesInput {
            portal: true,
            webhook: true,
            webhook_url: format!("http://127.0.0.1:{hook_port}/hook"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = lab.now();
    lab.reserve(&bob, machine, now + 1200, now + 2100, "")
        .await
        .unwrap();
    clock.advance(1500);
    assert_eq!(
        conductor::notifier::tick(&lab, PUBLIC_URL).await.unwrap(),
        1
    );
    let refused = &lab.deliveries(&bob).await.unwrap()[0];
    assert_eq!(refused.state, DeliveryState::Pending);
    assert!(
        refused.last_error.contains("loopback"),
        "{}",
        refused.last_error
    );
    assert_eq!(received.lock().unwrap().len(), 2, "nothing was sent");
}
