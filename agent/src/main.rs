//! `baas-agent`: the program the management OS runs. It reads `baas.url`, `baas.token`,
//! `baas.purpose` and `baas.mac` from the kernel command line (or from flags, for tests and
//! benchmarks), enrols with a freshly generated ed25519 key, heartbeats with a hardware
//! report, carries out its job and reports the result — success only when verified — and
//! reboots the machine.

mod client;
mod deploy;
mod hardware;
mod progress;
mod relay;
mod save;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use lab::agent_protocol::{EnrolRequest, Enrolled, Heartbeat, Order, Outcome};
use lab::model::JobKind;

use crate::client::Client;
use crate::progress::Reporter;

/// Why the job failed: the step and the reason, as reported to baas.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: String,
    pub reason: String,
}

impl Failure {
    pub fn new(step: &str, reason: impl Into<String>) -> Self {
        Failure {
            step: step.to_string(),
            reason: reason.into(),
        }
    }
}

/// What the agent was told: command-line flags override the kernel command line.
struct Settings {
    url: String,
    token: String,
    mac: String,
    /// Write here instead of choosing a disk (tests, benchmarks).
    disk: Option<String>,
    /// Bytes per second the write may not exceed (0: no limit), so a deploy can leave room on
    /// a shared link or disk.
    max_rate: u64,
    reboot: bool,
}

fn settings() -> Result<Settings, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "baas-agent [--url URL] [--token TOKEN] [--mac MAC] [--disk PATH] [--max-rate BYTES_PER_S] [--no-reboot] [--cmdline FILE]\n\
             Without flags, reads baas.url, baas.token and baas.mac from /proc/cmdline."
        );
        std::process::exit(0);
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let cmdline_file = flag("--cmdline").unwrap_or_else(|| "/proc/cmdline".into());
    let cmdline: HashMap<String, String> = std::fs::read_to_string(&cmdline_file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let pick = |flag_name: &str, key: &str| flag(flag_name).or_else(|| cmdline.get(key).cloned());
    let url = pick("--url", "baas.url").ok_or("no baas.url on the kernel command line")?;
    let token = pick("--token", "baas.token").ok_or("no baas.token on the kernel command line")?;
    let mac = pick("--mac", "baas.mac").ok_or("no baas.mac on the kernel command line")?;
    Ok(Settings {
        url,
        token,
        mac,
        disk: flag("--disk"),
        max_rate: match pick("--max-rate", "baas.max_rate") {
            Some(rate) => rate
                .parse()
                .map_err(|_| format!("--max-rate {rate} is not a number of bytes per second"))?,
            None => 0,
        },
        reboot: !args.iter().any(|a| a == "--no-reboot"),
    })
}

fn main() -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(why) => {
            eprintln!("baas-agent: {why}");
            return ExitCode::from(2);
        }
    };
    let client = Client::new(&settings.url);
    let enrolled: Enrolled = match client.expect(
        "enrol",
        "POST",
        "/agent/v1/enrol",
        Some(&EnrolRequest {
            token: settings.token.clone(),
            mac: settings.mac.clone(),
        }),
    ) {
        Ok(enrolled) => enrolled,
        Err(failure) => {
            eprintln!("baas-agent: enrolment failed: {}", failure.reason);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "baas-agent: enrolled as agent {} of {}",
        enrolled.agent_id,
        if enrolled.machine.is_empty() {
            "an unknown machine"
        } else {
            &enrolled.machine
        }
    );
    heartbeat(&client);
    if enrolled.machine.is_empty() {
        // Enlisted: the report is what baas wanted. An admin adopts the machine with it.
        eprintln!("baas-agent: hardware reported for enlistment");
        if settings.reboot {
            eprintln!("baas-agent: powering off until an admin adopts this machine");
            let _ = std::process::Command::new("poweroff").arg("-f").status();
        }
        return ExitCode::SUCCESS;
    }
    // Heartbeats go on in the background for as long as the agent lives.
    std::thread::scope(|scope| {
        let interval = Duration::from_secs(enrolled.heartbeat_seconds.max(1));
        let client = &client;
        scope.spawn(move || loop {
            std::thread::sleep(interval);
            heartbeat(client);
        });
        let code = run_job(client, &settings);
        std::process::exit(code);
    })
}

/// Sends a heartbeat with a fresh hardware report; a failure is logged, the work goes on.
fn heartbeat(client: &Client) {
    let beat = Heartbeat {
        hardware: hardware::report(),
    };
    if let Err(failure) =
        client.expect::<serde_json::Value>("heartbeat", "POST", "/agent/v1/heartbeat", Some(&beat))
    {
        eprintln!("baas-agent: heartbeat: {}", failure.reason);
    }
}

/// Fetches and carries out the job; returns the exit code.
fn run_job(client: &Client, settings: &Settings) -> i32 {
    let order: Order = match client.expect("job", "GET", "/agent/v1/job", None::<&()>) {
        Ok(order) => order,
        Err(failure) => {
            eprintln!("baas-agent: no job: {}", failure.reason);
            return 1;
        }
    };
    eprintln!("baas-agent: job {}: {}", order.job_id, order.kind);
    let mut reporter = Reporter::new(client);
    let outcome = match order.kind {
        JobKind::Deploy => {
            let saved = if order.save_as.is_empty() {
                Ok(())
            } else {
                save::save(client, settings.disk.as_deref(), &mut reporter).map(|saved| {
                    eprintln!(
                        "baas-agent: disk saved as image {} v{}",
                        order.save_as, saved.version
                    )
                })
            };
            saved.and_then(|()| {
                deploy::deploy(
                    client,
                    &order,
                    settings.disk.as_deref(),
                    settings.max_rate,
                    &mut reporter,
                )
            })
        }
        JobKind::Save => {
            save::save(client, settings.disk.as_deref(), &mut reporter).map(|saved| Outcome {
                ok: true,
                reason: format!("saved as {} v{}", order.save_as, saved.version),
                ..Default::default()
            })
        }
        JobKind::Inventory => Ok(Outcome {
            ok: true,
            reason: "hardware reported".into(),
            ..Default::default()
        }),
        // The management OS stays up for the user; heartbeats go on.
        JobKind::Boot => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    };
    let (outcome, code) = match outcome {
        Ok(outcome) => (outcome, 0),
        Err(failure) => {
            eprintln!("baas-agent: {} failed: {}", failure.step, failure.reason);
            (
                Outcome {
                    ok: false,
                    step: failure.step,
                    reason: failure.reason,
                    ..Default::default()
                },
                1,
            )
        }
    };
    match client.expect::<serde_json::Value>("result", "POST", "/agent/v1/result", Some(&outcome)) {
        Ok(answer) => eprintln!("baas-agent: result reported: {answer}"),
        Err(failure) => {
            eprintln!(
                "baas-agent: could not report the result: {}",
                failure.reason
            );
            return 1;
        }
    }
    if code == 0 && matches!(order.kind, JobKind::Deploy | JobKind::Save) && settings.reboot {
        eprintln!("baas-agent: rebooting");
        let _ = std::process::Command::new("reboot").arg("-f").status();
    }
    code
}
