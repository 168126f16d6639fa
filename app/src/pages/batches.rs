//! Batches: the form that deploys one image to every machine of a reservation (or set), and a
//! batch's page — a grid of its machines, each with its phase and progress, the batch's bytes,
//! rate and time left, live from the event stream; cancel it, retry its failed machines.

use lab::model::{format_bytes, Batch, Job, JobState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::batches::{batch_form, show_batch, CancelBatch, CreateBatch, RetryBatch};
use crate::components::{
    field_error, form_status, meter, ErrorBox, Time, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD,
    H1, H2, INPUT, LABEL,
};
use crate::pages::id_param;

#[component]
pub fn NewBatchPage() -> impl IntoView {
    let create = ServerAction::<CreateBatch>::new();
    let query = use_query_map();
    let chosen = move || {
        query
            .read()
            .get("reservation")
            .and_then(|r| r.parse::<i64>().ok())
    };
    let form = Resource::new(move || create.version().get(), |_| batch_form());
    // Once created, the batch's own page follows it.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(batch)) = create.value().get() {
            let navigate = leptos_router::hooks::use_navigate();
            navigate(&format!("/batches/{}", batch.id), Default::default());
        }
    });
    view! {
        <Title text="Deploy to many machines · baas"/>
        <h1 class=H1>"Deploy to many machines"</h1>
        {form_status(create.value(), "Batch created.")}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match form.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(form) => {
                        let targets = form.targets.iter().map(|t| {
                            let selected = chosen() == Some(t.reservation);
                            view! {
                                <option value=t.reservation selected=selected>
                                    {format!("{} machine{}: {}", t.machines, if t.machines == 1 { "" } else { "s" }, t.label)}
                                </option>
                            }
                        }).collect_view();
                        let images = form.images.iter().map(|i| view! {
                            <option value=i.id>{i.label.clone()}</option>
                        }).collect_view();
                        let empty = form.targets.is_empty() || form.images.is_empty();
                        let hint = if form.targets.is_empty() {
                            Some("You hold no reservation now: reserve machines on the calendar first.")
                        } else if form.images.is_empty() {
                            Some("No raw disk image in your library yet: upload one under Images.")
                        } else {
                            None
                        };
                        let recent = form.recent.iter().map(|b| {
                            let tally = b.tally();
                            view! {
                                <li>
                                    <a class="underline" href=format!("/batches/{}", b.id)>{format!("Batch {}", b.id)}</a>
                                    {format!(": {} to {} machines, {}",
                                        b.image.as_ref().map(|i| format!("{} v{}", i.name, i.version)).unwrap_or_default(),
                                        tally.machines, tally.summary())}
                                </li>
                            }
                        }).collect_view();
                        view! {
                            <div class=format!("{CARD} max-w-2xl")>
                                <ActionForm action=create attr:class="grid gap-3" attr:data-testid="batch-form">
                                    <label class=LABEL>"Machines"
                                        <select class=INPUT name="reservation" required=true>{targets}</select>
                                        {field_error(create.value(), "machines")}
                                    </label>
                                    <label class=LABEL>"Image"
                                        <select class=INPUT name="image_id" required=true>{images}</select>
                                        {field_error(create.value(), "image")}
                                    </label>
                                    <label class=LABEL>"Transfer"
                                        <select class=INPUT name="transfer">
                                            <option value="auto">"Automatic: the machines relay the image to each other from three on"</option>
                                            <option value="relay">"Relay: each machine streams from the one before it"</option>
                                            <option value="direct">"Direct: each machine streams from baas"</option>
                                        </select>
                                    </label>
                                    {hint.map(|hint| view! { <p class="text-sm text-slate-500">{hint}</p> })}
                                    <div><button class=BUTTON type="submit" disabled=empty>"Deploy to all of them"</button></div>
                                </ActionForm>
                            </div>
                            {(!form.recent.is_empty()).then(|| view! {
                                <div class=format!("{CARD} mt-4 max-w-2xl")>
                                    <h2 class=H2>"Your recent batches"</h2>
                                    <ul class="list-disc pl-5 text-sm">{recent}</ul>
                                </div>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn BatchPage() -> impl IntoView {
    let id = id_param();
    let cancel = ServerAction::<CancelBatch>::new();
    let retry = ServerAction::<RetryBatch>::new();
    let changed = RwSignal::new(0u64);
    live_updates(changed);
    let data = Resource::new(
        move || {
            (
                id(),
                cancel.version().get(),
                retry.version().get(),
                changed.get(),
            )
        },
        |(id, ..)| show_batch(id),
    );
    view! {
        <Title text="Batch · baas"/>
        {form_status(cancel.value(), "Batch cancelled.")}
        {form_status(retry.value(), "The failed machines are deployed to again.")}
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(batch) => batch_view(batch, cancel, retry).into_any(),
                }
            })}
        </Transition>
    }
}

fn batch_view(
    batch: Batch,
    cancel: ServerAction<CancelBatch>,
    retry: ServerAction<RetryBatch>,
) -> impl IntoView {
    let tally = batch.tally();
    let image = batch
        .image
        .as_ref()
        .map(|i| format!("{} v{}", i.name, i.version))
        .unwrap_or_else(|| "an image since deleted".into());
    let percent = if tally.bytes_total > 0 {
        tally.bytes_done as f64 * 100.0 / tally.bytes_total as f64
    } else {
        0.0
    };
    let mut written = tally.summary();
    if tally.bytes_total > 0 {
        written.push_str(&format!(
            " · {} of {} written",
            format_bytes(tally.bytes_done),
            format_bytes(tally.bytes_total)
        ));
    }
    if let Some(left) = tally.seconds_left() {
        written.push_str(&format!(
            " at {}/s, about {left} s left",
            format_bytes(tally.bytes_per_second)
        ));
    }
    let id = batch.id;
    let finished = batch.finished();
    let retriable = finished && (tally.failed + tally.cancelled) > 0;
    let cells = batch.jobs.into_iter().map(machine_cell).collect_view();
    view! {
        <h1 class=H1>{format!("Batch {id}: {image} to {} machines", tally.machines)}</h1>
        <div class=CARD data-testid="batch-summary">
            <p class="text-sm text-slate-600 dark:text-slate-400">
                {format!("Requested by {} ", batch.requested_by.clone().unwrap_or_else(|| "the system".into()))}
                <Time at=batch.created_at/>
                {format!(" · {}", match batch.transfer {
                    lab::model::Transfer::Relay => "the machines relay the image to each other",
                    lab::model::Transfer::Direct => "each machine streams from baas",
                })}
            </p>
            <div class="mt-2 h-3 w-full rounded bg-slate-200 dark:bg-slate-800" role="progressbar"
                aria-label="batch progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{percent:.0}")>
                {meter(percent, "h-3", "fill-indigo-600")}
            </div>
            <p class="mt-1 text-sm" data-testid="batch-tally">{written}</p>
            <div class="mt-3 flex gap-2">
                {(!finished).then(|| view! {
                    <ActionForm action=cancel>
                        <input type="hidden" name="id" value=id/>
                        <button class=BUTTON_DANGER type="submit">"Cancel the batch"</button>
                    </ActionForm>
                })}
                {retriable.then(|| view! {
                    <ActionForm action=retry>
                        <input type="hidden" name="id" value=id/>
                        <button class=BUTTON_SECONDARY type="submit">"Retry the failed machines"</button>
                    </ActionForm>
                })}
            </div>
        </div>
        <ul class="mt-4 grid gap-3 sm:grid-cols-2 lg:grid-cols-4" data-testid="batch-grid">{cells}</ul>
    }
}

/// One machine of the batch: its phase, its progress, and why it failed.
fn machine_cell(job: Job) -> impl IntoView {
    let colour = match job.state {
        JobState::Booted => {
            "bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-200"
        }
        JobState::Failed | JobState::Cancelled => {
            "bg-rose-100 text-rose-800 dark:bg-rose-900 dark:text-rose-200"
        }
        JobState::BootUnobserved => {
            "bg-amber-100 text-amber-800 dark:bg-amber-900 dark:text-amber-200"
        }
        _ => "bg-indigo-100 text-indigo-800 dark:bg-indigo-900 dark:text-indigo-200",
    };
    let percent = match job.state {
        JobState::Writing | JobState::Verifying if job.progress.total > 0 => {
            job.progress.done as f64 * 100.0 / job.progress.total as f64
        }
        JobState::Rebooting | JobState::Booting | JobState::Booted | JobState::BootUnobserved => {
            100.0
        }
        _ => 0.0,
    };
    let detail = match job.state {
        JobState::Failed => format!("{}: {}", job.failed_step, job.reason),
        JobState::Writing | JobState::Verifying if job.progress.total > 0 => format!(
            "{} of {} at {}/s",
            format_bytes(job.progress.done),
            format_bytes(job.progress.total),
            format_bytes(job.progress.bytes_per_second)
        ),
        _ => job.agent_said.clone(),
    };
    view! {
        <li class=CARD data-testid="batch-machine" data-machine=job.machine.clone() data-state=job.state.as_str()>
            <div class="flex items-center justify-between gap-2">
                <a class="font-medium underline" href=format!("/machines/{}", job.machine_id)>{job.machine.clone()}</a>
                <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {colour}")>{job.state.as_str()}</span>
            </div>
            <div class="mt-2 h-2 w-full rounded bg-slate-200 dark:bg-slate-800" role="progressbar"
                aria-label=format!("{} progress", job.machine) aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{percent:.0}")>
                {meter(percent, "h-2", "fill-indigo-600")}
            </div>
            <p class="mt-1 break-words text-xs text-slate-600 dark:text-slate-400">{detail}</p>
        </li>
    }
}

/// In the browser: every change on `/api/v1/events` the caller may see bumps `changed` (the
/// batch is read again; changes of other machines cost a read, never a wrong view).
fn live_updates(changed: RwSignal<u64>) {
    crate::components::on_changes(|| "/api/v1/events".to_string(), changed);
}
