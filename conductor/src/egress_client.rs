//! Outbound HTTP to places users name (image imports, notice webhooks) under the lab's egress
//! policy: internal destinations are refused for the URL as given, for every address its name
//! resolves to, and for every redirect.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lab::egress::EgressPolicy;

/// A failed request in a sentence for the user.
pub fn describe(error: &reqwest::Error) -> String {
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

/// The URL's host when it is an IP address. Names are checked by [`GuardedResolver`] as they
/// are resolved for the connection; literal addresses never reach a resolver, so they are
/// checked here, for the URL given and for every redirect.
pub fn literal_host(url: &reqwest::Url) -> Option<IpAddr> {
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
pub fn refusal(error: &reqwest::Error) -> Option<String> {
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
/// connect and read times. Fails only when the TLS backend cannot start; never falls back to a
/// client without the policy.
pub fn egress_client(policy: EgressPolicy) -> Result<reqwest::Client, String> {
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
        .map_err(|e| format!("the HTTP client could not be built: {e}"))
}
