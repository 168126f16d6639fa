//! The user's notices (a reservation ends soon; for admins, a failed reset) and the page a
//! notice links to, which extends the reservation.

use lab::model::{NoticeKind, ReservationState};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::notices::{get_reservation, my_notices, ExtendReservation, MarkNoticesRead};
use crate::components::{
    field_error, form_status, ErrorBox, Time, BUTTON, BUTTON_SECONDARY, CARD, H1, INPUT, LABEL,
};
use crate::pages::id_param;

#[component]
pub fn NoticesPage() -> impl IntoView {
    let mark = ServerAction::<MarkNoticesRead>::new();
    let notices = Resource::new(move || mark.version().get(), |_| my_notices());
    view! {
        <Title text="Notices · baas"/>
        <div class="mb-4 flex flex-wrap items-center gap-3">
            <h1 class=format!("{H1} mb-0")>"Notices"</h1>
            <ActionForm action=mark>
                <button class=BUTTON_SECONDARY type="submit">"Mark all as read"</button>
            </ActionForm>
            <a class="text-sm underline" href="/account#notices">"Which notices I get"</a>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match notices.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="text-slate-500">"No notices yet. baas tells you here (and by email or webhook, as you choose) before your reservations end."</p>
                    }.into_any(),
                    Ok(list) => list.into_iter().map(|n| {
                        let unread = n.read_at.is_none();
                        let action = match n.kind {
                            NoticeKind::Ending => "Extend",
                            NoticeKind::ResetFailed | NoticeKind::JobEnded => "Open the machine",
                        };
                        let link = (!n.link.is_empty()).then(|| view! {
                            <a class=BUTTON href=n.link.clone()>{action}</a>
                        });
                        let mark_one = unread.then(|| view! {
                            <ActionForm action=mark>
                                <input type="hidden" name="id" value=n.id/>
                                <button class=BUTTON_SECONDARY type="submit">"Mark as read"</button>
                            </ActionForm>
                        });
                        view! {
                            <article class=format!("{CARD} mb-3") data-testid="notice" data-unread=unread.to_string()>
                                <div class="flex flex-wrap items-baseline gap-2">
                                    <h2 class="font-semibold">{n.subject}</h2>
                                    {unread.then(|| view! { <span class="rounded-full bg-indigo-100 px-2 text-xs text-indigo-800 dark:bg-indigo-900 dark:text-indigo-200">"new"</span> })}
                                    <span class="text-xs text-slate-500"><Time at=n.created_at/></span>
                                </div>
                                <p class="mt-1 whitespace-pre-line text-sm">{n.body}</p>
                                <div class="mt-2 flex flex-wrap gap-2">{link}{mark_one}</div>
                            </article>
                        }
                    }).collect_view().into_any(),
                }
            })}
        </Suspense>
    }
}

/// Extends one reservation from a notice's link: a few common amounts or any number of minutes.
#[component]
pub fn ExtendPage() -> impl IntoView {
    let id = id_param();
    let extend = ServerAction::<ExtendReservation>::new();
    let current = Resource::new(
        move || (id(), extend.version().get()),
        |(id, _)| get_reservation(id),
    );
    let choices = [
        (30, "30 minutes"),
        (60, "1 hour"),
        (240, "4 hours"),
        (1440, "1 day"),
    ];
    view! {
        <Title text="Extend a reservation · baas"/>
        <h1 class=H1>"Extend a reservation"</h1>
        {form_status(extend.value(), "Extended.")}
        {field_error(extend.value(), "end")}
        {field_error(extend.value(), "minutes")}
        {field_error(extend.value(), "by")}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match current.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(r) => {
                        let open = r.state == ReservationState::Active;
                        let buttons = choices.map(|(minutes, label)| view! {
                            <ActionForm action=extend>
                                <input type="hidden" name="id" value=r.id/>
                                <input type="hidden" name="minutes" value=minutes/>
                                <button class=BUTTON type="submit">{format!("+ {label}")}</button>
                            </ActionForm>
                        });
                        view! {
                            <div class=format!("{CARD} max-w-xl")>
                                <p>
                                    {format!("Reservation #{} of ", r.id)}
                                    <a class="underline" href=format!("/machines/{}", r.machine_id)>{r.machine_name.clone()}</a>
                                    {format!(" by {}", r.username)}
                                </p>
                                <p class="mt-1 text-sm">"From "<Time at=r.start_at/>" to "<strong data-testid="reservation-end"><Time at=r.end_at/></strong></p>
                                {if open {
                                    view! {
                                        <div class="mt-3 flex flex-wrap gap-2">{buttons}</div>
                                        <ActionForm action=extend attr:class="mt-3 flex flex-wrap items-end gap-2">
                                            <input type="hidden" name="id" value=r.id/>
                                            <label class=LABEL>"Other (minutes)"<input class=INPUT name="minutes" inputmode="numeric" size="6"/></label>
                                            <button class=BUTTON_SECONDARY type="submit">"Extend"</button>
                                        </ActionForm>
                                        <p class="mt-2 text-xs text-slate-500">"An extension needs the machine to be free after your end, and stays within the lab's booking limits; if not, baas says why."</p>
                                    }.into_any()
                                } else {
                                    view! { <p class="mt-3 text-slate-500">{format!("This reservation is {} and cannot be extended.", r.state)}</p> }.into_any()
                                }}
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
