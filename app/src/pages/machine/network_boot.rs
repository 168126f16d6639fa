//! The machine page's network boot panel: the boot steps seen (DHCP, TFTP, scripts).

use leptos::prelude::*;

use crate::components::{Time, CARD, H2, TABLE, TD, TH};

/// The network boot panel: the machine's boot steps, newest first. (Its jobs are the Deploy
/// panel's, which stays live.)
pub(super) fn network_boot_view(events: Vec<lab::model::BootEvent>) -> impl IntoView {
    view! {
        <div class=format!("{CARD} mt-4")>
            <h2 class=H2>"Network boot"</h2>
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
