use sha2::{Digest, Sha256};

use super::{JobEvent, JobRequest};
use crate::agent_protocol::{AgentPhase, Outcome, Progress};
use crate::boot::{BootPlan, BootRequest};
use crate::images::tests::{new_upload, upload_whole};
use crate::model::{JobKind, JobState, Level, NewUpload, Subject};
use crate::testing::{admin, lab, machine_input, user};
use crate::{Actor, Error, Lab};

const MAC: &str = "52:54:00:00:00:01";
const ADDRESS: &str = "10.0.0.7";

/// A raw disk image: an MBR signature is all the library's probe needs.
pub(crate) fn raw_disk(len: usize) -> Vec<u8> {
    let mut disk: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk
}

fn deploy(machine_id: i64, image_id: i64) -> JobRequest {
    JobRequest {
        machine_id,
        kind: JobKind::Deploy,
        image_id: Some(image_id),
        save_as: String::new(),
        at: None,
    }
}

/// A machine alice may use, reserved by her for the next hour, and her zstd-compressed raw
/// image; returns (machine, image, alice, the raw bytes).
async fn alice_holds_a_machine(lab: &Lab) -> (i64, i64, Actor, Vec<u8>) {
    let machine = lab
        .create_machine(&admin(), machine_input("node1", MAC))
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
    lab.reserve(&alice, machine.id, now - 60, now + 3600, "")
        .await
        .unwrap();
    let raw = raw_disk(2 << 20);
    let compressed = zstd::encode_all(&raw[..], 3).unwrap();
    let image = upload_whole(
        lab,
        &alice,
        new_upload("debian", Some(compressed.len())),
        &compressed,
    )
    .await
    .unwrap();
    (machine.id, image, alice, raw)
}

/// The machine network-boots from its DHCP address; returns the enrolment token it got.
async fn netboot(lab: &Lab) -> String {
    netboot_as(lab, MAC, ADDRESS).await
}

