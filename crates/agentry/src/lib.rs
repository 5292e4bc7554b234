//! Wiring of the agentry server: choose the database (external URL or the embedded
//! PostgreSQL), migrate it, and serve the API. The CLI (`main.rs`) and the black-box tests both
//! start servers through [`run`] and [`serve`].

mod trim;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use agentry_api::{AppState, Config};
use agentry_pgembed::{EmbeddedPostgres, Options};
use agentry_provisioner::{Agents, BuildRunner, Isolation, LocalProvisioner, Provisioning};
use agentry_chatd::{Daemon, DaemonConfig};
use agentry_store::Store;
use agentry_store::parts::Parts;
use agentry_store::pubsub::Hub;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;

/// Everything `agentry server` is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http_address: String,
    pub data_dir: PathBuf,
    /// External database; the embedded one when `None`.
    pub postgres_url: Option<String>,
    pub postgres_bin_dir: Option<PathBuf>,
    /// The URL users reach the server at; `http://<http_address>` when `None`.
    pub access_url: Option<String>,
    /// The chat daemon's intervals and limits; `None` runs no chat daemon here (an API-only
    /// replica: other servers on the database run the chats).
    pub chatd: Option<DaemonConfig>,
    /// Run workspace processes on the host as the server's own user instead of in the
    /// bubblewrap sandbox (`--unsafe-unsandboxed-workspaces`).
    pub unsafe_unsandboxed_workspaces: bool,
    /// The base URL other replicas reach this one at to relay workspace operations;
    /// `http://<bound address>` when `None`.
    pub relay_address: Option<String>,
    /// Serve Prometheus metrics at `/metrics` to site owners and auditors (`--metrics`).
    pub metrics: bool,
    /// How live chat events reach the other replicas (`--pubsub`): PostgreSQL by default.
    pub pubsub: agentry_store::fanout::PubSub,
}

/// What [`serve_opts`] needs beyond the basics.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The `agentry` executable that local workspaces run as their agent; this process's own
    /// executable when `None`.
    pub agent_binary: Option<PathBuf>,
    /// See [`ServerConfig::relay_address`].
    pub relay_address: Option<String>,
    /// See [`ServerConfig::pubsub`].
    pub pubsub: agentry_store::fanout::PubSub,
}

/// Connections per server process. Each request holds one only for its queries.
const POOL_SIZE: u32 = 32;

/// Runs a server until `shutdown` resolves. With no `postgres_url` it starts the embedded
/// database first and stops it last. `on_listening` learns the bound address (port 0 works).
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (options, embedded) = match &cfg.postgres_url {
        Some(url) => (PgConnectOptions::from_str(url)?, None),
        None => {
            let mut opts = Options::new(&cfg.data_dir);
            opts.bin_dir = cfg.postgres_bin_dir.clone();
            let pg = EmbeddedPostgres::start(opts).await?;
            tracing::info!(socket = %pg.socket_dir().display(), "embedded PostgreSQL started");
            // These options carry the database password. They stay in this process: never a
            // URL, an environment variable or an argument for a child (workspaces run children).
            (pg.connect_options(), Some(pg))
        }
    };
    trim::start();
    let result = async {
        let store = Store::connect(options, POOL_SIZE).await?;
        store.migrate().await?;
        let listener = TcpListener::bind(&cfg.http_address).await?;
        let addr = listener.local_addr()?;
        let access_url = cfg.access_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        on_listening(addr);
        if let Err(e) = agentry_chatd::env::apply(&store).await {
            tracing::warn!(error = %e, "applying provider keys from the environment failed");
        }
        let isolation = workspace_isolation(cfg.unsafe_unsandboxed_workspaces).await;
        let opts = ServeOptions { agent_binary: None, relay_address: cfg.relay_address.clone(), pubsub: cfg.pubsub.clone() };
        let mut config = Config::new(access_url);
        config.metrics = cfg.metrics;
        serve_opts(store.clone(), listener, config, cfg.data_dir.clone(), isolation, cfg.chatd.clone(), opts, shutdown)
            .await?;
        store.close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    if let Some(pg) = embedded {
        pg.stop().await?;
    }
    result
}

/// Serves the API for an already migrated store, with the local provisioner keeping
/// workspaces under `<data_dir>/workspaces` and the build runner executing builds. Builds left
/// unfinished by an earlier process are recovered first (see `agentry_provisioner`). On
/// `shutdown` the runner fails its in-flight builds and ends every workspace's processes.
/// The chat daemon runs with its default settings; see [`serve_with`].
pub async fn serve(
    store: Store,
    listener: TcpListener,
    config: Config,
    data_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let isolation = workspace_isolation(false).await;
    serve_with(store, listener, config, data_dir, isolation, Some(DaemonConfig::default()), shutdown).await
}

