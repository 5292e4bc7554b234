//! `agentry`: the server and its CLI client in one binary.

mod cli;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "agentry", version, about = "Organization-scoped AI coding agents: server and CLI.")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with an embedded PostgreSQL unless --postgres-url is given).
    Server(ServerArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to serve HTTP on.
    #[arg(long, env = "AGENTRY_HTTP_ADDRESS", default_value = "127.0.0.1:3000")]
    http_address: String,
    /// Where the server keeps its state (the embedded database, workspaces).
    #[arg(long, env = "AGENTRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// An external PostgreSQL database; several servers may share one.
    #[arg(long, env = "AGENTRY_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Directory with the PostgreSQL server binaries for the embedded database.
    #[arg(long, env = "AGENTRY_POSTGRES_BIN_DIR")]
    postgres_bin_dir: Option<PathBuf>,
    /// The URL users reach this deployment at.
    #[arg(long, env = "AGENTRY_ACCESS_URL")]
    access_url: Option<String>,
}

fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("agentry");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/agentry"),
        None => PathBuf::from("/var/lib/agentry"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Server(a) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
                )
                // Logs go to stderr; stdout carries only the "listening" line scripts read.
                .with_writer(std::io::stderr)
                .init();
            let cfg = agentry::ServerConfig {
                http_address: a.http_address,
                data_dir: a.data_dir.unwrap_or_else(default_data_dir),
                postgres_url: a.postgres_url,
                postgres_bin_dir: a.postgres_bin_dir,
                access_url: a.access_url,
            };
            let result = agentry::run(cfg, shutdown_signal(), |addr| {
                // Scripts and tests read this line to find the port.
                println!("agentry listening on http://{addr}");
            })
            .await;
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Client(c) => match cli::run(c).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
