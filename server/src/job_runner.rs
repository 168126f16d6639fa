//! The job runner: once a second it starts the jobs whose time has come — the machine's next
//! boot from the network (once), then a power cycle, or power on when it is off, through its
//! BMC; a machine without one waits for a person to power it — and ends every job whose phase
//! outlived its timeout, with the reason. A verified deploy on a machine with a BMC is told to
//! boot its disk next. Running from the database alone, it picks up where a restart left off.

use std::time::Duration;

use app::power::{driver, with_retries, BmcSettings, PowerCache};
use bmc::{Bmc, BootDevice, BootOverride, PowerAction, PowerState};
use lab::jobs::JobTimeouts;
use lab::model::{BmcKind, Job, JobState, Machine};
use lab::{Actor, Lab};

/// Runs while this instance leads the background duties (always, with one instance).
pub async fn run(
    lab: Lab,
    mut leader: crate::cluster::Leadership,
    power: PowerCache,
    settings: BmcSettings,
    timeouts: JobTimeouts,
) {
    loop {
        leader.wait().await;
        if let Err(error) = tick(&lab, &power, &settings, &timeouts, lab::now()).await {
            tracing::warn!(%error, "job runner");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One pass over the due and the active jobs, with timeouts judged at `now` (tests move it).
pub async fn tick(
    lab: &Lab,
    power: &PowerCache,
    settings: &BmcSettings,
    timeouts: &JobTimeouts,
    now: i64,
) -> lab::Result<()> {
    for job in lab.due_jobs().await? {
        start(lab, power, settings, &job).await?;
    }
    for job in lab.active_jobs().await? {
        if job.state == JobState::Rebooting {
            finish_reboot(lab, settings, &job, now, timeouts).await?;
        } else if let Some(reason) = timeouts.overdue(&job, now) {
            tracing::warn!(job = job.id, machine = %job.machine, %reason, "job timed out");
            lab.end_job(job.id, JobState::Failed, job.state.as_str(), &reason)
                .await?;
        }
    }
    Ok(())
}

async fn start(
    lab: &Lab,
    power: &PowerCache,
    settings: &BmcSettings,
    job: &Job,
) -> lab::Result<()> {
    let system = Actor::system();
    let machine = lab.machine(&system, job.machine_id).await?;
    if machine.bmc_kind == BmcKind::None {
        lab.move_job(
            job.id,
            &[JobState::Queued],
            JobState::Powering,
            "no BMC: power the machine on (or restart it) so that it boots from the network",
        )
        .await?;
        return Ok(());
    }
    let access = lab.bmc_access(&system, job.machine_id).await?;
    let outcome = async {
        let bmc = driver(&access, settings.timeout)?;
        with_retries(|| bmc.set_boot(once(BootDevice::Pxe, &machine))).await?;
        let state = with_retries(|| bmc.power_state()).await?;
        // A power action is never repeated: a lost answer may mean it happened.
        let action = if state == PowerState::On {
            PowerAction::Cycle
        } else {
            PowerAction::On
        };
        bmc.power(action).await?;
        Ok::<_, bmc::Error>(action)
    }
    .await;
    match outcome {
        Ok(action) => {
            power.acted(job.machine_id, lab::now());
            let done = if action == PowerAction::Cycle {
                "power cycled"
            } else {
                "powered on"
            };
            lab.move_job(
                job.id,
                &[JobState::Queued],
                JobState::Powering,
                &format!("next boot from the network once, {done} through the BMC"),
            )
            .await?;
        }
        Err(error) => {
            lab.move_job(job.id, &[JobState::Queued], JobState::Powering, "")
                .await?;
            lab.end_job(
                job.id,
                JobState::Failed,
                "powering",
                &format!("the BMC at {} failed: {error}", access.address),
            )
            .await?;
        }
    }
    Ok(())
}

/// A verified deploy waits for the machine's network boot to its disk (the boot services end
/// the job then). With a BMC, the BMC is told to boot the disk next and the job is done; without
/// one, the job ends when the reboot timeout passes with no network boot seen — the agent's
/// verified write is then the last word.
async fn finish_reboot(
    lab: &Lab,
    settings: &BmcSettings,
    job: &Job,
    now: i64,
    timeouts: &JobTimeouts,
) -> lab::Result<()> {
    let system = Actor::system();
    let machine = lab.machine(&system, job.machine_id).await?;
    if machine.bmc_kind != BmcKind::None {
        let access = lab.bmc_access(&system, job.machine_id).await?;
        let told = match driver(&access, settings.timeout) {
            Ok(bmc) => with_retries(|| bmc.set_boot(once(BootDevice::Disk, &machine))).await,
            Err(error) => Err(error),
        };
        let detail = match told {
            Ok(()) => "the agent verified the write; the BMC boots the disk next".to_string(),
            Err(error) => format!(
                "the agent verified the write; the BMC could not be set to boot the disk ({error})"
            ),
        };
        lab.end_job(job.id, JobState::Booted, "", &detail).await?;
    } else if now - job.state_at > timeouts.reboot {
        lab.end_job(
            job.id,
            JobState::Booted,
            "",
            "the agent verified the write; no network boot was seen since (the machine boots its disk first)",
        )
        .await?;
    }
    Ok(())
}

/// The next boot from `device`, once, in the machine's firmware mode.
fn once(device: BootDevice, machine: &Machine) -> BootOverride {
    BootOverride {
        device,
        persistent: false,
        uefi: machine.platform.is_uefi(),
    }
}