/// Decides how workspaces are isolated and says so in the log: loudly when they are not.
pub async fn workspace_isolation(unsafe_unsandboxed: bool) -> Isolation {
    let isolation = Isolation::detect(unsafe_unsandboxed).await;
    match &isolation {
        Isolation::Sandbox { bwrap } => {
            tracing::info!(bwrap = %bwrap.display(), "workspace processes run in a bubblewrap sandbox");
            if !agentry_agent::is_root() {
                tracing::warn!(
                    "the server is not root, so workspace processes cannot get a uid of their own: they run \
                     in the sandbox under the server's uid"
                );
            }
        }
        Isolation::Unavailable { reason } => {
            tracing::error!("{}", agentry_sdk::ClientError::WorkspaceIsolationUnavailable { reason: reason.clone() }.message())
        }
        Isolation::Unsandboxed => tracing::warn!(
            "UNSAFE: --unsafe-unsandboxed-workspaces is set. Workspace commands run on this host as the \
             server's own user, with access to its files and database; anyone who can create a workspace \
             can take over the server. Use this only for a single trusted team."
        ),
    }
    isolation
}

/// [`serve`] with the chat daemon configured by `chatd` (none when `None`). See [`serve_opts`].
pub async fn serve_with(
    store: Store,
    listener: TcpListener,
    config: Config,
    data_dir: PathBuf,
    isolation: Isolation,
    chatd: Option<DaemonConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_opts(store, listener, config, data_dir, isolation, chatd, ServeOptions::default(), shutdown).await
}

/// Binds the unix socket local sandboxes reach their server through: in a directory only the
/// server's account can list, the socket itself open to every uid (the workspaces' uids reach
/// it through the bind mount; the token is what counts).
fn bind_agent_socket(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// The server: the API on `listener`, the agent socket for local workspaces, this replica's
/// heartbeat, the build runner and (with `chatd`) the chat daemon. The daemon shares the
/// process's change hub and live-parts hub with the API; on `shutdown` it stops claiming and
/// hands its running chats back (`pending`) before the provisioner shuts down.
#[allow(clippy::too_many_arguments)]
pub async fn serve_opts(
    store: Store,
    listener: TcpListener,
    config: Config,
    data_dir: PathBuf,
    isolation: Isolation,
    chatd: Option<DaemonConfig>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let agent_binary = match opts.agent_binary {
        Some(b) => b,
        None => std::env::current_exe()?,
    };
    let relay_address = match opts.relay_address {
        Some(a) => a,
        None => {
            let addr = listener.local_addr()?;
            if addr.ip().is_unspecified() {
                format!("http://127.0.0.1:{}", addr.port())
            } else {
                format!("http://{addr}")
            }
        }
    };
    let agents = Agents::new(store.clone());
    let workspaces = data_dir.join("workspaces");
    let socket_path = LocalProvisioner::socket_path(&data_dir);
    let agent_socket = bind_agent_socket(&socket_path)?;
    let provisioner = LocalProvisioner::new(workspaces, isolation, agents.clone(), agent_binary, socket_path);
    let provisioning = Provisioning::new(std::sync::Arc::new(provisioner), agents.clone());
    agents.register().await.map_err(std::io::Error::other)?;
    let heartbeat = tokio::spawn(agents.clone().run_heartbeat(relay_address));
    let hub = Hub::start(&store).await.map_err(std::io::Error::other)?;
    let parts = Parts::start_with(&store, &opts.pubsub).await.map_err(std::io::Error::other)?;
    store.start_session_cache();
    let state = AppState::new(store.clone(), config, provisioning.clone()).with_hub(hub.clone()).with_parts(parts.clone());
    let mut socket_closing = provisioning.closing();
    let socket_server = tokio::spawn(agentry_api::serve_agent_socket(agent_socket, state.clone(), async move {
        let _ = socket_closing.wait_for(|c| *c).await;
    }));
    // Resuming local workspaces starts their agents, which dial in through the socket above.
    let runner = BuildRunner::new(store.clone(), provisioning.clone());
    runner.recover().await.map_err(std::io::Error::other)?;
    let runner = tokio::spawn(runner.run());
    let daemon = match chatd {
        Some(cfg) => Some(std::sync::Arc::new(
            Daemon::start_as(agents.replica_id(), store.clone(), hub.clone(), parts.clone(), provisioning.clone(), cfg).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let closer = provisioning.clone();
    let stopper = daemon.clone();
    let shutdown = async move {
        shutdown.await;
        if let Some(d) = stopper {
            d.shutdown().await;
        }
        closer.close();
    };
    let result = agentry_api::serve(listener, state, shutdown).await;
    if let Some(d) = daemon {
        d.shutdown().await;
    }
    // Also when the API failed without a shutdown signal.
    provisioning.close();
    runner.await.map_err(std::io::Error::other)?;
    heartbeat.abort();
    agents.deregister().await;
    let _ = socket_server.await;
    let _ = std::fs::remove_file(LocalProvisioner::socket_path(&data_dir));
    result
}
