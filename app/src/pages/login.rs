//! The log-in form.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::session::Login;
use crate::components::{form_status, BUTTON, CARD, INPUT, LABEL};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            let _ = window().location().set_href("/");
        }
    });
    view! {
        <Title text="Log in · baas"/>
        <div class="mx-auto mt-12 max-w-sm">
            <div class=CARD>
                <h1 class="mb-4 text-xl font-bold">"Log in to the lab"</h1>
                {form_status(login.value(), "")}
                <ActionForm action=login attr:class="space-y-4">
                    <label class=LABEL>
                        "Username"
                        <input class=INPUT name="username" autocomplete="username" required/>
                    </label>
                    <label class=LABEL>
                        "Password"
                        <input class=INPUT name="password" type="password" autocomplete="current-password" required/>
                    </label>
                    <button class=BUTTON type="submit">"Log in"</button>
                </ActionForm>
            </div>
        </div>
    }
}
