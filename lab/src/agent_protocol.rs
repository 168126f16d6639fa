//! What baas and the agent in the management OS say to each other (`/agent/v1/…`), shared by
//! both sides so the two can never disagree on a field. No database, no HTTP: plain data and
//! the one rule both sides must compute alike, the text a request signature covers.
//!
//! Every call after enrolment carries an `Authorization: Baas-Agent key=…, ts=…, nonce=…,
//! sig=…` header: the agent's ed25519 public key, a Unix time, a random nonce and the signature
//! of [`signed_text`]. The enrolment itself is signed with the new key too, which proves the
//! agent holds it.

use serde::{Deserialize, Serialize};

/// The authorization scheme name.
pub const SCHEME: &str = "Baas-Agent";

/// How far a request's time may be from the server's, in seconds; nonces are remembered for
/// twice as long, so a captured request can never be replayed.
pub const CLOCK_SKEW_SECONDS: i64 = 120;

/// What a request's signature covers: method, path with query, time, nonce and the SHA-256 of
/// the body (hex), one per line.
pub fn signed_text(
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body_sha256: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{ts}\n{nonce}\n{body_sha256}")
}

/// The authorization header of a request signed by `key` at time `ts` with `nonce`.
#[cfg(feature = "signing")]
pub fn authorization_at(
    key: &ed25519_dalek::SigningKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    ts: i64,
    nonce: &str,
) -> String {
    use ed25519_dalek::Signer;
    use sha2::Digest;
    let text = signed_text(
        method,
        path_and_query,
        ts,
        nonce,
        &hex::encode(sha2::Sha256::digest(body)),
    );
    format!(
        "{SCHEME} key={}, ts={ts}, nonce={nonce}, sig={}",
        hex::encode(key.verifying_key().as_bytes()),
        hex::encode(key.sign(text.as_bytes()).to_bytes())
    )
}

/// The authorization header of a request signed by `key` now, with a fresh random nonce.
#[cfg(feature = "signing")]
pub fn authorization(
    key: &ed25519_dalek::SigningKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    use rand::RngCore;
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    authorization_at(key, method, path_and_query, body, ts, &hex::encode(nonce))
}

/// A fresh agent key.
#[cfg(feature = "signing")]
pub fn new_key() -> ed25519_dalek::SigningKey {
    use rand::RngCore;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    ed25519_dalek::SigningKey::from_bytes(&secret)
}

/// `POST /agent/v1/enrol`: the one-time token from the kernel command line and the MAC the
/// management OS booted from. The key is the one in the authorization header.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub token: String,
    pub mac: String,
}

/// The answer to an enrolment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolled {
    pub agent_id: i64,
    /// The machine's name, or empty for an unknown machine being enlisted.
    pub machine: String,
    /// Seconds between heartbeats.
    pub heartbeat_seconds: u64,
}

/// What the machine is made of, read from /proc and /sys.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HardwareReport {
    pub cpu_model: String,
    pub cpu_count: u32,
    pub memory_bytes: u64,
    /// `bios` or `uefi`.
    pub firmware: String,
    pub vendor: String,
    pub product: String,
    pub serial: String,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    /// `/dev/vda`, …
    pub path: String,
    pub size_bytes: u64,
    pub model: String,
    pub serial: String,
    pub rotational: bool,
    pub removable: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub driver: String,
    pub link: bool,
    /// Mbit/s, 0 when unknown.
    pub speed_mbps: u64,
}

/// `POST /agent/v1/heartbeat`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Heartbeat {
    pub hardware: HardwareReport,
}

/// `GET /agent/v1/job`: what to do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub job_id: i64,
    pub kind: crate::model::JobKind,
    /// For a deploy: the image to write, fetched from `GET /agent/v1/image`.
    pub image: Option<OrderImage>,
    /// Save the disk first (deploy) or only (save) as the next version of this image name.
    pub save_as: String,
    /// Which disk: empty for the default rule (the first non-removable disk at least as large
    /// as the image), or a device path.
    pub disk: String,
    /// A deploy of a batch whose agents relay the image to each other (`POST /agent/v1/relay`).
    #[serde(default)]
    pub relay: bool,
}

/// The image a deploy writes, and how to check it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderImage {
    pub id: i64,
    pub name: String,
    pub version: i64,
    /// `none`, `gzip`, `xz`, `zstd`.
    pub compression: String,
    /// The bytes the stream carries, and their SHA-256.
    pub stored_size: u64,
    pub stored_sha256: String,
    /// The bytes written to the disk, and their SHA-256 (read back to verify).
    pub raw_size: u64,
    pub raw_sha256: String,
}

