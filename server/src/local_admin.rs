//! `baas user …`: account administration from the server's shell, on the configured database.

use std::io::BufRead;

use clap::Subcommand;
use lab::model::NewUser;
use lab::{Actor, Lab};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin, else generated and printed.
    Add {
        username: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (from stdin with --password-stdin, else generated and printed).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they can no longer log in, and open sessions stop working.
    Disable { username: String },
    /// Re-enable a disabled user.
    Enable { username: String },
}

/// Runs one command, returning what to print.
pub async fn run(lab: &Lab, command: UserCommand) -> anyhow::Result<String> {
    let shell = Actor::shell();
    match command {
        UserCommand::Add {
            username,
            display_name,
            admin,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            let user = lab
                .create_user(
                    &shell,
                    NewUser {
                        username,
                        display_name,
                        password: password.clone(),
                        is_admin: admin,
                    },
                )
                .await?;
            Ok(match generated {
                true => format!("created {} with password: {password}", user.username),
                false => format!("created {}", user.username),
            })
        }
        UserCommand::List => {
            let mut out = format!("{:<24} {:<6} {:<9} groups\n", "username", "role", "status");
            for user in lab.users(&shell).await? {
                out.push_str(&format!(
                    "{:<24} {:<6} {:<9} {}\n",
                    user.username,
                    if user.is_admin { "admin" } else { "user" },
                    if user.disabled { "disabled" } else { "active" },
                    user.groups.join(",")
                ));
            }
            Ok(out.trim_end().to_string())
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let user = lab.user_by_name(&shell, &username).await?;
            let (password, generated) = password(password_stdin)?;
            lab.set_password(&shell, user.id, &password).await?;
            Ok(match generated {
                true => format!("new password for {username}: {password}"),
                false => format!("password of {username} changed"),
            })
        }
        UserCommand::Disable { username } => {
            let user = lab.user_by_name(&shell, &username).await?;
            lab.set_disabled(&shell, user.id, true).await?;
            Ok(format!("disabled {username}"))
        }
        UserCommand::Enable { username } => {
            let user = lab.user_by_name(&shell, &username).await?;
            lab.set_disabled(&shell, user.id, false).await?;
            Ok(format!("enabled {username}"))
        }
    }
}

/// A password from the first line of stdin, or a generated one (`true` when generated).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok((line.trim_end_matches(['\n', '\r']).to_string(), false))
    } else {
        Ok((lab::secrets::random_token(15), true))
    }
}
