//! The background duties and when they run: each loops while this instance leads (always, with
//! one instance), so on several instances exactly one runs them. The work of one pass lives
//! beside its subject (the job runner, the notifier, media expiry) or here when it is short.

use std::time::Duration;

use bmc::PowerAction;
use lab::jobs::JobTimeouts;
use lab::leadership::Fence;
use lab::model::BmcKind;
use lab::{Actor, Lab};

use crate::power_cache::FRESH_SECONDS;
use crate::{Conductor, Leadership};

/// What the duties need beyond the conductor.
#[derive(Debug, Clone)]
pub struct DutySettings {
    pub job_timeouts: JobTimeouts,
    /// Unfinished uploads untouched this long are given up (0: all of them, at start).
    pub upload_quiet_seconds: i64,
}

/// Starts every background duty; they run until the process ends.
pub fn spawn_all(conductor: &Conductor, leader: &Leadership, settings: DutySettings) {
    // A pass every `period` while leading; `First::Wait` lets a period pass before the first.
    // Each pass gets the leadership's fence of the moment: what it claims under a fence that
    // another instance has since replaced fails, so a replaced leader acts on no machine.
    let every =
        |period: Duration, first: First, pass: fn(Conductor, Option<Fence>) -> PassFuture| {
            let (conductor, mut leader) = (conductor.clone(), leader.clone());
            tokio::spawn(async move {
                if first == First::Wait {
                    tokio::time::sleep(period).await;
                }
                loop {
                    leader.wait().await;
                    pass(conductor.clone(), leader.fence()).await;
                    tokio::time::sleep(period).await;
                }
            });
        };
    let refresh = Duration::from_secs((FRESH_SECONDS / 2) as u64);
    every(refresh, First::Run, |c, _| {
        Box::pin(async move { refresh_power(&c).await })
    });
    every(Duration::from_secs(15), First::Run, |c, fence| {
        Box::pin(async move { wrap_up_reservations(&c, fence).await })
    });
    // Consoles of reserved machines and of machines with a job are kept open and recorded.
    every(Duration::from_secs(3), First::Run, |c, _| {
        Box::pin(async move {
            if let Err(error) = c.consoles().keep().await {
                tracing::warn!(%error, "consoles");
            }
        })
    });
    every(Duration::from_secs(15), First::Wait, |c, fence| {
        Box::pin(async move { crate::virtual_media::expire(c.lab(), c.settings(), fence).await })
    });
    every(Duration::from_secs(5), First::Run, |c, _| {
        Box::pin(async move {
            if let Err(error) = crate::notifier::tick(c.lab(), &c.settings().public_url).await {
                tracing::warn!(%error, "notifier");
            }
        })
    });
    every(Duration::from_secs(60), First::Wait, |c, _| {
        Box::pin(async move { forget_agent_nonces(c.lab()).await })
    });
    every(Duration::from_secs(3600), First::Run, |c, _| {
        Box::pin(async move {
            match c.lab().expire_discovered().await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(gone, "discovered machines not seen for long forgotten"),
                Err(error) => tracing::warn!(%error, "expiring discovered machines"),
            }
        })
    });
    tokio::spawn(crate::job_runner::run(
        conductor.clone(),
        leader.clone(),
        settings.job_timeouts,
    ));
    tokio::spawn(recover_uploads(
        conductor.lab().clone(),
        leader.clone(),
        settings.upload_quiet_seconds,
    ));
}

/// Whether a duty's first pass comes at once or after one period.
#[derive(Clone, Copy, PartialEq, Eq)]
enum First {
    Run,
    Wait,
}

type PassFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Reads every BMC machine's power state once, one after the other (a modest rate for BMCs).
/// Failures are logged and leave the old reading to age out.
pub async fn refresh_power(conductor: &Conductor) {
    let lab = conductor.lab();
    let system = Actor::shell();
    let machines = match lab.machines(&system).await {
        Ok(machines) => machines,
        Err(error) => {
            tracing::warn!(%error, "power refresh: listing machines failed");
            return;
        }
    };
    for machine in machines.into_iter().filter(|m| m.bmc_kind != BmcKind::None) {
        let Ok(access) = lab.bmc_access(&system, machine.id).await else {
            continue;
        };
        let Ok(driver) = crate::bmc_control::driver(&access, conductor.settings().timeout) else {
            continue;
        };
        match bmc::Bmc::power_state(&driver).await {
            Ok(state) => conductor.power_cache().put(machine.id, state, lab::now()),
            Err(error) => tracing::debug!(machine = %machine.name, %error, "power refresh failed"),
        }
    }
}

/// Deals with reservations that ended (see [`Lab::wrap_up_reservations`]): the lab cancels the
/// holder's queued jobs; this powers off the machines that are due for it, as the system,
/// through the same control path as the power button (audited, not retried), so the next user
/// finds the machine off rather than running the last one's system.
pub async fn wrap_up_reservations(conductor: &Conductor, fence: Option<Fence>) {
    let ends = match conductor.lab().wrap_up_reservations_under(fence).await {
        Ok(ends) => ends,
        Err(error) => {
            tracing::warn!(%error, "dealing with ended reservations failed");
            return;
        }
    };
    for end in ends {
        let reservation = &end.reservation;
        tracing::info!(
            machine = %reservation.machine_name,
            reservation = reservation.id,
            holder = %reservation.username,
            cancelled_jobs = end.cancelled_jobs.len(),
            power_off = end.power_off,
            reset_job = ?end.reset_job,
            "reservation ended"
        );
        if !end.power_off {
            continue;
        }
        let off = conductor
            .power(&Actor::system(), reservation.machine_id, PowerAction::Off)
            .await;
        if let Err(error) = off {
            tracing::warn!(machine = %reservation.machine_name, %error, "power off at reservation end failed");
        }
    }
}

/// Agent nonces too old to matter are forgotten (their requests are refused by their time).
async fn forget_agent_nonces(lab: &Lab) {
    let before = lab::now() - 2 * lab::agent_protocol::CLOCK_SKEW_SECONDS;
    if let Err(e) = lab.forget_nonces_before(before).await {
        tracing::warn!(error = %e, "forgetting old agent nonces failed");
    }
}

/// Hourly: abandoned uploads give their space back. On several instances, also whenever this
/// one becomes the leader (the previous one may have died mid-upload).
async fn recover_uploads(lab: Lab, mut leader: Leadership, quiet_seconds: i64) {
    let hour = Duration::from_secs(3600);
    if quiet_seconds == 0 {
        // The single instance cleaned up at start.
        tokio::time::sleep(hour).await;
    }
    loop {
        leader.wait().await;
        if let Err(e) = lab.recover_uploads(quiet_seconds).await {
            tracing::warn!(error = %e, "cleaning up uploads failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(hour) => {}
            _ = leader.lost() => {}
        }
    }
}
