//! `GET /api/v1/events`: server-sent events of the lab's changes the caller may see (jobs of
//! machines they can view), optionally for one machine (`?machine=ID`). Each event has the
//! announcement's id; a client that reconnects with `Last-Event-ID` first gets what it missed,
//! or a `resync` event when too much happened meanwhile (then it reads everything again).
//! A stream ends after `max_seconds` (default an hour; 0 gives just what was missed), and
//! clients reconnect — EventSource does so by itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use lab::events::Change;
use lab::{Actor, Lab};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::Caller;
use crate::state::AppState;

/// The longest a stream may be asked to last (a day); clients reconnect for more.
const MAX_SECONDS: u64 = 86_400;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct Filter {
    machine: Option<i64>,
    max_seconds: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(Filter, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")), responses((status = 200, description = "Server-sent events: `event: job`, `data: {machine, job}`; `event: resync` when too much was missed", content_type = "text/event-stream", body = String), super::Failures))]
pub async fn events(
    State(state): State<AppState>,
    Caller(actor): Caller,
    super::Params(filter): super::Params<Filter>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before the missed ones are read, so nothing falls between the two.
    let live = state.lab.events().subscribe();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (missed, missed_too_much) = match last {
        Some(id) => match state.lab.events().since(id) {
            Some(missed) => (missed, false),
            None => (Vec::new(), true),
        },
        None => (Vec::new(), false),
    };
    let deadline = deadline(filter.max_seconds);
    let feed = Feed {
        deadline,
        replayed: missed.last().map(|c| c.id).unwrap_or(0),
        missed: missed.into_iter(),
        live,
        resync: missed_too_much,
        lab: state.lab.clone(),
        actor,
        machine: filter.machine,
        seen: HashMap::new(),
    };
    let stream = stream::unfold(feed, |mut feed| async move {
        if std::mem::take(&mut feed.resync) {
            return Some((Ok(resync_event()), feed));
        }
        loop {
            let change = match feed.missed.next() {
                Some(change) => change,
                None => match tokio::time::timeout_at(feed.deadline, feed.live.recv()).await {
                    Err(_) => return None,
                    Ok(Ok(change)) if change.id <= feed.replayed => continue,
                    Ok(Ok(change)) => change,
                    // Too slow a reader: tell it to read everything again.
                    Ok(Err(RecvError::Lagged(_))) => return Some((Ok(resync_event()), feed)),
                    Ok(Err(RecvError::Closed)) => return None,
                },
            };
            if feed.allows(&change).await {
                return Some((Ok(event(&change)), feed));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn resync_event() -> Event {
    Event::default().event("resync").data("{}")
}

/// One client's stream: what it missed, the live announcements, and which machines it may see
/// (asked once per machine per connection).
struct Feed {
    deadline: tokio::time::Instant,
    missed: std::vec::IntoIter<Change>,
    replayed: u64,
    live: tokio::sync::broadcast::Receiver<Change>,
    resync: bool,
    lab: Lab,
    actor: Actor,
    machine: Option<i64>,
    seen: HashMap<i64, bool>,
}

impl Feed {
    async fn allows(&mut self, change: &Change) -> bool {
        if self.machine.is_some_and(|m| m != change.machine_id) {
            return false;
        }
        if let Some(known) = self.seen.get(&change.machine_id) {
            return *known;
        }
        let may = self
            .lab
            .machine(&self.actor, change.machine_id)
            .await
            .is_ok();
        self.seen.insert(change.machine_id, may);
        may
    }
}

fn event(change: &Change) -> Event {
    Event::default()
        .id(change.id.to_string())
        .event(change.kind)
        .data(serde_json::to_string(change).unwrap_or_default())
}

/// When a stream asked to last `max_seconds` (default an hour, at most a day) ends.
fn deadline(max_seconds: Option<u64>) -> tokio::time::Instant {
    let seconds = max_seconds.unwrap_or(3600).min(MAX_SECONDS);
    tokio::time::Instant::now() + Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_max_seconds_gives_a_deadline_within_a_day() {
        let day = Duration::from_secs(MAX_SECONDS);
        for asked in [Some(u64::MAX), Some(1 << 63), Some(MAX_SECONDS + 1)] {
            assert!(deadline(asked) <= tokio::time::Instant::now() + day);
        }
        assert!(deadline(Some(0)) <= tokio::time::Instant::now());
        assert!(deadline(None) > tokio::time::Instant::now() + Duration::from_secs(3500));
    }
}
