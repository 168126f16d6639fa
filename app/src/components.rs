//! Pieces shared by the pages: navigation, form feedback, badges, the reservation timeline.

use lab::model::{
    format_rfc3339, format_utc, to_datetime_local, Machine, MachineState, Reservation,
};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::session::{current_user, Logout};
use crate::error::AppError;

pub const CARD: &str = "rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900";
pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-1 focus:ring-indigo-500 dark:border-slate-700 dark:bg-slate-800";
pub const LABEL: &str = "block text-sm font-medium text-slate-700 dark:text-slate-300";
pub const BUTTON: &str = "inline-flex items-center rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 disabled:opacity-50";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800";
pub const BUTTON_DANGER: &str = "inline-flex items-center rounded-md bg-rose-600 px-3 py-1.5 text-sm font-semibold text-white hover:bg-rose-500";
pub const H1: &str = "mb-4 text-2xl font-bold tracking-tight";
pub const H2: &str = "mb-3 text-lg font-semibold";
pub const TABLE: &str = "min-w-full divide-y divide-slate-200 text-sm dark:divide-slate-800";
pub const TH: &str = "px-3 py-2 text-left font-semibold text-slate-600 dark:text-slate-400";
pub const TD: &str = "px-3 py-2 align-top";

/// A moment for people: rendered in UTC, shown by `/local-time.js` in the browser's time zone,
/// with UTC in the tooltip.
#[component]
pub fn Time(at: i64) -> impl IntoView {
    view! { <time datetime=format_rfc3339(at) data-local="" title=format_utc(at)>{format_utc(at)}</time> }
}

/// A `datetime-local` field in the user's time zone for the UTC form value `name`: the page
/// renders UTC in a hidden field, `/local-time.js` shows and keeps it in local time.
#[component]
pub fn LocalDateTime(name: &'static str, at: i64, label: &'static str) -> impl IntoView {
    view! {
        <input type="hidden" name=name value=to_datetime_local(at)/>
        <input class=INPUT type="datetime-local" data-utc-for=name value=to_datetime_local(at) aria-label=label/>
    }
}

