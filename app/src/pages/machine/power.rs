//! The machine page's power panel: the state its BMC reports and the buttons.

use leptos::prelude::*;

use crate::api::bmc::{Power, PowerStatus, SetBootDevice, TestBmc};
use crate::components::{form_status, Time, BUTTON_SECONDARY, CARD, H2};
use crate::error::AppError;

#[derive(Clone, Copy)]
pub(super) struct PowerControls {
    pub(super) power: ServerAction<Power>,
    pub(super) boot: ServerAction<SetBootDevice>,
    pub(super) test: ServerAction<TestBmc>,
    // The actions' results, read through signals owned by the page, not by its re-rendered body.
    pub(super) power_result: Signal<Option<Result<(), AppError>>>,
    pub(super) boot_result: Signal<Option<Result<(), AppError>>>,
    pub(super) test_result: Signal<Option<Result<String, AppError>>>,
    pub(super) wanted: RwSignal<bool>,
    pub(super) status: LocalResource<Option<Result<PowerStatus, AppError>>>,
}

/// Power state and buttons, for those who may use the BMC now. The state is read from the BMC
/// after the page has loaded, so a slow BMC never delays the page.
///
/// A plain function rather than a component: a component's owner would be disposed between the
/// server's two render passes while the views below still read the actions' values.
pub(super) fn power_panel(
    machine_id: i64,
    allowed: bool,
    controls: PowerControls,
) -> impl IntoView {
    if !allowed {
        return view! {
            <div class=format!("{CARD} mt-4")>
                <h2 class=H2>"Power"</h2>
                <p class="text-sm text-slate-500">"Power and boot control is available during your own reservation."</p>
            </div>
        }
        .into_any();
    }
    let PowerControls {
        power,
        boot,
        test,
        power_result,
        boot_result,
        test_result,
        wanted,
        status,
    } = controls;
    Effect::new(move |_| wanted.set(true));
    let button = |action: &'static str, label: &'static str| {
        view! {
            <ActionForm action=power>
                <input type="hidden" name="machine_id" value=machine_id/>
                <input type="hidden" name="action" value=action/>
                <button class=BUTTON_SECONDARY type="submit">{label}</button>
            </ActionForm>
        }
    };
    view! {
        <div class=format!("{CARD} mt-4") data-testid="power-panel">
            <h2 class=H2>"Power"</h2>
            <div class="mb-2 text-sm">
                "State: "
                {move || match status.try_get().flatten().flatten() {
                    None => view! { <span>"asking the BMC…"</span> }.into_any(),
                    Some(Ok(s)) => view! {
                        <span class="font-semibold" data-testid="power-state">{s.state}</span>
                        <span class="text-xs text-slate-500">" (read "<Time at=s.checked_at/>")"</span>
                    }.into_any(),
                    Some(Err(error)) => view! { <span class="text-rose-600" data-testid="power-state">{error.error}</span> }.into_any(),
                }}
            </div>
            {form_status(power_result, "Done.")}
            <div class="flex flex-wrap gap-2">
                {button("on", "Power on")}
                {button("soft-off", "Shut down")}
                {button("off", "Power off")}
                {button("cycle", "Power cycle")}
                {button("reset", "Reset")}
            </div>
            {form_status(boot_result, "Next boot device set.")}
            <ActionForm action=boot attr:class="mt-3 flex flex-wrap items-center gap-2">
                <input type="hidden" name="machine_id" value=machine_id/>
                <label class="text-sm">"Next boot from "
                    <select class="rounded-md border border-slate-300 px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-800" name="device">
                        <option value="pxe">"network (PXE)"</option>
                        <option value="disk">"disk"</option>
                        <option value="cdrom">"CD/DVD"</option>
                        <option value="bios-setup">"BIOS setup"</option>
                    </select>
                </label>
                <label class="flex items-center gap-1 text-sm"><input type="checkbox" name="uefi" checked/>"UEFI"</label>
                <label class="flex items-center gap-1 text-sm"><input type="checkbox" name="persistent"/>"every boot"</label>
                <button class=BUTTON_SECONDARY type="submit">"Set"</button>
            </ActionForm>
            <ActionForm action=test attr:class="mt-3">
                <input type="hidden" name="machine_id" value=machine_id/>
                <button class=BUTTON_SECONDARY type="submit">"Test BMC connection"</button>
            </ActionForm>
            {move || test_result.try_get().flatten().map(|result| match result {
                Ok(message) => view! { <p class="mt-1 text-sm text-emerald-700" data-testid="bmc-test">{message}</p> }.into_any(),
                Err(error) => view! { <p class="mt-1 text-sm text-rose-600" data-testid="bmc-test">{error.error}</p> }.into_any(),
            })}
        </div>
    }
    .into_any()
}
