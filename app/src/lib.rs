//! The baas web UI: Leptos pages rendered on the server and hydrated in the browser, and the
//! server functions they call. All lab state and rules live in the `lab` crate.

pub mod api;
#[cfg(feature = "ssr")]
pub mod auth;
pub mod components;
pub mod error;
pub mod pages;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::components::Nav;
use crate::pages::*;

/// The Content-Security-Policy of a page whose inline scripts and styles carry `nonce`: nothing
/// inline runs or applies without it, and nothing loads from elsewhere. WebAssembly needs
/// `wasm-unsafe-eval` to be compiled (it grants no `eval` to scripts).
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The HTML document around the app, rendered on the server. The page's policy names the nonce
/// this render gave its scripts (the hydration scripts and resource data carry it).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) = http::HeaderValue::from_str(&content_security_policy(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, policy);
        }
    }
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
                    <Route path=path!("/machines/:id") view={Lazy::<Machine>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/machines/:id/edit") view={Lazy::<EditMachine>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/reservations") view={Lazy::<Reservations>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/reservations/:id/extend") view={Lazy::<Extend>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/calendar") view={Lazy::<Calendar>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/batches/new") view={Lazy::<NewBatch>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/batches/:id") view={Lazy::<BatchView>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/notices") view={Lazy::<Notices>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/images") view={Lazy::<Images>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/images/upload") view={Lazy::<Upload>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/images/:id") view={Lazy::<Image>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account") view={Lazy::<Account>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/machines/new") view={Lazy::<NewMachine>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users") view={Lazy::<Users>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/groups") view={Lazy::<Groups>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view={Lazy::<Audit>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/settings") view={Lazy::<Settings>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/discovered") view={Lazy::<Discovered>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// A page whose code the browser loads only when it is first shown: `./dev` builds with
/// `cargo leptos --split`, which puts each lazy route in its own wasm chunk, so the bundle
/// every visitor downloads holds the shell, the dashboard and the login page only.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        #[doc = concat!("The lazily loaded [`", stringify!($page), "`].")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    Machine => MachinePage,
    EditMachine => EditMachinePage,
    Reservations => ReservationsPage,
    Extend => ExtendPage,
    Calendar => CalendarPage,
    NewBatch => NewBatchPage,
    BatchView => BatchPage,
    Notices => NoticesPage,
    Images => ImagesPage,
    Upload => UploadPage,
    Image => ImagePage,
    Account => AccountPage,
    NewMachine => NewMachinePage,
    Users => UsersPage,
    Groups => GroupsPage,
    Audit => AuditPage,
    Settings => SettingsPage,
    Discovered => DiscoveredPage,
}
