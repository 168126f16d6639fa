//! The machine page's jobs, its one list of them: deploy an image (optionally saving the disk
//! first), save the disk, take an inventory, boot the management OS; the current job live — its
//! phases with their times and a progress bar with bytes, percent, rate and time left — and the
//! latest jobs, all updated from the server's event stream.

use lab::model::{format_bytes, Job, JobState};
use leptos::prelude::*;

use crate::api::jobs::{job_panel, CreateJob, JobOverview};
use crate::api::machines::{CancelBootJob, RequestBootJob};
use crate::components::{
    field_error, form_status, meter, LocalDateTime, Time, BUTTON, BUTTON_SECONDARY, CARD, H2,
    INPUT, LABEL, TABLE, TD, TH,
};

#[component]
pub fn JobSection(id: impl Fn() -> i64 + Copy + Send + Sync + 'static) -> impl IntoView {
    let create = ServerAction::<CreateJob>::new();
    let cancel = ServerAction::<CancelBootJob>::new();
    let boot = ServerAction::<RequestBootJob>::new();
    // Bumped by every change the event stream announces for this machine.
    let changed = RwSignal::new(0u64);
    live_updates(id, changed);
    let panel = Resource::new(
        move || {
            (
                id(),
                create.version().get(),
                cancel.version().get(),
                boot.version().get(),
                changed.get(),
            )
        },
        |(id, ..)| job_panel(id),
    );
    view! {
        <div class=format!("{CARD} mt-4") data-testid="jobs">
            <h2 class=H2>"Deploy"</h2>
            {form_status(create.value(), "Job created.")}
            {form_status(cancel.value(), "Job cancelled.")}
            {form_status(boot.value(), "Boot job created: the machine boots the management OS at its next network boot.")}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match panel.await {
                        Err(error) => view! { <p class="text-sm text-rose-600">{error.to_string()}</p> }.into_any(),
                        Ok(panel) => panel_view(id(), panel, Actions { create, cancel, boot }).into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// What the section's buttons do.
#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateJob>,
    cancel: ServerAction<CancelBootJob>,
    boot: ServerAction<RequestBootJob>,
}

fn panel_view(machine_id: i64, panel: JobOverview, actions: Actions) -> impl IntoView {
    let Actions {
        create,
        cancel,
        boot,
    } = actions;
    let busy = panel.latest.as_ref().is_some_and(|j| !j.state.is_final());
    let form = (panel.can_start && !busy).then(|| {
        let options = panel
            .images
            .iter()
            .map(|image| view! { <option value=image.id>{image.label.clone()}</option> })
            .collect_view();
        let no_images = panel.images.is_empty().then(|| view! {
            <p class="text-sm text-slate-500">"No raw disk image in your library yet: upload one under Images."</p>
        });
        view! {
            <ActionForm action=create attr:class="grid gap-3 md:grid-cols-2" attr:data-testid="deploy-form">
                <input type="hidden" name="machine_id" value=machine_id/>
                <input type="hidden" name="kind" value="deploy"/>
                <label class=LABEL>"Image"
                    <select class=INPUT name="image_id" required=true>{options}</select>
                    {field_error(create.value(), "image")}
                </label>
                <label class=LABEL>"Save the current disk first as (optional)"
                    <input class=INPUT type="text" name="save_as" placeholder="image name"/>
                    {field_error(create.value(), "save_as")}
                </label>
                <label class=LABEL>"Start (empty: now)"
                    <LocalDateTime name="at" at=panel.now label="Start"/>
                    {field_error(create.value(), "at")}
                </label>
                <div class="flex items-end">
                    <button class=BUTTON type="submit">"Deploy"</button>
                </div>
                {no_images}
            </ActionForm>
            <div class="mt-3 flex flex-wrap items-end gap-3">
                <ActionForm action=create attr:class="flex flex-wrap items-end gap-2" attr:data-testid="save-form">
                    <input type="hidden" name="machine_id" value=machine_id/>
                    <input type="hidden" name="kind" value="save"/>
                    <label class=LABEL>"Save the disk as"
                        <input class=INPUT type="text" name="save_as" placeholder="image name" required=true/>
                    </label>
                    <button class=BUTTON_SECONDARY type="submit">"Save disk"</button>
                </ActionForm>
                <ActionForm action=create>
                    <input type="hidden" name="machine_id" value=machine_id/>
                    <input type="hidden" name="kind" value="inventory"/>
                    <button class=BUTTON_SECONDARY type="submit">"Take inventory"</button>
                </ActionForm>
                <ActionForm action=boot>
                    <input type="hidden" name="machine_id" value=machine_id/>
                    <button class=BUTTON_SECONDARY type="submit">"Boot the management OS at the next network boot"</button>
                </ActionForm>
            </div>
        }
    });
    let console_tail = panel.console_tail.clone();
    // A job of a batch: the way to the batch's other machines.
    let batch = panel.latest.as_ref().and_then(|job| job.batch_id).map(|batch| view! {
        <p class="mb-2 text-sm" data-testid="batch-link">
            "This job is one machine of "
            <a class="underline" href=format!("/batches/{batch}")>{format!("batch {batch}")}</a>
            ": its other machines, their progress and the batch's actions are there."
        </p>
    });
    let latest = panel
        .latest
        .map(|job| job_view(job, panel.can_start, cancel, console_tail));
    let silent = panel.agent_silent.then(|| view! {
        <p class="text-sm font-medium text-rose-700 dark:text-rose-400" data-testid="agent-silent">
            "The agent has missed its last two heartbeats: the machine may have hung or lost its network."
        </p>
    });
    let seen = panel.agent_seen.map(|at| {
        view! {
            <dt class="text-slate-500">"Agent last heard"</dt><dd><Time at/></dd>
        }
    });
    let hardware = panel.hardware.map(hardware_view);
    let unconfigured = (panel.can_start && !panel.management_os_configured).then(|| view! {
        <p class="mb-3 text-sm text-amber-700 dark:text-amber-400" data-testid="no-management-os">
            "This server has no management OS configured (BAAS_MGMT_KERNEL): a job waits, and the machine boots its own disk, until one is."
        </p>
    });
    let history = history_view(panel.recent);
    view! {
        {unconfigured}
        {form}
        {batch}
        {latest}
        {silent}
        <dl class="mt-4 grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm" data-testid="disk-and-hardware">
            <dt class="text-slate-500">"Disk holds"</dt><dd data-testid="disk-content">{panel.disk}</dd>
            {seen}
            {hardware}
        </dl>
        {history}
    }
}

/// The machine's latest jobs, newest first, one line each.
fn history_view(jobs: Vec<Job>) -> impl IntoView {
    (!jobs.is_empty()).then(|| {
        let rows = jobs
            .into_iter()
            .map(|job| {
                let state = job_state_text(&job);
                view! {
                    <tr>
                        <td class=TD>{job.id}</td>
                        <td class=TD>{state}</td>
                        <td class=TD>{job.requested_by.unwrap_or_else(|| "admin (shell)".into())}</td>
                        <td class=format!("{TD} whitespace-nowrap")><Time at=job.created_at/></td>
                        <td class=format!("{TD} whitespace-nowrap")>{job.started_at.map(|at| view! { <Time at/> })}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h3 class="mt-4 mb-1 text-sm font-semibold">"Latest jobs"</h3>
            <div class="overflow-x-auto" tabindex="0">
                <table class=TABLE data-testid="job-history">
                    <thead><tr><th class=TH>"Job"</th><th class=TH>"State"</th><th class=TH>"Requested by"</th><th class=TH>"Created"</th><th class=TH>"Started"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    })
}

/// A job's state in words a lab user reads.
fn job_state_text(job: &lab::model::Job) -> String {
    use lab::model::JobState;
    let kind = job.kind;
    match job.state {
        JobState::Queued => format!("{kind}: queued"),
        JobState::Powering => format!("{kind}: powering: waiting for the next network boot"),
        JobState::Netbooting => format!("{kind}: netbooting: management OS handed out"),
        JobState::Enrolled => format!("{kind}: the agent enrolled"),
        JobState::Failed => format!("{kind}: failed at {}: {}", job.failed_step, job.reason),
        state => format!("{kind}: {state}"),
    }
}

fn hardware_view(report: lab::agent_protocol::HardwareReport) -> impl IntoView {
    let disks = report
        .disks
        .iter()
        .map(|d| {
            format!(
                "{} {} {}{}",
                d.path,
                format_bytes(d.size_bytes as i64),
                d.model,
                if d.rotational { " (rotational)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let nics = report
        .nics
        .iter()
        .map(|n| {
            format!(
                "{} {} {}{}",
                n.name,
                n.mac,
                n.driver,
                if n.link { ", link up" } else { ", no link" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <dt class="text-slate-500">"CPU"</dt><dd>{format!("{} × {}", report.cpu_count, report.cpu_model)}</dd>
        <dt class="text-slate-500">"Memory"</dt><dd>{format_bytes(report.memory_bytes as i64)}</dd>
        <dt class="text-slate-500">"Firmware"</dt><dd>{format!("{} {} {} {}", report.firmware, report.vendor, report.product, report.serial)}</dd>
        <dt class="text-slate-500">"Disks"</dt><dd>{disks}</dd>
        <dt class="text-slate-500">"NICs"</dt><dd>{nics}</dd>
    }
}

fn job_view(
    job: Job,
    can_cancel: bool,
    cancel: ServerAction<CancelBootJob>,
    console_tail: Vec<String>,
) -> impl IntoView {
    let what = match &job.image {
        Some(image) => format!("{} of {} v{}", job.kind, image.name, image.version),
        None => job.kind.to_string(),
    };
    let cancel_form = (can_cancel && !job.state.is_final()).then(|| {
        view! {
            <ActionForm action=cancel>
                <input type="hidden" name="job_id" value=job.id/>
                <button class=BUTTON_SECONDARY type="submit">"Cancel job"</button>
            </ActionForm>
        }
    });
    let failure = (job.state == JobState::Failed).then(|| {
        view! {
            <p class="text-sm text-rose-700 dark:text-rose-400" data-testid="job-failure">
                {format!("Failed at {}: {}", job.failed_step, job.reason)}
            </p>
        }
    });
    let waiting = (job.state == JobState::Powering
        && job.phases.last().is_some_and(|p| p.detail.starts_with("no BMC")))
    .then(|| view! {
        <p class="text-sm text-amber-700 dark:text-amber-400">
            "This machine has no BMC: power it on (or restart it) now so that it boots from the network."
        </p>
    });
    let progress = (matches!(
        job.state,
        JobState::Saving | JobState::Writing | JobState::Verifying
    ))
    .then(|| progress_view(&job));
    let phases = job
        .phases
        .iter()
        .map(|phase| {
            view! {
                <li class="flex gap-3">
                    <span class="w-24 font-medium">{phase.state.to_string()}</span>
                    <span class="whitespace-nowrap text-slate-500"><Time at=phase.at/></span>
                    <span class="text-slate-600 dark:text-slate-400">{phase.detail.clone()}</span>
                </li>
            }
        })
        .collect_view();
    // What the machine printed during the job: open beside a failure, folded otherwise.
    let console = (!console_tail.is_empty()).then(|| {
        let failed = job.state == JobState::Failed;
        let href = format!("/api/v1/jobs/{}/console", job.id);
        view! {
            <details class="mt-2 text-sm" open=failed data-testid="job-console">
                <summary class="cursor-pointer text-slate-600 dark:text-slate-400">"The machine's console during this job (last lines)"</summary>
                <pre class="mt-1 max-h-64 overflow-auto rounded-md bg-black p-2 text-xs text-slate-100" data-testid="job-console-tail">{console_tail.join("\n")}</pre>
                <a class="text-indigo-600 underline dark:text-indigo-400" href=href>"The whole console of this job"</a>
            </details>
        }
    });
    view! {
        <div class="mt-4" data-testid="current-job" data-state=job.state.to_string()>
            <div class="flex items-center justify-between">
                <p class="font-medium">{format!("Job {}: {what}: ", job.id)}<span data-testid="job-state">{job.state.to_string()}</span></p>
                {cancel_form}
            </div>
            {waiting}
            {failure}
            {console}
            {progress}
            <ol class="mt-2 space-y-1 text-sm" data-testid="job-phases">{phases}</ol>
        </div>
    }
}

fn progress_view(job: &Job) -> impl IntoView {
    let p = job.progress;
    let percent = if p.total > 0 {
        (p.done as f64 * 100.0 / p.total as f64).clamp(0.0, 100.0)
    } else {
        0.0
    };
    let left = (p.bytes_per_second > 0 && p.total > p.done)
        .then(|| format!(", {} s left", (p.total - p.done) / p.bytes_per_second));
    let text = format!(
        "{} of {} ({percent:.0} %), {}/s{}",
        format_bytes(p.done),
        format_bytes(p.total),
        format_bytes(p.bytes_per_second),
        left.unwrap_or_default()
    );
    view! {
        <div class="mt-2">
            <div class="h-3 w-full rounded bg-slate-200 dark:bg-slate-800" role="progressbar"
                aria-label="job progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{percent:.0}") data-testid="job-progress">
                {meter(percent, "h-3", "fill-indigo-600")}
            </div>
            <p class="mt-1 text-sm text-slate-600 dark:text-slate-400" data-testid="job-progress-text">{text}</p>
        </div>
    }
}

/// In the browser: listens to the machine's changes on `/api/v1/events` and bumps `changed`
/// for each.
fn live_updates(id: impl Fn() -> i64 + Copy + Send + Sync + 'static, changed: RwSignal<u64>) {
    crate::components::on_changes(move || format!("/api/v1/events?machine={}", id()), changed);
}