/// The management OS's whole work on a deploy, as the agent reports it: enrols with `token`,
/// reports writing, then a verified write of `raw`. Returns the job as the result left it.
pub(crate) async fn agent_writes(
    lab: &Lab,
    token: &str,
    mac: &str,
    key: &str,
    address: &str,
    raw: &[u8],
) -> crate::model::Job {
    let agent = lab.enrol_agent(token, mac, key, address).await.unwrap();
    lab.agent_progress(&agent, &Progress::new(AgentPhase::Writing))
        .await
        .unwrap();
    lab.agent_result(
        &agent,
        &Outcome {
            ok: true,
            written_sha256: sha256(raw),
            disk: "/dev/vda".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// What the machine with `mac` is told when it network-boots from `address` (where DHCP saw it).
pub(crate) async fn boot_plan_of(lab: &Lab, mac: &str, address: &str) -> BootPlan {
    lab.boot_plan(&BootRequest {
        mac: mac.into(),
        address: address.into(),
        dhcp_address: Some(address.into()),
        management_os: crate::boot::ManagementOsBuilds::X86_64,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The machine with `mac` network-boots from `address` (where DHCP saw it); returns the
/// enrolment token its management OS got.
pub(crate) async fn netboot_as(lab: &Lab, mac: &str, address: &str) -> String {
    let plan = boot_plan_of(lab, mac, address).await;
    match plan {
        BootPlan::ManagementOs {
            enrolment_token, ..
        } => enrolment_token,
        other => panic!("expected the management OS, got {other:?}"),
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn a_job_needs_the_reservation_a_visible_raw_image_and_no_other_active_job() {
    let (lab, _dir) = lab().await;
    let (machine, image, alice, _) = alice_holds_a_machine(&lab).await;
    let bob = user(&lab, "bob").await;

    // Bob may not use the machine at all; nobody outside a reservation gets a job.
    let refused = lab.create_job(&bob, &deploy(machine, image)).await;
    assert!(
        matches!(refused, Err(Error::Forbidden | Error::NotFound(_))),
        "{refused:?}"
    );
    let later = JobRequest {
        at: Some(crate::now() + 7200),
        ..deploy(machine, image)
    };
    match lab.create_job(&alice, &later).await {
        Err(Error::NotNow(why)) => assert!(why.contains("outside your reservations"), "{why}"),
        other => panic!("{other:?}"),
    }

    // Someone else's private image is not there for alice; an ISO cannot be written.
    let bobs = upload_whole(&lab, &bob, new_upload("secret", None), &raw_disk(1 << 20))
        .await
        .unwrap();
    let iso = upload_whole(
        &lab,
        &alice,
        NewUpload {
            ..new_upload("installer", None)
        },
        &crate::images::probe::tests::iso(1 << 20),
    )
    .await
    .unwrap();
    for (image, why) in [(bobs, "no such image"), (iso, "only raw disk images")] {
        match lab.create_job(&alice, &deploy(machine, image)).await {
            Err(Error::Invalid(fields)) => {
                assert!(fields.to_string().contains(why), "{fields}")
            }
            other => panic!("{other:?}"),
        }
    }
    match lab
        .create_job(
            &alice,
            &JobRequest {
                kind: JobKind::Save,
                image_id: None,
                ..deploy(machine, image)
            },
        )
        .await
    {
        Err(Error::Invalid(fields)) => assert!(fields.to_string().contains("save_as")),
        other => panic!("{other:?}"),
    }

    // A saved disk becomes someone's image: the shell, which has no library, cannot save.
    let shell_save = JobRequest {
        kind: JobKind::Save,
        image_id: None,
        save_as: "backup".into(),
        ..deploy(machine, image)
    };
    match lab.create_job(&admin(), &shell_save).await {
        Err(Error::Invalid(fields)) => assert!(fields.to_string().contains("save_as")),
        other => panic!("{other:?}"),
    }

    let job = lab
        .create_job(&alice, &deploy(machine, image))
        .await
        .unwrap();
    assert_eq!((job.kind, job.state), (JobKind::Deploy, JobState::Queued));
    assert_eq!(job.image.as_ref().map(|i| i.id), Some(image));
    assert!(matches!(
        lab.create_job(&alice, &deploy(machine, image)).await,
        Err(Error::Conflict(_))
    ));
    // The image is in use: it cannot be deleted until the job ends.
    assert!(matches!(
        lab.delete_image(&alice, image).await,
        Err(Error::Conflict(_))
    ));
    lab.cancel_job(&alice, job.id).await.unwrap();
    lab.delete_image(&alice, image).await.unwrap();
}

#[tokio::test]
async fn a_deploy_goes_through_every_phase_and_the_disk_holds_the_image_only_once_verified() {
    let (lab, _dir) = lab().await;
    let (machine, image, alice, raw) = alice_holds_a_machine(&lab).await;
    let job = lab
        .create_job(&alice, &deploy(machine, image))
        .await
        .unwrap();
    lab.job_event(job.id, JobEvent::Powered, "power cycle")
        .await
        .unwrap();
    let token = netboot(&lab).await;
    assert_eq!(
        lab.job(&alice, job.id).await.unwrap().state,
        JobState::Netbooting
    );

    // The token works once, from the address it was handed to, for the MAC it was for.
    for (token, mac, address) in [
        (token.as_str(), MAC, "10.0.0.66"),
        (token.as_str(), "52:54:00:00:00:02", ADDRESS),
        ("guess", MAC, ADDRESS),
    ] {
        assert!(matches!(
            lab.enrol_agent(token, mac, "key-0", address).await,
            Err(Error::InvalidToken)
        ));
    }
    let agent = lab
        .enrol_agent(&token, MAC, "key-1", ADDRESS)
        .await
        .unwrap();
    assert_eq!(
        (agent.machine_id, agent.job_id),
        (Some(machine), Some(job.id))
    );
    assert!(matches!(
        lab.enrol_agent(&token, MAC, "key-2", ADDRESS).await,
        Err(Error::InvalidToken)
    ));
    assert_eq!(lab.agent("key-1").await.unwrap(), agent);

    let order = lab.agent_order(&agent).await.unwrap();
    let ordered = order.image.expect("a deploy names its image");
    assert_eq!(
        (ordered.raw_size, ordered.raw_sha256.as_str()),
        (raw.len() as u64, sha256(&raw).as_str())
    );
    assert_eq!(ordered.compression, "zstd");

    for (phase, done) in [
        ("writing", 1 << 20),
        ("writing", 2 << 20),
        ("verifying", 1 << 20),
    ] {
        lab.agent_progress(
            &agent,
            &Progress {
                phase: phase.into(),
                done,
                total: raw.len() as u64,
                bytes_per_second: 1 << 20,
                message: String::new(),
            },
        )
        .await
        .unwrap();
    }
    // Never backwards.
    assert!(matches!(
        lab.agent_progress(&agent, &Progress::new(AgentPhase::Writing))
            .await,
        Err(Error::Conflict(_))
    ));
    let job_now = lab.job(&alice, job.id).await.unwrap();
    assert_eq!(job_now.state, JobState::Verifying);
    assert_eq!(job_now.progress.done, 1 << 20);
    // The writing phase keeps how far its bytes got; the counters start over for verifying.
    let writing = job_now
        .phases
        .iter()
        .rev()
        .find(|p| p.state == JobState::Writing)
        .unwrap();
    let reached = format!(
        "{} of {} (",
        crate::model::format_bytes(2 << 20),
        crate::model::format_bytes(raw.len() as i64)
    );
    assert!(writing.detail.contains(&reached), "{writing:?}");

    // A success claim with the wrong digest fails the job, and the disk is unknown.
    let failed = lab
        .agent_result(
            &agent,
            &Outcome {
                ok: true,
                written_sha256: sha256(b"something else"),
                disk: "/dev/vda".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (failed.state, failed.failed_step.as_str()),
        (JobState::Failed, "verify")
    );
    let disk: (String, Option<i64>) =
        sqlx::query_as("SELECT disk_state, disk_image_id FROM machines WHERE id = $1")
            .bind(machine)
            .fetch_one(&lab.db)
            .await
            .unwrap();
    assert_eq!(disk, ("unknown".to_string(), None));

    // Again, verified this time: the disk holds the image, and the next network boot (sent to
    // the disk) ends the job as booted.
    let job = lab
        .create_job(&alice, &deploy(machine, image))
        .await
        .unwrap();
    let token = netboot(&lab).await;
    let rebooting = agent_writes(&lab, &token, MAC, "key-3", ADDRESS, &raw).await;
    assert_eq!(rebooting.state, JobState::Rebooting);
    let plan = boot_plan_of(&lab, MAC, ADDRESS).await;
    assert!(matches!(plan, BootPlan::LocalDisk { .. }), "{plan:?}");
    // The network boot to the disk starts the watch of the console; what it shows ends it.
    let booting = lab.job(&alice, job.id).await.unwrap();
    assert_eq!(booting.state, JobState::Booting);
    // Booting the disk, the machine may network-boot again first (its firmware's order): it
    // is sent to its disk again, not given the management OS a second time.
    let again = boot_plan_of(&lab, MAC, ADDRESS).await;
    assert!(matches!(again, BootPlan::LocalDisk { .. }), "{again:?}");
    assert_eq!(
        lab.job(&alice, job.id).await.unwrap().state,
        JobState::Booting
    );
    lab.job_event(
        job.id,
        JobEvent::Observed(crate::jobs::Observation::Up),
        "the console showed \"login:\"",
    )
    .await
    .unwrap();
    let booted = lab.job(&alice, job.id).await.unwrap();
    assert_eq!(booted.state, JobState::Booted);
    // The one who asked is told, once, with the machine, the image and the time it took.
    let told = lab.notices(&alice, false).await.unwrap();
    let ended: Vec<_> = told
        .iter()
        .filter(|n| {
            n.kind == crate::model::NoticeKind::JobEnded
                && n.body.starts_with(&format!("Job {} ", job.id))
        })
        .collect();
    assert_eq!(ended.len(), 1, "{told:?}");
    assert!(ended[0].subject.contains("booted"), "{}", ended[0].subject);
    assert!(
        ended[0].body.contains(&format!("Job {}", job.id)),
        "{}",
        ended[0].body
    );
    let states: Vec<JobState> = booted.phases.iter().map(|p| p.state).collect();
    assert_eq!(
        states,
        [
            JobState::Queued,
            JobState::Netbooting,
            JobState::Enrolled,
            JobState::Writing,
            JobState::Rebooting,
            JobState::Booting,
            JobState::Booted
        ]
    );
    let disk: (String, Option<i64>) =
        sqlx::query_as("SELECT disk_state, disk_image_id FROM machines WHERE id = $1")
            .bind(machine)
            .fetch_one(&lab.db)
            .await
            .unwrap();
    assert_eq!(disk, ("image".to_string(), Some(image)));
    // The agent of an ended job sees nothing any more.
    assert!(lab.agent_image(&agent).await.is_err());
}

#[tokio::test]
async fn a_cancelled_write_leaves_the_disk_unknown_and_stale_tokens_do_not_enrol() {
    let (lab, _dir) = lab().await;
    let (machine, image, alice, _) = alice_holds_a_machine(&lab).await;
    let job = lab
        .create_job(&alice, &deploy(machine, image))
        .await
        .unwrap();
    let token = netboot(&lab).await;
    // Ten minutes after the script was served, its token is worthless.
    sqlx::query("UPDATE boot_jobs SET token_issued_at = token_issued_at - 601 WHERE id = $1")
        .bind(job.id)
        .execute(&lab.db)
        .await
        .unwrap();
    assert!(matches!(
        lab.enrol_agent(&token, MAC, "key-1", ADDRESS).await,
        Err(Error::InvalidToken)
    ));
    // A new network boot gets a new token.
    let token = netboot(&lab).await;
    let agent = lab
        .enrol_agent(&token, MAC, "key-1", ADDRESS)
        .await
        .unwrap();
    lab.agent_progress(&agent, &Progress::new(AgentPhase::Writing))
        .await
        .unwrap();
    sqlx::query("UPDATE machines SET disk_state = 'image', disk_image_id = $2 WHERE id = $1")
        .bind(machine)
        .bind(image)
        .execute(&lab.db)
        .await
        .unwrap();
    let cancelled = lab.cancel_job(&alice, job.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    let disk: String = sqlx::query_scalar("SELECT disk_state FROM machines WHERE id = $1")
        .bind(machine)
        .fetch_one(&lab.db)
        .await
        .unwrap();
    assert_eq!(disk, "unknown");
    assert!(matches!(
        lab.agent_result(
            &agent,
            &Outcome {
                ok: true,
                ..Default::default()
            }
        )
        .await,
        Err(Error::NotNow(_))
    ));
}

#[tokio::test]
async fn an_enlisted_machine_reports_its_hardware_and_an_admin_adopts_it_with_the_facts() {
    let (lab, _dir) = lab().await;
    lab.set_discovery_policy(&admin(), crate::model::DiscoveryPolicy::Enlist)
        .await
        .unwrap();
    let stranger = "52:54:00:00:00:99";
    let enrolment_token = netboot_as(&lab, stranger, ADDRESS).await;
    let agent = lab
        .enrol_agent(&enrolment_token, stranger, "key-enlist", ADDRESS)
        .await
        .unwrap();
    assert_eq!((agent.machine_id, agent.job_id), (None, None));
    let report = crate::agent_protocol::HardwareReport {
        cpu_model: "Test CPU".into(),
        cpu_count: 8,
        memory_bytes: 16 << 30,
        disks: vec![crate::agent_protocol::Disk {
            path: "/dev/nvme0n1".into(),
            size_bytes: 1 << 40,
            ..Default::default()
        }],
        ..Default::default()
    };
    lab.agent_heartbeat(&agent, &report).await.unwrap();
    let found = lab.discovered_machines(&admin()).await.unwrap();
    assert_eq!(found[0].hardware.as_ref(), Some(&report));
    assert!(
        report
            .summary()
            .contains("8 × Test CPU, 16.0 GiB, 1 disk(s)"),
        "{}",
        report.summary()
    );

    let adopted = lab
        .adopt_machine(&admin(), stranger, "node9", "")
        .await
        .unwrap();
    assert_eq!(
        lab.machine_hardware(&admin(), adopted.id).await.unwrap(),
        Some(report)
    );
}

#[tokio::test]
async fn concurrent_requests_leave_one_active_job() {
    let (lab, _dir) = lab().await;
    let (machine, image, alice, _) = alice_holds_a_machine(&lab).await;
    let attempts = (0..16).map(|_| {
        let (lab, alice) = (lab.clone(), alice.clone());
        tokio::spawn(async move { lab.create_job(&alice, &deploy(machine, image)).await })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(Error::Conflict(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
}

/// A lab's worth of machines netbooting at once: every agent enrols (each a transaction that
/// reads its job, then writes it) while the others write, and each gets its own machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_agents_enrolling_at_once_all_get_in() {
    let (lab, _dir) = lab().await;
    let mut tokens = Vec::new();
    for i in 0..24 {
        let mac = format!("52:54:00:00:01:{i:02x}");
        let address = format!("10.0.1.{}", i + 10);
        let machine = lab
            .create_machine(&admin(), machine_input(&format!("node{i}"), &mac))
            .await
            .unwrap();
        let request = JobRequest {
            machine_id: machine.id,
            kind: JobKind::Inventory,
            image_id: None,
            save_as: String::new(),
            at: None,
        };
        lab.create_job(&admin(), &request).await.unwrap();
        tokens.push((netboot_as(&lab, &mac, &address).await, mac, address));
    }
    let enrolments = tokens
        .into_iter()
        .enumerate()
        .map(|(i, (token, mac, address))| {
            let lab = lab.clone();
            tokio::spawn(async move {
                lab.enrol_agent(&token, &mac, &format!("key-{i}"), &address)
                    .await
            })
        });
    for (i, enrolment) in enrolments.enumerate() {
        match enrolment.await.unwrap() {
            Ok(agent) => assert_eq!(agent.machine, format!("node{i}")),
            Err(error) => panic!("an agent could not enrol: {error}"),
        }
    }
}

/// A lab whose clock the test moves, starting at the real time.
pub(crate) async fn lab_with_clock() -> (Lab, crate::Clock, tempfile::TempDir) {
    let (lab, dir) = lab().await;
    let clock = crate::Clock::manual(crate::now());
    (lab.with_clock(clock.clone()), clock, dir)
}

#[tokio::test]
async fn when_a_reservation_ends_the_holders_queued_jobs_are_cancelled_once() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, image, alice, _) = alice_holds_a_machine(&lab).await;
    let later = JobRequest {
        at: Some(lab.now() + 1800),
        ..deploy(machine, image)
    };
    let queued = lab.create_job(&alice, &later).await.unwrap();
    assert_eq!(queued.state, JobState::Queued);
    assert!(
        lab.wrap_up_reservations().await.unwrap().is_empty(),
        "nothing ends while the reservation runs"
    );

    clock.advance(3600);
    // During a hand-over the replaced leader claims no end (and so powers nothing off).
    let replaced = lab.take_leadership("instance-a").await.unwrap();
    let leader = lab.take_leadership("instance-b").await.unwrap();
    assert!(matches!(
        lab.wrap_up_reservations_under(Some(replaced)).await,
        Err(Error::Fenced { .. })
    ));
    let ends = lab.wrap_up_reservations_under(Some(leader)).await.unwrap();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reservation.machine_id, machine);
    assert_eq!(ends[0].cancelled_jobs, vec![queued.id]);
    assert!(
        !ends[0].power_off,
        "a machine without a BMC is not powered off"
    );
    let job = lab.job(&alice, queued.id).await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(job.reason, "the reservation ended");
    assert!(
        lab.wrap_up_reservations().await.unwrap().is_empty(),
        "an end is dealt with once"
    );
}

#[tokio::test]
async fn a_reservation_given_back_early_ends_at_once_and_one_never_begun_is_only_marked() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let (machine, _image, alice, _) = alice_holds_a_machine(&lab).await;
    let running = lab.my_reservations(&alice).await.unwrap()[0].clone();
    let start = lab.now() + 7200;
    let future = lab
        .reserve(&alice, machine, start, start + 3600, "")
        .await
        .unwrap();
    lab.cancel(&admin(), future.id).await.unwrap();
    assert!(
        lab.wrap_up_reservations().await.unwrap().is_empty(),
        "a reservation cancelled before it began leaves nothing to do"
    );

    clock.advance(60);
    lab.release(&alice, running.id).await.unwrap();
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].reservation.id, running.id);
    assert!(ends[0].cancelled_jobs.is_empty());
}

#[tokio::test]
async fn the_machine_is_powered_off_only_when_nobody_holds_it_and_the_end_is_recent() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let machine = lab
        .create_machine(
            &admin(),
            crate::model::MachineInput {
                bmc_kind: "ipmi".into(),
                bmc_address: "127.0.0.1:9623".into(),
                bmc_username: "admin".into(),
                bmc_password: "secret".into(),
                ..machine_input("node-bmc", "52:54:00:00:00:09")
            },
        )
        .await
        .unwrap();
    let (alice, bob) = (user(&lab, "alice").await, user(&lab, "bob").await);
    for who in [&alice, &bob] {
        lab.grant(
            &admin(),
            machine.id,
            Subject::User(who.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
    }
    let now = lab.now();
    lab.reserve(&alice, machine.id, now - 60, now + 3600, "")
        .await
        .unwrap();
    lab.reserve(&bob, machine.id, now + 3600, now + 7200, "")
        .await
        .unwrap();
    lab.reserve(&alice, machine.id, now + 7200, now + 9000, "")
        .await
        .unwrap();

    clock.advance(3600);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends.len(), 1);
    assert!(
        !ends[0].power_off,
        "bob's reservation began as alice's ended: his machine stays on"
    );

    clock.advance(3600);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends[0].reservation.username, "bob");
    assert!(!ends[0].power_off, "alice holds it again from this second");

    clock.advance(1800);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert!(ends[0].power_off, "nobody holds it: power off");
}

#[tokio::test]
async fn an_end_found_long_after_it_happened_is_recorded_but_not_acted_on() {
    let (lab, clock, _dir) = lab_with_clock().await;
    let machine = lab
        .create_machine(
            &admin(),
            crate::model::MachineInput {
                bmc_kind: "ipmi".into(),
                bmc_address: "127.0.0.1:9623".into(),
                ..machine_input("node-late", "52:54:00:00:00:0a")
            },
        )
        .await
        .unwrap();
    let alice = user(&lab, "alice").await;
    lab.grant(
        &admin(),
        machine.id,
        Subject::User(alice.user_id.unwrap()),
        Level::Use,
    )
    .await
    .unwrap();
    let now = lab.now();
    lab.reserve(&alice, machine.id, now - 60, now + 600, "")
        .await
        .unwrap();
    // The server was down for a day.
    clock.advance(24 * 3600);
    let ends = lab.wrap_up_reservations().await.unwrap();
    assert_eq!(ends.len(), 1);
    assert!(!ends[0].power_off);
}
