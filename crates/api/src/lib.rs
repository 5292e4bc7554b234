//! agentry's HTTP API.
//!
//! [`router`] lists every route top to bottom. Handlers take the [`auth::Auth`] extractor (so
//! forgetting authentication does not compile), call the authorizing facade in
//! `agentry_store`, and convert rows into `agentry_sdk` wire types.
//!
//! **Invariant:** handlers never run SQL; only `agentry_store` does.
//! **Invariant:** this is the only crate that knows HTTP; errors leave through [`error::ApiError`].

pub mod auth;
mod convert;
pub mod error;
mod json;
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

use routes::{authcheck, meta, orgs, templates, users, workspaces};

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
}

impl Config {
    pub fn new(access_url: impl Into<String>) -> Config {
        let access_url = access_url.into();
        Config {
            secure_cookies: access_url.starts_with("https://"),
            access_url,
            session_lifetime: chrono::Duration::hours(24),
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
}

impl AppState {
    pub fn new(store: Store, config: Config, provisioning: agentry_provisioner::Provisioning) -> AppState {
        AppState { store, config: Arc::new(config), provisioning }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "agentry", description = "Organization-scoped AI agent chats."),
    paths(
        meta::buildinfo, meta::audit,
        users::first_exists, users::create_first, users::login, users::logout, users::me, users::get,
        users::list, users::create, users::update_roles, users::suspend, users::activate,
        users::create_key, users::site_roles,
        orgs::list, orgs::create, orgs::get, orgs::update, orgs::delete, orgs::members,
        orgs::add_member, orgs::remove_member, orgs::update_member_roles, orgs::roles,
        authcheck::check,
        templates::list, templates::create, templates::get, templates::update, templates::delete,
        workspaces::create, workspaces::list, workspaces::get, workspaces::create_build, workspaces::get_build,
        workspaces::logs, workspaces::execute,
    ),
)]
pub struct ApiDoc;

/// Every route, in one place.
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/buildinfo", get(meta::buildinfo))
        .route("/openapi.json", get(meta::openapi))
        .route("/audit", get(meta::audit))
        .route("/authcheck", post(authcheck::check))
        .route("/users/first", get(users::first_exists).post(users::create_first))
        .route("/users/login", post(users::login))
        .route("/users/logout", post(users::logout))
        .route("/users/me", get(users::me))
        .route("/users/roles", get(users::site_roles))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{user}", get(users::get))
        .route("/users/{user}/roles", put(users::update_roles))
        .route("/users/{user}/status/suspend", put(users::suspend))
        .route("/users/{user}/status/activate", put(users::activate))
        .route("/users/{user}/keys", post(users::create_key))
        .route("/organizations", get(orgs::list).post(orgs::create))
        .route("/organizations/{org}", get(orgs::get).patch(orgs::update).delete(orgs::delete))
        .route("/organizations/{org}/members", get(orgs::members))
        .route("/organizations/{org}/members/roles", get(orgs::roles))
        .route("/organizations/{org}/members/{user}", post(orgs::add_member).delete(orgs::remove_member))
        .route("/organizations/{org}/members/{user}/roles", put(orgs::update_member_roles))
        .route("/organizations/{org}/templates", get(templates::list).post(templates::create))
        .route("/organizations/{org}/members/{user}/workspaces", post(workspaces::create))
        .route("/templates/{id}", get(templates::get).patch(templates::update).delete(templates::delete))
        .route("/workspaces", get(workspaces::list))
        .route("/workspaces/{id}", get(workspaces::get))
        .route("/workspaces/{id}/builds", post(workspaces::create_build))
        .route("/workspaces/{id}/execute", post(workspaces::execute))
        .route("/workspacebuilds/{id}", get(workspaces::get_build))
        .route("/workspacebuilds/{id}/logs", get(workspaces::logs));

    Router::new()
        .route("/healthz", get(meta::healthz))
        .nest("/api/v2", v2)
        .fallback(|| async { error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "Route not found.") })
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
