use crate::boot::BootPlan;
use crate::images::tests::{new_upload, upload_whole};
use crate::jobs::tests::{agent_writes, boot_plan_of, lab_with_clock, netboot_as, raw_disk};
use crate::jobs::JobEvent;
use crate::model::{
    JobKind, JobState, Level, MachineInput, MachineState, NewUser, NoticeKind,
    NoticePreferencesInput, Subject,
};
use crate::testing::{admin, machine_input, user};
use crate::{Actor, Error, Lab};

const MAC: &str = "52:54:00:00:02:01";
const ADDRESS: &str = "10.0.0.21";
const HOUR: i64 = 3600;

/// A machine with a BMC that alice may use and holds for the next hour, and a raw image of
/// hers; returns (machine, image, alice, the image's bytes).
async fn alice_holds_a_bmc_machine(lab: &Lab) -> (i64, i64, Actor, Vec<u8>) {
    let machine = lab
        .create_machine(
            &admin(),
            MachineInput {
                bmc_kind: "ipmi".into(),
                bmc_address: "127.0.0.1:9623".into(),
                ..machine_input("node-r", MAC)
            },
        )
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
    let now = lab.now();
    lab.reserve(&alice, machine.id, now - 60, now + HOUR, "")
        .await
        .unwrap();
    let raw = raw_disk(1 << 20);
    let image = upload_whole(lab, &alice, new_upload("golden", Some(raw.len())), &raw)
        .await
        .unwrap();
    (machine.id, image, alice, raw)
}

/// The reset job's management OS writes the image and the machine boots its disk.
async fn agent_resets(lab: &Lab, raw: &[u8]) {
    let token = netboot_as(lab, MAC, ADDRESS).await;
    agent_writes(lab, &token, MAC, "reset-key", ADDRESS, raw).await;
    let plan = boot_plan_of(lab, MAC, ADDRESS).await;
    assert!(matches!(plan, BootPlan::LocalDisk { .. }), "{plan:?}");
}

#[tokio::test]
async fn after_a_reservation_the_machine_is_reset_unbookable_meanwhile_and_free_once_booted() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, alice, raw) = alice_holds_a_bmc_machine(&lab).await;
    let policy = lab
        .set_reset_policy(&admin(), machine, Some(image), false)
        .await
        .unwrap();
    assert_eq!(policy.effective_image.as_ref().map(|i| i.id), Some(image));

    clock.advance(HOUR);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends.len(), 1);
    let job_id = ends[0].reset_job.expect("a reset job");
    assert!(!ends[0].power_off, "the reset powers the machine itself");
    let resetting = lab.machine(&admin(), machine).await.unwrap();
    assert_eq!(resetting.state, MachineState::Resetting);
    assert!(
        resetting.state_reason.contains("golden v1"),
        "{}",
        resetting.state_reason
    );
    let job = lab.job(&admin(), job_id).await.unwrap();
    assert_eq!(
        (
            job.kind,
            job.state,
            job.requested_by.as_deref(),
            job.save_as.as_str()
        ),
        (JobKind::Deploy, JobState::Queued, None, "")
    );
    let now = lab.now();
    let refused = lab
        .reserve(&alice, machine, now, now + HOUR, "")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Conflict(m) if m.contains("resetting")),
        "{refused:?}"
    );

    lab.job_event(job_id, JobEvent::Powered, "power cycle")
        .await
        .unwrap();
    agent_resets(&lab, &raw).await;
    assert_eq!(
        lab.job(&admin(), job_id).await.unwrap().state,
        JobState::Booting
    );
    lab.job_event(
        job_id,
        JobEvent::Observed(crate::jobs::Observation::Up),
        "up",
    )
    .await
    .unwrap();
    assert_eq!(
        lab.job(&admin(), job_id).await.unwrap().state,
        JobState::Booted
    );
    let free = lab.machine(&admin(), machine).await.unwrap();
    assert_eq!(
        (free.state, free.state_reason.as_str()),
        (MachineState::Available, "")
    );
    lab.reserve(&alice, machine, now, now + HOUR, "")
        .await
        .expect("bookable again");
}

