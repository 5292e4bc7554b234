//! `agentry`: the server and its CLI client in one binary.

mod cli;

use std::path::PathBuf;
use std::time::Duration;

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
    /// Run a workspace agent: serve this directory's workspace to the server at --url.
    Agent(AgentArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to serve HTTP on.
    #[arg(long, env = "AGENTRY_HTTP_ADDRESS", default_value = "127.0.0.1:3000")]
    http_address: String,
    /// Where the server keeps its state (the embedded database, workspaces). Default:
    /// /var/lib/agentry as root, else $XDG_DATA_HOME/agentry or ~/.local/share/agentry.
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
    /// Run the chat daemon (the agent loop) in this process. With `false` this server only
    /// serves the API; other servers on the same database run the chats.
    #[arg(long, env = "AGENTRY_CHAT_DAEMON", default_value_t = true, action = clap::ArgAction::Set)]
    chat_daemon: bool,
    /// How often the chat daemon looks for pending chats without being woken (e.g. 1s, 500ms).
    #[arg(long, env = "AGENTRY_CHAT_ACQUIRE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    chat_acquire_interval: Duration,
    /// How often the chat daemon refreshes the heartbeat of the chats it runs.
    #[arg(long, env = "AGENTRY_CHAT_HEARTBEAT_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    chat_heartbeat_interval: Duration,
    /// A running chat whose heartbeat is older than this is taken over by another server.
    #[arg(long, env = "AGENTRY_CHAT_STALE_AFTER", default_value = "5m", value_parser = parse_duration)]
    chat_stale_after: Duration,
    /// How long a chat waits for client (dynamic) tool results before it fails.
    #[arg(long, env = "AGENTRY_CHAT_ACTION_DEADLINE", default_value = "5m", value_parser = parse_duration)]
    chat_action_deadline: Duration,
    /// Attempts per model call, the first included (retries back off from 1 s, doubling to 60 s).
    #[arg(long, env = "AGENTRY_CHAT_RETRY_ATTEMPTS", default_value_t = 25)]
    chat_retry_attempts: u32,
    /// Delay before the first retry of a failed model call; each further retry doubles it.
    #[arg(long, env = "AGENTRY_CHAT_RETRY_INITIAL", default_value = "1s", value_parser = parse_duration)]
    chat_retry_initial: Duration,
    /// Longest delay between two retries, also the cap on a provider's `Retry-After`.
    #[arg(long, env = "AGENTRY_CHAT_RETRY_MAX", default_value = "60s", value_parser = parse_duration)]
    chat_retry_max: Duration,
    /// How long a model call may send nothing before it counts as stalled and is retried.
    #[arg(long, env = "AGENTRY_CHAT_PROVIDER_IDLE_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    chat_provider_idle_timeout: Duration,
    /// UNSAFE: run workspace processes on this host as the server's own user instead of in
    /// the bubblewrap sandbox. Anyone who can create a workspace can then take over the server;
    /// only for a single trusted team on a host without bubblewrap.
    #[arg(long, env = "AGENTRY_UNSAFE_UNSANDBOXED_WORKSPACES", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    unsafe_unsandboxed_workspaces: bool,
    /// The base URL other replicas reach this one at to relay workspace operations to the
    /// agents connected here (default: http://<http address>).
    #[arg(long, env = "AGENTRY_RELAY_ADDRESS")]
    relay_address: Option<String>,
    /// Serve Prometheus metrics at /metrics, to the site owner and site auditors only (a
    /// session or an API token). Off by default: /metrics is then a 404.
    #[arg(long, env = "AGENTRY_METRICS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    metrics: bool,
    /// How live chat events (streaming parts) reach the other replicas: `postgres` (default,
    /// pg_notify through the database) or a NATS server, nats://host:port, which sends each
    /// replica only the chats its clients watch. PostgreSQL stays the source of truth either way.
    #[arg(long, env = "AGENTRY_PUBSUB", default_value = "postgres")]
    pubsub: agentry_store::fanout::PubSub,
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The server's URL (http://host:port), or unix:/path for a local sandbox's socket.
    #[arg(long, env = "AGENTRY_AGENT_URL")]
    url: String,
    /// The workspace's agent token, shown with the workspace's build.
    #[arg(long, env = "AGENTRY_AGENT_TOKEN", hide_env_values = true)]
    token: String,
    /// The workspace directory; the current directory when not given.
    #[arg(long, env = "AGENTRY_AGENT_DIR")]
    dir: Option<PathBuf>,
}

/// `500ms`, `2s`, `5m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The data directory when `--data-dir` is not given: `/var/lib/agentry` for root, else
/// `$XDG_DATA_HOME/agentry` or `~/.local/share/agentry`.
///
/// As root, the embedded PostgreSQL runs as the `postgres` system user (PostgreSQL refuses to
/// run as root), which must be able to traverse every directory above the data directory. Root's
/// home is 0700, so a default under it stopped the server ("/root is not traversable by the
/// system user `postgres`"); `/var/lib` is where system services keep their state.
fn default_data_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/agentry");
    }
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
                unsafe_unsandboxed_workspaces: a.unsafe_unsandboxed_workspaces,
                relay_address: a.relay_address,
                metrics: a.metrics,
                pubsub: a.pubsub,
                chatd: a.chat_daemon.then(|| agentry_chatd::DaemonConfig {
                    acquire_interval: a.chat_acquire_interval,
                    heartbeat_interval: a.chat_heartbeat_interval,
                    stale_after: a.chat_stale_after,
                    action_deadline: a.chat_action_deadline,
                    retry: agentry_llm::RetryPolicy {
                        max_attempts: a.chat_retry_attempts.max(1),
                        initial: a.chat_retry_initial,
                        max: a.chat_retry_max,
                    },
                    provider_idle_timeout: a.chat_provider_idle_timeout,
                    ..agentry_chatd::DaemonConfig::default()
                }),
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
        Command::Agent(a) => {
            let dir = match a.dir.map(Ok).unwrap_or_else(std::env::current_dir) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: the current directory is not accessible: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let opts = agentry_agent::remote::AgentOptions { url: a.url, token: a.token, dir };
            match agentry_agent::remote::run(opts).await {
                Ok(_) => std::process::ExitCode::SUCCESS,
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
