use crate::jobs::tests::lab_with_clock;
use crate::model::{
    DeliveryState, Level, NoticeChannel, NoticeKind, NoticePreferencesInput, NoticeSettingsInput,
    Subject,
};
use crate::testing::{admin, machine_input, user};
use crate::{Actor, Error, Lab};

const HOUR: i64 = 3600;

/// A machine alice may use; returns (machine id, alice).
async fn alice_may_use_a_machine(lab: &Lab) -> (i64, Actor) {
    let machine = lab
        .create_machine(&admin(), machine_input("node1", "52:54:00:00:01:01"))
        .await
        .unwrap();
    let alice = user(lab, "alice").await;
    lab.grant(
        &admin(),
        machine.id,
        Subject::User(alice.user_id.unwrap()),
        Level::Use,
    )
    .await
    .unwrap();
    (machine.id, alice)
}

fn wants_email_and_webhook() -> NoticePreferencesInput {
    NoticePreferencesInput {
        email_address: "alice@lab.example".into(),
        portal: true,
        email: true,
        webhook: true,
        webhook_url: "https://hooks.lab.example/baas".into(),
        webhook_secret: "s3cret-key".into(),
    }
}

#[tokio::test]
async fn each_lead_time_gives_one_notice_per_end_and_an_extension_makes_them_due_again() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, alice) = alice_may_use_a_machine(&lab).await;
    let now = lab.now();
    let reservation = lab
        .reserve(&alice, machine, now, now + 48 * HOUR, "")
        .await
        .unwrap();
    assert!(lab.raise_due_notices().await.unwrap().is_empty());

    clock.advance(24 * HOUR);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);
    assert!(
        lab.raise_due_notices().await.unwrap().is_empty(),
        "a notice is raised once"
    );
    clock.advance(23 * HOUR);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);

    let notices = lab.notices(&alice, true).await.unwrap();
    let subjects: Vec<&str> = notices.iter().map(|n| n.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Your reservation of node1 ends in 1 hour",
            "Your reservation of node1 ends in 1 day"
        ]
    );
    let latest = &notices[0];
    assert_eq!(latest.kind, NoticeKind::Ending);
    assert_eq!(latest.reservation_id, Some(reservation.id));
    assert_eq!(latest.machine_name, "node1");
    assert_eq!(
        latest.link,
        format!("/reservations/{}/extend", reservation.id)
    );
    assert!(latest.body.contains("ends at"), "{}", latest.body);

    // From the notice's link: two more hours. The one-hour notice falls due again for the new
    // end, and not before.
    let extended = lab
        .extend_reservation(&alice, reservation.id, 2 * HOUR)
        .await
        .unwrap();
    assert_eq!(extended.end_at, reservation.end_at + 2 * HOUR);
    assert!(lab.raise_due_notices().await.unwrap().is_empty());
    clock.advance(2 * HOUR);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);
    clock.advance(50 * 60);
    let last = lab.raise_due_notices().await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(
        lab.notices(&alice, false).await.unwrap()[0].subject,
        "Your reservation of node1 ends in 10 minutes"
    );

    lab.mark_notices_read(&alice, Some(last[0])).await.unwrap();
    assert_eq!(lab.notices(&alice, true).await.unwrap().len(), 3);
    lab.mark_notices_read(&alice, None).await.unwrap();
    assert!(lab.notices(&alice, true).await.unwrap().is_empty());
    let bob = user(&lab, "bob").await;
    assert!(lab.notices(&bob, false).await.unwrap().is_empty());
    assert!(matches!(
        lab.mark_notices_read(&bob, Some(last[0])).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn after_downtime_only_the_nearest_notice_goes_out_and_short_reservations_skip_long_leads() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, alice) = alice_may_use_a_machine(&lab).await;
    let now = lab.now();
    lab.reserve(&alice, machine, now, now + 30 * HOUR, "")
        .await
        .unwrap();
    let short = lab
        .reserve(&alice, machine, now + 40 * HOUR, now + 40 * HOUR + 1800, "")
        .await
        .unwrap();
    // baas was down from the start until five minutes before the end.
    clock.advance(30 * HOUR - 300);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);
    assert_eq!(
        lab.notices(&alice, false).await.unwrap()[0].subject,
        "Your reservation of node1 ends in 5 minutes",
        "the notice tells the time actually left"
    );
    assert!(lab.raise_due_notices().await.unwrap().is_empty());

    // Thirty minutes long: its day and hour notices would come before it begins.
    clock.advance(10 * HOUR + 300);
    assert!(lab.raise_due_notices().await.unwrap().is_empty());
    clock.advance(20 * 60);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);
    let notice = &lab.notices(&alice, false).await.unwrap()[0];
    assert_eq!(notice.reservation_id, Some(short.id));
    assert!(notice.subject.ends_with("10 minutes"));
}

