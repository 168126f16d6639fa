//! The home page: the machines the user may see, who holds them, and the user's reservations.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::machines::dashboard;
use crate::components::{Availability, ErrorBox, Time, CARD, H1, H2};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| dashboard());
    view! {
        <Title text="Machines · baas"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(data) => {
                        let now = data.now;
                        let mine = data
                            .mine
                            .into_iter()
                            .filter(|r| r.state == lab::model::ReservationState::Active && r.end_at > now)
                            .map(|r| view! {
                                <li>
                                    <a class="font-medium underline" href=format!("/machines/{}", r.machine_id)>{r.machine_name}</a>
                                    ": "<Time at=r.start_at/>" → "<Time at=r.end_at/>
                                    {(r.start_at <= now).then_some(" (now)")}
                                </li>
                            })
                            .collect_view();
                        let empty = data.machines.is_empty();
                        let cards = data
                            .machines
                            .into_iter()
                            .map(|m| {
                                let href = format!("/machines/{}", m.id);
                                let detail = format!("{} · {}", m.platform, if m.location.is_empty() { "no location" } else { &m.location });
                                let tags = m.tags.join(", ");
                                view! {
                                    <a href=href class=format!("{CARD} block hover:border-indigo-400") data-testid="machine-card">
                                        <div class="flex items-start justify-between gap-2">
                                            <h3 class="font-semibold">{m.name.clone()}</h3>
                                            <span class="text-xs text-slate-500">{m.my_level.as_str()}</span>
                                        </div>
                                        <p class="text-sm text-slate-500">{detail}</p>
                                        <p class="text-xs text-slate-500">{tags}</p>
                                        <div class="mt-2"><Availability machine=m/></div>
                                    </a>
                                }
                            })
                            .collect_view();
                        view! {
                            <section class="mb-8">
                                <h1 class=H1>"Machines"</h1>
                                {empty.then(|| view! { <p class="text-slate-500">"No machines are shared with you yet."</p> })}
                                <div class="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">{cards}</div>
                            </section>
                            <section>
                                <h2 class=H2>"My current and upcoming reservations"</h2>
                                <ul class="list-disc pl-5 text-sm">{mine}</ul>
                                <a class="text-sm underline" href="/reservations">"All my reservations"</a>
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
