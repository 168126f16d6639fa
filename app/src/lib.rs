//! The baas web UI: Leptos pages rendered on the server and hydrated in the browser, and the
//! server functions they call. All lab state and rules live in the `lab` crate.

pub mod api;
#[cfg(feature = "ssr")]
pub mod auth;
pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod power;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::components::Nav;
use crate::pages::*;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <script type="module" src="/local-time.js"></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/baas.css"/>
        <Title text="baas"/>
        <Router>
            <Nav/>
            <main class="mx-auto max-w-6xl px-4 py-6">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=DashboardPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/machines/:id") view=MachinePage ssr=SsrMode::Async/>
                    <Route path=path!("/machines/:id/edit") view=EditMachinePage ssr=SsrMode::Async/>
                    <Route path=path!("/reservations") view=ReservationsPage ssr=SsrMode::Async/>
                    <Route path=path!("/images") view=ImagesPage ssr=SsrMode::Async/>
                    <Route path=path!("/images/upload") view=UploadPage ssr=SsrMode::Async/>
                    <Route path=path!("/images/:id") view=ImagePage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/machines/new") view=NewMachinePage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users") view=UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/groups") view=GroupsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/settings") view=SettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/discovered") view=DiscoveredPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
