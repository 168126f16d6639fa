//! A machine's serial console (`/api/v1/machines/{id}/console…`, `/api/v1/jobs/{id}/console`):
//! the live console over a WebSocket — what the machine prints as binary frames, what the
//! holder types back as binary frames, control words and state as JSON text frames — and the
//! recordings, whole or by byte range. The console itself (one SOL session per machine, shared
//! and recorded) is the conductor's; this module checks who may do what and relays.
//!
//! Text frames from the client: `{"type":"break"}`, `{"type":"take_keyboard"}`,
//! `{"type":"take_over_sol"}`, `{"type":"resize","cols":N,"rows":N}` (accepted; a serial line
//! has no size). Text frames to the client: `{"type":"state","state":…,"detail":…,
//! "role":"holder"|"manager","keyboard":"yours"|"other"|"free"}`.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use conductor::consoles::{Frame, Received, Viewer};
use lab::consoles::ConsoleRole;
use lab::model::BmcKind;
use lab::{Actor, ErrorKind};
use serde::Deserialize;

use super::{ApiError, ApiResult, Caller, Id};
use crate::state::AppState;

/// How often a viewer's right to the console is checked again (a reservation ends).
const RECHECK: Duration = Duration::from_secs(5);
/// The largest message a viewer may send.
const MAX_MESSAGE: usize = 64 * 1024;

/// `GET /api/v1/machines/{id}/console` (WebSocket).
#[utoipa::path(get, operation_id = "machine_console", path = "/api/v1/machines/{id}/console", tag = "console",
    params(("id" = i64, Path)),
    description = "The machine's serial console as a WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`). Binary frames carry bytes both ways; text frames carry JSON: `{\"type\":\"break\"}`, `{\"type\":\"take_keyboard\"}`, `{\"type\":\"take_over_sol\"}` from the client, `{\"type\":\"state\",…}` to it. The holder of the machine's current reservation types; managers and admins watch and may take the keyboard. The recorded scrollback comes first.",
    responses((status = 101, description = "Switching to the console"), (status = 426, description = "Not a WebSocket request", body = ApiError), super::Failures))]
pub async fn live(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let role = state.lab.console_role(&actor, id).await?;
    console_capable(&state, id).await?;
    if !same_origin(&headers) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "cross-site console connection refused",
        ));
    }
    let Ok(upgrade) = upgrade else {
        let refusal = ApiError::new(
            ErrorKind::BadRequest,
            "the console is a WebSocket: connect with Upgrade: websocket",
        );
        return Ok((
            StatusCode::UPGRADE_REQUIRED,
            [(header::UPGRADE, "websocket")],
            axum::Json(refusal),
        )
            .into_response());
    };
    state
        .lab
        .record_console_action(&actor, id, "open", role_name(role))
        .await?;
    // Typed input comes in keystrokes and pastes, not megabytes.
    let upgrade = upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE);
    Ok(upgrade.on_upgrade(move |socket| serve(state, actor, id, role, socket)))
}

/// The machine must have a BMC baas can open SOL on.
async fn console_capable(state: &AppState, machine_id: i64) -> ApiResult<()> {
    let access = state.lab.console_bmc(machine_id).await?;
    match access.kind {
        BmcKind::Ipmi => Ok(()),
        BmcKind::Redfish => Err(ApiError::new(
            ErrorKind::Conflict,
            "this machine's BMC speaks Redfish: its serial console (Redfish SerialConsole over SSH) is not supported yet; give the machine its IPMI address to use SOL",
        )),
        BmcKind::None => Err(ApiError::new(
            ErrorKind::Conflict,
            "this machine has no BMC: there is no console to open",
        )),
    }
}

/// A holder sees the console from the start of their reservation; managers see it all.
fn holders_reservation(role: ConsoleRole) -> Option<i64> {
    match role {
        ConsoleRole::Holder { reservation } => Some(reservation),
        ConsoleRole::Manager => None,
    }
}

/// A browser connecting from another site (Origin names another host) is refused: the
/// console carries the session cookie like any request.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("null"))
    {
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            authority.is_some() && authority == host
        }
        None => true,
    }
}

