//! The HTTP front: the Leptos pages and server functions, static assets, and the middleware
//! every request passes (client address, cross-site refusal, page access, sessions, headers).

use std::net::SocketAddr;
use std::sync::Arc;

use app::routes::{page_access, Access};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use conductor::session::{session_user, ClientAddress};
use conductor::Conductor;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::config::Config;
pub use crate::state::AppState;

/// Builds the whole HTTP service. Sessions live in the lab's database, so they survive restarts.
/// The conductor is shared with the background duties (its power cache with the refresher).
pub async fn router(conductor: Conductor, config: &Config) -> anyhow::Result<Router> {
    let files = netboot::NetbootFiles::new(&config.tftp_root);
    router_with(conductor, config, Default::default(), files).await
}

/// As [`router`], with what the boot services learned of booting machines' addresses and the
/// network-boot files (those baas made among them).
pub async fn router_with(
    conductor: Conductor,
    config: &Config,
    boot_clients: crate::boot_clients::BootClients,
    netboot_files: netboot::NetbootFiles,
) -> anyhow::Result<Router> {
    let lab = conductor.lab().clone();
    let leptos_options = LeptosOptions::builder()
        .output_name("baas")
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.http_addr)
        .env(leptos::config::Env::PROD)
        .build();

    let store = crate::sessions::Sessions::open(&lab).await?;
    tokio::spawn(
        tower_sessions::session_store::ExpiredDeletion::continuously_delete_expired(
            store.clone(),
            tokio::time::Duration::from_secs(600),
        ),
    );
    let sessions = SessionManagerLayer::new(store)
        .with_name("baas_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            config.session_ttl_seconds,
        )));

    let state = AppState {
        leptos_options: leptos_options.clone(),
        lab: lab.clone(),
        management_os: config.management_os.clone().map(std::sync::Arc::new),
        management_os_arm64: config.management_os_arm64.clone().map(std::sync::Arc::new),
        public_url: config.public_url.clone(),
        boot_clients,
        agent_nonces: Default::default(),
        netboot_files: std::sync::Arc::new(netboot_files.clone()),
        conductor: conductor.clone(),
    };
    let routes = generate_route_list(app::App);
    let secure_cookies = app::auth::SecureCookies(config.secure_cookies);
    let netboot_settings = app::api::machines::NetbootSettings {
        management_os: lab::boot::ManagementOsBuilds {
            x86_64: config.management_os.is_some(),
            arm64: config.management_os_arm64.is_some(),
        },
        firmware_dir: std::sync::Arc::new(config.tftp_root.clone()),
        made_programs: std::sync::Arc::new(netboot_files.made_names().map(String::from).collect()),
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/{*name}", any(unknown_api_function))
        .merge(crate::rest::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(conductor.clone());
                provide_context(netboot_settings.clone());
                provide_context(secure_cookies);
            },
            {
                let options = leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard_pages))
        .layer(sessions)
        .layer(middleware::from_fn(refuse_cross_site))
        .layer(middleware::from_fn(client_address))
        .layer(middleware::from_fn(security_headers))
        .with_state(state);
    Ok(router)
}

/// Server functions are routed one by one (by `leptos_routes_with_context`); anything else
/// under `/api/` is an unknown function, answered in the API's JSON error format.
async fn unknown_api_function() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such API function")
}

/// Records the peer address for the audit log.
async fn client_address(mut request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default();
    request.extensions_mut().insert(ClientAddress(address));
    next.run(request).await
}

/// Refuses state-changing requests that a browser marks as coming from another site. Together
/// with SameSite cookies this makes forged cross-site form posts and fetches fail.
async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same_origin = match headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("null"))
    {
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            authority.is_some() && authority == host
        }
        // No Origin: not a browser's cross-site request unless Fetch Metadata says so.
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|site| site != "cross-site"),
    };
    if same_origin {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "refused cross-site request");
        json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "cross-site request refused",
        )
    }
}

/// Applies `app::routes::PAGES`: anonymous visitors go to the log-in page, non-admins get 403
/// on admin pages, logged-in users skip the log-in page.
async fn guard_pages(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    // A path with empty, `.` or `..` segments names no page, whatever a router would make of
    // it: it must not slip past the rules below.
    let odd_segment = path
        .split('/')
        .skip(1)
        .enumerate()
        .any(|(n, segment)| matches!(segment, "." | "..") || (segment.is_empty() && n > 0));
    if odd_segment && path.starts_with("/api/") {
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such path");
    }
    if odd_segment {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    }
    let Some(access) = page_access(&path) else {
        return next.run(request).await;
    };
    let user = session_user(&state.lab, &session).await.ok().flatten();
    match (access, user) {
        (Access::Public, Some(_)) if path == "/login" => Redirect::to("/").into_response(),
        (Access::Public, _) => next.run(request).await,
        (_, None) => Redirect::to("/login").into_response(),
        (Access::Admin, Some(user)) if !user.is_admin => forbidden_page(),
        (_, Some(_)) => next.run(request).await,
    }
}

fn forbidden_page() -> Response {
    let body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden · baas</title></head>\
        <body><h1>Forbidden</h1>\
        <p>This page is for administrators.</p><p><a href=\"/\">Back to the machines</a></p></body></html>";
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

pub fn json_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "kind": kind, "error": message });
    (status, axum::Json(body)).into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: Arc<[(&str, &str)]> = Arc::new([
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ]);
    for (name, value) in fixed.iter() {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    // Pages set their own policy with their nonce; anything else (JSON, files, plain pages)
    // may run and load nothing.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
                 form-action 'self'; frame-ancestors 'none'",
            ),
        );
    }
    response
}