#[tokio::test]
async fn a_failed_reset_puts_the_machine_in_maintenance_with_the_reason_and_tells_the_admins() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, _alice, _) = alice_holds_a_bmc_machine(&lab).await;
    let root = lab
        .create_user(
            &admin(),
            NewUser {
                username: "root".into(),
                display_name: "Root".into(),
                password: "password123".into(),
                is_admin: true,
            },
        )
        .await
        .unwrap();
    let root = Actor::user(root.id, "root", true, "127.0.0.1");
    lab.set_notice_preferences(
        &root,
        NoticePreferencesInput {
            email_address: "root@lab.example".into(),
            portal: true,
            email: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // No own image: the lab's default applies.
    lab.set_default_reset_image(&admin(), Some(image))
        .await
        .unwrap();
    clock.advance(HOUR);
    let job_id = lab.wrap_up_reservations().await.unwrap()[0]
        .reset_job
        .expect("the lab's default image resets it");
    lab.job_event(job_id, JobEvent::ScriptServed, "management OS served")
        .await
        .unwrap();
    let netbooting = JobEvent::Timeout {
        phase: JobState::Netbooting,
    };
    lab.job_event(job_id, netbooting, "no agent enrolled within 10 min")
        .await
        .unwrap();

    let machine = lab.machine(&admin(), machine).await.unwrap();
    assert_eq!(machine.state, MachineState::Maintenance);
    assert!(
        machine
            .state_reason
            .contains("no agent enrolled within 10 min"),
        "{}",
        machine.state_reason
    );
    let notices = lab.notices(&root, true).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::ResetFailed);
    assert_eq!(
        notices[0].subject,
        "node-r is in maintenance: its reset failed"
    );
    assert!(notices[0].body.contains(&format!("job {job_id}")));
    let outgoing = lab.claim_deliveries(10).await.unwrap();
    assert_eq!(outgoing.len(), 1);
    assert_eq!(outgoing[0].target, "root@lab.example");

    // Back in service by hand: the reason goes with the state.
    let mut edit = machine_input("node-r", MAC);
    edit.bmc_kind = "ipmi".into();
    edit.bmc_address = "127.0.0.1:9623".into();
    let available = lab
        .update_machine(&admin(), machine.id, edit)
        .await
        .unwrap();
    assert_eq!(
        (available.state, available.state_reason.as_str()),
        (MachineState::Available, "")
    );
}

#[tokio::test]
async fn a_reset_can_save_the_holders_disk_first_in_their_name() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, alice, _) = alice_holds_a_bmc_machine(&lab).await;
    lab.set_reset_policy(&admin(), machine, Some(image), true)
        .await
        .unwrap();
    clock.advance(HOUR);
    let job_id = lab.wrap_up_reservations().await.unwrap()[0]
        .reset_job
        .unwrap();
    let job = lab.job(&alice, job_id).await.unwrap();
    assert_eq!(job.save_as, "node-r-before-reset");
    assert_eq!(job.requested_by.as_deref(), Some("alice"));
}

#[tokio::test]
async fn no_reset_without_an_image_a_bmc_or_an_available_machine_and_policy_needs_manage() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, alice, _) = alice_holds_a_bmc_machine(&lab).await;
    assert!(matches!(
        lab.set_reset_policy(&alice, machine, Some(image), false)
            .await,
        Err(Error::Forbidden)
    ));
    assert!(matches!(
        lab.set_default_reset_image(&alice, Some(image)).await,
        Err(Error::Forbidden)
    ));
    let unknown = lab
        .set_reset_policy(&admin(), machine, Some(9_999), false)
        .await
        .unwrap_err();
    assert_eq!(unknown.field_errors()[0].field, "image");
    let policy = lab.reset_policy(&alice, machine).await.unwrap();
    assert!(policy.effective_image.is_none());

    // No image anywhere: powered off as before.
    clock.advance(HOUR);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert!(ends[0].reset_job.is_none() && ends[0].power_off);

    // A machine without a BMC is not reset (nothing could power it for the job).
    let plain = lab
        .create_machine(&admin(), machine_input("node-plain", "52:54:00:00:02:02"))
        .await
        .unwrap();
    lab.grant(
        &admin(),
        plain.id,
        Subject::User(alice.user_id.unwrap()),
        Level::Use,
    )
    .await
    .unwrap();
    lab.set_reset_policy(&admin(), plain.id, Some(image), false)
        .await
        .unwrap();
    let now = lab.now();
    lab.reserve(&alice, plain.id, now, now + HOUR, "")
        .await
        .unwrap();
    clock.advance(HOUR);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert!(ends[0].reset_job.is_none() && !ends[0].power_off);

    // A form cannot put a machine in "resetting".
    let mut edit = machine_input("node-plain", "52:54:00:00:02:02");
    edit.state = "resetting".into();
    let refused = lab
        .update_machine(&admin(), plain.id, edit)
        .await
        .unwrap_err();
    assert_eq!(refused.field_errors()[0].field, "state");
}

/// baas was down when the reservation ended: found more than an hour late, the end starts no
/// reset (the machine may have been in use by someone since) and leaves the machine bookable.
#[tokio::test]
async fn an_end_found_more_than_an_hour_late_starts_no_reset() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, _alice, _raw) = alice_holds_a_bmc_machine(&lab).await;
    lab.set_reset_policy(&admin(), machine, Some(image), false)
        .await
        .unwrap();
    clock.advance(HOUR + crate::ACT_ON_ENDS_WITHIN_SECONDS + 1);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reset_job, None);
    assert!(!ends[0].power_off);
    let machine = lab.machine(&admin(), machine).await.unwrap();
    assert_eq!(machine.state, MachineState::Available);
}
