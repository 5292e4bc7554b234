//! Test harness: a real server on `127.0.0.1:0` over a fresh PostgreSQL database, driven
//! through the typed client.
//!
//! Each [`TestServer`] gets its own database on the machine's PostgreSQL (`DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/postgres`), named `agentry_test_<time>_<random>`, so
//! tests run in parallel without sharing rows. Databases left by earlier runs are dropped
//! after an hour.

#![allow(dead_code)]

pub mod chat;

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let name = format!("agentry_test_{now}_{}", Uuid::new_v4().simple());
    let mut conn = PgConnectOptions::from_str(&admin_url()).unwrap().connect().await.expect("connect to PostgreSQL");
    // Housekeeping: drop what crashed runs left behind (names carry their creation time).
    let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'agentry\\_test\\_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for db in old {
        let ts: Option<u64> = db.split('_').nth(2).and_then(|t| t.parse().ok());
        if ts.is_some_and(|t| t + 3600 < now) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")))
                .execute(&mut conn)
                .await;
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let mut opts = PgConnectOptions::from_str(&admin_url()).unwrap();
    opts = opts.database(&name);
    let (user, host, port) = (opts.get_username().to_string(), opts.get_host().to_string(), opts.get_port());
    format!("postgres://{user}@{host}:{port}/{name}")
}

pub struct TestServer {
    pub url: String,
    pub database_url: String,
    pub client: Client,
    /// The server's own data directory (workspaces live under `workspaces/`).
    pub data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A migrated server on a fresh database.
    pub async fn start() -> TestServer {
        TestServer::start_on(&fresh_database().await).await
    }

    /// A server on an existing database (several servers may share one).
    pub async fn start_on(database_url: &str) -> TestServer {
        TestServer::start_with(database_url, test_chatd()).await
    }

    /// A server with no chat daemon: chats stay as the API leaves them (tests of the API's own
    /// state transitions, which a model run would race).
    pub async fn start_api_only() -> TestServer {
        TestServer::start_serving(&fresh_database().await, None).await
    }

    /// [`TestServer::start_api_only`] on an existing database (several servers may share one).
    pub async fn start_api_only_on(database_url: &str) -> TestServer {
        TestServer::start_serving(database_url, None).await
    }

    /// A server on an existing database with this chat daemon configuration.
    pub async fn start_with(database_url: &str, chatd: agentry_chatd::DaemonConfig) -> TestServer {
        TestServer::start_serving(database_url, Some(chatd)).await
    }

    /// [`TestServer::start_with`] with live chat events going through `pubsub`.
    #[allow(dead_code)]
    pub async fn start_with_pubsub(
        database_url: &str,
        chatd: Option<agentry_chatd::DaemonConfig>,
        pubsub: agentry_store::fanout::PubSub,
    ) -> TestServer {
        TestServer::start_serving_via(database_url, chatd, pubsub).await
    }

    async fn start_serving(database_url: &str, chatd: Option<agentry_chatd::DaemonConfig>) -> TestServer {
        TestServer::start_serving_via(database_url, chatd, Default::default()).await
    }

