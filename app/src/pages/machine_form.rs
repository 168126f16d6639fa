//! Creating (admins) and editing (managers) a machine.

use lab::model::{BmcKind, Machine, MachineState, Platform};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::machines::{machine_page, CreateMachine, UpdateMachine};
use crate::components::{field_error, form_status, ErrorBox, BUTTON, CARD, H1, INPUT, LABEL};
use crate::error::AppError;

#[component]
pub fn NewMachinePage() -> impl IntoView {
    let create = ServerAction::<CreateMachine>::new();
    Effect::new(move |_| {
        if let Some(Ok(machine)) = create.value().get() {
            let _ = window()
                .location()
                .set_href(&format!("/machines/{}", machine.id));
        }
    });
    view! {
        <Title text="Add machine · baas"/>
        <h1 class=H1>"Add a machine"</h1>
        <div class=CARD>
            {form_status(create.value(), "")}
            <ActionForm action=create attr:class="grid gap-3 md:grid-cols-2" attr:data-testid="machine-form">
                <MachineFields machine=None errors=Signal::derive(move || create.value().get())/>
                <div class="md:col-span-2"><button class=BUTTON type="submit">"Add machine"</button></div>
            </ActionForm>
        </div>
    }
}

#[component]
pub fn EditMachinePage() -> impl IntoView {
    let id = super::id_param();
    let update = ServerAction::<UpdateMachine>::new();
    let page = Resource::new(
        move || (id(), update.version().get()),
        |(id, _)| machine_page(id),
    );
    view! {
        <Title text="Edit machine · baas"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(page) => {
                        let machine = page.machine;
                        let id = machine.id;
                        view! {
                            <h1 class=H1>{format!("Edit {}", machine.name)}</h1>
                            <div class=CARD>
                                {form_status(update.value(), "Saved.")}
                                <ActionForm action=update attr:class="grid gap-3 md:grid-cols-2">
                                    <input type="hidden" name="id" value=id/>
                                    <MachineFields machine=Some(machine) errors=Signal::derive(move || update.value().get())/>
                                    <div class="md:col-span-2 flex gap-2">
                                        <button class=BUTTON type="submit">"Save"</button>
                                        <a class="px-3 py-2 text-sm underline" href=format!("/machines/{id}")>"Back"</a>
                                    </div>
                                </ActionForm>
                            </div>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The inputs of a machine form, pre-filled when editing. Names follow `MachineInput`.
#[component]
fn MachineFields(
    machine: Option<Machine>,
    errors: Signal<Option<Result<Machine, AppError>>>,
) -> impl IntoView {
    let editing = machine.is_some();
    let m = machine.unwrap_or(Machine {
        id: 0,
        name: String::new(),
        macs: Vec::new(),
        platform: Platform::X86_64Uefi,
        bmc_kind: BmcKind::None,
        bmc_address: String::new(),
        bmc_username_set: false,
        bmc_password_set: false,
        bmc_tls_pin: String::new(),
        ipmi_cipher_suite: 3,
        ip_address: String::new(),
        boot_program: String::new(),
        location: String::new(),
        tags: Vec::new(),
        description: String::new(),
        state: MachineState::Available,
        state_reason: String::new(),
        my_level: lab::model::Level::Manage,
        holder: None,
        next: None,
    });
    let platforms = options(
        Platform::ALL.iter().map(|p| p.as_str()),
        m.platform.as_str(),
    );
    let bmc_kinds = options(BmcKind::ALL.iter().map(|k| k.as_str()), m.bmc_kind.as_str());
    // "resetting" is baas' own: offered only to keep it.
    let states = options(
        MachineState::ALL
            .iter()
            .filter(|s| **s != MachineState::Resetting || m.state == MachineState::Resetting)
            .map(|s| s.as_str()),
        m.state.as_str(),
    );
    let keep = if editing {
        " (leave empty to keep)"
    } else {
        ""
    };
    view! {
        <div>
            <label class=LABEL>"Name"<input class=INPUT name="input[name]" value=m.name required maxlength="64"/></label>
            {field_error(errors, "name")}
        </div>
        <div>
            <label class=LABEL>"MAC addresses (comma separated)"
                <input class=INPUT name="input[macs]" value=m.macs.join(", ") placeholder="52:54:00:12:34:56"/>
            </label>
            {field_error(errors, "macs")}
        </div>
        <div>
            <label class=LABEL>"Platform"<select class=INPUT name="input[platform]">{platforms}</select></label>
            {field_error(errors, "platform")}
        </div>
        <div>
            <label class=LABEL>"State"<select class=INPUT name="input[state]">{states}</select></label>
            {field_error(errors, "state")}
        </div>
        <div>
            <label class=LABEL>"BMC"<select class=INPUT name="input[bmc_kind]">{bmc_kinds}</select></label>
            {field_error(errors, "bmc_kind")}
        </div>
        <div>
            <label class=LABEL>"BMC address"<input class=INPUT name="input[bmc_address]" value=m.bmc_address placeholder="10.0.0.5:623 or https://bmc/"/></label>
            {field_error(errors, "bmc_address")}
        </div>
        <div>
            <label class=LABEL>{format!("BMC username{}", if m.bmc_username_set { keep } else { "" })}
                <input class=INPUT name="input[bmc_username]" autocomplete="off"/>
            </label>
            {field_error(errors, "bmc_username")}
        </div>
        <div>
            <label class=LABEL>{format!("BMC password{}", if m.bmc_password_set { keep } else { "" })}
                <input class=INPUT type="password" name="input[bmc_password]" autocomplete="new-password"/>
            </label>
            {field_error(errors, "bmc_password")}
        </div>
        <div class="md:col-span-2">
            <label class=LABEL>"Redfish certificate SHA-256 (for a self-signed BMC certificate; empty = verify normally)"
                <input class=INPUT name="input[bmc_tls_pin]" value=m.bmc_tls_pin placeholder="AB:CD:…" autocomplete="off"/>
            </label>
            {field_error(errors, "bmc_tls_pin")}
        </div>
        <div class="md:col-span-2">
            <label class=LABEL>"IPMI cipher suite"
                <select class=INPUT name="input[ipmi_cipher_suite]">
                    {[(3, "3 — HMAC-SHA1 authentication and integrity, AES-CBC-128 encryption (default)"),
                      (2, "2 — HMAC-SHA1 authentication and integrity, no encryption"),
                      (1, "1 — HMAC-SHA1 authentication only")]
                        .into_iter()
                        .map(|(suite, label)| view! { <option value=suite selected=m.ipmi_cipher_suite == suite>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            {field_error(errors, "ipmi_cipher_suite")}
        </div>
        <div>
            <label class=LABEL>"Fixed IP address, IPv4 or IPv6 (leased when baas is the lab's DHCP or DHCPv6 server; vouches for the machine's boot requests)"<input class=INPUT name="input[ip_address]" value=m.ip_address placeholder="10.0.0.21 or fd00::21"/></label>
            {field_error(errors, "ip_address")}
        </div>
        <div>
            <label class=LABEL>"Network boot program (a file of the TFTP root; empty = the lab's for its platform, see Settings)"
                <input class=INPUT name="input[boot_program]" value=m.boot_program placeholder="snponly.efi"/>
            </label>
            {field_error(errors, "boot_program")}
        </div>
        <div>
            <label class=LABEL>"Location"<input class=INPUT name="input[location]" value=m.location placeholder="room, rack, slot"/></label>
            {field_error(errors, "location")}
        </div>
        <div>
            <label class=LABEL>"Tags"<input class=INPUT name="input[tags]" value=m.tags.join(", ") placeholder="gpu, numa"/></label>
            {field_error(errors, "tags")}
        </div>
        <div class="md:col-span-2">
            <label class=LABEL>"Description"<textarea class=INPUT name="input[description]" rows="3">{m.description}</textarea></label>
            {field_error(errors, "description")}
        </div>
    }
}

fn options(all: impl Iterator<Item = &'static str>, current: &'static str) -> impl IntoView {
    all.map(|value| view! { <option value=value selected=value == current>{value}</option> })
        .collect_view()
}
