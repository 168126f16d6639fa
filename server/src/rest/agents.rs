//! `/agent/v1/…`: the only door the management OS has. Every request is signed with the
//! agent's ed25519 key (see `lab::agent_protocol`); the signature covers method, path, time, a
//! nonce and the body, the time must be within two minutes of ours and a nonce is accepted
//! once, so a captured request cannot be replayed or altered. The enrolment is signed with the
//! new key and carries the one-time token from the boot script; afterwards the key alone
//! identifies the agent, which sees its own job and nothing else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use conductor::session::ClientAddress;
use ed25519_dalek::{Signature, VerifyingKey};
use lab::agent_protocol::{
    signed_text, EnrolRequest, Enrolled, Heartbeat, Order, Outcome, Progress, RelayPlan,
    RelayRequest, SaveTarget, CLOCK_SKEW_SECONDS, SCHEME,
};
use lab::agents::{Agent, HEARTBEAT_SECONDS};
use lab::ErrorKind;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{ApiError, ApiResult};
use crate::state::AppState;

/// The largest body of a piece of a saved disk (the agent sends 8 MiB).
const MAX_PIECE: usize = 16 << 20;
/// The largest body of any other call (a big machine's hardware report fits many times).
const MAX_BODY: usize = 1 << 20;

/// Nonces this instance saw within the accepted clock window: a replay is refused before it
/// costs a database write. Bounded: past the limit, requests are refused until old nonces age
/// out, rather than memory growing without end.
#[derive(Clone, Default)]
pub struct NonceBook(Arc<Mutex<NonceState>>);

#[derive(Default)]
struct NonceState {
    seen: HashMap<String, i64>,
    pruned_at: i64,
}

const MAX_NONCES: usize = 4_000_000;

impl NonceBook {
    /// True the first time `nonce` (of the key) is presented.
    fn first_use(&self, key: &str, nonce: &str, now: i64) -> bool {
        let Ok(mut state) = self.0.lock() else {
            return false;
        };
        if now - state.pruned_at >= 10 {
            state
                .seen
                .retain(|_, at| now - *at <= 2 * CLOCK_SKEW_SECONDS);
            state.pruned_at = now;
        }
        if state.seen.len() >= MAX_NONCES {
            return false;
        }
        state.seen.insert(format!("{key}:{nonce}"), now).is_none()
    }
}

/// A request whose signature checked out: the signer's key (hex) and the body it signed.
pub struct Signed {
    key: String,
    body: Bytes,
    address: String,
}

impl Signed {
    fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("bad JSON body: {e}")))
    }

    /// The enrolled agent that signed.
    async fn agent(&self, state: &AppState) -> ApiResult<Agent> {
        state
            .lab
            .agent(&self.key)
            .await
            .map_err(|_| unauthenticated("this key is not enrolled"))
    }
}

fn unauthenticated(why: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Unauthenticated,
        format!("agent authentication: {why}"),
    )
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let auth = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix(SCHEME))
            .ok_or_else(|| unauthenticated(&format!("a signed request ({SCHEME}) is required")))?;
        let field = |name: &str| {
            auth.split(',')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .ok_or_else(|| unauthenticated(&format!("the {name} field is missing")))
        };
        let (key, ts, nonce, sig) = (field("key")?, field("ts")?, field("nonce")?, field("sig")?);
        let ts: i64 = ts
            .parse()
            .map_err(|_| unauthenticated("ts is not a number"))?;
        let now = lab::now();
        if (now - ts).abs() > CLOCK_SKEW_SECONDS {
            return Err(unauthenticated(&format!(
                "the request's time is {} s from the server's",
                now - ts
            )));
        }
        if nonce.len() < 16 || nonce.len() > 64 {
            return Err(unauthenticated("the nonce must have 16 to 64 characters"));
        }
        let verifying = hex::decode(&key)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
            .ok_or_else(|| unauthenticated("the key is not an ed25519 public key"))?;
        let signature = hex::decode(&sig)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .map(|bytes| Signature::from_bytes(&bytes))
            .ok_or_else(|| unauthenticated("the signature is malformed"))?;
        // The body is read before the signature can be checked: only the save takes big ones.
        let limit = if parts.uri.path() == "/agent/v1/save" {
            MAX_PIECE
        } else {
            MAX_BODY
        };
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::new(ErrorKind::TooLarge, "the body is too large"))?;
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let text = signed_text(
            parts.method.as_str(),
            path,
            ts,
            &nonce,
            &hex::encode(Sha256::digest(&body)),
        );
        verifying
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| unauthenticated("the signature does not match the request"))?;
        if !state.agent_nonces.first_use(&key, &nonce, now) {
            return Err(unauthenticated("this nonce was used before"));
        }
        // The database's book outlives a restart and is shared by every instance: a request
        // captured before a restart, or replayed to another instance, fails there too.
        if !state.lab.first_use_of_nonce(&key, &nonce, now).await? {
            return Err(unauthenticated("this nonce was used before"));
        }
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        Ok(Signed { key, body, address })
    }
}

