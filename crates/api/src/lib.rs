//! agentry's HTTP API.
//!
//! [`router`] lists every route top to bottom. Handlers take the [`auth::Auth`] extractor (so
//! forgetting authentication does not compile), call the authorizing facade in
//! `agentry_store`, and convert rows into `agentry_sdk` wire types.
//!
//! **Invariant:** handlers never run SQL; only `agentry_store` does.
//! **Invariant:** this is the only crate that knows HTTP; errors leave through [`error::ApiError`].

pub mod auth;
mod stream_wakes;
mod convert;
mod csrf;
mod headers;
pub mod error;
mod json;
pub mod metrics;
pub mod openapi;
pub mod login_limit;
mod routes;
mod validate;

use std::future::Future;
use std::sync::Arc;

use agentry_store::Store;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use utoipa::OpenApi;

use openapi::Complete as CompleteDoc;

use routes::chats::{self, admin as chat_admin, files as chat_files, messages as chat_messages, stream as chat_stream};
use routes::{authcheck, budgets, meta, orgs, templates, users, workspaceagents, workspaces};

/// Largest JSON body accepted; larger bodies get 413.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// Settings the API needs from the server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The URL users reach the deployment at.
    pub access_url: String,
    pub session_lifetime: chrono::Duration,
    /// Mark the session cookie `Secure` (the access URL is https).
    pub secure_cookies: bool,
    /// Failed-login throttling.
    pub login_limits: login_limit::LoginLimits,
    /// Serve Prometheus metrics at `/metrics` (`--metrics`), to site owners and auditors.
    pub metrics: bool,
}

impl Config {
    pub fn new(access_url: impl Into<String>) -> Config {
        let access_url = access_url.into();
        Config {
            secure_cookies: access_url.starts_with("https://"),
            access_url,
            session_lifetime: chrono::Duration::hours(24),
            login_limits: login_limit::LoginLimits::default(),
            metrics: false,
        }
    }
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Store,
    pub(crate) config: Arc<Config>,
    /// Wakes the build runner, follows builds, finds workspace agents.
    pub(crate) provisioning: agentry_provisioner::Provisioning,
    /// Committed-change hints from every server process; started by [`serve`] when unset.
    pub(crate) hub: Option<agentry_store::pubsub::Hub>,
    /// Live chat parts (streaming deltas, retries) from this and every other server process;
    /// started by [`serve`] when unset.
    pub(crate) parts: Option<agentry_store::parts::Parts>,
    /// Failed logins of this process, for throttling.
    pub(crate) logins: Arc<login_limit::LoginLimiter>,
    /// The hub's hints and the auth changes routed per chat and user, for chat streams;
    /// started on first use.
    stream_wakes: Arc<std::sync::OnceLock<stream_wakes::StreamWakes>>,
}

impl AppState {
    pub fn new(store: Store, config: Config, provisioning: agentry_provisioner::Provisioning) -> AppState {
        let logins = Arc::new(login_limit::LoginLimiter::new(config.login_limits));
        if config.metrics {
            metrics::install();
        }
        AppState { store, config: Arc::new(config), provisioning, hub: None, parts: None, logins, stream_wakes: Default::default() }
    }

    /// Uses an already running change hub (shared with the chat daemon in the same process).
    pub fn with_hub(mut self, hub: agentry_store::pubsub::Hub) -> AppState {
        self.hub = Some(hub);
        self
    }

    /// Uses an already running live-parts hub (shared with the chat daemon in the same process).
    pub fn with_parts(mut self, parts: agentry_store::parts::Parts) -> AppState {
        self.parts = Some(parts);
        self
    }

    pub(crate) fn parts(&self) -> &agentry_store::parts::Parts {
        self.parts.as_ref().expect("serve() starts the parts hub before routing")
    }

    pub(crate) fn hub(&self) -> &agentry_store::pubsub::Hub {
        self.hub.as_ref().expect("serve() starts the hub before routing")
    }

