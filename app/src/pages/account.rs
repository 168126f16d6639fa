//! The user's own account: change password.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::session::ChangePassword;
use crate::components::{field_error, form_status, BUTTON, CARD, H1, INPUT, LABEL};

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
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
    }
}
