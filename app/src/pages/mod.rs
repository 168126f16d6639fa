//! One module per page.

mod account;
mod admin;
mod batches;
mod calendar;
mod dashboard;
mod images;
mod login;
mod machine;
mod machine_form;
mod notices;
mod reservations;

pub use account::AccountPage;
pub use admin::{AuditPage, DiscoveredPage, GroupsPage, SettingsPage, UsersPage};
pub use batches::{BatchPage, NewBatchPage};
pub use calendar::CalendarPage;
pub use dashboard::DashboardPage;
pub use images::{ImagePage, ImagesPage, UploadPage};
pub use login::LoginPage;
pub use machine::MachinePage;
pub use machine_form::{EditMachinePage, NewMachinePage};
pub use notices::{ExtendPage, NoticesPage};
pub use reservations::ReservationsPage;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The `:id` of the current route as a number (-1, which matches nothing, when malformed).
pub(crate) fn id_param() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(-1)
    }
}

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