fn role_name(role: ConsoleRole) -> &'static str {
    match role {
        ConsoleRole::Holder { .. } => "holder",
        ConsoleRole::Manager => "manager",
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Control {
    Break,
    TakeKeyboard,
    TakeOverSol,
    Resize {
        #[allow(dead_code)]
        cols: u16,
        #[allow(dead_code)]
        rows: u16,
    },
}

/// Relays one viewer until it leaves, falls idle, or loses its right to the console.
async fn serve(
    state: AppState,
    actor: Actor,
    machine_id: i64,
    role: ConsoleRole,
    mut socket: WebSocket,
) {
    let consoles = state.conductor.consoles().clone();
    let idle_limit = Duration::from_secs(state.conductor.settings().console_idle_seconds);
    let mut viewer = consoles.attach(machine_id, holders_reservation(role));
    if matches!(role, ConsoleRole::Holder { .. }) {
        viewer.claim_free_keyboard();
    }
    let ending = relay(
        &state,
        &actor,
        machine_id,
        role,
        &mut viewer,
        &mut socket,
        idle_limit,
    )
    .await;
    let _ = socket
        .send(Message::Text(
            state_frame(&viewer, role, Some(("ended", &ending))).into(),
        ))
        .await;
    let _ = socket.send(Message::Close(None)).await;
    let _ = state
        .lab
        .record_console_action(&actor, machine_id, "close", &ending)
        .await;
}

async fn relay(
    state: &AppState,
    actor: &Actor,
    machine_id: i64,
    role: ConsoleRole,
    viewer: &mut Viewer,
    socket: &mut WebSocket,
    idle_limit: Duration,
) -> String {
    for chunk in viewer.scrollback.chunks(64 * 1024) {
        if socket
            .send(Message::Binary(chunk.to_vec().into()))
            .await
            .is_err()
        {
            return "the viewer left".into();
        }
    }
    viewer.scrollback = Vec::new();
    if socket
        .send(Message::Text(state_frame(viewer, role, None).into()))
        .await
        .is_err()
    {
        return "the viewer left".into();
    }
    let mut last_input = Instant::now();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            message = socket.recv() => {
                let Some(Ok(message)) = message else {
                    return "the viewer left".into();
                };
                last_input = Instant::now();
                match message {
                    Message::Binary(bytes) => {
                        let typed = viewer.type_bytes(bytes.to_vec()).await;
                        let notice = state_frame(viewer, role, Some(("read-only", "you are watching: take the keyboard to type")));
                        if !typed && socket.send(Message::Text(notice.into())).await.is_err() {
                            return "the viewer left".into();
                        }
                    }
                    Message::Text(text) => match serde_json::from_str::<Control>(&text) {
                        Ok(Control::Break) => {
                            if viewer.send_break().await {
                                let _ = state.lab.record_console_action(actor, machine_id, "break", "").await;
                            }
                        }
                        Ok(Control::TakeKeyboard) => {
                            viewer.take_keyboard();
                            let _ = state.lab.record_console_action(actor, machine_id, "take_keyboard", role_name(role)).await;
                        }
                        Ok(Control::TakeOverSol) => {
                            // Ending another tool's session is the managers' call.
                            if role == ConsoleRole::Manager {
                                viewer.take_over_sol();
                                let _ = state.lab.record_console_action(actor, machine_id, "take_over_sol", "").await;
                            } else {
                                let notice = state_frame(viewer, role, Some(("refused", "taking SOL over from another session is for the machine's managers")));
                                if socket.send(Message::Text(notice.into())).await.is_err() {
                                    return "the viewer left".into();
                                }
                            }
                        }
                        Ok(Control::Resize { .. }) => {}
                        Err(error) => {
                            let notice = state_frame(viewer, role, Some(("bad-request", &format!("unknown control message: {error}"))));
                            if socket.send(Message::Text(notice.into())).await.is_err() {
                                return "the viewer left".into();
                            }
                        }
                    },
                    Message::Close(_) => return "the viewer left".into(),
                    _ => {}
                }
            }
            received = viewer.next() => {
                let sent = match received {
                    Received::Frame(Frame::Output(bytes)) => socket.send(Message::Binary(bytes.to_vec().into())).await,
                    Received::Frame(Frame::State(_) | Frame::Keyboard(_)) => {
                        socket.send(Message::Text(state_frame(viewer, role, None).into())).await
                    }
                    Received::Missed(frames) => {
                        let mark = format!("\r\n[baas] this viewer fell behind: {frames} pieces of output skipped (the recording has them)\r\n");
                        socket.send(Message::Binary(mark.into_bytes().into())).await
                    }
                    Received::Closed => return "the console closed".into(),
                };
                if sent.is_err() {
                    return "the viewer left".into();
                }
            }
            _ = recheck.tick() => {
                match state.lab.console_role(actor, machine_id).await {
                    Ok(now) if now == role => {}
                    Ok(_) => return "your role at this machine changed; connect again".into(),
                    Err(_) => return "your reservation of this machine ended".into(),
                }
                if last_input.elapsed() > idle_limit {
                    return format!("idle for {} min; the recording goes on", idle_limit.as_secs() / 60);
                }
            }
        }
    }
}