/// Top bar: the lab's name, links for the logged-in user, log-out.
#[component]
pub fn Nav() -> impl IntoView {
    // One resource for the user and their unread notices: a second suspense nested in this one
    // would not hydrate.
    let me = Resource::new(
        || (),
        |_| async {
            let user = current_user().await;
            let unread = crate::api::notices::unread_notices().await.unwrap_or(0);
            (user, unread)
        },
    );
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/login");
        }
    });
    let link = "rounded-md px-2 py-1 hover:bg-slate-800";
    view! {
        <header class="bg-slate-900 text-slate-100">
            <nav class="mx-auto flex max-w-6xl flex-wrap items-center gap-2 px-4 py-3 text-sm">
                <a href="/" class="mr-4 text-lg font-bold tracking-tight">"baas"</a>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        let (user, unread) = me.await;
                        match user {
                            Ok(Some(user)) => {
                                let admin_links = user.is_admin.then(|| view! {
                                    <A href="/admin/users" attr:class=link>"Users"</A>
                                    <A href="/admin/groups" attr:class=link>"Groups"</A>
                                    <A href="/admin/machines/new" attr:class=link>"Add machine"</A>
                                    <A href="/admin/discovered" attr:class=link>"Discovered"</A>
                                    <A href="/admin/audit" attr:class=link>"Audit log"</A>
                                    <A href="/admin/settings" attr:class=link>"Settings"</A>
                                });
                                view! {
                                    <A href="/" attr:class=link>"Machines"</A>
                                    <A href="/reservations" attr:class=link>"My reservations"</A>
                                    <A href="/calendar" attr:class=link>"Calendar"</A>
                                    <A href="/notices" attr:class=link>
                                        "Notices"
                                        {(unread > 0).then(|| view! {
                                            <span class="ml-1 rounded-full bg-amber-400 px-1.5 text-xs font-semibold text-slate-900" data-testid="unread-notices">{unread}</span>
                                        })}
                                    </A>
                                    <A href="/images" attr:class=link>"Images"</A>
                                    {admin_links}
                                    <span class="flex-1"></span>
                                    <A href="/account" attr:class=link>
                                        <span data-testid="whoami">{user.username.clone()}</span>
                                    </A>
                                    <ActionForm action=logout>
                                        <button type="submit" class="rounded-md bg-slate-700 px-2 py-1 hover:bg-slate-600">
                                            "Log out"
                                        </button>
                                    </ActionForm>
                                }.into_any()
                            }
                            _ => ().into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

/// A red box for an error that is not about one field.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let login = (error.kind == crate::error::ErrorKind::Unauthenticated)
        .then(|| view! { " " <a class="underline" href="/login">"Log in"</a> });
    view! {
        <div role="alert" class="rounded-md border border-rose-300 bg-rose-50 p-3 text-sm text-rose-800 dark:border-rose-800 dark:bg-rose-950 dark:text-rose-200">
            {error.error.clone()}
            {login}
        </div>
    }
}

/// The outcome of a submitted form: an error banner or a success note.
pub fn form_status<T, S>(value: S, success: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    // try_get: a server render whose request has gone away may run this after its owner is disposed.
    move || {
        match value.try_get().flatten() {
        Some(Err(error)) => {
            let message = if error.fields.is_empty() {
                error.error.clone()
            } else {
                "Please correct the fields marked below.".to_string()
            };
            view! {
                <div role="alert" class="mb-3 rounded-md border border-rose-300 bg-rose-50 p-2 text-sm text-rose-800 dark:border-rose-800 dark:bg-rose-950 dark:text-rose-200">
                    {message}
                </div>
            }
            .into_any()
        }
        Some(Ok(_)) if !success.is_empty() => view! {
            <div role="status" class="mb-3 rounded-md border border-emerald-300 bg-emerald-50 p-2 text-sm text-emerald-800 dark:border-emerald-800 dark:bg-emerald-950 dark:text-emerald-200">
                {success}
            </div>
        }
        .into_any(),
        _ => ().into_any(),
    }
    }
}

/// The message for one field of a submitted form, shown under the field.
pub fn field_error<T, S>(value: S, field: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || {
        value
            .try_get()
            .flatten()
            .and_then(|result| result.err())
            .and_then(|error| error.field(field))
            .map(|message| {
                view! { <p class="mt-1 text-sm text-rose-600 dark:text-rose-400" data-field-error=field>{message}</p> }
            })
    }
}

/// Who holds a machine now, or that it is free; and its state when not available.
#[component]
pub fn Availability(machine: Machine) -> impl IntoView {
    // A flex container trims the spaces at the edges of its text runs: the gap keeps "until"
    // and the time apart.
    let badge = "inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium";
    let state = match machine.state {
        MachineState::Available => None,
        other => Some(view! {
            <span class=format!("{badge} bg-amber-100 text-amber-800 dark:bg-amber-900 dark:text-amber-200")>
                {other.as_str()}
            </span>
        }),
    };
    let holder = match (&machine.holder, &machine.next) {
        (Some(h), _) => view! {
            <span class=format!("{badge} bg-rose-100 text-rose-800 dark:bg-rose-900 dark:text-rose-200")>
                {format!("held by {} until ", h.username)}<Time at=h.end_at/>
            </span>
        }
        .into_any(),
        (None, Some(n)) => view! {
            <span class=format!("{badge} bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-200")>
                "free until "<Time at=n.start_at/>{format!(" ({})", n.username)}
            </span>
        }
        .into_any(),
        (None, None) => view! {
            <span class=format!("{badge} bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-200")>
                "free"
            </span>
        }
        .into_any(),
    };
    view! { <span class="inline-flex flex-wrap gap-1">{state}{holder}</span> }
}

/// The next seven days as a bar, with each active reservation as a block.
#[component]
pub fn Timeline(reservations: Vec<Reservation>, now: i64) -> impl IntoView {
    const SPAN: i64 = 7 * 24 * 3600;
    let day_start = now - now.rem_euclid(24 * 3600);
    let end = day_start + SPAN;
    let blocks = reservations
        .into_iter()
        .filter(|r| {
            r.state == lab::model::ReservationState::Active
                && r.end_at > day_start
                && r.start_at < end
        })
        .map(|r| {
            let from = r.start_at.max(day_start) - day_start;
            let to = r.end_at.min(end) - day_start;
            let left = from as f64 * 100.0 / SPAN as f64;
            let width = ((to - from) as f64 * 100.0 / SPAN as f64).max(0.5);
            let title = format!(
                "{}: {} → {}",
                r.username,
                format_utc(r.start_at),
                format_utc(r.end_at)
            );
            span_block(left, width, "fill-indigo-700", r.username, title)
        })
        .collect_view();
    let now_left = (now - day_start) as f64 * 100.0 / SPAN as f64;
    let days = (0..7)
        .map(|d| {
            let label = format_utc(day_start + d * 24 * 3600);
            view! { <div class="flex-1 border-l border-slate-300 pl-1 dark:border-slate-700">{label[5..10].to_string()}</div> }
        })
        .collect_view();
    view! {
        <div aria-label="reservations over the next seven days (days in UTC)">
            <div class="flex text-xs text-slate-500">{days}</div>
            <svg class="block h-8 w-full rounded bg-slate-100 dark:bg-slate-800">
                {blocks}
                {now_mark(now_left)}
            </svg>
        </div>
    }
}

/// A bar filled `percent` (0–100) of its width. Drawn in SVG: a width given as an attribute is
/// no inline style, so the Content-Security-Policy allows no inline styles at all.
pub fn meter(percent: f64, height: &'static str, fill: &'static str) -> impl IntoView {
    view! {
        <svg class=format!("block {height} w-full") aria-hidden="true">
            <rect class=fill height="100%" rx="3" width=format!("{:.1}%", percent.clamp(0.0, 100.0))/>
        </svg>
    }
}

/// A labelled span of a time line, `left` and `width` in percent of it (an SVG of its own
/// inside the time line's SVG: it clips its label, and needs no inline style).
pub fn span_block(
    left: f64,
    width: f64,
    fill: &'static str,
    label: String,
    title: String,
) -> impl IntoView {
    view! {
        <svg x=format!("{left:.3}%") width=format!("{width:.3}%") y="12%" height="76%">
            <title>{title}</title>
            <rect class=fill width="100%" height="100%" rx="3"/>
            <text class="fill-white text-xs" x="4" y="50%" dominant-baseline="central">{label}</text>
        </svg>
    }
}

/// The "now" mark across a time line's SVG, at `left` percent.
pub fn now_mark(left: f64) -> impl IntoView {
    view! {
        <rect class="fill-rose-500" x=format!("{left:.3}%") width="2" height="100%">
            <title>"now"</title>
        </rect>
    }
}

/// In the browser: listens to the changes on the event stream at `url` (EventSource reconnects
/// by itself and resumes with Last-Event-ID) and bumps `changed` for each; `url` is read again
/// when the signals it reads change.
pub fn on_changes(url: impl Fn() -> String + Send + Sync + 'static, changed: RwSignal<u64>) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new(&url()) else {
            return;
        };
        let bump = Closure::<dyn Fn()>::new(move || changed.update(|n| *n += 1));
        for kind in ["job", "resync"] {
            let _ = source.add_event_listener_with_callback(kind, bump.as_ref().unchecked_ref());
        }
        let source = send_wrapper::SendWrapper::new((source, bump));
        on_cleanup(move || source.0.close());
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, changed);
}
