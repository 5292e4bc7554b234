//! The workspace agent's own routes, and the replica-to-replica relay.
//!
//! - `GET /api/v2/workspaceagents/me/rpc`: the agent's WebSocket (see
//!   `agentry_agent::protocol`). Authenticated by an agent token only — user sessions and API
//!   keys are refused here, and agent tokens are refused on every user route (the `Auth`
//!   extractor never looks at them). The protocol version is checked before upgrading.
//! - `POST /api/v2/internal/relay/workspaces/{id}`: another replica carries one operation to the
//!   agent connected here. Authenticated by the deployment's relay secret, which only server
//!   processes (through the database) know.

use std::time::{Duration, Instant};

use agentry_agent::protocol::{AgentFrame, Op, PROTOCOL_HEADER, PROTOCOL_VERSION, VERSION_HEADER, version_mismatch};
use agentry_provisioner::agents::{AgentConn, RELAY_SECRET_HEADER, RelayAnswer};
use agentry_store::agents::AgentAuth;
use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ClientError};

/// How often the server pings an agent (and records it as seen).
const PING_EVERY: Duration = Duration::from_secs(10);
/// An agent silent for this long is gone.
const SILENT_AFTER: Duration = Duration::from_secs(35);
/// How often an open connection's token is checked for revocation.
const TOKEN_RECHECK: Duration = Duration::from_secs(5);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::trim)
}

pub async fn connect(State(s): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let theirs = headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("none");
    if theirs != PROTOCOL_VERSION.to_string() {
        return ApiError::from(ClientError::AgentProtocolMismatch { reason: version_mismatch(PROTOCOL_VERSION, theirs) }).into_response();
    }
    let auth = match bearer(&headers) {
        Some(token) => match s.store.system().authenticate_agent(token).await {
            Ok(a) => a,
            Err(e) => return ApiError::internal(e).into_response(),
        },
        None => None,
    };
    let Some(auth) = auth else {
        return ApiError::from(ClientError::AgentTokenInvalid).into_response();
    };
    let version: String = headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect();
    let mut resp = ws.on_upgrade(move |socket| async move {
        let _counted = s.provisioning.agents().socket_opened(agentry_provisioner::SocketKind::Agent);
        serve_agent(socket, s, auth, version).await
    });
    resp.headers_mut().insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    resp
}

/// Pumps one agent connection until it ends.
async fn serve_agent(socket: WebSocket, s: AppState, auth: AgentAuth, version: String) {
    let agents = s.provisioning.agents().clone();
    let (conn, mut out) = AgentConn::new(auth.workspace_id, version);
    if let Err(e) = agents.attach(conn.clone()).await {
        tracing::warn!(workspace = %auth.workspace_id, error = %e, "could not record an agent connection");
    }
    tracing::info!(workspace = %auth.workspace_id, version = %conn.version, "workspace agent connected");
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    let mut heard = Instant::now();
    let reason = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    heard = Instant::now();
                    match serde_json::from_str::<AgentFrame>(text.as_str()) {
                        Ok(frame) => conn.deliver(frame),
                        Err(e) => tracing::warn!(workspace = %auth.workspace_id, error = %e, "unreadable agent frame"),
                    }
                }
                Some(Ok(Message::Close(_))) | None => break "the agent closed the connection",
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(_)) => break "the connection failed",
            },
            Some(frame) = out.recv() => {
                let text = serde_json::to_string(&frame).expect("frames serialize");
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break "the connection failed";
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_AFTER {
                    break "the agent stopped answering";
                }
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break "the connection failed";
                }
                let _ = s.store.system().agent_seen(conn.connection_id).await;
            }
            _ = recheck.tick() => {
                if matches!(s.store.system().agent_token_live(auth.token_id).await, Ok(false)) {
                    let _ = sink.send(Message::Close(None)).await;
                    break "the agent token was revoked";
                }
            }
            _ = conn.closed() => {
                let _ = sink.send(Message::Close(None)).await;
                break "the server closed the connection";
            }
        }
    };
    tracing::info!(workspace = %auth.workspace_id, reason, "workspace agent disconnected");
    agents.detach(&conn).await;
}

/// Constant-time comparison, so timing does not reveal how much of the secret matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn relay(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(op): Json<Op>,
) -> Result<Json<RelayAnswer>, ApiError> {
    let agents = s.provisioning.agents();
    let secret = agents.relay_secret().await.map_err(ApiError::internal)?;
    let given = headers.get(RELAY_SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if !same(given, secret.as_bytes()) {
        return Err(ApiError::unauthorized());
    }
    let Some(conn) = agents.local(id) else {
        return Ok(Json(RelayAnswer {
            ok: None,
            error: Some("the agent is no longer connected to the server it was on".into()),
            disconnected: true,
        }));
    };
    let result = conn.call_streaming(op, None).await;
    Ok(Json(RelayAnswer::of(result)))
}