/// `POST /agent/v1/progress`, about once a second.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// One of [`AgentPhase`]'s words; text on the wire so a wrong one is refused with the field
    /// named, like every other bad value.
    #[cfg_attr(feature = "openapi", schema(value_type = AgentPhase))]
    pub phase: String,
    pub done: u64,
    pub total: u64,
    pub bytes_per_second: u64,
    pub message: String,
}

impl Progress {
    /// Word of work in `phase`, without counts.
    pub fn new(phase: AgentPhase) -> Progress {
        Progress {
            phase: phase.as_str().into(),
            ..Default::default()
        }
    }
}

crate::model::string_enum!(
    /// The phases an agent reports progress in, each a job state of the same name.
    AgentPhase { Saving => "saving", Writing => "writing", Verifying => "verifying" }
);

/// `POST /agent/v1/save`: where the disk upload of a save stands (created on the first call,
/// the same one after a restart). Bytes go in order with `PATCH /agent/v1/save?offset=N`;
/// `&last=1` with an empty body and `&raw_sha256=` (of what was read from the disk) ends it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaveTarget {
    pub offset: u64,
    /// The image name and the version it will become.
    pub name: String,
}

/// The answer to the last piece of a save.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub image_id: i64,
    pub version: i64,
}

/// `POST /agent/v1/result`: how the job ended on the machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    pub ok: bool,
    /// On failure: the step (`disk`, `download`, `write`, `verify`, …) and why.
    pub step: String,
    pub reason: String,
    /// For a deploy: the SHA-256 of what was read back from the disk.
    pub written_sha256: String,
    /// The disk the agent used.
    pub disk: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_text_covers_every_part_of_a_request() {
        let text = signed_text("POST", "/agent/v1/progress?x=1", 17, "n0", "ab");
        assert_eq!(text, "POST\n/agent/v1/progress?x=1\n17\nn0\nab");
    }
}

/// `POST /agent/v1/relay`: a batch's agent joins the relay with the port it serves on (its
/// address is the one baas sees it at), or asks again after an upstream failed it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayRequest {
    pub port: u16,
    /// Jobs whose agents failed this one as upstream: never named again.
    pub avoid: Vec<i64>,
}

/// Where a batch's agent streams the image from, and the key it checks its children's grants
/// with.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayPlan {
    /// Hex; the same for the whole job.
    pub key: String,
    /// The nearest agent before this one in the pipeline that is still streaming; none: baas.
    pub upstream: Option<Upstream>,
}

/// An agent to stream the image from, and the grant it asks for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub job_id: i64,
    /// `http://address:port/relay/image`.
    pub url: String,
    /// `Authorization: Bearer` for that agent: `child.expires.mac`.
    pub grant: String,
    /// How many agents stream before it (0: it streams from baas).
    pub depth: u32,
}

/// What a relay grant's MAC covers: the relay's job, the child's job, the image and the end of
/// the grant's life.
pub fn relay_grant_text(
    parent_job: i64,
    child_job: i64,
    stored_sha256: &str,
    expires_at: i64,
) -> String {
    format!(
        "baas-relay\n{parent_job}\n{child_job}\n{}\n{expires_at}",
        stored_sha256.to_ascii_lowercase()
    )
}

/// A grant for the agent of `child_job` to stream the image `stored_sha256` from the relay of
/// `parent_job`, whose key is `key`, until `expires_at`.
#[cfg(any(feature = "signing", feature = "db"))]
pub fn relay_grant(
    key: &[u8],
    parent_job: i64,
    child_job: i64,
    stored_sha256: &str,
    expires_at: i64,
) -> String {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(relay_grant_text(parent_job, child_job, stored_sha256, expires_at).as_bytes());
    format!(
        "{child_job}.{expires_at}.{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a grant at the relay of `parent_job` (key `key`) for the image `stored_sha256` at
/// `now`; the child's job, or why not.
#[cfg(any(feature = "signing", feature = "db"))]
pub fn check_relay_grant(
    key: &[u8],
    grant: &str,
    parent_job: i64,
    stored_sha256: &str,
    now: i64,
) -> Result<i64, &'static str> {
    use hmac::Mac;
    let mut parts = grant.splitn(3, '.');
    let (Some(child), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a relay grant is required");
    };
    let (Ok(child), Ok(expires), Ok(tag)) = (
        child.parse::<i64>(),
        expires.parse::<i64>(),
        hex::decode(tag),
    ) else {
        return Err("the relay grant is malformed");
    };
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(relay_grant_text(parent_job, child, stored_sha256, expires).as_bytes());
    mac.verify_slice(&tag)
        .map_err(|_| "the relay grant is not for this relay")?;
    if expires < now {
        return Err("the relay grant has expired");
    }
    Ok(child)
}