    /// Wake-ups for one chat's stream (see [`stream_wakes`]).
    pub(crate) fn stream_wakes(&self) -> &stream_wakes::StreamWakes {
        self.stream_wakes.get_or_init(|| stream_wakes::StreamWakes::start(self.hub().subscribe(), self.store.auth_changes()))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "agentry", description = "Organization-scoped AI agent chats."),
    paths(
        meta::buildinfo, meta::audit, meta::replicas,
        users::first_exists, users::create_first, users::login, users::logout, users::me, users::get,
        users::list, users::create, users::update_roles, users::update_password, users::suspend, users::activate,
        users::create_key, users::list_keys, users::delete_key, users::site_roles, users::organizations,
        users::organization,
        orgs::list, orgs::create, orgs::get, orgs::update, orgs::delete, orgs::members,
        orgs::add_member, orgs::remove_member, orgs::update_member_roles, orgs::roles,
        authcheck::check,
        chats::list, chats::create, chats::get, chats::patch,
        chat_messages::list, chat_messages::send, chat_messages::edit, chat_messages::delete_queued,
        chat_messages::promote_queued, chat_messages::interrupt, chat_messages::tool_results,
        chat_messages::regenerate_title,
        chat_stream::stream, chat_stream::watch, chat_files::upload, chat_files::download,
        chat_admin::models, chat_admin::list_providers, chat_admin::create_provider, chat_admin::update_provider,
        chat_admin::delete_provider, chat_admin::list_model_configs, chat_admin::create_model_config,
        chat_admin::update_model_config, chat_admin::delete_model_config, chat_admin::usage_limits,
        chat_admin::set_usage_limits, chat_admin::usage_status, chat_admin::model_access, chat_admin::set_model_access,
        chat_admin::org_default_model, chat_admin::set_org_default_model,
        budgets::get_org, budgets::put_org, budgets::get_member, budgets::put_member, budgets::usage,
        templates::list, templates::list_all, templates::create, templates::get, templates::update, templates::delete, templates::versions,
        workspaces::create, workspaces::list, workspaces::get, workspaces::create_build, workspaces::get_build,
        workspaces::logs, workspaces::execute, workspaces::external_agent,
        workspaces::file_content,
    ),
    modifiers(&CompleteDoc),
)]
pub struct ApiDoc;

/// Every route, in one place.
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/buildinfo", get(meta::buildinfo))
        .route("/openapi.json", get(meta::openapi))
        .route("/audit", get(meta::audit))
        .route("/replicas", get(meta::replicas))
        .route("/authcheck", post(authcheck::check))
        .route("/users/first", get(users::first_exists).post(users::create_first))
        .route("/users/login", post(users::login))
        .route("/users/logout", post(users::logout))
        .route("/users/me", get(users::me))
        .route("/users/roles", get(users::site_roles))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{user}", get(users::get))
        .route("/users/{user}/roles", put(users::update_roles))
        .route("/users/{user}/password", put(users::update_password))
        .route("/users/{user}/status/suspend", put(users::suspend))
        .route("/users/{user}/status/activate", put(users::activate))
        .route("/users/{user}/keys", get(users::list_keys).post(users::create_key))
        .route("/users/{user}/keys/{id}", axum::routing::delete(users::delete_key))
        .route("/users/{user}/organizations", get(users::organizations))
        .route("/users/{user}/organizations/{org}", get(users::organization))
        .route("/organizations", get(orgs::list).post(orgs::create))
        .route("/organizations/{org}", get(orgs::get).patch(orgs::update).delete(orgs::delete))
        .route("/organizations/{org}/members", get(orgs::members))
        .route("/organizations/{org}/chat-default-model", get(chat_admin::org_default_model).put(chat_admin::set_org_default_model))
        .route("/organizations/{org}/members/roles", get(orgs::roles))
        .route("/organizations/{org}/members/{user}", post(orgs::add_member).delete(orgs::remove_member))
        .route("/organizations/{org}/members/{user}/roles", put(orgs::update_member_roles))
        .route("/organizations/{org}/chat-budget", get(budgets::get_org).put(budgets::put_org))
        .route("/organizations/{org}/members/{user}/chat-budget", get(budgets::get_member).put(budgets::put_member))
        .route("/organizations/{org}/templates", get(templates::list).post(templates::create))
        .route("/organizations/{org}/members/{user}/workspaces", post(workspaces::create))
        .route("/templates", get(templates::list_all))
        .route("/templates/{id}", get(templates::get).patch(templates::update).delete(templates::delete))
        .route("/templates/{id}/versions", get(templates::versions))
        .route("/workspaces", get(workspaces::list))
        .route("/workspaces/{id}", get(workspaces::get))
        .route("/workspaces/{id}/builds", post(workspaces::create_build))
        .route("/workspaces/{id}/execute", post(workspaces::execute))
        .route("/workspaces/{id}/external-agent", get(workspaces::external_agent))
        .route("/workspaces/{id}/files/content", get(workspaces::file_content))
        .route("/workspacebuilds/{id}", get(workspaces::get_build))
        .route("/workspacebuilds/{id}/logs", get(workspaces::logs))
        .route("/workspaceagents/me/rpc", get(workspaceagents::connect))
        .route("/internal/relay/workspaces/{id}", post(workspaceagents::relay));

    let chats = Router::new()
        .route("/", get(chats::list).post(chats::create))
        .route("/models", get(chat_admin::models))
        .route("/watch", get(chat_stream::watch))
        .route(
            "/files",
            // Uploads enforce their own 10 MiB limit with a JSON 413.
            post(chat_files::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/files/{file}", get(chat_files::download))
        .route("/providers", get(chat_admin::list_providers).post(chat_admin::create_provider))
        .route("/providers/{provider}", axum::routing::patch(chat_admin::update_provider).delete(chat_admin::delete_provider))
        .route("/model-configs", get(chat_admin::list_model_configs).post(chat_admin::create_model_config))
        .route(
            "/model-configs/{config}",
            axum::routing::patch(chat_admin::update_model_config).delete(chat_admin::delete_model_config),
        )
        .route("/usage-limits", get(chat_admin::usage_limits).put(chat_admin::set_usage_limits))
        .route("/model-access", get(chat_admin::model_access).put(chat_admin::set_model_access))
        .route("/usage-limits/status", get(chat_admin::usage_status))
        .route("/usage", get(budgets::usage))
        .route("/{chat}", get(chats::get).patch(chats::patch))
        .route("/{chat}/messages", get(chat_messages::list).post(chat_messages::send))
        .route("/{chat}/messages/{message}", axum::routing::patch(chat_messages::edit))
        .route("/{chat}/queue/{queued}", axum::routing::delete(chat_messages::delete_queued))
        .route("/{chat}/queue/{queued}/promote", post(chat_messages::promote_queued))
        .route("/{chat}/interrupt", post(chat_messages::interrupt))
        .route("/{chat}/tool-results", post(chat_messages::tool_results))
        .route("/{chat}/title/regenerate", post(chat_messages::regenerate_title))
        .route("/{chat}/stream", get(chat_stream::stream))
        .route_layer(axum::middleware::from_fn(metrics::track));
    let v2 = v2.route_layer(axum::middleware::from_fn(metrics::track));

    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(metrics::scrape))
        .nest("/api/v2", v2)
        .nest("/api/experimental/chats", chats)
        // Unknown `/api` routes are JSON 404s; every other GET is the web UI (SPA fallback).
        .fallback(routes::site::serve)
        .layer(axum::middleware::from_fn(json::refuse_nul_in_path))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::same_origin))
        .layer(axum::middleware::from_fn_with_state(state.clone(), headers::security_headers))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(json_compression())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Compresses JSON answers of 1 KiB or more (gzip or brotli, as the request accepts). Only
