//! One machine: its details, calendar, booking form, and (for managers and admins) its grants.

use lab::model::{Level, MachineState, ReservationState};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::bmc::{power_state, Power, SetBootDevice, TestBmc};
use crate::api::machines::{
    machine_page, DeleteMachine, MachineDetail as Page, RevokeGrant, SetGrant,
};
use crate::api::media::{media_panel, AttachMedia, DetachMedia};
use crate::api::reservations::{Cancel, Release, Reserve};
use crate::components::{
    field_error, form_status, Availability, ErrorBox, LocalDateTime, Time, Timeline, BUTTON,
    BUTTON_DANGER, BUTTON_SECONDARY, CARD, H2, INPUT, LABEL, TABLE, TD, TH,
};

mod console;
mod jobs;
mod media;
mod network_boot;
mod power;

use console::console_panel;
use media::{media_view, MediaControls};
use network_boot::network_boot_view;
use power::{power_panel, PowerControls};

#[component]
pub fn MachinePage() -> impl IntoView {
    let id = super::id_param();
    let reserve = ServerAction::<Reserve>::new();
    let release = ServerAction::<Release>::new();
    let cancel = ServerAction::<Cancel>::new();
    let set_grant = ServerAction::<SetGrant>::new();
    let revoke = ServerAction::<RevokeGrant>::new();
    let delete = ServerAction::<DeleteMachine>::new();
    let set_reset = ServerAction::<crate::api::machines::SetResetPolicy>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            let _ = window().location().set_href("/");
        }
    });
    let page = Resource::new(
        move || {
            (
                id(),
                reserve.version().get(),
                release.version().get(),
                cancel.version().get(),
                set_grant.version().get(),
                revoke.version().get(),
                set_reset.version().get(),
            )
        },
        |(id, ..)| machine_page(id),
    );
    // Actions and the power state live here, outside the Suspense: the page body below is
    // rebuilt on every refetch, and state created inside it would be disposed under its forms.
    let power_action = ServerAction::<Power>::new();
    // Set by the power panel once it is shown to someone allowed to use it.
    let power_wanted = RwSignal::new(false);
    let boot_action = ServerAction::<SetBootDevice>::new();
    let test_action = ServerAction::<TestBmc>::new();
    let power = PowerControls {
        power: power_action,
        power_result: power_action.value().into(),
        boot_result: boot_action.value().into(),
        test_result: test_action.value().into(),
        boot: boot_action,
        test: test_action,
        wanted: power_wanted,
        status: LocalResource::new(move || {
            power_action.version().track();
            let machine = id();
            let wanted = power_wanted.get();
            async move {
                if wanted {
                    Some(power_state(machine).await)
                } else {
                    None
                }
            }
        }),
    };
    let attach = ServerAction::<AttachMedia>::new();
    let detach = ServerAction::<DetachMedia>::new();
    let media_wanted = RwSignal::new(false);
    let media = MediaControls {
        attach,
        detach,
        attach_result: attach.value().into(),
        detach_result: detach.value().into(),
        wanted: media_wanted,
        panel: LocalResource::new(move || {
            attach.version().track();
            detach.version().track();
            let machine = id();
            let wanted = media_wanted.get();
            async move {
                if wanted {
                    Some(media_panel(machine).await)
                } else {
                    None
                }
            }
        }),
    };
    let actions = Actions {
        media,
        reserve,
        release,
        cancel,
        set_grant,
        revoke,
        delete,
        power,
        set_reset,
    };
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(page) => machine_view(page, actions).into_any(),
                }
            })}
        </Suspense>
        <jobs::JobSection id=id/>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    reserve: ServerAction<Reserve>,
    release: ServerAction<Release>,
    cancel: ServerAction<Cancel>,
    set_grant: ServerAction<SetGrant>,
    revoke: ServerAction<RevokeGrant>,
    delete: ServerAction<DeleteMachine>,
    power: PowerControls,
    media: MediaControls,
    set_reset: ServerAction<crate::api::machines::SetResetPolicy>,
}