    async fn start_serving_via(
        database_url: &str,
        chatd: Option<agentry_chatd::DaemonConfig>,
        pubsub: agentry_store::fanout::PubSub,
    ) -> TestServer {
        init_logs();
        let store = Store::connect(PgConnectOptions::from_str(database_url).unwrap(), 8).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let config = agentry_api::Config::new(url.clone());
        let data_dir = tempfile::tempdir().unwrap();
        let dir = data_dir.path().to_path_buf();
        // Workspaces are sandboxed as in a default deployment.
        let isolation = agentry::workspace_isolation(false).await;
        let task = tokio::spawn(async move {
            // In-process servers run in the test binary; their local workspaces' agents are
            // the real `agentry` binary.
            let opts = agentry::ServeOptions { agent_binary: Some(env!("CARGO_BIN_EXE_agentry").into()), relay_address: None, pubsub };
            agentry::serve_opts(store, listener, config, dir, isolation, chatd, opts, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            client: Client::new(&url).unwrap(),
            url,
            database_url: database_url.to_string(),
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Creates the first user (the site owner) and returns a client logged in as them.
    pub async fn owner(&self) -> (Client, sdk::CreateFirstUserResponse) {
        let resp = self
            .client
            .create_first_user(&sdk::CreateFirstUserRequest {
                email: "owner@example.com".into(),
                username: "owner".into(),
                password: PASSWORD.into(),
                name: Some("Site Owner".into()),
            })
            .await
            .unwrap();
        (self.client.logged_in("owner@example.com", PASSWORD).await.unwrap(), resp)
    }

    /// Creates a user through `admin` (in `orgs`, or the default org) and logs in as them.
    pub async fn user(&self, admin: &Client, username: &str, orgs: &[Uuid]) -> (Client, sdk::User) {
        let email = format!("{username}@example.com");
        let user = admin
            .create_user(&sdk::CreateUserRequest {
                email: email.clone(),
                username: username.into(),
                password: PASSWORD.into(),
                name: None,
                organization_ids: if orgs.is_empty() { None } else { Some(orgs.to_vec()) },
            })
            .await
            .unwrap();
        (self.client.logged_in(&email, PASSWORD).await.unwrap(), user)
    }

    pub async fn org(&self, admin: &Client, name: &str) -> sdk::Organization {
        admin
            .create_organization(&sdk::CreateOrganizationRequest { name: name.into(), display_name: None, description: None })
            .await
            .unwrap()
    }
}

/// The chat daemon every test server runs: quick to claim, quick to give up on a failing
/// provider, and no title requests (they would take turns scripted for the fake provider).
pub fn test_chatd() -> agentry_chatd::DaemonConfig {
    agentry_chatd::DaemonConfig {
        acquire_interval: std::time::Duration::from_millis(200),
        heartbeat_interval: std::time::Duration::from_secs(1),
        retry: agentry_llm::RetryPolicy {
            initial: std::time::Duration::from_millis(50),
            max: std::time::Duration::from_millis(500),
            max_attempts: 3,
        },
        generate_titles: false,
        ..agentry_chatd::DaemonConfig::default()
    }
}

/// Sets up the first user (the site owner, owner@example.com) of the server at `url` and
/// returns a client logged in as it.
pub async fn first_owner(url: &str) -> Client {
    let c = Client::new(url).unwrap();
    c.create_first_user(&agentry_client::agentry_sdk::CreateFirstUserRequest {
        email: "owner@example.com".into(),
        username: "owner".into(),
        password: PASSWORD.into(),
        name: None,
    })
    .await
    .unwrap();
    c.logged_in("owner@example.com", PASSWORD).await.unwrap()
}

/// Asserts a call failed with `status` and returns the error for further checks.
#[track_caller]
pub fn expect_status<T: std::fmt::Debug>(r: agentry_client::Result<T>, status: u16) -> agentry_client::Error {
    match r {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(e) => {
            assert_eq!(e.status().map(|s| s.as_u16()), Some(status), "unexpected error: {e}");
            e
        }
    }
}

/// The in-process servers' logs go to the test's captured output, so a failing test shows
/// what the server did (nextest and libtest print a test's output only when it fails).
/// `RUST_LOG` overrides the default level.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// How long [`eventually`] waits: generous, because a loaded 2-core CI machine is slow; a
/// passing test returns as soon as its condition holds.
pub const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls `check` every 50 ms until it yields a value, failing the test with `what` once
/// [`EVENTUALLY`] has passed. Every test that waits for something asynchronous (a background
/// write, another server process, a worker) waits with this, never with a bare sleep.
#[track_caller]
pub fn eventually<'a, T, F, Fut>(what: &'a str, mut check: F) -> impl std::future::Future<Output = T> + 'a
where
    F: FnMut() -> Fut + 'a,
    Fut: std::future::Future<Output = Option<T>> + 'a,
    T: 'a,
{
    let caller = std::panic::Location::caller();
    async move {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(start.elapsed() < EVENTUALLY, "timed out after {EVENTUALLY:?} waiting for {what} ({caller})");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Asserts that `r` failed with the catalogue error `expected` (status, code and message, all
/// from `agentry_sdk::ClientError`), and returns the error for further checks.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(r: agentry_client::Result<T>, expected: agentry_sdk::ClientError) -> agentry_client::Error {
    match r {
        Ok(v) => panic!("expected {} ({}), got success: {v:?}", expected.code(), expected.status()),
        Err(e) => {
            assert!(
                e.is(&expected),
                "expected HTTP {} {:?} {:?}, got {e} (code {:?})",
                expected.status(),
                expected.code(),
                expected.message(),
                e.code()
            );
            e
        }
    }
}

/// Starts the real `agentry` binary as a separate process; returns it and the URL it printed.
/// With `database_url`, it joins that database; without, it runs its embedded PostgreSQL in
/// `data_dir`.
pub fn spawn_agentry(database_url: Option<&str>, data_dir: &std::path::Path) -> (ServerProcess, String) {
    spawn_agentry_with(database_url, data_dir, &[])
}

/// [`spawn_agentry`] with extra `server` flags (e.g. `--chat-stale-after 2s`).
pub fn spawn_agentry_with(database_url: Option<&str>, data_dir: &std::path::Path, extra: &[&str]) -> (ServerProcess, String) {
    spawn_agentry_env(database_url, data_dir, extra, &[])
}

/// [`spawn_agentry_with`] with extra environment variables for the server process.
pub fn spawn_agentry_env(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (ServerProcess, String) {
    use std::io::{BufRead, BufReader};
    // A benchmark may run another build of the server (its "before" in the same session).
    let bin = std::env::var("AGENTRY_BENCH_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_agentry").into());
    let mut cmd = std::process::Command::new(bin);
    cmd.envs(env.iter().copied());
    cmd.args(["server", "--http-address", "127.0.0.1:0", "--data-dir"]).arg(data_dir).args(extra);
    match database_url {
        Some(url) => cmd.args(["--postgres-url", url]),
        None => cmd.env_remove("AGENTRY_POSTGRES_URL"),
    };
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn agentry server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("agentry listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (ServerProcess { child: Some(child) }, url)
}

/// The fan-out transport a multi-process test runs its replicas with (`--pubsub`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Via {
    /// The default: PostgreSQL LISTEN/NOTIFY.
    Postgres,
    /// A real `nats-server`, started for the test.
    Nats,
}

/// A test's transport: under NATS, its own `nats-server` (stopped when this is dropped).
pub struct Transport {
    nats: Option<agentry_store::fanout::NatsServer>,
}

impl Transport {
    pub fn start(via: Via) -> Transport {
        Transport { nats: (via == Via::Nats).then(agentry_store::fanout::NatsServer::start) }
    }

    /// The `server` flags choosing this transport (none for the default).
    pub fn flags(&self) -> Vec<&str> {
        self.nats.as_ref().map(|n| vec!["--pubsub", n.url()]).unwrap_or_default()
    }

    /// The in-process server's `pubsub` setting for this transport.
    pub fn pubsub(&self) -> agentry_store::fanout::PubSub {
        self.nats.as_ref().map(|n| n.pubsub()).unwrap_or_default()
    }
}

/// Defines a module `name` with one test per transport, `name::over_postgres` and
/// `name::over_nats`, each calling the async function `name(Via::…)` of the enclosing file.
#[macro_export]
macro_rules! under_both_transports {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_postgres() {
                super::$name(super::common::Via::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_nats() {
                super::$name(super::common::Via::Nats).await
            }
        }
    };
}

/// One replica of a multi-process deployment: the built binary on `database_url` (data dir in
/// a fresh temporary directory that outlives the call) with the transport's and `extra` flags.
pub fn spawn_replica(database_url: &str, transport: &Transport, extra: &[&str]) -> (ServerProcess, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut args = transport.flags();
    args.extend_from_slice(extra);
    spawn_agentry_with(Some(database_url), &dir, &args)
}

/// A server running as its own process. Dropping it (e.g. when a test fails half-way) kills
/// it, so no test leaves a server behind.
pub struct ServerProcess {
    child: Option<std::process::Child>,
}

impl ServerProcess {
    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A second server process on `database_url` (its data dir is leaked into /tmp on purpose:
/// it must outlive this call).
pub fn spawn_server_process(database_url: &str) -> (ServerProcess, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    spawn_agentry(Some(database_url), &dir)
}

/// [`spawn_server_process`] without a chat daemon (`--chat-daemon false`).
pub fn spawn_api_only_process(database_url: &str) -> (ServerProcess, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    spawn_agentry_with(Some(database_url), &dir, &["--chat-daemon", "false"])
}

/// SIGTERM, then wait (bounded) for a clean exit.
pub fn stop_server_process(mut server: ServerProcess) {
    let mut child = server.child.take().expect("running");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "server exited with {status}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "server did not stop within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