#[tokio::test]
async fn an_extension_says_why_not_when_the_calendar_or_limits_refuse() {
    let (lab, _clock, _dir) = lab_with_clock().await;
    let (machine, alice) = alice_may_use_a_machine(&lab).await;
    let bob = user(&lab, "bob").await;
    lab.grant(
        &admin(),
        machine,
        Subject::User(bob.user_id.unwrap()),
        Level::Use,
    )
    .await
    .unwrap();
    let now = lab.now();
    let mine = lab
        .reserve(&alice, machine, now, now + HOUR, "")
        .await
        .unwrap();
    lab.reserve(&bob, machine, now + 2 * HOUR, now + 3 * HOUR, "")
        .await
        .unwrap();

    let taken = lab
        .extend_reservation(&alice, mine.id, 2 * HOUR)
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, Error::Conflict(m) if m.contains("bob")),
        "{taken:?}"
    );
    let too_long = lab
        .extend_reservation(&alice, mine.id, 100 * HOUR)
        .await
        .unwrap_err();
    assert_eq!(too_long.field_errors()[0].field, "end", "{too_long:?}");
    let nonsense = lab
        .extend_reservation(&alice, mine.id, 5)
        .await
        .unwrap_err();
    assert_eq!(nonsense.field_errors()[0].field, "by");
    assert!(matches!(
        lab.extend_reservation(&bob, mine.id, HOUR).await,
        Err(Error::Forbidden)
    ));
    let fits = lab.extend_reservation(&alice, mine.id, HOUR).await.unwrap();
    assert_eq!(fits.end_at, now + 2 * HOUR);
}

#[tokio::test]
async fn deliveries_follow_the_preferences_retry_with_backoff_and_give_up_in_the_log() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, alice) = alice_may_use_a_machine(&lab).await;
    let saved = lab
        .set_notice_preferences(&alice, wants_email_and_webhook())
        .await
        .unwrap();
    assert!(saved.webhook_secret_set);
    let now = lab.now();
    lab.reserve(&alice, machine, now, now + HOUR, "")
        .await
        .unwrap();
    clock.advance(HOUR - 600);
    lab.raise_due_notices().await.unwrap();

    let mut outgoing = lab.claim_deliveries(10).await.unwrap();
    outgoing.sort_by_key(|o| o.channel.as_str());
    assert_eq!(outgoing.len(), 2);
    let (email, webhook) = (&outgoing[0], &outgoing[1]);
    assert_eq!(
        (
            email.channel,
            email.target.as_str(),
            email.webhook_secret.as_deref()
        ),
        (NoticeChannel::Email, "alice@lab.example", None)
    );
    assert_eq!(
        (
            webhook.channel,
            webhook.target.as_str(),
            webhook.webhook_secret.as_deref()
        ),
        (
            NoticeChannel::Webhook,
            "https://hooks.lab.example/baas",
            Some("s3cret-key")
        )
    );
    assert_eq!(webhook.username, "alice");
    assert!(
        lab.claim_deliveries(10).await.unwrap().is_empty(),
        "claimed deliveries are not handed out twice"
    );

    assert_eq!(
        lab.record_delivery(email.delivery_id, Ok(()))
            .await
            .unwrap(),
        DeliveryState::Sent
    );
    let mut waits = Vec::new();
    for attempt in 1..=super::MAX_ATTEMPTS {
        let state = lab
            .record_delivery(
                webhook.delivery_id,
                Err(format!("HTTP 503 (attempt {attempt})")),
            )
            .await
            .unwrap();
        let log = lab.deliveries(&alice).await.unwrap();
        let entry = log.iter().find(|d| d.id == webhook.delivery_id).unwrap();
        if attempt < super::MAX_ATTEMPTS {
            assert_eq!(state, DeliveryState::Pending);
            waits.push(entry.next_attempt_at - lab.now());
            assert!(
                lab.claim_deliveries(10).await.unwrap().is_empty(),
                "not before its time"
            );
            clock.advance(entry.next_attempt_at - lab.now());
            assert_eq!(lab.claim_deliveries(10).await.unwrap().len(), 1);
        } else {
            assert_eq!(state, DeliveryState::Failed);
            assert_eq!(entry.attempts, super::MAX_ATTEMPTS);
            assert_eq!(entry.last_error, format!("HTTP 503 (attempt {attempt})"));
        }
    }
    assert_eq!(waits, [30, 60, 120, 240, 480]);
    let log = lab.deliveries(&alice).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .any(|d| d.state == DeliveryState::Sent && d.sent_at.is_some()));
    let bob = user(&lab, "bob").await;
    assert!(lab.deliveries(&bob).await.unwrap().is_empty());
}

