//! `POST /api/v1/imports`: the server fetches an image from an HTTP(S) URL into an upload whose
//! progress the caller follows at `/api/v1/uploads/{id}`, like one of its own uploads.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use app::error::ErrorKind;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::TryStreamExt;
use lab::egress::EgressPolicy;
use lab::model::{NewUpload, Upload};
use lab::Ending;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use super::{ApiError, ApiResult, Caller};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ImportRequest {
    url: String,
    name: String,
    description: String,
    visibility: String,
    group: String,
    sha256: String,
}

/// Answers once the source has answered (so a dead URL is reported at once); the bytes then
/// stream in the background. Internal destinations are refused (see [`lab::egress`]) — for the
/// URL as given, for every address its name resolves to, and for every redirect.
#[utoipa::path(post, path = "/api/v1/imports", tag = "images", request_body = ImportRequest, responses((status = 202, description = "The import, running", body = Upload), super::Failures))]
pub async fn start_import(
    State(state): State<AppState>,
    Caller(actor): Caller,
    super::Body(request): super::Body<ImportRequest>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let url = reqwest::Url::parse(request.url.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .filter(|url| url.host().is_some())
        .ok_or_else(|| url_error("must be an http:// or https:// URL"))?;
    let policy = state.lab.egress_policy().await?;
    if let Some(ip) = literal_host(&url) {
        policy.check(ip).map_err(|reason| url_error(&reason))?;
    }
    let client = egress_client(policy);
    let filename = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default()
        .to_string();
    let response = client
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| match refusal(&e) {
            Some(reason) => url_error(&reason),
            None => ApiError::new(
                ErrorKind::Upstream,
                format!("fetching {url}: {}", describe(&e)),
            ),
        })?;
    let new = NewUpload {
        name: request.name,
        description: request.description,
        visibility: request.visibility,
        group: request.group,
        length: response.content_length().map(|l| l as i64),
        sha256: request.sha256,
        filename,
        source_url: url.to_string(),
    };
    let upload = state.lab.create_upload(&actor, new).await?;
    let lab = state.lab.clone();
    let id = upload.id.clone();
    tokio::spawn(async move {
        let body = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
        match lab.append_upload(&actor, &id, 0, body, Ending::Whole).await {
            Ok(done) => {
                tracing::info!(upload = %id, image = ?done.image_id, %url, "import finished")
            }
            Err(e) => tracing::info!(upload = %id, %url, error = %e, "import failed"),
        }
    });
    Ok((StatusCode::ACCEPTED, Json(upload)))
}

pub(crate) fn describe(error: &reqwest::Error) -> String {
    if let Some(status) = error.status() {
        format!("the server answered {status}")
    } else if error.is_timeout() {
        "no answer in time".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.to_string()
    }
}

fn url_error(reason: &str) -> ApiError {
    let mut error = ApiError::new(ErrorKind::Invalid, format!("url: {reason}"));
    error.0.fields.push(lab::FieldError {
        field: "url".into(),
        message: reason.to_string(),
    });
    error
}

/// The URL's host when it is an IP address. Names are checked by [`GuardedResolver`] as they
/// are resolved for the connection; literal addresses never reach a resolver, so they are
/// checked here, for the URL given and for every redirect.
pub(crate) fn literal_host(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// The addresses of `name` the policy allows, or why there are none.
fn guarded(
    policy: &EgressPolicy,
    name: &str,
    addresses: impl Iterator<Item = IpAddr>,
) -> Result<Vec<IpAddr>, String> {
    let mut allowed = Vec::new();
    let mut refused = None;
    for ip in addresses {
        match policy.check(ip) {
            Ok(()) => allowed.push(ip),
            Err(reason) => refused = Some(reason),
        }
    }
    match (allowed.is_empty(), refused) {
        (false, _) => Ok(allowed),
        (true, Some(reason)) => Err(format!("{name} resolves to {reason}")),
        (true, None) => Err(format!("{name} has no address")),
    }
}

/// Why the policy stopped a request (a redirect or a resolved name), if it did.
pub(crate) fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = current.source();
    }
    None
}

/// A destination the egress policy does not allow.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names like the system does, keeping only the addresses the policy allows: the
/// connection goes to exactly the addresses checked.
struct GuardedResolver(EgressPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = guarded(&policy, &host, found.map(|a| a.ip())).map_err(Refused)?;
            let addresses: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addresses)
        })
    }
}

/// The client an import or a webhook uses: names resolved through the policy, redirects (at most 5) to
/// literal addresses checked against it, no proxy from the environment, no cookies, bounded
/// connect and read times.
pub fn egress_client(policy: EgressPolicy) -> reqwest::Client {
    let redirects = policy.clone();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error(Refused("more than 5 redirects".into()));
            }
            match literal_host(attempt.url()).map(|ip| redirects.check(ip)) {
                Some(Err(reason)) => attempt.error(Refused(format!("redirected: {reason}"))),
                _ => attempt.follow(),
            }
        }))
        .user_agent(concat!("baas/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
