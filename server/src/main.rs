//! `baas`: the lab server and its admin commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use server::client::commands::{ClientCommand, Connection};
use server::{config::Config, local_admin};

#[derive(Debug, Parser)]
#[command(name = "baas", version, about = "Boot as a service: the lab portal and boot server", after_help = server::config::ENVIRONMENT_HELP)]
struct Args {
    /// TOML configuration file (keys as listed below).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage user accounts on the configured database.
    #[command(subcommand)]
    User(local_admin::UserCommand),
    /// Shell completions for bash, zsh or fish, on stdout.
    ///
    /// Example: baas completions bash > /etc/bash_completion.d/baas
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Client(ClientCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_sessions=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match args.command {
        Some(Command::Client(command)) => {
            // A client talks to a server: no configuration or database of its own.
            if let Err(error) = server::client::commands::run(args.connection, command).await {
                eprintln!("baas: {error}");
                std::process::exit(error.failure as i32);
            }
            return Ok(());
        }
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Args::command(), "baas", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    // The server's files (database, images, consoles, keys) are its own: other local accounts
    // must not read a session id or a private image from them.
    // SAFETY: umask only sets this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let config = Config::load(args.config.as_deref())?;
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => server::serve(config).await,
        Command::User(command) => {
            let lab = server::open_lab(&config).await?;
            println!("{}", local_admin::run(&lab, command).await?);
            Ok(())
        }
        Command::Client(_) | Command::Completions { .. } => unreachable!("handled above"),
    }
}
