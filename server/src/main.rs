//! `baas`: the lab server and its admin commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use server::{cli, config::Config};

#[derive(Debug, Parser)]
#[command(name = "baas", version, about = "Boot as a service: the lab portal and boot server", after_help = server::config::ENVIRONMENT_HELP)]
struct Args {
    /// TOML configuration file (keys as listed below).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage user accounts on the configured database.
    #[command(subcommand)]
    User(cli::UserCommand),
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
    let config = Config::load(args.config.as_deref())?;
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => server::serve(config).await,
        Command::User(command) => {
            let lab = server::open_lab(&config).await?;
            println!("{}", cli::run(&lab, command).await?);
            Ok(())
        }
    }
}
