//! The machine page's network boot panel: boot jobs and the boot steps seen.

use leptos::prelude::*;

use crate::components::{form_status, Time, BUTTON, BUTTON_SECONDARY, CARD, H2, TABLE, TD, TH};

use super::Actions;

/// Boot jobs (with the button that asks for one) and the machine's network boot steps, newest
/// first.
pub(super) fn network_boot_view(
    machine_id: i64,
    can_control: bool,
    management_os_configured: bool,
    jobs: Vec<lab::model::Job>,
    events: Vec<lab::model::BootEvent>,
    actions: Actions,
) -> impl IntoView {
    let open = jobs.iter().any(|j| !j.state.is_final());
    let request = (can_control && !open).then(|| view! {
        <ActionForm action=actions.boot_job attr:class="mb-3">
            <input type="hidden" name="machine_id" value=machine_id/>
            <button class=BUTTON type="submit">"Boot the management OS at the next network boot"</button>
        </ActionForm>
    });
    let unconfigured = (can_control && !management_os_configured).then(|| view! {
        <p class="mb-3 text-sm text-amber-700 dark:text-amber-400" data-testid="no-management-os">
            "This server has no management OS configured (BAAS_MGMT_KERNEL): a boot job waits, and the machine boots its own disk, until one is."
        </p>
    });
    let job_rows = jobs
        .into_iter()
        .map(|job| {
            let cancel = (can_control && !job.state.is_final())
                .then(|| view! {
                    <ActionForm action=actions.cancel_job>
                        <input type="hidden" name="job_id" value=job.id/>
                        <button class=BUTTON_SECONDARY type="submit">"Cancel"</button>
                    </ActionForm>
                });
            let state = job_state_text(&job);
            view! {
                <tr>
                    <td class=TD>{job.id}</td>
                    <td class=TD>{state}</td>
                    <td class=TD>{job.requested_by.unwrap_or_else(|| "admin (shell)".into())}</td>
                    <td class=format!("{TD} whitespace-nowrap")><Time at=job.created_at/></td>
                    <td class=format!("{TD} whitespace-nowrap")>{job.started_at.map(|at| view! { <Time at/> })}</td>
                    <td class=TD>{cancel}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class=format!("{CARD} mt-4")>
            <h2 class=H2>"Network boot"</h2>
            {form_status(actions.boot_job.value(), "Boot job created: the machine boots the management OS at its next network boot.")}
            {form_status(actions.cancel_job.value(), "Boot job cancelled.")}
            {unconfigured}
            {request}
            <table class=format!("{TABLE} mb-4") data-testid="boot-jobs">
                <thead><tr><th class=TH>"Job"</th><th class=TH>"State"</th><th class=TH>"Requested by"</th><th class=TH>"Created"</th><th class=TH>"Started"</th><th class=TH></th></tr></thead>
                <tbody>{job_rows}</tbody>
            </table>
            {boot_events_view(events)}
        </div>
    }
}

/// The machine's network boot steps, newest first.
fn boot_events_view(events: Vec<lab::model::BootEvent>) -> impl IntoView {
    let body = if events.is_empty() {
        view! { <p class="text-sm text-slate-500">"No network boots seen yet."</p> }.into_any()
    } else {
        let rows = events
            .into_iter()
            .map(|e| {
                view! {
                    <tr>
                        <td class=format!("{TD} whitespace-nowrap")><Time at=e.at/></td>
                        <td class=format!("{TD} font-mono")>{e.mac}</td>
                        <td class=TD>{e.kind}</td>
                        <td class=TD>{e.detail}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="overflow-x-auto" tabindex="0">
                <table class=TABLE data-testid="boot-events">
                    <thead><tr><th class=TH>"When"</th><th class=TH>"MAC"</th><th class=TH>"Step"</th><th class=TH>"Detail"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }.into_any()
    };
    body
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
