//! The job runner: once a second it starts the jobs whose time has come — the machine's next
//! boot from the network (once), then a power cycle, or power on when it is off, through its
//! BMC; a machine without one waits for a person to power it — and ends every job whose phase
//! outlived its timeout, with the reason. A verified deploy on a machine with a BMC is told to
//! boot its disk next, and its boot is then judged by what the machine prints on its console
//! (*booted* only once the system showed it is up; *failed* with the console line of a panic;
//! *boot-unobserved* when there is no console to watch). Running from the database (and the
//! recorded console) alone, it picks up where a restart left off.

use std::time::Duration;

use bmc::{Bmc, BootDevice, BootOverride, PowerAction, PowerState};
use lab::jobs::{JobEvent, JobTimeouts, Observation};
use lab::leadership::Fence;
use lab::model::{BmcKind, Job, JobState, Machine};
use lab::{Actor, Lab};

use crate::bmc_control::{driver, with_retries, BmcSettings};
use crate::consoles::ConsoleState;
use crate::{Conductor, Leadership, PowerCache};

/// Runs while this instance leads the background duties (always, with one instance).
pub async fn run(conductor: Conductor, mut leader: Leadership, timeouts: JobTimeouts) {
    loop {
        leader.wait().await;
        if let Err(error) = tick(&conductor, leader.fence(), &timeouts, lab::now()).await {
            tracing::warn!(%error, "job runner");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One pass over the due and the active jobs, with timeouts judged at `now` (tests move it),
/// under the leadership `fence` (see [`Leadership::fence`]): every step is committed under it
/// before the machine's BMC is told, so a replaced leader tells nothing.
pub async fn tick(
    conductor: &Conductor,
    fence: Option<Fence>,
    timeouts: &JobTimeouts,
    now: i64,
) -> lab::Result<()> {
    let (lab, power, settings) = (
        conductor.lab(),
        conductor.power_cache(),
        conductor.settings(),
    );
    for job in lab.due_jobs().await? {
        start(lab, power, settings, fence, &job).await?;
    }
    for job in lab.active_jobs().await? {
        if job.state == JobState::Rebooting {
            finish_reboot(conductor, fence, &job, now, timeouts).await?;
        } else if job.state == JobState::Booting {
            watch_boot(conductor, fence, &job, now, timeouts).await?;
        } else if let Some(reason) = timeouts.overdue(&job, now) {
            tracing::warn!(job = job.id, machine = %job.machine, %reason, "job timed out");
            let timeout = JobEvent::Timeout { phase: job.state };
            send(lab, fence, &job, timeout, &reason).await?;
        }
    }
    Ok(())
}

async fn start(
    lab: &Lab,
    power: &PowerCache,
    settings: &BmcSettings,
    fence: Option<Fence>,
    job: &Job,
) -> lab::Result<()> {
    let system = Actor::system();
    let machine = lab.machine(&system, job.machine_id).await?;
    if machine.bmc_kind == BmcKind::None {
        let wait = "no BMC: power the machine on (or restart it) so that it boots from the network";
        return send(lab, fence, job, JobEvent::Powered, wait).await;
    }
    let access = lab.bmc_access(&system, job.machine_id).await?;
    // Claimed before the BMC hears anything: the claim of a leader replaced meanwhile fails
    // here, and a job someone else started or cancelled is left alone. From here on every
    // failure ends the job as the BMC's: a claimed job never waits for a boot nobody asked for.
    let claim = "telling the BMC: next boot from the network once, then power";
    match lab
        .job_event_under(fence, job.id, JobEvent::Powered, claim)
        .await
    {
        Ok(JobState::Powering) => {}
        Ok(_) | Err(lab::Error::Refused(_)) => return Ok(()),
        Err(error) => return Err(error),
    }
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
            let detail = format!("next boot from the network once, {done} through the BMC");
            lab.note_job_phase(job.id, JobState::Powering, &detail)
                .await
        }
        Err(error) => {
            let reason = format!("the BMC at {} failed: {error}", access.address);
            send(lab, fence, job, JobEvent::BmcFailed, &reason).await
        }
    }
}

/// A verified deploy waits for the machine's network boot to its disk (the boot services end
/// the job then). With a BMC, the BMC is told to boot the disk next and the job is done; without
/// one, the job ends when the reboot timeout passes with no network boot seen — the agent's
/// verified write is then the last word.
async fn finish_reboot(
    conductor: &Conductor,
    fence: Option<Fence>,
    job: &Job,
    now: i64,
    timeouts: &JobTimeouts,
) -> lab::Result<()> {
    let (lab, settings) = (conductor.lab(), conductor.settings());
    let system = Actor::system();
    let machine = lab.machine(&system, job.machine_id).await?;
    if machine.bmc_kind != BmcKind::None {
        // Telling the BMC to boot the disk is harmless twice, but a replaced leader has no
        // business with the machine at all.
        lab.still_leading(fence).await?;
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
        if machine.bmc_kind == BmcKind::Ipmi {
            // What the machine prints from here on is the written system's boot.
            conductor
                .consoles()
                .mark(job.machine_id, job.id, &boot_mark(job.id));
        }
        send(lab, fence, job, JobEvent::SentToDisk, &detail).await?;
    } else if now - job.state_at > timeouts.reboot {
        let quiet = "the agent verified the write; no network boot was seen since (the machine boots its disk first)";
        send(lab, fence, job, JobEvent::SentToDisk, quiet).await?;
    }
    Ok(())
}

/// The management OS's kernel says this as it restarts the machine (`reboot(2)`): what the
/// console shows after it is the new boot.
const MANAGEMENT_OS_LAST_WORD: &str = "reboot: Restarting system";

/// How long a console that is not live (connecting, refused, held by another tool) may stay so
/// while a machine boots before baas says it could not watch the boot.
const CONSOLE_GRACE_SECONDS: i64 = 90;

/// The line baas writes into the console when it sends a machine to its written disk; what
/// follows it is judged.
fn boot_mark(job_id: i64) -> String {
    format!(
        "job {job_id}: the machine boots its disk; watching the console for the system to come up"
    )
}

/// Judges a booting job by what the machine printed since it was sent to its disk: its
/// image's ready pattern, the lab's failure patterns, or output and quiet for the settle time.
/// Without a console to watch the job ends *boot-unobserved*, saying so.
async fn watch_boot(
    conductor: &Conductor,
    fence: Option<Fence>,
    job: &Job,
    now: i64,
    timeouts: &JobTimeouts,
) -> lab::Result<()> {
    let lab = conductor.lab();
    let machine = lab.machine(&Actor::system(), job.machine_id).await?;
    if machine.bmc_kind != BmcKind::Ipmi {
        let why = "written and verified, rebooted; the machine has no console baas can watch (IPMI Serial-over-LAN), so its boot was not observed";
        return unwatched(lab, fence, job, why).await;
    }
    let consoles = conductor.consoles();
    let elapsed = now - job.state_at;
    let console = consoles.state(job.machine_id);
    let console_words = || {
        console
            .as_ref()
            .map_or("not open".to_string(), ConsoleState::describe)
    };
    let mark = boot_mark(job.id);
    let log = consoles.job_log(job.id);
    let text = String::from_utf8_lossy(&log);
    let Some(at) = text.rfind(&mark) else {
        if elapsed > timeouts.reboot {
            // Nothing could be recorded (the console never opened, the disk refused the log).
            let why = format!("written and verified, rebooted; no console recording of the boot ({}), so it was not observed", console_words());
            return unwatched(lab, fence, job, &why).await;
        }
        // Sent to its disk without the mark (a network boot to the disk, a restart between
        // the two): from now on, then.
        consoles.mark(job.machine_id, job.id, &mark);
        return Ok(());
    };
    let after_mark = &text[at + mark.len()..];
    // The management OS may still be shutting down when the mark is written: the new boot
    // begins after its last word.
    let new_boot = after_mark
        .rfind(MANAGEMENT_OS_LAST_WORD)
        .map_or(after_mark, |end| {
            &after_mark[end + MANAGEMENT_OS_LAST_WORD.len()..]
        });
    // baas' own marks (a reconnection, a BREAK) are not the machine's output.
    let printed = new_boot
        .split("\r\n")
        .filter(|line| !line.starts_with("[baas] "))
        .collect::<Vec<_>>()
        .join("\r\n");
    let watch = lab.boot_watch(job).await?;
    let live = console == Some(ConsoleState::Live);
    if !live && printed.trim().is_empty() && elapsed > CONSOLE_GRACE_SECONDS {
        let why = format!(
            "written and verified, rebooted; the console could not be watched for {CONSOLE_GRACE_SECONDS} s ({}), so the boot was not observed",
            console_words()
        );
        return unwatched(lab, fence, job, &why).await;
    }
    // Quiet since the last thing the machine printed (since the watch began, if it printed
    // nothing or this instance has not seen it print).
    let quiet = consoles
        .quiet_seconds(job.machine_id)
        .unwrap_or(elapsed)
        .min(elapsed);
    if let Some((observation, why)) =
        lab::consoles::judge(&watch, &printed, elapsed, quiet, timeouts.reboot)
    {
        tracing::info!(job = job.id, machine = %job.machine, %why, "boot judged");
        send(lab, fence, job, JobEvent::Observed(observation), &why).await?;
    }
    Ok(())
}

/// Ends a booting job as *boot-unobserved*, saying `why`.
async fn unwatched(lab: &Lab, fence: Option<Fence>, job: &Job, why: &str) -> lab::Result<()> {
    send(
        lab,
        fence,
        job,
        JobEvent::Observed(Observation::Unwatched),
        why,
    )
    .await
}

/// Sends `event` to the job. A refusal means another caller (a cancel, the agent, another
/// instance) moved the job first: it is logged, and the runner goes on with the next job.
async fn send(
    lab: &Lab,
    fence: Option<Fence>,
    job: &Job,
    event: JobEvent,
    detail: &str,
) -> lab::Result<()> {
    lab::jobs::unless_moved_meanwhile(lab.job_event_under(fence, job.id, event, detail).await)
}

/// The next boot from `device`, once, in the machine's firmware mode.
fn once(device: BootDevice, machine: &Machine) -> BootOverride {
    BootOverride {
        device,
        persistent: false,
        uefi: machine.platform.is_uefi(),
    }
}
