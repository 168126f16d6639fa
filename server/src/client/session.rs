//! `baas login`, `logout`, `whoami`, `tokens`: the caller's session and API tokens.

use std::io::IsTerminal;

use lab::model::ApiToken;
use lab::rest_api::{CreatedToken, NewToken, Paged, Whoami};
use reqwest::Method;

use super::output::{show, when};
use super::{Client, ClientError, Failure, Result, Saved};

pub(super) async fn logout(client: &Client, saved: Option<Saved>) -> Result<()> {
    if let Some(id) = saved.and_then(|s| s.token_id) {
        client
            .act::<()>(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
            .await?;
    }
    Saved::forget();
    println!("logged out; the token is revoked");
    Ok(())
}

pub(super) async fn whoami(client: &Client, json: bool) -> Result<()> {
    let me: Whoami = client.get("/api/v1/whoami").await?;
    let role = if me.is_admin { "admin" } else { "user" };
    show(
        json,
        &me,
        &["user", "role"],
        vec![vec![me.username.clone(), role.into()]],
    );
    Ok(())
}

pub(super) async fn tokens(client: &Client, json: bool) -> Result<()> {
    let tokens: Paged<ApiToken> = client.get("/api/v1/tokens").await?;
    let rows = tokens
        .items
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.name.clone(),
                when(t.created_at),
                t.expires_at.map(when).unwrap_or_else(|| "never".into()),
                t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    show(
        json,
        &tokens,
        &["id", "name", "created", "expires", "last used"],
        rows,
    );
    Ok(())
}

pub(super) async fn login(
    server: &str,
    username: &str,
    password_stdin: bool,
    valid_days: i64,
    json: bool,
) -> Result<()> {
    let reading =
        |e: std::io::Error| ClientError::new(Failure::Other, format!("reading the password: {e}"));
    // Typed at a terminal: without echo. Piped: the first line, as with --password-stdin.
    let line = if !password_stdin && std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("password for {username}: ")).map_err(reading)?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(reading)?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']);
    let mut client = Client::new(server, None)?;
    client.log_in(username, password).await?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "cli".into());
    let created: CreatedToken = client
        .call(
            Method::POST,
            "/api/v1/tokens",
            &NewToken {
                name: format!("baas login ({host})"),
                valid_days: Some(valid_days),
            },
        )
        .await?;
    let saved = Saved {
        server: client.server.clone(),
        token: created.token.clone(),
        token_id: Some(created.id),
    };
    let path = saved.store()?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "server": saved.server, "token_id": created.id, "expires_at": created.expires_at, "saved_to": path })
        );
    } else {
        println!(
            "logged in to {} as {username}; token kept in {}",
            saved.server,
            path.display()
        );
    }
    Ok(())
}