fn machine_view(page: Page, actions: Actions) -> impl IntoView {
    let Page {
        machine,
        reservations,
        grants,
        limits,
        now,
        viewer_id,
        viewer_is_admin,
        can_control_power,
        boot_events,
        reset,
        notices,
        reset_images,
    } = page;
    let manage = machine.my_level >= Level::Manage;
    let can_book = machine.my_level >= Level::Use && machine.state == MachineState::Available;
    let id = machine.id;
    let title = format!("{} · baas", machine.name);
    let bmc = if machine.bmc_kind == lab::model::BmcKind::None {
        "none".to_string()
    } else {
        let credentials = if machine.bmc_password_set {
            "credentials stored"
        } else {
            "no credentials"
        };
        let pinned = match machine.bmc_kind {
            lab::model::BmcKind::Ipmi => format!(", cipher suite {}", machine.ipmi_cipher_suite),
            _ if machine.bmc_tls_pin.is_empty() => String::new(),
            _ => ", certificate pinned".to_string(),
        };
        format!(
            "{} at {} ({credentials}{pinned})",
            machine.bmc_kind, machine.bmc_address
        )
    };
    let details = view! {
        <dl class="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
            <dt class="text-slate-500">"MAC addresses"</dt><dd class="font-mono">{machine.macs.join(", ")}</dd>
            <dt class="text-slate-500">"Platform"</dt><dd>{machine.platform.as_str()}</dd>
            <dt class="text-slate-500">"BMC"</dt><dd>{bmc}</dd>
            <dt class="text-slate-500">"Location"</dt><dd>{machine.location.clone()}</dd>
            <dt class="text-slate-500">"Fixed IP address"</dt><dd>{if machine.ip_address.is_empty() { "none".to_string() } else { machine.ip_address.clone() }}</dd>
            <dt class="text-slate-500">"Tags"</dt><dd>{machine.tags.join(", ")}</dd>
            <dt class="text-slate-500">"State"</dt><dd data-testid="machine-state">{if machine.state_reason.is_empty() { machine.state.to_string() } else { format!("{} ({})", machine.state, machine.state_reason) }}</dd>
            <dt class="text-slate-500">"After each reservation"</dt><dd>{match &reset.effective_image {
                Some(image) => format!("reset to {} v{}{}", image.name, image.version, if reset.save_before_reset { ", saving the holder's disk first" } else { "" }),
                None => "powered off".to_string(),
            }}</dd>
            <dt class="text-slate-500">"Your access"</dt><dd>{machine.my_level.as_str()}</dd>
        </dl>
        <p class="mt-2 whitespace-pre-line text-sm">{machine.description.clone()}</p>
    };
    let booking = if can_book {
        view! {
            <div class=CARD>
                <h2 class=H2>"Reserve"</h2>
                <p class="mb-2 text-xs text-slate-500">
                    {format!("Times are your own time zone's. At most {} hours, up to {} days ahead.", limits.max_duration_hours, limits.max_advance_days)}
                </p>
                {form_status(actions.reserve.value(), "Reserved.")}
                <ActionForm action=actions.reserve attr:class="space-y-2" attr:data-testid="reserve-form">
                    <input type="hidden" name="machine_id" value=id/>
                    <label class=LABEL>"Start"
                        <LocalDateTime name="start" at=now + 60 label="Start"/>
                    </label>
                    {field_error(actions.reserve.value(), "start")}
                    <label class=LABEL>"End"
                        <LocalDateTime name="end" at=now + 2 * 3600 label="End"/>
                    </label>
                    {field_error(actions.reserve.value(), "end")}
                    <label class=LABEL>"Note"
                        <input class=INPUT name="note" maxlength="200" placeholder="what you will do"/>
                    </label>
                    {field_error(actions.reserve.value(), "note")}
                    <button class=BUTTON type="submit">"Reserve"</button>
                </ActionForm>
            </div>
        }
        .into_any()
    } else if machine.my_level >= Level::Use {
        view! { <p class="text-sm text-amber-700">{format!("This machine is in state {} and cannot be booked.", machine.state)}</p> }.into_any()
    } else {
        view! { <p class="text-sm text-slate-500">"You may view this machine but not reserve it."</p> }.into_any()
    };
    let rows = reservations
        .clone()
        .into_iter()
        .map(|r| {
            let active = r.state == ReservationState::Active && r.end_at > now;
            let own = r.user_id == viewer_id;
            let end_action = if active && own {
                view! {
                    <ActionForm action=actions.release>
                        <input type="hidden" name="id" value=r.id/>
                        <button class=BUTTON_SECONDARY type="submit">"Release"</button>
                    </ActionForm>
                }
                .into_any()
            } else if active && manage {
                view! {
                    <ActionForm action=actions.cancel>
                        <input type="hidden" name="id" value=r.id/>
                        <button class=BUTTON_DANGER type="submit">"Cancel"</button>
                    </ActionForm>
                }
                .into_any()
            } else {
                ().into_any()
            };
            let current = r.start_at <= now && active;
            view! {
                <tr class=if current { "bg-indigo-50 dark:bg-indigo-950" } else { "" }>
                    <td class=TD>{r.username}</td>
                    <td class=TD><Time at=r.start_at/></td>
                    <td class=TD><Time at=r.end_at/></td>
                    <td class=TD>{if current { "now".to_string() } else { r.state.as_str().to_string() }}</td>
                    <td class=TD>{r.note}</td>
                    <td class=TD>{end_action}</td>
                </tr>
            }
        })
        .collect_view();
    let grants_view = grants.map(|grants| {
        let rows = grants
            .into_iter()
            .map(|g| {
                let revoke = viewer_is_admin.then(|| view! {
                    <ActionForm action=actions.revoke>
                        <input type="hidden" name="grant_id" value=g.id/>
                        <button class=BUTTON_SECONDARY type="submit">"Revoke"</button>
                    </ActionForm>
                });
                view! { <tr><td class=TD>{g.subject_name}</td><td class=TD>{g.level.as_str()}</td><td class=TD>{revoke}</td></tr> }
            })
            .collect_view();
        let form = viewer_is_admin.then(|| view! {
            {form_status(actions.set_grant.value(), "Permission granted.")}
            <ActionForm action=actions.set_grant attr:class="flex flex-wrap items-end gap-2" attr:data-testid="grant-form">
                <input type="hidden" name="machine_id" value=id/>
                <label class=LABEL>"Grant to"
                    <select class=INPUT name="subject_kind">
                        <option value="user">"user"</option>
                        <option value="group">"group"</option>
                    </select>
                </label>
                <label class=LABEL>"Name"<input class=INPUT name="subject_name" required/></label>
                <label class=LABEL>"Level"
                    <select class=INPUT name="level">
                        <option value="view">"view"</option>
                        <option value="use" selected>"use"</option>
                        <option value="manage">"manage"</option>
                    </select>
                </label>
                <button class=BUTTON type="submit">"Grant"</button>
            </ActionForm>
            {field_error(actions.set_grant.value(), "subject_name")}
        });
        view! {
            <div class=CARD>
                <h2 class=H2>"Permissions"</h2>
                <table class=TABLE><tbody>{rows}</tbody></table>
                {form}
            </div>
        }
    });
    let admin_tools = view! {
        <div class="flex gap-2">
            {manage.then(|| view! { <a class=BUTTON_SECONDARY href=format!("/machines/{id}/edit")>"Edit"</a> })}
            {viewer_is_admin.then(|| view! {
                <ActionForm action=actions.delete>
                    <input type="hidden" name="id" value=id/>
                    <button class=BUTTON_DANGER type="submit">"Delete machine"</button>
                </ActionForm>
            })}
        </div>
    };
    let banner = notices.into_iter().map(|n| view! {
        <div role="status" data-testid="notice-banner" class="mb-3 flex flex-wrap items-center gap-3 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100">
            <span class="font-semibold">{n.subject}</span>
            {(!n.link.is_empty()).then(|| view! { <a class=BUTTON href=n.link.clone()>"Extend"</a> })}
            <a class="underline" href="/notices">"All notices"</a>
        </div>
    }).collect_view();
    let reset_form = manage.then(|| {
        let chosen = reset.image.as_ref().map(|i| i.id);
        let options = reset_images.into_iter().map(|i| view! {
            <option value=i.id selected=Some(i.id) == chosen>{format!("{} v{}", i.name, i.version)}</option>
        }).collect_view();
        view! {
            <div class=format!("{CARD} mt-4 max-w-xl")>
                <h2 class=H2>"After each reservation"</h2>
                {form_status(actions.set_reset.value(), "Saved.")}
                <ActionForm action=actions.set_reset attr:class="space-y-2" attr:data-testid="reset-form">
                    <input type="hidden" name="machine_id" value=id/>
                    <label class=LABEL>"Reset image"
                        <select class=INPUT name="image_id">
                            <option value="" selected=chosen.is_none()>"the lab's default"</option>
                            {options}
                        </select>
                    </label>
                    {field_error(actions.set_reset.value(), "image")}
                    <label class=LABEL><input class="mr-2" type="checkbox" name="save_before_reset" checked=reset.save_before_reset/>"Save the holder's disk as an image of theirs first"</label>
                    <p class="text-xs text-slate-500">"The reset needs a BMC: the machine shows 'resetting' and cannot be booked until the image has booted; if it fails, the machine goes to maintenance and the admins are told."</p>
                    <button class=BUTTON type="submit">"Save"</button>
                </ActionForm>
            </div>
        }
    });
    view! {
        <Title text=title/>
        {banner}
        <div class="mb-4 flex flex-wrap items-center justify-between gap-2">
            <div>
                <h1 class="text-2xl font-bold tracking-tight">{machine.name.clone()}</h1>
                <Availability machine=machine.clone()/>
            </div>
            {admin_tools}
        </div>
        <div class="grid gap-4 lg:grid-cols-3">
            <div class=format!("{CARD} lg:col-span-2")>{details}</div>
            {booking}
        </div>
        {(machine.bmc_kind != lab::model::BmcKind::None).then(|| view! {
            {power_panel(id, can_control_power, actions.power)}
            {console_panel(id, machine.bmc_kind, can_control_power)}
        })}
        {(machine.bmc_kind == lab::model::BmcKind::Redfish).then(|| media_view(id, can_control_power, actions.media))}
        <div class=format!("{CARD} mt-4")>
            <h2 class=H2>"Calendar"</h2>
            <Timeline reservations=reservations now=now/>
            <div class="mt-3 overflow-x-auto" tabindex="0">
                {form_status(actions.release.value(), "Reservation released.")}
                {form_status(actions.cancel.value(), "Reservation cancelled.")}
                <table class=TABLE data-testid="reservations">
                    <thead><tr>
                        <th class=TH>"User"</th><th class=TH>"Start"</th><th class=TH>"End"</th>
                        <th class=TH>"State"</th><th class=TH>"Note"</th><th class=TH></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </div>
        <div class="mt-4">{grants_view}</div>
        {reset_form}
        {network_boot_view(boot_events)}
    }
}
