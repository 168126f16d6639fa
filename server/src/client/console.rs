//! `baas console`: a machine's serial console in the terminal, over the same WebSocket the
//! browser uses, or its recording. The terminal is put in raw mode while attached (restored
//! however the command ends); at the start of a line `~.` quits, `~B` sends BREAK, `~?` lists
//! the escapes and `~~` sends a `~`, as in ssh and ipmitool.

use std::io::Write;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::commands::machine_id;
use super::{Client, ClientError, Failure, Result};

const ESCAPES: &str = "\r\n[baas] escapes: ~. quit, ~B send BREAK, ~? this list, ~~ a ~\r\n";

/// Prints the machine's (or a job's) recording; with `follow`, then what comes live.
pub(super) async fn log(
    client: &Client,
    machine: String,
    job: Option<i64>,
    follow: bool,
) -> Result<()> {
    let path = match job {
        Some(job) => format!("/api/v1/jobs/{job}/console"),
        None => format!(
            "/api/v1/machines/{}/console/log",
            machine_id(client, &machine).await?
        ),
    };
    if follow && job.is_none() {
        // The live console starts with the recording.
        return attach(client, machine, true).await;
    }
    let response = client.send(client.request(Method::GET, &path)).await?;
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::new(Failure::Server, e.to_string()))?;
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(&bytes);
    let _ = stdout.flush();
    Ok(())
}

/// Attaches the terminal to the machine's console until `~.`, the server closes it, or stdin
/// ends.
pub(super) async fn attach(client: &Client, machine: String, read_only: bool) -> Result<()> {
    let id = machine_id(client, &machine).await?;
    let url = format!(
        "{}/api/v1/machines/{id}/console",
        client
            .server
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1)
    );
    let mut request = url
        .into_client_request()
        .map_err(|e| ClientError::new(Failure::Usage, e.to_string()))?;
    if let Some(token) = client.token() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::new(Failure::Auth, "the token is not a valid header"))?;
        request.headers_mut().insert("authorization", value);
    }
    let (socket, _) =
        tokio_tungstenite::connect_async(request)
            .await
            .map_err(|error| match error {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    let body = response
                        .body()
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).to_string())
                        .unwrap_or_default();
                    let message = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_string))
                        .unwrap_or(body);
                    let failure = match response.status().as_u16() {
                        401 | 403 => Failure::Auth,
                        404 => Failure::NotFound,
                        _ => Failure::Server,
                    };
                    ClientError::new(failure, format!("{machine}: {message}"))
                }
                other => ClientError::new(
                    Failure::Server,
                    format!("cannot reach the console: {other}"),
                ),
            })?;
    let (mut outgoing, mut incoming) = socket.split();
    let _raw = RawTerminal::enter();
    eprint!(
        "[baas] connected to {machine}'s console{}; ~? for escapes\r\n",
        if read_only { " (read-only)" } else { "" }
    );
    let (typed_tx, mut typed) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if typed_tx.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut escape = Escape::default();
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            frame = incoming.next() => match frame {
                Some(Ok(Message::Binary(bytes))) => {
                    let _ = stdout.write_all(&bytes);
                    let _ = stdout.flush();
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) {
                        let detail = state["detail"].as_str().unwrap_or_default();
                        let name = state["state"].as_str().unwrap_or_default();
                        if name == "ended" {
                            eprint!("\r\n[baas] console closed: {detail}\r\n");
                            return Ok(());
                        }
                        if name != "live" || !detail.is_empty() {
                            eprint!("\r\n[baas] {name}{}{detail}\r\n", if detail.is_empty() { "" } else { ": " });
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    eprint!("\r\n[baas] console closed\r\n");
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(ClientError::new(Failure::Server, format!("console: {error}"))),
            },
            bytes = typed.recv() => {
                let Some(bytes) = bytes else {
                    // stdin ended (a script's input ran out): leave.
                    return Ok(());
                };
                for action in escape.feed(&bytes) {
                    let message = match action {
                        Action::Send(bytes) if !read_only => Message::Binary(bytes.into()),
                        Action::Send(_) => continue,
                        Action::Break => Message::Text(r#"{"type":"break"}"#.into()),
                        Action::Help => {
                            eprint!("{ESCAPES}");
                            continue;
                        }
                        Action::Quit => {
                            let _ = outgoing.send(Message::Close(None)).await;
                            eprint!("\r\n[baas] detached\r\n");
                            return Ok(());
                        }
                    };
                    if outgoing.send(message).await.is_err() {
                        eprint!("\r\n[baas] console closed\r\n");
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// What typed input means once escapes are taken out.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Send(Vec<u8>),
    Break,
    Help,
    Quit,
}

/// The `~` escapes, recognised at the start of a line.
#[derive(Debug)]
struct Escape {
    line_start: bool,
    tilde: bool,
}

impl Default for Escape {
    fn default() -> Self {
        Escape {
            line_start: true,
            tilde: false,
        }
    }
}

impl Escape {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut plain = Vec::new();
        for &byte in bytes {
            if self.tilde {
                self.tilde = false;
                let action = match byte {
                    b'.' => Some(Action::Quit),
                    b'B' => Some(Action::Break),
                    b'?' => Some(Action::Help),
                    b'~' => {
                        plain.push(b'~');
                        None
                    }
                    other => {
                        plain.extend_from_slice(&[b'~', other]);
                        None
                    }
                };
                if let Some(action) = action {
                    if !plain.is_empty() {
                        actions.push(Action::Send(std::mem::take(&mut plain)));
                    }
                    let quit = action == Action::Quit;
                    actions.push(action);
                    if quit {
                        return actions;
                    }
                }
                self.line_start = false;
                continue;
            }
            if byte == b'~' && self.line_start {
                self.tilde = true;
                continue;
            }
            plain.push(byte);
            self.line_start = byte == b'\r' || byte == b'\n';
        }
        if !plain.is_empty() {
            actions.push(Action::Send(plain));
        }
        actions
    }
}

/// The terminal in raw mode (no echo, no line editing, no signals) while it lives, when stdin
/// is a terminal.
struct RawTerminal {
    saved: Option<libc::termios>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        // SAFETY: termios calls on file descriptor 0 with a zeroed struct they fill in.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawTerminal { saved: None };
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return RawTerminal { saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawTerminal { saved: Some(saved) }
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read in `enter` on the same descriptor.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, Escape};

    #[test]
    fn escapes_work_at_the_start_of_a_line_only() {
        let mut escape = Escape::default();
        assert_eq!(escape.feed(b"~?"), vec![Action::Help]);
        assert_eq!(
            escape.feed(b"ls ~/x\r~B"),
            vec![Action::Send(b"ls ~/x\r".to_vec()), Action::Break]
        );
        assert_eq!(escape.feed(b"\r~~"), vec![Action::Send(b"\r~".to_vec())]);
        assert_eq!(escape.feed(b"\r~x"), vec![Action::Send(b"\r~x".to_vec())]);
        assert_eq!(
            escape.feed(b"\rdone\r~.ignored"),
            vec![Action::Send(b"\rdone\r".to_vec()), Action::Quit]
        );
    }
}