/// `POST /agent/v1/enrol`.
#[utoipa::path(post, path = "/agent/v1/enrol", tag = "agent", security(("agent" = [])), request_body = lab::agent_protocol::EnrolRequest, responses((status = 200, description = "Enrolled", body = lab::agent_protocol::Enrolled), super::Failures))]
pub async fn enrol(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Enrolled>> {
    let request: EnrolRequest = signed.json()?;
    let agent = state
        .lab
        .enrol_agent(&request.token, &request.mac, &signed.key, &signed.address)
        .await
        .map_err(|e| match e {
            lab::Error::InvalidToken => unauthenticated(
                "the enrolment token is unknown, used, expired, or not for this MAC and address",
            ),
            e => e.into(),
        })?;
    tracing::info!(agent = agent.id, machine = %agent.machine, mac = %agent.mac, "agent enrolled");
    Ok(Json(Enrolled {
        agent_id: agent.id,
        machine: agent.machine,
        heartbeat_seconds: HEARTBEAT_SECONDS,
    }))
}

/// `POST /agent/v1/heartbeat`.
#[utoipa::path(post, path = "/agent/v1/heartbeat", tag = "agent", security(("agent" = [])), request_body = lab::agent_protocol::Heartbeat, responses((status = 204, description = "Noted"), super::Failures))]
pub async fn heartbeat(State(state): State<AppState>, signed: Signed) -> ApiResult<StatusCode> {
    let agent = signed.agent(&state).await?;
    let beat: Heartbeat = signed.json()?;
    state.lab.agent_heartbeat(&agent, &beat.hardware).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /agent/v1/job`.
#[utoipa::path(get, path = "/agent/v1/job", tag = "agent", security(("agent" = [])), responses((status = 200, description = "What to do", body = lab::agent_protocol::Order), super::Failures))]
pub async fn job(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<Order>> {
    let agent = signed.agent(&state).await?;
    Ok(Json(state.lab.agent_order(&agent).await?))
}

/// `GET /agent/v1/image`: the image of the agent's own deploy, with Range to resume.
#[utoipa::path(get, path = "/agent/v1/image", tag = "agent", security(("agent" = [])), params(("Range" = Option<String>, Header)), responses((status = 200, description = "The image of the agent's own job", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of it", body = Vec<u8>), super::Failures))]
pub async fn image(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
) -> ApiResult<Response> {
    let agent = signed.agent(&state).await?;
    let file = state.lab.agent_image(&agent).await?;
    super::content::serve(&file, &headers).await
}

/// `POST /agent/v1/progress`.
#[utoipa::path(post, path = "/agent/v1/progress", tag = "agent", security(("agent" = [])), request_body = lab::agent_protocol::Progress, responses((status = 204, description = "Noted"), super::Failures))]
pub async fn progress(State(state): State<AppState>, signed: Signed) -> ApiResult<StatusCode> {
    let agent = signed.agent(&state).await?;
    let progress: Progress = signed.json()?;
    state.lab.agent_progress(&agent, &progress).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /agent/v1/result`.
#[utoipa::path(post, path = "/agent/v1/result", tag = "agent", security(("agent" = [])), request_body = lab::agent_protocol::Outcome, responses((status = 200, description = "The job's state after the report", body = Object), super::Failures))]
pub async fn result(State(state): State<AppState>, signed: Signed) -> ApiResult<Response> {
    let agent = signed.agent(&state).await?;
    let outcome: Outcome = signed.json()?;
    let job = state.lab.agent_result(&agent, &outcome).await?;
    tracing::info!(job = job.id, state = %job.state, reason = %job.reason, "agent reported its result");
    Ok(Json(serde_json::json!({ "job": job.id, "state": job.state })).into_response())
}

/// `POST /agent/v1/relay`: joins the batch's relay (the agent's address as baas sees it, with
/// the port it serves on) and names the agent to stream from, with a grant for it.
#[utoipa::path(post, path = "/agent/v1/relay", tag = "agent", security(("agent" = [])), request_body = lab::agent_protocol::RelayRequest, responses((status = 200, description = "Where to stream the image from", body = lab::agent_protocol::RelayPlan), super::Failures))]
pub async fn relay(State(state): State<AppState>, signed: Signed) -> ApiResult<Json<RelayPlan>> {
    let agent = signed.agent(&state).await?;
    let request: RelayRequest = signed.json()?;
    Ok(Json(
        state
            .lab
            .agent_relay(&agent, &signed.address, &request)
            .await?,
    ))
}

/// `POST /agent/v1/save`: the save's upload, and how much of it baas has.
#[utoipa::path(post, path = "/agent/v1/save", tag = "agent", security(("agent" = [])), responses((status = 200, description = "Where the saved disk goes", body = lab::agent_protocol::SaveTarget), super::Failures))]
pub async fn save_target(
    State(state): State<AppState>,
    signed: Signed,
) -> ApiResult<Json<SaveTarget>> {
    let agent = signed.agent(&state).await?;
    let (_, _, target) = state.lab.agent_save_target(&agent).await?;
    Ok(Json(target))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PieceQuery {
    offset: u64,
    #[serde(default)]
    last: bool,
    #[serde(default)]
    raw_sha256: String,
}

/// `PATCH /agent/v1/save?offset=N`: the next piece of the saved disk (zstd); `&last=true&
/// raw_sha256=…` with an empty body finishes it.
#[utoipa::path(patch, path = "/agent/v1/save", tag = "agent", security(("agent" = [])), params(PieceQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, description = "Stored", body = lab::agent_protocol::Saved), super::Failures))]
pub async fn save_piece(
    State(state): State<AppState>,
    super::Params(query): super::Params<PieceQuery>,
    signed: Signed,
) -> ApiResult<Response> {
    let agent = signed.agent(&state).await?;
    let last = query.last.then_some(query.raw_sha256.as_str());
    match state
        .lab
        .agent_save_piece(&agent, query.offset, &signed.body, last)
        .await?
    {
        Some(saved) => Ok(Json(saved).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