/// The JSON state frame a viewer is sent.
fn state_frame(viewer: &Viewer, role: ConsoleRole, event: Option<(&str, &str)>) -> String {
    let console = viewer.state();
    let keyboard = match viewer.keyboard() {
        Some(id) if id == viewer.id() => "yours",
        Some(_) => "other",
        None => "free",
    };
    let (state, detail) = match event {
        Some((state, detail)) => (state.to_string(), detail.to_string()),
        None => (console.name().to_string(), console.detail()),
    };
    serde_json::json!({
        "type": "state",
        "state": state,
        "detail": detail,
        "console": console.name(),
        "role": role_name(role),
        "keyboard": keyboard,
    })
    .to_string()
}

/// `GET /api/v1/machines/{id}/console/log`: the machine's recorded console.
#[utoipa::path(get, operation_id = "machine_console_log", path = "/api/v1/machines/{id}/console/log", tag = "console",
    params(("id" = i64, Path), ("Range" = Option<String>, Header, description = "bytes=FIRST-[LAST] or bytes=-SUFFIX")),
    responses((status = 200, description = "The recording, oldest first (bounded per machine)", content_type = "application/octet-stream"), (status = 206, description = "The range asked for"), (status = 416, description = "The range is outside the recording"), super::Failures))]
pub async fn machine_log(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let role = state.lab.console_role(&actor, id).await?;
    let log = state
        .conductor
        .consoles()
        .machine_log(id, holders_reservation(role));
    Ok(ranged(log, &headers))
}

/// `GET /api/v1/jobs/{id}/console`: what the machine printed while the job ran.
#[utoipa::path(get, operation_id = "job_console_log", path = "/api/v1/jobs/{id}/console", tag = "console",
    params(("id" = i64, Path), ("Range" = Option<String>, Header, description = "bytes=FIRST-[LAST] or bytes=-SUFFIX")),
    responses((status = 200, description = "The job's part of the console", content_type = "application/octet-stream"), (status = 206, description = "The range asked for"), (status = 416, description = "The range is outside the recording"), super::Failures))]
pub async fn job_log(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let job = state.lab.job(&actor, id).await?;
    let own = job.requested_by.as_deref() == Some(actor.username.as_str());
    if !own && state.lab.console_role(&actor, job.machine_id).await? != ConsoleRole::Manager {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "a job's console is for whoever asked for the job and the machine's managers",
        ));
    }
    let log = state.conductor.consoles().job_log(id);
    Ok(ranged(log, &headers))
}

/// `bytes` whole, or the part a `Range: bytes=…` header asks for.
fn ranged(bytes: Vec<u8>, headers: &HeaderMap) -> Response {
    let total = bytes.len();
    let content = [
        (header::CONTENT_TYPE, "application/octet-stream"),
        (header::ACCEPT_RANGES, "bytes"),
    ];
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return (StatusCode::OK, content, bytes).into_response();
    };
    match parse_range(range, total) {
        Some((first, last)) => (
            StatusCode::PARTIAL_CONTENT,
            content,
            [(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{total}"),
            )],
            bytes[first..=last].to_vec(),
        )
            .into_response(),
        None => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{total}"))],
        )
            .into_response(),
    }
}

/// One `bytes=` range within `total` bytes, as inclusive bounds.
fn parse_range(range: &str, total: usize) -> Option<(usize, usize)> {
    let spec = range.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = if first.is_empty() {
        let suffix: usize = last.parse().ok()?;
        if suffix == 0 {
            return None;
        }
        (total.saturating_sub(suffix), total - 1)
    } else {
        let first: usize = first.parse().ok()?;
        let last = if last.is_empty() {
            total - 1
        } else {
            last.parse::<usize>().ok()?.min(total - 1)
        };
        (first, last)
    };
    (first <= last && first < total).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_read_as_http_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-1000", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=50-1000", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-", 0), None);
    }
}
