//! One module per page.

mod account;
mod admin;
mod dashboard;
mod login;
mod machine;
mod machine_form;
mod reservations;

pub use account::AccountPage;
pub use admin::{AuditPage, GroupsPage, SettingsPage, UsersPage};
pub use dashboard::DashboardPage;
pub use login::LoginPage;
pub use machine::MachinePage;
pub use machine_form::{EditMachinePage, NewMachinePage};
pub use reservations::ReservationsPage;

use leptos::prelude::*;

#[leptos::component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1 class=crate::components::H1>"Not found"</h1>
        <p><a class="underline" href="/">"Back to the machines"</a></p>
    }
}
