//! The machine page's Console panel: the machine's serial console in a terminal, for the holder
//! of its reservation (who types) and its managers (who watch and may take the keyboard). The
//! terminal itself is `/console.js` (xterm.js on the console's WebSocket); this is its frame.

use leptos::prelude::*;

use crate::components::{BUTTON_SECONDARY, CARD, H2};

/// The panel for a machine whose BMC speaks IPMI, shown to those who may use its console.
pub(super) fn console_panel(
    machine_id: i64,
    bmc: lab::model::BmcKind,
    allowed: bool,
) -> impl IntoView {
    let body = match (bmc, allowed) {
        (lab::model::BmcKind::Ipmi, true) => view! {
            <div data-console-machine=machine_id data-testid="console-panel" data-state="idle">
                <div class="mb-2 flex flex-wrap items-center gap-2">
                    <button type="button" class=BUTTON_SECONDARY data-role="connect" data-testid="console-connect">"Open console"</button>
                    <span data-role="controls" hidden class="flex flex-wrap items-center gap-2">
                        <button type="button" class=BUTTON_SECONDARY data-role="take-keyboard" data-testid="console-take-keyboard" hidden>"Take the keyboard"</button>
                        <button type="button" class=BUTTON_SECONDARY data-role="break" data-testid="console-break">"Send BREAK"</button>
                        <button type="button" class=BUTTON_SECONDARY data-role="take-over" data-testid="console-take-over" hidden>"Take SOL over"</button>
                    </span>
                    <a class=BUTTON_SECONDARY data-testid="console-download" download=format!("machine-{machine_id}-console.log") href=format!("/api/v1/machines/{machine_id}/console/log")>"Download log"</a>
                </div>
                <p class="mb-2 text-sm text-slate-600 dark:text-slate-300" role="status" data-role="state" data-testid="console-state">
                    "Recorded while the machine is reserved or has a job. Open it to watch live and type."
                </p>
                <div data-role="screen" data-testid="console-screen" class="min-h-24 overflow-hidden rounded-md bg-black p-1"></div>
            </div>
            <script type="module" src="/console.js"></script>
        }
        .into_any(),
        (lab::model::BmcKind::Redfish, true) => view! {
            <p class="text-sm text-slate-500">"This machine's BMC speaks Redfish: its serial console (Redfish SerialConsole over SSH) is not supported yet. Give the machine its IPMI address to use Serial-over-LAN."</p>
        }
        .into_any(),
        _ => view! {
            <p class="text-sm text-slate-500">"The console is open to the machine's current holder and its managers."</p>
        }
        .into_any(),
    };
    view! {
        <div class=format!("{CARD} mt-4")>
            <h2 class=H2>"Console"</h2>
            {body}
        </div>
    }
}
