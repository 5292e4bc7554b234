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
use agentry_provisioner::{BuildRunner, Isolation, LocalProvisioner, Provisioning};
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
        serve_with(store.clone(), listener, Config::new(access_url), cfg.data_dir.clone(), isolation, cfg.chatd.clone(), shutdown).await?;
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
        Isolation::Unavailable { reason } => tracing::error!("{reason}"),
        Isolation::Unsandboxed => tracing::warn!(
            "UNSAFE: --unsafe-unsandboxed-workspaces is set. Workspace commands run on this host as the \
             server's own user, with access to its files and database; anyone who can create a workspace \
             can take over the server. Use this only for a single trusted team."
        ),
    }
    isolation
}

/// [`serve`] with the chat daemon configured by `chatd` (none when `None`). The daemon shares the process's change
/// hub and live-parts hub with the API; on `shutdown` it stops claiming and hands its running
/// chats back (`pending`) before the provisioner shuts down.
pub async fn serve_with(
    store: Store,
    listener: TcpListener,
    config: Config,
    data_dir: PathBuf,
    isolation: Isolation,
    chatd: Option<DaemonConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let provisioner = LocalProvisioner::new(data_dir.join("workspaces"), isolation);
    let provisioning = Provisioning::new(std::sync::Arc::new(provisioner));
    let runner = BuildRunner::new(store.clone(), provisioning.clone());
    runner.recover().await.map_err(std::io::Error::other)?;
    let runner = tokio::spawn(runner.run());
    let hub = Hub::start(&store).await.map_err(std::io::Error::other)?;
    let parts = Parts::start(&store).await.map_err(std::io::Error::other)?;
    store.start_session_cache();
    let daemon = match chatd {
        Some(cfg) => Some(std::sync::Arc::new(
            Daemon::start(store.clone(), hub.clone(), parts.clone(), provisioning.clone(), cfg).map_err(std::io::Error::other)?,
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
    let state = AppState::new(store, config, provisioning.clone()).with_hub(hub).with_parts(parts);
    let result = agentry_api::serve(listener, state, shutdown).await;
    if let Some(d) = daemon {
        d.shutdown().await;
    }
    // Also when the API failed without a shutdown signal.
    provisioning.close();
    runner.await.map_err(std::io::Error::other)?;
    result
}
