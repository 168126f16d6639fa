//! The job runner against a real IPMI BMC (OpenIPMI's ipmi_sim): a due deploy sets the next
//! boot to the network and powers the machine; a machine that never network-boots fails the job
//! with the reason; a verified deploy has the BMC boot the disk; a machine without a BMC waits
//! for a person.

mod common;

use bmc::testing::Simulator;
use common::TestServer;
use lab::jobs::{JobRequest, JobTimeouts};
use lab::model::{JobKind, JobState};
use lab::Actor;

fn boot_job(machine_id: i64) -> JobRequest {
    JobRequest {
        machine_id,
        kind: JobKind::Boot,
        image_id: None,
        save_as: String::new(),
        at: None,
    }
}

#[tokio::test]
async fn due_jobs_netboot_through_the_bmc_and_overdue_phases_fail_with_the_reason() {
    let sim = Simulator::start();
    sim.ready().await;
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let timeouts = JobTimeouts::default();
    let machine = server
        .add_simulated_machine("node1", "52:54:00:00:00:01", &sim)
        .await;
    let tick_at = |now: i64| conductor::job_runner::tick(&server.conductor, None, &timeouts, now);
    let tick = || tick_at(lab::now());

    // A job for later waits; a job for now is started: next boot PXE, powered on (it was off).
    assert_ne!(sim.state("power"), "1", "the machine starts off");
    let job = server
        .lab
        .create_job(&shell, &boot_job(machine))
        .await
        .unwrap();
    tick().await.unwrap();
    let started = server.lab.job(&shell, job.id).await.unwrap();
    assert_eq!(started.state, JobState::Powering, "{started:?}");
    assert!(
        started.phases[1].detail.contains("powered on"),
        "{:?}",
        started.phases
    );
    assert_eq!(sim.state("boot"), "pxe");
    assert_eq!(sim.state("power"), "1");

    // Ten minutes later the machine still has not asked for its boot script.
    tick_at(lab::now() + 601).await.unwrap();
    let failed = server.lab.job(&shell, job.id).await.unwrap();
    assert_eq!(
        (failed.state, failed.failed_step.as_str()),
        (JobState::Failed, "powering")
    );
    assert!(
        failed.reason.contains("did not network-boot within 10 min"),
        "{}",
        failed.reason
    );

    // The next job finds the machine on: it is power cycled.
    let job = server
        .lab
        .create_job(&shell, &boot_job(machine))
        .await
        .unwrap();
    tick().await.unwrap();
    let started = server.lab.job(&shell, job.id).await.unwrap();
    assert!(
        started.phases[1].detail.contains("power cycled"),
        "{:?}",
        started.phases
    );
    server.lab.cancel_job(&shell, job.id).await.unwrap();

    // Without a BMC the job waits for a person, and says so.
    let manual = server.add_machine("node2", "52:54:00:00:00:02", None).await;
    let job = server
        .lab
        .create_job(&shell, &boot_job(manual))
        .await
        .unwrap();
    tick().await.unwrap();
    let waiting = server.lab.job(&shell, job.id).await.unwrap();
    assert_eq!(waiting.state, JobState::Powering);
    assert!(
        waiting.phases[1].detail.contains("no BMC"),
        "{:?}",
        waiting.phases
    );
}

/// Two instances during a hand-over: the replaced leader's job runner tells the BMC nothing,
/// the new leader's starts the job (once).
#[tokio::test]
async fn a_replaced_leader_sends_no_bmc_action() {
    let sim = Simulator::start();
    sim.ready().await;
    let server = TestServer::start().await;
    let shell = Actor::shell();
    let timeouts = JobTimeouts::default();
    let machine = server
        .add_simulated_machine("node1", "52:54:00:00:00:01", &sim)
        .await;
    let job = server
        .lab
        .create_job(&shell, &boot_job(machine))
        .await
        .unwrap();
    let old = server.lab.take_leadership("instance-a").await.unwrap();
    let new = server.lab.take_leadership("instance-b").await.unwrap();

    let stale =
        conductor::job_runner::tick(&server.conductor, Some(old), &timeouts, lab::now()).await;
    assert!(matches!(stale, Err(lab::Error::Fenced { .. })), "{stale:?}");
    assert_eq!(
        server.lab.job(&shell, job.id).await.unwrap().state,
        JobState::Queued
    );
    assert_ne!(
        sim.state("power"),
        "1",
        "the replaced leader powered the machine"
    );
    assert_ne!(
        sim.state("boot"),
        "pxe",
        "the replaced leader set the boot device"
    );

    conductor::job_runner::tick(&server.conductor, Some(new), &timeouts, lab::now())
        .await
        .unwrap();
    let started = server.lab.job(&shell, job.id).await.unwrap();
    assert_eq!(started.state, JobState::Powering);
    assert_eq!(sim.state("power"), "1");
    assert!(
        started.phases[1].detail.contains("powered on"),
        "{:?}",
        started.phases
    );
}