/// `application/json`: WebSocket upgrades and the NDJSON log stream pass through untouched, so
/// nothing that streams is held back by an encoder's buffer; the UI's assets come compressed
/// already (`routes::site`).
fn json_compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{Predicate, SizeAbove};
    let json = |_: axum::http::StatusCode, _: axum::http::Version, h: &axum::http::HeaderMap, _: &axum::http::Extensions| {
        h.get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    };
    tower_http::compression::CompressionLayer::new().compress_when(SizeAbove::new(1024).and(json))
}

/// The routes served on the local agent socket: only the agent's own WebSocket.
pub fn agent_router(state: AppState) -> Router {
    Router::new().route(agentry_agent::protocol::CONNECT_PATH, get(workspaceagents::connect)).with_state(state)
}

/// Serves [`agent_router`] on the unix socket that local sandboxes reach their server through,
/// until `shutdown` resolves.
pub async fn serve_agent_socket(
    listener: tokio::net::UnixListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, agent_router(state)).with_graceful_shutdown(shutdown).await
}

/// Serves the API on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut state = state;
    if state.hub.is_none() {
        state.hub = Some(agentry_store::pubsub::Hub::start(&state.store).await.map_err(std::io::Error::other)?);
    }
    if state.parts.is_none() {
        state.parts = Some(agentry_store::parts::Parts::start(&state.store).await.map_err(std::io::Error::other)?);
    }
    // Nagle's algorithm off on every connection: a streamed token is one small WebSocket
    // frame, and with Nagle a frame written while the previous one is unacknowledged waits for
    // that acknowledgement, up to the client's delayed-ACK timer (tens of milliseconds).
    // `AGENTRY_BENCH_BEFORE=nodelay` leaves it on, for the benchmark.
    let nagle = agentry_store::bench_before("nodelay");
    let listener = axum::serve::ListenerExt::tap_io(listener, move |s: &mut tokio::net::TcpStream| {
        if !nagle && let Err(e) = s.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set on a connection");
        }
    });
    // The peer address feeds login throttling per client.
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
