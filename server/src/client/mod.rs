//! The `baas` command-line client's connection to a server: where it is and which token to use
//! (flags, `BAAS_SERVER`/`BAAS_TOKEN`, or the file `baas login` writes), typed calls to the
//! REST API with the API's own request and response types, and errors that know their exit code.

mod admin;
mod batches;
pub mod commands;
mod console;
mod events;
mod images;
mod jobs;
mod machines;
mod output;
mod reservations;
mod session;
mod upload;

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a command failed, which is also its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Something else (a job that ended other than booted, a local file).
    Other = 1,
    /// Wrong use of the command (clap uses 2 as well).
    Usage = 2,
    /// No token, a bad or revoked one, or not allowed (401, 403).
    Auth = 3,
    /// The lab said no because of its state: a clash, a busy machine (409).
    Conflict = 4,
    /// No such machine, image, reservation or job (404).
    NotFound = 5,
    /// A bad value (400, 422, 413).
    Invalid = 6,
    /// The server or a BMC failed, or the server could not be reached (5xx, network).
    Server = 7,
    /// A deploy was written and verified and the machine rebooted, but its boot could not be
    /// watched (no console): `boot-unobserved`.
    Unobserved = 8,
}

#[derive(Debug)]
pub struct ClientError {
    pub failure: Failure,
    pub message: String,
}

impl ClientError {
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        ClientError {
            failure,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// What `baas login` keeps (mode 0600): the server and the token it created there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    pub server: String,
    pub token: String,
    #[serde(default)]
    pub token_id: Option<i64>,
}

impl Saved {
    /// `$BAAS_CLI_CONFIG`, else `$XDG_CONFIG_HOME/baas/cli.toml` or `~/.config/baas/cli.toml`.
    pub fn path() -> PathBuf {
        if let Some(path) = std::env::var_os("BAAS_CLI_CONFIG") {
            return PathBuf::from(path);
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("baas").join("cli.toml")
    }

    pub fn load() -> Option<Saved> {
        let text = std::fs::read_to_string(Self::path()).ok()?;
        toml::from_str(&text).ok()
    }

    /// Writes the file readable by its owner only, created that way (never world-readable,
    /// not even for a moment).
    pub fn store(&self) -> Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path();
        let local = |e: std::io::Error| {
            ClientError::new(Failure::Other, format!("{}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(local)?;
        }
        let text =
            toml::to_string(self).map_err(|e| ClientError::new(Failure::Other, e.to_string()))?;
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(local)?;
        file.write_all(text.as_bytes()).map_err(local)?;
        Ok(path)
    }

    pub fn forget() {
        let _ = std::fs::remove_file(Self::path());
    }
}

/// A server and the credentials to call it with.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub server: String,
    token: Option<String>,
    /// A session cookie, while `baas login` creates its token.
    cookie: Option<String>,
}

/// The API's error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    fields: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
struct FieldError {
    field: String,
    message: String,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Result<Client> {
        let server = server.trim_end_matches('/').to_string();
        if !server.starts_with("http://") && !server.starts_with("https://") {
            return Err(ClientError::new(
                Failure::Usage,
                format!("--server must be an http:// or https:// URL, not '{server}'"),
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("baas-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::new(Failure::Other, e.to_string()))?;
        Ok(Client {
            http,
            server,
            token,
            cookie: None,
        })
    }

    /// The API token the client calls with, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.server));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        } else if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request
    }

    /// Sends `request`; a non-success answer becomes an error naming what the server said.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        if self.token.is_none() && self.cookie.is_none() {
            return Err(ClientError::new(
                Failure::Auth,
                "not logged in: run `baas login`, or set BAAS_TOKEN",
            ));
        }
        let response = request.send().await.map_err(|e| {
            ClientError::new(
                Failure::Server,
                format!("cannot reach {}: {e}", self.server),
            )
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_of(response).await)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.send(self.request(Method::GET, path)).await?;
        json_of(response).await
    }

    /// `GET path`, riding out a baas that restarts: server failures are retried once a second
    /// for a minute (what is followed goes on meanwhile; so does the following).
    pub async fn get_patiently<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let mut errors_in_a_row = 0;
        loop {
            match self.get(path).await {
                Err(error) if error.failure == Failure::Server && errors_in_a_row < 60 => {
                    errors_in_a_row += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                answer => return answer,
            }
        }
    }

    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let response = self.send(self.request(method, path).json(body)).await?;
        json_of(response).await
    }

    /// A call whose answer has no body (204).
    pub async fn act<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<()> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await.map(|_| ())
    }

    /// Logs in with a password (the portal's own log-in), for `baas login` to create a token.
    pub async fn log_in(&mut self, username: &str, password: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/api/login", self.server))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .map_err(|e| {
                ClientError::new(
                    Failure::Server,
                    format!("cannot reach {}: {e}", self.server),
                )
            })?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("baas_session="))
            .and_then(|v| v.split(';').next())
            .ok_or_else(|| ClientError::new(Failure::Server, "the server started no session"))?;
        self.cookie = Some(cookie.to_string());
        Ok(())
    }
}

async fn json_of<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let url = response.url().path().to_string();
    response.json().await.map_err(|e| {
        ClientError::new(
            Failure::Server,
            format!("{url}: the answer is not what this client expects: {e}"),
        )
    })
}

async fn error_of(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let failure = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Failure::Auth,
        StatusCode::CONFLICT => Failure::Conflict,
        StatusCode::NOT_FOUND => Failure::NotFound,
        StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::PAYLOAD_TOO_LARGE => Failure::Invalid,
        _ => Failure::Server,
    };
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) if !body.fields.is_empty() => body
            .fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        Ok(body) if !body.error.is_empty() => body.error,
        _ => format!("{status}: {}", text.trim()),
    };
    ClientError::new(failure, message)
}
