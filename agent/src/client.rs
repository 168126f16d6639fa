//! The agent's side of `/agent/v1/…`: every request signed with the agent's own ed25519 key,
//! retried with backoff while baas is unreachable or restarting.

use std::io::Read;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use lab::agent_protocol::{authorization, new_key};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Failure;

/// How long a call keeps retrying a baas that does not answer (a restart takes seconds).
const RETRY_FOR: Duration = Duration::from_secs(300);

pub struct Client {
    base: String,
    key: SigningKey,
    http: ureq::Agent,
}

/// An answer that was not a success, with baas' message.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

impl Client {
    /// A client with a freshly generated key.
    pub fn new(base: &str) -> Client {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            key: new_key(),
            http,
        }
    }

    /// One signed request; transport errors and 5xx are retried, other answers returned.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>, Failure> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let url = format!("{}{path}", self.base);
            let authorization = authorization(&self.key, method, path, body);
            let result = match method {
                "GET" => {
                    let mut request = self.http.get(&url).header("authorization", &authorization);
                    for (name, value) in headers {
                        request = request.header(*name, value);
                    }
                    request.call()
                }
                "PATCH" => self
                    .http
                    .patch(&url)
                    .header("authorization", &authorization)
                    .header("content-type", "application/zstd")
                    .send(body),
                _ => self
                    .http
                    .post(&url)
                    .header("authorization", &authorization)
                    .header("content-type", "application/json")
                    .send(body),
            };
            let retry_reason = match result {
                Ok(response) if response.status().as_u16() < 500 => return Ok(response),
                Ok(response) => format!("baas answered {}", response.status()),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > RETRY_FOR {
                return Err(Failure::new(
                    "network",
                    format!(
                        "{method} {path}: {retry_reason} (gave up after {:?})",
                        RETRY_FOR
                    ),
                ));
            }
            eprintln!("baas-agent: {method} {path}: {retry_reason}; retrying in {pause:?}");
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// A JSON call: `Ok(answer)`, or `Err(Ok(refusal))` for a 4xx, `Err(Err(failure))` when baas
    /// stayed unreachable.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Result<Refused, Failure>> {
        let body = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| Err(Failure::new("agent", e.to_string())))?
            }
            None => Vec::new(),
        };
        self.answer(method, path, &body)
    }

    /// `PATCH path` with raw bytes, answered like [`Client::call`].
    pub fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<T, Result<Refused, Failure>> {
        self.answer("PATCH", path, body)
    }

    /// Sends a signed request and reads its JSON answer (`null` for an empty one); a 4xx comes
    /// back as the refusal with baas' message.
    fn answer<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<T, Result<Refused, Failure>> {
        let response = self.send(method, path, body, &[]).map_err(Err)?;
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .take(16 << 20)
            .read_to_string(&mut text)
            .map_err(|e| Err(Failure::new("network", e.to_string())))?;
        if status >= 400 {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(Ok(Refused { status, message }));
        }
        if text.is_empty() {
            text = "null".into();
        }
        serde_json::from_str(&text).map_err(|e| {
            Err(Failure::new(
                "protocol",
                format!("{method} {path}: unexpected answer: {e}"),
            ))
        })
    }

    /// Like [`Client::call`], but any refusal is a failure of `step`.
    pub fn expect<T: DeserializeOwned>(
        &self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Failure> {
        self.call(method, path, body).map_err(|e| match e {
            Ok(refused) => Failure::new(
                step,
                format!(
                    "baas refused {method} {path} ({}): {}",
                    refused.status, refused.message
                ),
            ),
            Err(failure) => failure,
        })
    }

    /// `GET path` from byte `offset` on (a signed Range request), as a reader.
    pub fn download(
        &self,
        path: &str,
        offset: u64,
        etag: &str,
    ) -> Result<Box<dyn Read + Send>, Failure> {
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push(("range", format!("bytes={offset}-")));
            if !etag.is_empty() {
                headers.push(("if-range", etag.to_string()));
            }
        }
        let response = self.send("GET", path, &[], &headers)?;
        let status = response.status().as_u16();
        if (offset > 0 && status != 206) || (offset == 0 && status != 200) {
            return Err(Failure::new(
                "download",
                format!("GET {path} from byte {offset}: baas answered {status}"),
            ));
        }
        Ok(Box::new(response.into_body().into_reader()))
    }
}
