//! agentry's storage layer.
//!
//! The public surface is the authorizing facade: [`Store::actor`] binds a [`Subject`] and every
//! method on [`Actor`] authorizes the call for it (fetch-then-authorize for single rows, the
//! prepared RBAC filter spliced into SQL for lists, authorize-then-insert for creates). A single
//! row the actor may not read is [`StoreError::NotFound`], never a hint that it exists. The few
//! things that must run before or outside any subject — authenticating a token, the first-user
//! set-up, migrations — are the explicitly named methods of [`System`].
//!
//! **Invariant:** the connection pool is private to this crate; no other crate runs SQL.
//! **Invariant:** every multi-row change, and the audit entry describing it, is one transaction.

pub mod activity;
pub mod agents;
mod args;
pub mod audit;
pub mod auth_cache;
pub mod chats;
pub mod explain;
pub mod fanout;
mod lists;
mod error;
pub mod may;
pub mod members;
pub mod orgs;
pub mod parts;
pub mod pubsub;
pub mod replicas;
pub mod templates;
pub mod users;
pub mod workspaces;

use std::time::Duration;

/// Whether the benchmark toggle `AGENTRY_BENCH_BEFORE` (a comma-separated list, read once per
/// process) asks for the behaviour before issue 18's change `what`, so a benchmark can measure
/// before and after with one build: `org-cache` (read organizations from the database on every
/// request), `member-cache` (read an organization's member page from the database on every
/// request), `chat-list` (one unpinned branch per archived state), `chat-list-plan` (the chat
/// list planned on every request, its children in a second query), `acquire-ping` (every
/// connection taken from the list pool is checked with a round trip first), `stream-wake` (every
/// chat change wakes every chat stream), `stream-read` (a chat stream polls its socket's read
/// half for every token it sends), `nodelay` (the API's connections keep Nagle's algorithm
/// on); and, read by `agentry-llm` itself (which depends on nothing of ours), `llm-idle` (a
/// timeout around every provider read), `llm-chunk` (every OpenAI chunk and Anthropic event
/// through `serde_json::Value`) and `llm-sse` (server-sent events parsed by
/// `eventsource_stream`). Not for production use.
pub fn bench_before(what: &str) -> bool {
    static BEFORE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    BEFORE
        .get_or_init(|| {
            std::env::var("AGENTRY_BENCH_BEFORE").unwrap_or_default().split(',').map(|s| s.trim().to_string()).collect()
        })
        .iter()
        .any(|s| s == what)
}

use agentry_rbac::Subject;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use error::StoreError;
pub use agentry_types::ClientError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Migrations embedded in the binary. sqlx takes a PostgreSQL advisory lock around a run, so
/// several servers starting together on one database migrate it exactly once.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10))
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// Connections for the chat list's page statement only, whose settings make a prepared
    /// statement's generic plan an ordered index range (see [`lists`]).
    lists: PgPool,
    auth: std::sync::Arc<auth_cache::AuthCache>,
    seen: std::sync::Arc<activity::Seen>,
}

impl Store {
    /// Connects a pool. Does not migrate; call [`Store::migrate`].
    ///
    /// Besides the main pool of `max_connections`, a quarter as many (at least two) are kept,
    /// opened on first use, for the chat list's page statements ([`lists`]).
    pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<Store> {
        let lists = lists::pool_options(pool_options((max_connections / 4).max(2)))
            .connect_lazy_with(lists::connect_options(options.clone()));
        let pool = pool_options(max_connections).connect_with(options).await?;
        Ok(Store { pool, lists, auth: Default::default(), seen: Default::default() })
    }

    /// Starts caching authenticated sessions in this process, kept correct by change
    /// notifications (see [`auth_cache`]). Without it every request authenticates against the
    /// database.
    pub fn start_session_cache(&self) {
        tokio::spawn(auth_cache::AuthCache::run(self.auth.clone(), self.pool.clone()));
    }

    /// Whether this process's caches are on: [`Store::start_session_cache`] was called and its
    /// listener is connected, so it hears of every change.
    pub fn caching(&self) -> bool {
        self.auth.enabled()
    }

    /// Auth changes committed by any process, as this process hears of them (needs
    /// [`Store::start_session_cache`], whose listener delivers them).
    pub fn auth_changes(&self) -> tokio::sync::broadcast::Receiver<auth_cache::AuthChange> {
        self.auth.subscribe()
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Applies migrations up to and including `version` only. For tests that seed an older
    /// schema and then check what a later migration does to it.
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        MIGRATOR.run_to(version, &self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// The authorizing facade for one acting subject.
    pub fn actor<'a>(&'a self, subject: &'a Subject) -> Actor<'a> {
        Actor { pool: &self.pool, lists: &self.lists, subject, auth: &self.auth }
    }

    /// Site-wide tasks that run without an acting subject: health, site values, the providers
    /// that are enabled.
    pub fn system(&self) -> System<'_> {
        System { pool: &self.pool }
    }

    /// Authentication and sign-in: tokens, logins, sessions, first-user set-up, activity.
    pub fn auth(&self) -> AuthTasks<'_> {
        AuthTasks { pool: &self.pool, auth: &self.auth, seen: &self.seen }
    }

    /// The chat worker's tasks: claims, leases, fenced writes, the owner's subject, provider
    /// keys, usage limits. What the agent loop may do without a subject, and nothing else.
    pub fn worker(&self) -> WorkerTasks<'_> {
        WorkerTasks { pool: &self.pool }
    }

    /// The build runner's tasks: claiming builds, their logs and results.
    pub fn builds(&self) -> BuildTasks<'_> {
        BuildTasks { pool: &self.pool }
    }

    pub async fn close(&self) {
        self.lists.close().await;
        self.pool.close().await
    }
}

/// Data access on behalf of one subject. See the crate docs.
pub struct Actor<'a> {
    pool: &'a PgPool,
    lists: &'a PgPool,
    subject: &'a Subject,
    auth: &'a auth_cache::AuthCache,
}

impl Actor<'_> {
    pub fn subject(&self) -> &Subject {
        self.subject
    }
}

/// Site-wide data access with no acting subject (see [`Store::system`]).
pub struct System<'a> {
    pool: &'a PgPool,
}

/// Authentication and sign-in (see [`Store::auth`]).
pub struct AuthTasks<'a> {
    pool: &'a PgPool,
    auth: &'a auth_cache::AuthCache,
    seen: &'a activity::Seen,
}

/// The chat worker's subject-less tasks (see [`Store::worker`]).
pub struct WorkerTasks<'a> {
    pool: &'a PgPool,
}

/// The build runner's tasks (see [`Store::builds`]).
pub struct BuildTasks<'a> {
    pool: &'a PgPool,
}

impl System<'_> {
    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(self.pool).await.is_ok()
    }
}
