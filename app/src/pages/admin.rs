//! Admin pages: users, groups, audit log, booking limits.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{
    audit_log, get_limits, list_groups, list_users, CreateGroup, CreateUser, DeleteGroup,
    ResetPassword, SetGroupMember, SetLimits, SetUserDisabled,
};
use crate::api::images::{SetDefaultImageQuota, SetImageQuota};
use crate::components::{
    field_error, form_status, ErrorBox, Time, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, H1,
    H2, INPUT, LABEL, TABLE, TD, TH,
};

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let quota = ServerAction::<SetImageQuota>::new();
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                disable.version().get(),
                quota.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <Title text="Users · baas"/>
        <h1 class=H1>"Users"</h1>
        <div class="grid gap-4 lg:grid-cols-3">
            <div class=format!("{CARD} lg:col-span-2 overflow-x-auto") tabindex="0">
                {form_status(disable.value(), "Account updated.")}
                {form_status(reset.value(), "Password reset.")}
                {field_error(reset.value(), "new_password")}
                {form_status(quota.value(), "Image quota set.")}
                {field_error(quota.value(), "quota_gib")}
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match users.await {
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                            Ok(users) => {
                                let rows = users.into_iter().map(|u| {
                                    let toggle = if u.disabled { "Enable" } else { "Disable" };
                                    let quota_label = format!("image quota of {} in GiB", u.username);
                                    view! {
                                        <tr class=if u.disabled { "opacity-60" } else { "" }>
                                            <td class=TD><span class="font-medium">{u.username.clone()}</span><br/><span class="text-xs text-slate-500">{u.display_name}</span></td>
                                            <td class=TD>{if u.is_admin { "admin" } else { "user" }}</td>
                                            <td class=TD>{u.groups.join(", ")}</td>
                                            <td class=TD>{if u.disabled { "disabled" } else { "active" }}</td>
                                            <td class=TD>
                                                <div class="flex flex-wrap gap-1">
                                                    <ActionForm action=disable>
                                                        <input type="hidden" name="user_id" value=u.id/>
                                                        <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                                                        <button class=BUTTON_SECONDARY type="submit">{toggle}</button>
                                                    </ActionForm>
                                                    <ActionForm action=reset attr:class="flex gap-1">
                                                        <input type="hidden" name="user_id" value=u.id/>
                                                        <input class="rounded-md border border-slate-300 px-2 text-sm dark:border-slate-700 dark:bg-slate-800" type="password" name="new_password" placeholder="new password" aria-label=format!("new password for {}", u.username)/>
                                                        <button class=BUTTON_SECONDARY type="submit">"Reset"</button>
                                                    </ActionForm>
                                                    <ActionForm action=quota attr:class="flex gap-1">
                                                        <input type="hidden" name="user_id" value=u.id/>
                                                        <input class="w-24 rounded-md border border-slate-300 px-2 text-sm dark:border-slate-700 dark:bg-slate-800" name="quota_gib" inputmode="decimal" placeholder="default"
                                                            value=u.image_quota_bytes.map(|q| format!("{}", q as f64 / (1u64 << 30) as f64)).unwrap_or_default()
                                                            aria-label=quota_label.clone()/>
                                                        <button class=BUTTON_SECONDARY type="submit">"Set quota (GiB)"</button>
                                                    </ActionForm>
                                                </div>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view();
                                view! {
                                    <table class=TABLE data-testid="users">
                                        <thead><tr><th class=TH>"User"</th><th class=TH>"Role"</th><th class=TH>"Groups"</th><th class=TH>"Status"</th><th class=TH></th></tr></thead>
                                        <tbody>{rows}</tbody>
                                    </table>
                                }.into_any()
                            }
                        }
                    })}
                </Suspense>
            </div>
            <div class=CARD>
                <h2 class=H2>"Create user"</h2>
                {form_status(create.value(), "User created.")}
                <ActionForm action=create attr:class="space-y-2" attr:data-testid="create-user-form">
                    <label class=LABEL>"Username"<input class=INPUT name="username" required maxlength="64"/></label>
                    {field_error(create.value(), "username")}
                    <label class=LABEL>"Display name"<input class=INPUT name="display_name"/></label>
                    {field_error(create.value(), "display_name")}
                    <label class=LABEL>"Initial password"<input class=INPUT type="password" name="password" autocomplete="new-password"/></label>
                    {field_error(create.value(), "password")}
                    <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="is_admin"/>"Administrator"</label>
                    <button class=BUTTON type="submit">"Create user"</button>
                </ActionForm>
            </div>
        </div>
    }
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    let create = ServerAction::<CreateGroup>::new();
    let member = ServerAction::<SetGroupMember>::new();
    let delete = ServerAction::<DeleteGroup>::new();
    let groups = Resource::new(
        move || {
            (
                create.version().get(),
                member.version().get(),
                delete.version().get(),
            )
        },
        |_| list_groups(),
    );
    view! {
        <Title text="Groups · baas"/>
        <h1 class=H1>"Groups"</h1>
        <div class="grid gap-4 lg:grid-cols-3">
            <div class="space-y-4 lg:col-span-2">
                {form_status(member.value(), "Membership updated.")}
                {field_error(member.value(), "username")}
                {form_status(delete.value(), "Group deleted.")}
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match groups.await {
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                            Ok(groups) if groups.is_empty() => view! { <p class="text-slate-500">"No groups yet."</p> }.into_any(),
                            Ok(groups) => groups.into_iter().map(|g| {
                                let group_id = g.id;
                                let members = g.members.clone().into_iter().map(|m| {
                                    view! {
                                        <li class="flex items-center gap-2">
                                            {m.username.clone()}
                                            <ActionForm action=member>
                                                <input type="hidden" name="group_id" value=group_id/>
                                                <input type="hidden" name="username" value=m.username.clone()/>
                                                <input type="hidden" name="member" value="false"/>
                                                <button class="text-xs underline" type="submit">"remove"</button>
                                            </ActionForm>
                                        </li>
                                    }
                                }).collect_view();
                                view! {
                                    <div class=CARD data-testid="group">
                                        <div class="flex items-center justify-between">
                                            <h2 class="font-semibold">{g.name.clone()}</h2>
                                            <ActionForm action=delete>
                                                <input type="hidden" name="group_id" value=g.id/>
                                                <button class=BUTTON_DANGER type="submit">"Delete"</button>
                                            </ActionForm>
                                        </div>
                                        <p class="text-sm text-slate-500">{g.description.clone()}</p>
                                        <ul class="my-2 text-sm">{members}</ul>
                                        <ActionForm action=member attr:class="flex gap-2">
                                            <input type="hidden" name="group_id" value=g.id/>
                                            <input type="hidden" name="member" value="true"/>
                                            <input class="rounded-md border border-slate-300 px-2 text-sm dark:border-slate-700 dark:bg-slate-800" name="username" placeholder="username" aria-label=format!("add member to {}", g.name)/>
                                            <button class=BUTTON_SECONDARY type="submit">"Add member"</button>
                                        </ActionForm>
                                    </div>
                                }
                            }).collect_view().into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div class=CARD>
                <h2 class=H2>"Create group"</h2>
                {form_status(create.value(), "Group created.")}
                <ActionForm action=create attr:class="space-y-2" attr:data-testid="create-group-form">
                    <label class=LABEL>"Name"<input class=INPUT name="name" required maxlength="64"/></label>
                    {field_error(create.value(), "name")}
                    <label class=LABEL>"Description"<input class=INPUT name="description"/></label>
                    {field_error(create.value(), "description")}
                    <button class=BUTTON type="submit">"Create group"</button>
                </ActionForm>
            </div>
        </div>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let entries = Resource::new(
        move || (actor.get(), action.get(), target.get()),
        |(actor, action, target)| audit_log(actor, action, target),
    );
    let filter = |label: &'static str, signal: RwSignal<String>| {
        view! {
            <label class=LABEL>{label}
                <input class=INPUT name=label bind:value=signal placeholder="any"/>
            </label>
        }
    };
    view! {
        <Title text="Audit log · baas"/>
        <h1 class=H1>"Audit log"</h1>
        <div class="mb-4 grid gap-2 sm:grid-cols-3">
            {filter("actor", actor)}
            {filter("action", action)}
            {filter("target", target)}
        </div>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(entries) => {
                        let rows = entries.into_iter().map(|e| view! {
                            <tr>
                                <td class=format!("{TD} whitespace-nowrap")><Time at=e.at/></td>
                                <td class=TD>{e.actor_name}</td>
                                <td class=TD>{e.address}</td>
                                <td class=format!("{TD} font-mono")>{e.action}</td>
                                <td class=TD>{e.target}</td>
                                <td class=TD>{e.detail}</td>
                            </tr>
                        }).collect_view();
                        view! {
                            <div class=format!("{CARD} overflow-x-auto") tabindex="0">
                                <table class=TABLE data-testid="audit">
                                    <thead><tr><th class=TH>"When"</th><th class=TH>"Who"</th><th class=TH>"From"</th><th class=TH>"Action"</th><th class=TH>"Target"</th><th class=TH>"Detail"</th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SetLimits>::new();
    let quota = ServerAction::<SetDefaultImageQuota>::new();
    let limits = Resource::new(move || save.version().get(), |_| get_limits());
    let networks_save = ServerAction::<crate::api::admin::SetImportNetworks>::new();
    let networks = Resource::new(
        move || networks_save.version().get(),
        |_| crate::api::admin::import_networks(),
    );
    view! {
        <Title text="Settings · baas"/>
        <h1 class=H1>"Settings"</h1>
        <div class=format!("{CARD} max-w-md")>
            {form_status(save.value(), "Limits saved.")}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match limits.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(limits) => view! {
                            <ActionForm action=save attr:class="space-y-2">
                                <label class=LABEL>"Maximum duration of a reservation (hours)"
                                    <input class=INPUT name="max_duration_hours" inputmode="numeric" value=limits.max_duration_hours/>
                                </label>
                                {field_error(save.value(), "max_duration_hours")}
                                <label class=LABEL>"Maximum advance booking (days)"
                                    <input class=INPUT name="max_advance_days" inputmode="numeric" value=limits.max_advance_days/>
                                </label>
                                {field_error(save.value(), "max_advance_days")}
                                <p class="text-xs text-slate-500">"Admins are not bound by these limits."</p>
                                <button class=BUTTON type="submit">"Save"</button>
                            </ActionForm>
                            <h2 class=format!("{H2} mt-6")>"Image storage"</h2>
                            {form_status(quota.value(), "Default quota saved.")}
                            <ActionForm action=quota attr:class="space-y-2">
                                <label class=LABEL>"Default image quota per user (GiB)"
                                    <input class=INPUT name="quota_gib" inputmode="decimal" value=format!("{}", limits.default_image_quota_bytes as f64 / (1u64 << 30) as f64)/>
                                </label>
                                {field_error(quota.value(), "quota_gib")}
                                <p class="text-xs text-slate-500">"Users with their own quota (set on the Users page) keep it."</p>
                                <button class=BUTTON type="submit">"Save quota"</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <h2 class=format!("{H2} mt-6")>"Imports by URL"</h2>
            {form_status(networks_save.value(), "Allowed networks saved.")}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match networks.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(text) => view! {
                            <ActionForm action=networks_save attr:class="space-y-2">
                                <label class=LABEL>"Internal networks imports may fetch from"
                                    <input class=INPUT name="allowed_networks" value=text placeholder="10.20.0.0/16, fd00:20::/48"/>
                                </label>
                                {field_error(networks_save.value(), "allowed_networks")}
                                <p class="text-xs text-slate-500">"Public addresses are always allowed. Loopback, link-local, private and unique-local addresses are refused (also behind names and redirects) unless listed here."</p>
                                <button class=BUTTON type="submit">"Save networks"</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </div>
        <BootProgramSettings/>
        <NoticeAndResetSettings/>
    }
}

/// The network boot program for each kind of firmware, and which named programs are missing
/// from the TFTP root.
#[component]
fn BootProgramSettings() -> impl IntoView {
    use crate::api::admin::{boot_programs, SetBootPrograms};
    let save = ServerAction::<SetBootPrograms>::new();
    let current = Resource::new(move || save.version().get(), |_| boot_programs());
    view! {
        <div class=format!("{CARD} max-w-2xl mt-6") data-testid="boot-programs">
            <h2 class=H2>"Network boot programs"</h2>
            <p class="text-xs text-slate-500">"The first file a machine's firmware fetches when it boots from the network (by TFTP, or by HTTP for UEFI HTTP boot): an iPXE binary of the TFTP root. A machine may name its own on its form (e.g. snponly.efi for a NIC whose iPXE driver misbehaves)."</p>
            {form_status(save.value(), "Boot programs saved.")}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(view) => {
                            let programs = view.programs;
                            let rows = [
                                ("x86_64_bios", "x86-64 BIOS (PXE)", programs.x86_64_bios),
                                ("x86_64_uefi", "x86-64 UEFI (PXE and HTTP boot)", programs.x86_64_uefi),
                                ("arm64_uefi", "arm64 UEFI (PXE and HTTP boot)", programs.arm64_uefi),
                                ("unknown", "Any other architecture", programs.unknown),
                            ];
                            let missing = view.missing;
                            let root = view.tftp_root;
                            // baas makes its arm64 GRUB image itself, when it finds GRUB's modules.
                            let grub_hint = missing.iter().any(|name| name == "baas-grubnetaa64.efi").then(|| view! {
                                <p class="mt-1 text-sm text-amber-700">
                                    "baas makes baas-grubnetaa64.efi at start from GRUB's arm64 modules: build the arm64 management OS (mgmt/build.sh <data_dir>/mgmt-arm64 --arch arm64) and restart baas."
                                </p>
                            });
                            view! {
                                <ActionForm action=save attr:class="space-y-2 mt-2">
                                    {rows.into_iter().map(|(field, label, value)| view! {
                                        <label class=LABEL>{label}
                                            <input class=INPUT name=field value=value/>
                                        </label>
                                        {field_error(save.value(), field)}
                                    }).collect_view()}
                                    <button class=BUTTON type="submit">"Save boot programs"</button>
                                </ActionForm>
                                {(!missing.is_empty()).then(|| view! {
                                    <p class="mt-2 text-sm text-amber-700" data-testid="missing-boot-programs">
                                        {format!("Not in the TFTP root {root}: {}. Machines told to fetch them will not boot.", missing.join(", "))}
                                    </p>
                                })}
                                {grub_hint}
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

/// The lab's SMTP server and notice lead times, and the default reset image.
#[component]
fn NoticeAndResetSettings() -> impl IntoView {
    use crate::api::machines::{default_reset_image, raw_images, SetDefaultResetImage};
    use crate::api::notices::{get_notice_settings, SetNoticeSettings};
    let save = ServerAction::<SetNoticeSettings>::new();
    let settings = Resource::new(move || save.version().get(), |_| get_notice_settings());
    let reset_save = ServerAction::<SetDefaultResetImage>::new();
    let reset = Resource::new(
        move || reset_save.version().get(),
        |_| async {
            Ok::<_, crate::error::AppError>((default_reset_image().await?, raw_images().await?))
        },
    );
    view! {
        <div class=format!("{CARD} mt-4 max-w-md")>
            <h2 class=H2>"Notices"</h2>
            {form_status(save.value(), "Notice settings saved.")}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match settings.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(n) => {
                            let securities = lab::model::SmtpSecurity::ALL.iter().map(|s| {
                                view! { <option value=s.as_str() selected=*s == n.smtp_security>{s.as_str()}</option> }
                            }).collect_view();
                            let leads = n.lead_minutes.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
                            view! {
                                <ActionForm action=save attr:class="space-y-2">
                                    <label class=LABEL>"Before a reservation ends, notify (minutes before)"
                                        <input class=INPUT name="lead_minutes" value=leads placeholder="1440, 60, 10"/>
                                    </label>
                                    {field_error(save.value(), "lead_minutes")}
                                    <label class=LABEL>"SMTP server (empty: no email)"<input class=INPUT name="smtp_host" value=n.smtp_host placeholder="mail.lab.example"/></label>
                                    {field_error(save.value(), "smtp_host")}
                                    <label class=LABEL>"Port"<input class=INPUT name="smtp_port" inputmode="numeric" value=n.smtp_port/></label>
                                    {field_error(save.value(), "smtp_port")}
                                    <label class=LABEL>"Security"<select class=INPUT name="smtp_security">{securities}</select></label>
                                    {field_error(save.value(), "smtp_security")}
                                    <label class=LABEL>"User name"<input class=INPUT name="smtp_username" value=n.smtp_username autocomplete="off"/></label>
                                    {field_error(save.value(), "smtp_username")}
                                    <label class=LABEL>{if n.smtp_password_set { "Password (set; leave empty to keep)" } else { "Password" }}
                                        <input class=INPUT type="password" name="smtp_password" autocomplete="new-password"/>
                                    </label>
                                    {field_error(save.value(), "smtp_password")}
                                    <label class=LABEL>"Sender address"<input class=INPUT name="sender" value=n.sender placeholder="baas@lab.example"/></label>
                                    {field_error(save.value(), "sender")}
                                    <p class="text-xs text-slate-500">"The password is stored encrypted and never shown again."</p>
                                    <button class=BUTTON type="submit">"Save notice settings"</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
            <h2 class=format!("{H2} mt-6")>"Reset after each reservation"</h2>
            {form_status(reset_save.value(), "Default reset image saved.")}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match reset.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok((current, images)) => {
                            let chosen = current.as_ref().map(|i| i.id);
                            let options = images.into_iter().map(|i| view! {
                                <option value=i.id selected=Some(i.id) == chosen>{format!("{} v{}", i.name, i.version)}</option>
                            }).collect_view();
                            view! {
                                <ActionForm action=reset_save attr:class="space-y-2">
                                    <label class=LABEL>"Default reset image (machines without their own)"
                                        <select class=INPUT name="image_id">
                                            <option value="" selected=chosen.is_none()>"none: power machines off"</option>
                                            {options}
                                        </select>
                                    </label>
                                    {field_error(reset_save.value(), "image")}
                                    <p class="text-xs text-slate-500">"After each reservation, a machine with a BMC and a reset image is deployed with it as the system and shows 'resetting' until it has booted; a failed reset puts it in maintenance and notifies the admins."</p>
                                    <button class=BUTTON type="submit">"Save reset image"</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

/// Machines that network-booted without being in the inventory; adopted in one step.
#[component]
pub fn DiscoveredPage() -> impl IntoView {
    let adopt = ServerAction::<crate::api::machines::AdoptMachine>::new();
    let set_policy = ServerAction::<crate::api::machines::SetDiscoveryPolicy>::new();
    let discovery = Resource::new(
        move || (set_policy.version().get(), adopt.version().get()),
        |_| crate::api::machines::get_discovery(),
    );
    let machines = Resource::new(
        move || adopt.version().get(),
        |_| crate::api::machines::discovered_machines(),
    );
    let adopted = move || {
        adopt.value().try_get().flatten().and_then(Result::ok).map(|m| view! {
            <div role="status" class="mb-3 rounded-md border border-emerald-300 bg-emerald-50 p-2 text-sm dark:border-emerald-800 dark:bg-emerald-950">
                "Adopted as " <a class="underline" href=format!("/machines/{}", m.id)>{m.name}</a> "."
            </div>
        })
    };
    view! {
        <Title text="Discovered machines · baas"/>
        <h1 class=H1>"Discovered machines"</h1>
        <p class="mb-3 text-sm text-slate-500">"Machines that asked baas for a boot script but are not in the inventory."</p>
        {adopted}
        {move || adopt.value().try_get().flatten().and_then(Result::err).map(|error| view! { <ErrorBox error/> })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match machines.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="text-slate-500">"None at the moment."</p> }.into_any(),
                    Ok(list) => {
                        let rows = list.into_iter().map(|d| {
                            let guess = lab::model::Platform::guess(&d.architecture, &d.vendor_class);
                            let platforms = lab::model::Platform::ALL
                                .iter()
                                .map(|p| view! { <option value=p.as_str() selected=*p == guess>{p.as_str()}</option> })
                                .collect_view();
                            view! {
                                <tr>
                                    <td class=format!("{TD} font-mono")>{d.mac.clone()}</td>
                                    <td class=TD>{format!("{} {}", d.architecture, d.vendor_class)}</td>
                                    <td class=TD>{d.address}</td>
                                    <td class=format!("{TD} whitespace-nowrap")><Time at=d.first_seen/></td>
                                    <td class=format!("{TD} whitespace-nowrap")><Time at=d.last_seen/></td>
                                    <td class=TD>{d.times_seen}</td>
                                    <td class=TD data-testid="discovered-hardware">{d.hardware.as_ref().map(|h| h.summary()).unwrap_or_else(|| "not enlisted".into())}</td>
                                    <td class=TD>
                                        <ActionForm action=adopt attr:class="flex flex-wrap gap-1">
                                            <input type="hidden" name="mac" value=d.mac/>
                                            <input class="w-32 rounded-md border border-slate-300 px-2 text-sm dark:border-slate-700 dark:bg-slate-800" name="name" placeholder="name" aria-label="name for the new machine" required/>
                                            <select class="rounded-md border border-slate-300 px-1 text-sm dark:border-slate-700 dark:bg-slate-800" name="platform" aria-label="platform">{platforms}</select>
                                            <button class=BUTTON_SECONDARY type="submit">"Adopt"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        }).collect_view();
                        view! {
                            <div class=format!("{CARD} overflow-x-auto") tabindex="0">
                                <table class=TABLE data-testid="discovered">
                                    <thead><tr>
                                        <th class=TH>"MAC"</th><th class=TH>"Told"</th><th class=TH>"Address"</th><th class=TH>"First seen"</th>
                                        <th class=TH>"Last seen"</th><th class=TH>"Times"</th><th class=TH>"Hardware"</th><th class=TH></th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        <h2 class=format!("{H2} mt-6")>"Unknown machines and DHCP leases"</h2>
        {form_status(set_policy.value(), "Discovery policy saved.")}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match discovery.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(overview) => discovery_view(overview, set_policy).into_any(),
                }
            })}
        </Suspense>
    }
}

/// The discovery policy form and the leases baas handed out as the subnet's DHCP server.
fn discovery_view(
    overview: crate::api::machines::DiscoveryOverview,
    set_policy: ServerAction<crate::api::machines::SetDiscoveryPolicy>,
) -> impl IntoView {
    use lab::model::DiscoveryPolicy;
    let choices = [
        (
            DiscoveryPolicy::Ignore,
            "Ignore: record them and let them boot their own disk",
        ),
        (
            DiscoveryPolicy::Enlist,
            "Enlist: boot the management OS, which takes their inventory",
        ),
    ]
    .into_iter()
    .map(|(policy, label)| {
        view! { <option value=policy.as_str() selected=policy == overview.policy>{label}</option> }
    })
    .collect_view();
    let leases = if overview.leases.is_empty() {
        view! { <p class="text-sm text-slate-500">"No leases (baas hands out addresses only with BAAS_DHCP_MODE=authoritative)."</p> }.into_any()
    } else {
        let rows = overview
            .leases
            .into_iter()
            .map(|lease| {
                view! {
                    <tr>
                        <td class=format!("{TD} font-mono")>{lease.address}</td>
                        <td class=format!("{TD} font-mono")>{lease.mac}</td>
                        <td class=TD>{lease.machine.unwrap_or_default()}</td>
                        <td class=TD>{lease.state}</td>
                        <td class=format!("{TD} whitespace-nowrap")><Time at=lease.expires_at/></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class=TABLE data-testid="leases">
                <thead><tr><th class=TH>"Address"</th><th class=TH>"MAC"</th><th class=TH>"Machine"</th><th class=TH>"State"</th><th class=TH>"Expires"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <div class=format!("{CARD} overflow-x-auto space-y-3")>
            <ActionForm action=set_policy attr:class="flex flex-wrap items-end gap-2">
                <label class=LABEL>"When an unknown machine network-boots"
                    <select class=INPUT name="policy">{choices}</select>
                </label>
                <button class=BUTTON type="submit">"Save policy"</button>
            </ActionForm>
            {field_error(set_policy.value(), "policy")}
            {leases}
        </div>
    }
}
