//! Prometheus metrics at `/metrics` (issue 16), served only when the server runs with
//! `--metrics` (`Config::metrics`), and then only to site owners and site auditors (a session
//! or an API token; the deployment read permission), so they are never public. Without the
//! flag the route is a plain `404 route_not_found`.
//!
//! The `metrics` facade records; `metrics-exporter-prometheus`'s recorder (no HTTP listener of
//! its own) is installed process-wide the first time a server with the flag starts, and the
//! scrape renders its handle. Metrics are per process: scrape every replica.
//!
//! | metric | type | labels | where |
//! |---|---|---|---|
//! | `agentry_http_request_duration_seconds` | histogram | `method`, `route` (the route template), `status` (`2xx`…) | [`track`] |
//! | `agentry_chats` | gauge | `status` | counted in the database at scrape time (one grouped query) |
//! | `agentry_open_sockets` | gauge | `kind` (`stream`, `watch`, `agent`) | this process, at scrape time |
//! | `agentry_tokens_streamed_total` | counter | `kind` (`text`, `reasoning`) | chatd, one per delta published |
//! | `agentry_provider_errors_total` | counter | `provider`, `kind` (`retried`, `failed`) | chatd |
//! | `agentry_chat_claim_seconds` | histogram | — | chatd: pending (`updated_at`) → claimed (`started_at`) |
//! | `agentry_notify_lag_seconds` | histogram | — | live parts from another process: its `pg_notify` → received here (wall clocks) |

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

/// Latency buckets (seconds) of the HTTP and claim histograms.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Chat statuses, so a status with no chats reads 0 rather than its last value.
const CHAT_STATUSES: &[&str] = &["waiting", "pending", "running", "requires_action", "error"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls reuse it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .expect("the buckets are not empty");
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the metrics recorder could not be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The HELP lines.
fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        "agentry_http_request_duration_seconds",
        Unit::Seconds,
        "API request latency by route template and status class"
    );
    metrics::describe_gauge!("agentry_chats", "Chats by status, deployment-wide, counted at scrape time");
    metrics::describe_gauge!("agentry_open_sockets", "WebSockets this process holds, by kind");
    metrics::describe_counter!("agentry_tokens_streamed_total", "Text and reasoning deltas streamed from providers by this process");
    metrics::describe_counter!("agentry_provider_errors_total", "Provider errors by provider: retried, or failing the step");
    metrics::describe_histogram!(
        "agentry_notify_lag_seconds",
        Unit::Seconds,
        "Live chat parts from other processes: sent through pg_notify to received here"
    );
    metrics::describe_histogram!("agentry_chat_claim_seconds", Unit::Seconds, "Time from a chat becoming pending to its claim");
}

/// Records each matched request's latency by route template and status class.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let status = match resp.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!("agentry_http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`: the Prometheus text exposition (see the module docs).
pub async fn scrape(State(s): State<AppState>, auth: Result<Auth, ApiError>) -> ApiResult<Response> {
    if !s.config.metrics {
        return Err(crate::error::ClientError::RouteNotFound.into());
    }
    let auth = auth?;
    let actor = s.store.actor(&auth.subject);
    actor.may_read_deployment()?;
    let handle = install().ok_or_else(|| ApiError::internal("no metrics recorder"))?;
    for st in CHAT_STATUSES {
        metrics::gauge!("agentry_chats", "status" => *st).set(0.0);
    }
    for (status, n) in actor.chats_by_status().await? {
        metrics::gauge!("agentry_chats", "status" => status).set(n as f64);
    }
    let sockets = s.provisioning.agents().socket_counts();
    for (kind, n) in [("stream", sockets.stream), ("watch", sockets.watch), ("agent", sockets.agent)] {
        metrics::gauge!("agentry_open_sockets", "kind" => kind).set(f64::from(n));
    }
    handle.run_upkeep();
    let mut resp = handle.render().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(resp)
}
