//! The user's reservations, with extend/shorten and release.

use lab::model::{to_datetime_local, ReservationState};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::reservations::{my_reservations, Release, Reschedule};
use crate::components::{
    form_status, ErrorBox, LocalDateTime, Time, BUTTON_DANGER, BUTTON_SECONDARY, H1, TABLE, TD, TH,
};

#[component]
pub fn ReservationsPage() -> impl IntoView {
    let release = ServerAction::<Release>::new();
    let reschedule = ServerAction::<Reschedule>::new();
    let data = Resource::new(
        move || (release.version().get(), reschedule.version().get()),
        |_| my_reservations(),
    );
    view! {
        <Title text="My reservations · baas"/>
        <h1 class=H1>"My reservations"</h1>
        <p class="mb-3 text-sm">
            <a class="underline" href="/batches/new">"Deploy one image to several of the machines you hold"</a>
        </p>
        {form_status(release.value(), "Reservation released.")}
        {form_status(reschedule.value(), "Reservation changed.")}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="text-slate-500">"You have no reservations."</p> }.into_any(),
                    Ok(list) => {
                        let rows = list
                            .into_iter()
                            .map(|r| {
                                let open = r.state == ReservationState::Active;
                                let actions = open.then(|| view! {
                                    <ActionForm action=reschedule attr:class="flex flex-wrap items-center gap-1">
                                        <input type="hidden" name="id" value=r.id/>
                                        <input type="hidden" name="start" value=to_datetime_local(r.start_at)/>
                                        <LocalDateTime name="end" at=r.end_at label="new end"/>
                                        <button class=BUTTON_SECONDARY type="submit">"Change end"</button>
                                    </ActionForm>
                                    <ActionForm action=release attr:class="mt-1">
                                        <input type="hidden" name="id" value=r.id/>
                                        <button class=BUTTON_DANGER type="submit">"Release"</button>
                                    </ActionForm>
                                });
                                view! {
                                    <tr>
                                        <td class=TD><a class="underline" href=format!("/machines/{}", r.machine_id)>{r.machine_name}</a></td>
                                        <td class=TD><Time at=r.start_at/></td>
                                        <td class=TD><Time at=r.end_at/></td>
                                        <td class=TD>{r.state.as_str()}</td>
                                        <td class=TD>{r.note}</td>
                                        <td class=TD>{actions}</td>
                                    </tr>
                                }
                            })
                            .collect_view();
                        view! {
                            <div class="overflow-x-auto" tabindex="0">
                                <table class=TABLE>
                                    <thead><tr>
                                        <th class=TH>"Machine"</th><th class=TH>"Start"</th><th class=TH>"End"</th>
                                        <th class=TH>"State"</th><th class=TH>"Note"</th><th class=TH></th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
