//! The lab calendar: machines × days, like a lease calendar. Bookings are bars (the viewer's
//! own highlighted); a free slot of a machine one may use opens a booking form for it. Also
//! "reserve any machine with tag T".

use lab::model::{format_utc, to_datetime_local, CalendarRow};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::reservations::{calendar, Reserve, ReserveAny};
use crate::components::{
    field_error, form_status, now_mark, span_block, ErrorBox, LocalDateTime, BUTTON,
    BUTTON_SECONDARY, CARD, H1, H2, INPUT, LABEL,
};

/// Hours per clickable slot.
const SLOT_HOURS: i64 = 6;
const DAYS: i64 = 7;

/// A slot picked from the grid: (machine id, machine name, start, end).
type Pick = (i64, String, i64, i64);

#[component]
pub fn CalendarPage() -> impl IntoView {
    let query = use_query_map();
    let tag = move || query.read().get("tag").unwrap_or_default();
    let from = move || query.read().get("from").unwrap_or_default();
    let reserve = ServerAction::<Reserve>::new();
    let reserve_any = ServerAction::<ReserveAny>::new();
    let data = Resource::new(
        move || {
            (
                tag(),
                from(),
                reserve.version().get(),
                reserve_any.version().get(),
            )
        },
        |(tag, from, _, _)| calendar(tag, from, DAYS),
    );
    let picked = RwSignal::new(None::<Pick>);
    view! {
        <Title text="Calendar · baas"/>
        <h1 class=H1>"Lab calendar"</h1>
        <form method="get" class="mb-3 flex flex-wrap items-end gap-2">
            <label class=LABEL>"Tag"<input class=INPUT name="tag" value=tag placeholder="all machines"/></label>
            <input type="hidden" name="from" value=from/>
            <button class=BUTTON_SECONDARY type="submit">"Filter"</button>
        </form>
        {form_status(reserve.value(), "Reserved.")}
        {field_error(reserve.value(), "start")}
        {field_error(reserve.value(), "end")}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(view) => {
                        let day = 86_400;
                        let nav = |at: i64| {
                            let date = format_utc(at)[..10].to_string();
                            format!("/calendar?tag={}&from={date}", tag())
                        };
                        let (earlier, later) = (nav(view.from - DAYS * day), nav(view.from + DAYS * day));
                        let span = (view.to - view.from) as f64;
                        let heads = (0..DAYS).map(|d| {
                            let label = format_utc(view.from + d * day)[5..10].to_string();
                            view! { <div class="flex-1 border-l border-slate-300 pl-1 dark:border-slate-700">{label}</div> }
                        }).collect_view();
                        let now_left = ((view.now - view.from) as f64 * 100.0 / span).clamp(0.0, 100.0);
                        let rows = view.rows.into_iter().map(|row| {
                            calendar_row(row, view.from, view.to, view.now, picked)
                        }).collect_view();
                        view! {
                            <div class="mb-2 flex items-center gap-2 text-sm">
                                <a class="underline" href=earlier>"← earlier"</a>
                                <span class="text-slate-500">{format!("{} to {} (UTC)", &format_utc(view.from)[..10], &format_utc(view.to - 1)[..10])}</span>
                                <a class="underline" href=later>"later →"</a>
                                <span class="ml-4 inline-block h-3 w-3 rounded bg-indigo-600"></span>"mine"
                                <span class="inline-block h-3 w-3 rounded bg-slate-500"></span>"others"
                            </div>
                            <div class="overflow-x-auto" data-testid="calendar">
                                <div class="min-w-[48rem]">
                                    <div class="flex text-xs text-slate-500"><div class="w-36 shrink-0"></div><div class="flex flex-1">{heads}</div></div>
                                    {rows}
                                    <div class="flex"><div class="w-36 shrink-0"></div>
                                        <svg class="-mt-1 block h-1 flex-1">{now_mark(now_left)}</svg>
                                    </div>
                                </div>
                            </div>
                            <ReserveAnyForm action=reserve_any now=view.now/>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        {move || picked.get().map(|(machine_id, name, start, end)| view! {
            <div class=format!("{CARD} mt-4 max-w-xl") data-testid="book-slot">
                <h2 class=H2>{format!("Reserve {name}")}</h2>
                <ActionForm action=reserve attr:class="space-y-2">
                    <input type="hidden" name="machine_id" value=machine_id/>
                    <label class=LABEL>"Start"<LocalDateTime name="start" at=start label="start"/></label>
                    <label class=LABEL>"End"<LocalDateTime name="end" at=end label="end"/></label>
                    <label class=LABEL>"Note"<input class=INPUT name="note" maxlength="200"/></label>
                    <div class="flex gap-2">
                        <button class=BUTTON type="submit">"Reserve"</button>
                        <button class=BUTTON_SECONDARY type="button" on:click=move |_| picked.set(None)>"Close"</button>
                    </div>
                </ActionForm>
            </div>
        })}
    }
}

/// One machine's bar: free slots as buttons under the bookings.
fn calendar_row(
    row: CalendarRow,
    from: i64,
    to: i64,
    now: i64,
    picked: RwSignal<Option<Pick>>,
) -> impl IntoView {
    let span = (to - from) as f64;
    let slot = SLOT_HOURS * 3600;
    let slots = (0..(to - from) / slot).map(|i| {
        let (start, end) = (from + i * slot, from + (i + 1) * slot);
        let taken = row.bookings.iter().any(|b| b.start_at <= start.max(now) && b.end_at >= end);
        let usable = row.bookable && end > now && !taken;
        let (name, machine_id) = (row.machine_name.clone(), row.machine_id);
        let label = format!("book {} from {}", row.machine_name, format_utc(start.max(now)));
        view! {
            <button
                type="button"
                class="h-full flex-1 border-l border-slate-200 hover:bg-emerald-100 disabled:cursor-default disabled:hover:bg-transparent dark:border-slate-800 dark:hover:bg-emerald-900"
                disabled=!usable
                title=label.clone()
                aria-label=label
                data-slot-start=to_datetime_local(start)
                on:click=move |_| picked.set(Some((machine_id, name.clone(), start.max(now + 60), end)))
            ></button>
        }
    }).collect_view();
    let bars = row
        .bookings
        .iter()
        .map(|b| {
            let left = ((b.start_at.max(from) - from) as f64 * 100.0 / span).max(0.0);
            let width = ((b.end_at.min(to) - b.start_at.max(from)) as f64 * 100.0 / span).max(0.5);
            let colour = if b.mine {
                "fill-indigo-600"
            } else {
                "fill-slate-500"
            };
            let title = format!(
                "{}: {} → {}",
                b.username,
                format_utc(b.start_at),
                format_utc(b.end_at)
            );
            view! {
                <g data-mine=b.mine.to_string() data-testid="booking">
                    {span_block(left, width, colour, b.username.clone(), title)}
                </g>
            }
        })
        .collect_view();
    let state = (row.state != lab::model::MachineState::Available).then(|| {
        view! {
            <span class="ml-1 text-xs text-amber-600">{row.state.as_str()}</span>
        }
    });
    view! {
        <div class="flex border-t border-slate-200 dark:border-slate-800" data-machine=row.machine_name.clone()>
            <div class="w-36 shrink-0 truncate py-2 pr-2 text-sm">
                <a class="underline" href=format!("/machines/{}", row.machine_id)>{row.machine_name.clone()}</a>
                {state}
            </div>
            <div class="relative flex h-9 flex-1 bg-slate-50 dark:bg-slate-900">
                {slots}
                <svg class="pointer-events-none absolute inset-0 h-full w-full">{bars}</svg>
            </div>
        </div>
    }
}

/// "Reserve any free machine with tag T for D": books one atomically, or says when the first
/// one frees up.
#[component]
pub fn ReserveAnyForm(action: ServerAction<ReserveAny>, now: i64) -> impl IntoView {
    let booked = move || {
        action.value().get().and_then(Result::ok).map(|booked| {
            let set = booked.first().map(|r| r.set_id.unwrap_or(r.id)).unwrap_or_default();
            let several = booked.len() > 1;
            let machines = booked
                .into_iter()
                .enumerate()
                .map(|(i, r)| view! {
                    {if i > 0 { ", " } else { "" }}
                    <a class="underline" href=format!("/machines/{}", r.machine_id)>{r.machine_name}</a>
                })
                .collect_view();
            view! {
                <p role="status" class="mb-2 text-sm text-emerald-700 dark:text-emerald-300" data-testid="reserved-set">
                    "Reserved "{machines}"."
                    {several.then(|| view! {
                        " "<a class="underline" href=format!("/batches/new?reservation={set}")>"Deploy to all of them"</a>
                    })}
                </p>
            }
        })
    };
    view! {
        <div class=format!("{CARD} mt-4 max-w-2xl")>
            <h2 class=H2>"Reserve free machines with a tag"</h2>
            {booked}
            {form_status(action.value(), "")}
            <ActionForm action=action attr:class="flex flex-wrap items-end gap-2">
                <label class=LABEL>"Tag"<input class=INPUT name="tag" required placeholder="gpu"/></label>
                <label class=LABEL>"Machines"<input class=INPUT name="count" type="number" min="1" max="256" value="1" required/></label>
                <label class=LABEL>"Start"<LocalDateTime name="start" at=now label="start"/></label>
                <label class=LABEL>"End"<LocalDateTime name="end" at=now + 4 * 3600 label="end"/></label>
                <input type="hidden" name="note" value=""/>
                <button class=BUTTON type="submit">"Reserve all or none"</button>
            </ActionForm>
            {field_error(action.value(), "tag")}
            {field_error(action.value(), "count")}
            {field_error(action.value(), "start")}
            {field_error(action.value(), "end")}
        </div>
    }
}
