//! Wiring of the agentry server: choose the database (external URL or the embedded
//! PostgreSQL), migrate it, and serve the API. The CLI (`main.rs`) and the black-box tests both
//! start servers through [`run`] and [`serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use agentry_api::{AppState, Config};
use agentry_pgembed::{EmbeddedPostgres, Options};
use agentry_store::Store;
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
            (pg.connect_options(), Some(pg))
        }
    };
    let result = async {
        let store = Store::connect(options, POOL_SIZE).await?;
        store.migrate().await?;
        let listener = TcpListener::bind(&cfg.http_address).await?;
        let addr = listener.local_addr()?;
        let access_url = cfg.access_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        on_listening(addr);
        serve(store.clone(), listener, Config::new(access_url), shutdown).await?;
        store.close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    if let Some(pg) = embedded {
        pg.stop().await?;
    }
    result
}

/// Serves the API for an already migrated store.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    agentry_api::serve(listener, AppState::new(store, config), shutdown).await
}
