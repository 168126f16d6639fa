//! The user's own account: change password, which notices arrive where (with the delivery
//! log), API tokens for scripts.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::images::{api_tokens, CreateApiToken, RevokeApiToken};
use crate::api::notices::{get_notice_preferences, my_deliveries, SetNoticePreferences};
use crate::api::session::ChangePassword;
use crate::components::{
    field_error, form_status, ErrorBox, Time, BUTTON, BUTTON_DANGER, CARD, H1, H2, INPUT, LABEL,
    TABLE, TD, TH,
};

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| api_tokens(),
    );
    let new_secret = move || {
        create.value().try_get().flatten().and_then(Result::ok).map(|secret| view! {
            <div role="status" class="mb-3 rounded-md border border-emerald-300 bg-emerald-50 p-2 text-sm dark:border-emerald-800 dark:bg-emerald-950">
                "Your new token (shown only now; copy it):"
                <code class="mt-1 block break-all font-mono text-xs" data-testid="new-token">{secret}</code>
            </div>
        })
    };
    view! {
        <Title text="Account · baas"/>
        <h1 class=H1>"My account"</h1>
        <div class=format!("{CARD} max-w-md")>
            <h2 class="mb-3 font-semibold">"Change password"</h2>
            {form_status(change.value(), "Password changed.")}
            <ActionForm action=change attr:class="space-y-3">
                <label class=LABEL>
                    "Current password"
                    <input class=INPUT type="password" name="current_password" autocomplete="current-password"/>
                </label>
                {field_error(change.value(), "current_password")}
                <label class=LABEL>
                    "New password (at least 8 characters)"
                    <input class=INPUT type="password" name="new_password" autocomplete="new-password"/>
                </label>
                {field_error(change.value(), "new_password")}
                <button class=BUTTON type="submit">"Change password"</button>
            </ActionForm>
        </div>
        <NoticeSettings/>
        <div class=format!("{CARD} mt-4 max-w-2xl")>
            <h2 class=H2>"API tokens"</h2>
            <p class="mb-3 text-sm text-slate-500">"For scripts and curl: send 'Authorization: Bearer <token>'. A token acts as you."</p>
            {new_secret}
            {form_status(revoke.value(), "Token revoked.")}
            <ActionForm action=create attr:class="mb-3 flex flex-wrap items-end gap-2">
                <label class=LABEL>"Name"<input class=INPUT name="name" required maxlength="64" placeholder="laptop"/></label>
                <label class=LABEL>
                    "Expires"
                    <select class=INPUT name="valid_days">
                        <option value="7">"in 7 days"</option>
                        <option value="30" selected>"in 30 days"</option>
                        <option value="90">"in 90 days"</option>
                        <option value="366">"in a year"</option>
                        <option value="never">"never (until revoked)"</option>
                    </select>
                </label>
                <button class=BUTTON type="submit">"Create token"</button>
            </ActionForm>
            {field_error(create.value(), "name")}
            {field_error(create.value(), "valid_days")}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(tokens) => {
                            let rows = tokens.into_iter().map(|t| view! {
                                <tr>
                                    <td class=TD>{t.name}</td>
                                    <td class=TD><Time at=t.created_at/></td>
                                    <td class=TD>{match t.last_used_at {
                                        Some(at) => view! { <Time at/> }.into_any(),
                                        None => "never".into_any(),
                                    }}</td>
                                    <td class=TD>{match t.expires_at {
                                        None => "never".into_any(),
                                        Some(at) if t.expired => view! { "expired "<Time at/> }.into_any(),
                                        Some(at) => view! { <Time at/> }.into_any(),
                                    }}</td>
                                    <td class=TD>
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=t.id/>
                                            <button class=BUTTON_DANGER type="submit">"Revoke"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }).collect_view();
                            view! {
                                <table class=TABLE>
                                    <thead><tr><th class=TH>"Name"</th><th class=TH>"Created"</th><th class=TH>"Last used"</th><th class=TH>"Expires"</th><th class=TH><span class="sr-only">"Actions"</span></th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

/// Which notices the user gets where, and the log of their email and webhook deliveries.
#[component]
fn NoticeSettings() -> impl IntoView {
    let save = ServerAction::<SetNoticePreferences>::new();
    let preferences = Resource::new(move || save.version().get(), |_| get_notice_preferences());
    let log = Resource::new(move || save.version().get(), |_| my_deliveries());
    let check = "mr-2 align-middle";
    view! {
        <div class=format!("{CARD} mt-4 max-w-2xl") id="notices">
            <h2 class=H2>"Notices"</h2>
            <p class="mb-3 text-sm text-slate-500">"Before your reservations end, baas tells you at the lab's lead times. Choose where."</p>
            {form_status(save.value(), "Notice settings saved.")}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match preferences.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(p) => view! {
                            <ActionForm action=save attr:class="space-y-3">
                                <label class=LABEL><input class=check type="checkbox" name="portal" checked=p.portal/>"In the portal (Notices, and a banner on the machine's page)"</label>
                                <label class=LABEL><input class=check type="checkbox" name="email" checked=p.email/>"By email"</label>
                                <label class=LABEL>"Email address"<input class=INPUT type="email" name="email_address" value=p.email_address autocomplete="email"/></label>
                                {field_error(save.value(), "email_address")}
                                <label class=LABEL><input class=check type="checkbox" name="webhook" checked=p.webhook/>"By webhook (a JSON POST)"</label>
                                <label class=LABEL>"Webhook URL"<input class=INPUT type="url" name="webhook_url" value=p.webhook_url placeholder="https://chat.example/hooks/…"/></label>
                                {field_error(save.value(), "webhook_url")}
                                <label class=LABEL>
                                    {if p.webhook_secret_set { "Signing secret (set; leave empty to keep)" } else { "Signing secret (optional)" }}
                                    <input class=INPUT type="password" name="webhook_secret" autocomplete="off"/>
                                </label>
                                {field_error(save.value(), "webhook_secret")}
                                <p class="text-xs text-slate-500">"With a secret, each POST carries X-Baas-Signature-256: sha256=HMAC-SHA256(secret, body) in hex. Failed deliveries are retried after 30 s, 1, 2, 4 and 8 minutes."</p>
                                <button class=BUTTON type="submit">"Save"</button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <h3 class="mt-4 mb-2 font-semibold">"Delivery log"</h3>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match log.await {
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="text-sm text-slate-500">"Nothing sent yet."</p> }.into_any(),
                        Ok(list) => {
                            let rows = list.into_iter().map(|d| view! {
                                <tr>
                                    <td class=TD><Time at=d.created_at/></td>
                                    <td class=TD>{d.channel.as_str()}</td>
                                    <td class=TD>{d.target}</td>
                                    <td class=TD>{d.subject}</td>
                                    <td class=TD>{format!("{} ({} attempt(s))", d.state, d.attempts)}</td>
                                    <td class=TD>{d.last_error}</td>
                                </tr>
                            }).collect_view();
                            view! {
                                <div class="overflow-x-auto"><table class=TABLE data-testid="deliveries">
                                    <thead><tr><th class=TH>"Raised"</th><th class=TH>"Channel"</th><th class=TH>"To"</th><th class=TH>"Notice"</th><th class=TH>"State"</th><th class=TH>"Last error"</th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table></div>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}