#[tokio::test]
async fn preferences_name_bad_fields_keep_the_secret_sealed_and_portal_off_means_read() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, alice) = alice_may_use_a_machine(&lab).await;
    let fresh = lab.notice_preferences(&alice).await.unwrap();
    assert!(fresh.portal && fresh.email && !fresh.webhook);

    let bad = lab
        .set_notice_preferences(
            &alice,
            NoticePreferencesInput {
                email_address: "not an address".into(),
                webhook: true,
                webhook_url: "ftp://x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let fields: Vec<&str> = bad
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, ["email_address", "webhook_url"]);
    let no_url = lab
        .set_notice_preferences(
            &alice,
            NoticePreferencesInput {
                webhook: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(no_url.field_errors()[0].field, "webhook_url");

    lab.set_notice_preferences(&alice, wants_email_and_webhook())
        .await
        .unwrap();
    let kept = lab
        .set_notice_preferences(
            &alice,
            NoticePreferencesInput {
                portal: false,
                webhook_secret: String::new(),
                ..wants_email_and_webhook()
            },
        )
        .await
        .unwrap();
    assert!(
        kept.webhook_secret_set,
        "an empty secret keeps the stored one"
    );
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT webhook_secret FROM notice_preferences WHERE user_id = $1")
            .bind(alice.user_id)
            .fetch_one(&lab.db)
            .await
            .unwrap();
    assert!(
        !stored.windows(10).any(|w| w == b"s3cret-key"),
        "sealed at rest"
    );

    let now = lab.now();
    lab.reserve(&alice, machine, now, now + HOUR, "")
        .await
        .unwrap();
    clock.advance(HOUR - 300);
    assert_eq!(lab.raise_due_notices().await.unwrap().len(), 1);
    assert!(
        lab.notices(&alice, true).await.unwrap().is_empty(),
        "portal notices off: nothing unread"
    );
    assert_eq!(lab.notices(&alice, false).await.unwrap().len(), 1);
    assert!(lab.notice_preferences(&Actor::shell()).await.is_err());
}

#[tokio::test]
async fn the_smtp_password_is_sealed_and_settings_name_bad_fields() {
    let (lab, _clock, _dir) = lab_with_clock().await;
    assert!(
        lab.smtp_access().await.unwrap().is_none(),
        "email is off until set"
    );
    let input = NoticeSettingsInput {
        smtp_host: "mail.lab.example".into(),
        smtp_port: "587".into(),
        smtp_security: "starttls".into(),
        smtp_username: "baas".into(),
        smtp_password: "mail-pass-123".into(),
        sender: "baas@lab.example".into(),
        lead_minutes: "10, 120 60".into(),
    };
    let alice = user(&lab, "alice").await;
    assert!(matches!(
        lab.set_notice_settings(&alice, input.clone()).await,
        Err(Error::Forbidden)
    ));
    let shown = lab
        .set_notice_settings(&admin(), input.clone())
        .await
        .unwrap();
    assert!(shown.smtp_password_set);
    assert_eq!(shown.lead_minutes, [120, 60, 10]);
    assert_eq!(lab.notice_leads().await.unwrap(), [7200, 3600, 600]);
    let access = lab.smtp_access().await.unwrap().unwrap();
    assert_eq!(
        (access.host.as_str(), access.port, access.password.as_str()),
        ("mail.lab.example", 587, "mail-pass-123")
    );
    assert!(!format!("{access:?}").contains("mail-pass-123"));
    let stored: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'smtp.password'")
            .fetch_one(&lab.db)
            .await
            .unwrap();
    assert!(!stored.contains("mail-pass-123") && !stored.is_empty());

    // An empty password keeps the stored one.
    lab.set_notice_settings(
        &admin(),
        NoticeSettingsInput {
            smtp_password: String::new(),
            ..input.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        lab.smtp_access().await.unwrap().unwrap().password,
        "mail-pass-123"
    );

    let bad = lab
        .set_notice_settings(
            &admin(),
            NoticeSettingsInput {
                smtp_host: "mail lab".into(),
                smtp_port: "70000".into(),
                smtp_security: "ssl3".into(),
                sender: "nobody".into(),
                lead_minutes: "60, soon".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let fields: Vec<&str> = bad
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "sender",
            "lead_minutes"
        ]
    );
}

#[test]
fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
    let waits: Vec<i64> = (1..=9).map(super::backoff_seconds).collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(super::lead_words(86_400), "1 day");
    assert_eq!(super::lead_words(7200), "2 hours");
    assert_eq!(super::lead_words(600), "10 minutes");
}
