//! Where workspace agents are: the connections this replica holds, and relays to the replica
//! holding the others.
//!
//! An agent process dials in to any replica and keeps one WebSocket there (the API's agent
//! route pumps its frames into an [`AgentConn`]). [`Agents`] is this replica's registry: it
//! records each connection in the database (`workspace_agents`) so other replicas can find it,
//! and [`Agents::get`] hands callers (chat tools, the API) a [`WorkspaceAgent`] for any
//! workspace — the connection itself when it is here, otherwise a [`RelayConn`] that carries
//! each operation over authenticated HTTP to the replica that holds it.
//!
//! **Invariant:** an operation never hangs on a connection that is gone: when a connection
//! closes every call in flight on it fails with [`AgentError::Disconnected`] (retryable), and a
//! relayed call whose replica dies fails the same way as soon as its HTTP connection breaks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_agent::protocol::{AgentFrame, CallOp, Op, OpClient, ServerFrame};
use agentry_agent::{AgentError, WorkspaceAgent};
use agentry_store::Store;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

/// How often this replica heartbeats its `replicas` row.
pub const REPLICA_HEARTBEAT: Duration = Duration::from_secs(3);

/// The kinds of WebSocket a process counts for `GET /api/v2/replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A chat's event stream.
    Stream = 0,
    /// A user's watch socket (change hints).
    Watch = 1,
    /// A workspace agent's connection.
    Agent = 2,
}

/// One open WebSocket, counted until dropped (see [`Agents::socket_opened`]).
pub struct SocketGuard {
    agents: Arc<Agents>,
    kind: SocketKind,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.agents.sockets[self.kind as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The header a replica presents its relay secret in.
pub const RELAY_SECRET_HEADER: &str = "agentry-relay-secret";

/// The relay route on every replica, with the workspace id appended.
pub const RELAY_PATH: &str = "/api/v2/internal/relay/workspaces/";

struct Pending {
    reply: oneshot::Sender<Result<serde_json::Value, AgentError>>,
    lines: Option<mpsc::UnboundedSender<String>>,
}

/// One agent's open connection to this replica.
pub struct AgentConn {
    pub connection_id: Uuid,
    pub workspace_id: Uuid,
    /// The agent's release version, as it announced it.
    pub version: String,
    out: mpsc::UnboundedSender<ServerFrame>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    closed_notify: Notify,
}

impl AgentConn {
    /// A connection whose outgoing frames the caller sends from the returned receiver.
    pub fn new(workspace_id: Uuid, version: String) -> (Arc<AgentConn>, mpsc::UnboundedReceiver<ServerFrame>) {
        let (out, rx) = mpsc::unbounded_channel();
        let conn = AgentConn {
            connection_id: Uuid::now_v7(),
            workspace_id,
            version,
            out,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
        };
        (Arc::new(conn), rx)
    }

    /// A frame the agent sent.
    pub fn deliver(&self, frame: AgentFrame) {
        let mut pending = self.pending.lock().expect("pending lock");
        match frame {
            AgentFrame::Line { id, line } => {
                if let Some(tx) = pending.get(&id).and_then(|p| p.lines.as_ref()) {
                    let _ = tx.send(line);
                }
            }
            AgentFrame::Ok { id, value } => {
                if let Some(p) = pending.remove(&id) {
                    let _ = p.reply.send(Ok(value));
                }
            }
            AgentFrame::Err { id, message } => {
                if let Some(p) = pending.remove(&id) {
                    let _ = p.reply.send(Err(AgentError::Remote { message }));
                }
            }
        }
    }

    /// The connection is gone: every call in flight fails with a retryable error.
    pub fn close(&self, detail: &str) {
        self.closed.store(true, Ordering::Release);
        let drained: Vec<Pending> = self.pending.lock().expect("pending lock").drain().map(|(_, p)| p).collect();
        for p in drained {
            let _ = p.reply.send(Err(AgentError::disconnected(detail)));
        }
        self.closed_notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once [`close`](Self::close) was called.
    pub async fn closed(&self) {
        let notified = self.closed_notify.notified();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    /// Calls `op`, passing the lines it streams (a startup script's output) to `lines`.
    pub async fn call_streaming(
        &self,
        op: Op,
        lines: Option<mpsc::UnboundedSender<String>>,
    ) -> Result<serde_json::Value, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().expect("pending lock");
            // Checked under the lock `close` drains, so no call slips in after it.
            if self.is_closed() {
                return Err(AgentError::disconnected("the agent's connection closed"));
            }
            pending.insert(id, Pending { reply, lines });
        }
        // If the caller gives up (its future is dropped), the agent is told to drop the work.
        let mut guard = CancelOnDrop { conn: self, id, armed: true };
        if self.out.send(ServerFrame::Call { id, op }).is_err() {
            self.pending.lock().expect("pending lock").remove(&id);
            guard.armed = false;
            return Err(AgentError::disconnected("the agent's connection closed"));
        }
        let result = rx.await.unwrap_or_else(|_| Err(AgentError::disconnected("the agent's connection closed")));
        guard.armed = false;
        result
    }
}

struct CancelOnDrop<'a> {
    conn: &'a AgentConn,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed && self.conn.pending.lock().expect("pending lock").remove(&self.id).is_some() {
            let _ = self.conn.out.send(ServerFrame::Cancel { id: self.id });
        }
    }
}

/// An [`AgentConn`] shared behind an `Arc`, as a [`CallOp`].
pub struct Local(pub Arc<AgentConn>);

#[async_trait]
impl CallOp for Local {
    async fn call(&self, op: Op) -> Result<serde_json::Value, AgentError> {
        self.0.call_streaming(op, None).await
    }
}

/// What a relay call answers: `ok` with the operation's value, or `error` with the agent's
/// message (`disconnected` when the agent is not connected to the relaying replica).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub disconnected: bool,
}

impl RelayAnswer {
    pub fn of(result: Result<serde_json::Value, AgentError>) -> RelayAnswer {
        match result {
            Ok(v) => RelayAnswer { ok: Some(v), error: None, disconnected: false },
            Err(AgentError::Disconnected { detail }) => RelayAnswer { ok: None, error: Some(detail), disconnected: true },
            Err(e) => RelayAnswer { ok: None, error: Some(e.to_string()), disconnected: false },
        }
    }
}

/// How long a relayed operation may take before the relaying replica is given up on (it hangs
/// rather than dies): the operation's own wait, plus a margin.
fn relay_deadline(op: &Op) -> Duration {
    const MARGIN: Duration = Duration::from_secs(60);
    match op {
        Op::Execute(req) if !req.run_in_background => req.timeout.saturating_add(MARGIN),
        Op::ProcessOutput { wait_ms, .. } => Duration::from_millis(*wait_ms).saturating_add(MARGIN),
        Op::RunScript { .. } => Duration::from_secs(24 * 3600),
        _ => MARGIN * 2,
    }
}

/// Operations relayed over HTTP to the replica holding the agent's connection.
pub struct RelayConn {
    http: reqwest::Client,
    url: String,
    secret: String,
    replica_id: Uuid,
}

#[async_trait]
impl CallOp for RelayConn {
    async fn call(&self, op: Op) -> Result<serde_json::Value, AgentError> {
        let gone = |e: &dyn std::fmt::Display| {
            AgentError::disconnected(format!(
                "the server holding the agent's connection (replica {}) did not answer ({e})",
                self.replica_id
            ))
        };
        let resp = self
            .http
            .post(&self.url)
            .header(RELAY_SECRET_HEADER, &self.secret)
            .timeout(relay_deadline(&op))
            .json(&op)
            .send()
            .await
            .map_err(|e| gone(&e))?;
        if !resp.status().is_success() {
            return Err(gone(&resp.status()));
        }
        let answer: RelayAnswer = resp.json().await.map_err(|e| gone(&e))?;
        match answer {
            RelayAnswer { ok: Some(v), .. } => Ok(v),
            RelayAnswer { error: Some(detail), disconnected: true, .. } => Err(AgentError::disconnected(detail)),
            RelayAnswer { error: Some(message), .. } => Err(AgentError::Remote { message }),
            _ => Err(gone(&"an empty answer")),
        }
    }
}

/// This replica's registry of agent connections (see the module docs).
pub struct Agents {
    replica_id: Uuid,
    /// WebSockets this process holds, by [`SocketKind`]; written into the `replicas` row by
    /// every heartbeat.
    sockets: [AtomicI32; 3],
    store: Store,
    http: reqwest::Client,
    secret: tokio::sync::OnceCell<String>,
    conns: Mutex<HashMap<Uuid, Arc<AgentConn>>>,
    changed: Notify,
}

impl Agents {
    pub fn new(store: Store) -> Arc<Agents> {
        // One TLS stack for the whole binary: rustls with ring. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client without TLS builds");
        Arc::new(Agents {
            replica_id: Uuid::now_v7(),
            sockets: Default::default(),
            store,
            http,
            secret: tokio::sync::OnceCell::new(),
            conns: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    /// This server process's id in the `replicas` table.
    pub fn replica_id(&self) -> Uuid {
        self.replica_id
    }

    /// Counts one open WebSocket of `kind` until the guard drops.
    pub fn socket_opened(self: &Arc<Self>, kind: SocketKind) -> SocketGuard {
        self.sockets[kind as usize].fetch_add(1, Ordering::Relaxed);
        SocketGuard { agents: Arc::clone(self), kind }
    }

    /// The WebSockets this process holds now.
    pub fn socket_counts(&self) -> agentry_store::replicas::SocketCounts {
        let n = |k: SocketKind| self.sockets[k as usize].load(Ordering::Relaxed);
        agentry_store::replicas::SocketCounts {
            stream: n(SocketKind::Stream),
            watch: n(SocketKind::Watch),
            agent: n(SocketKind::Agent),
        }
    }

    /// The secret replicas present to each other on relay calls.
    pub async fn relay_secret(&self) -> Result<&str, AgentError> {
        self.secret
            .get_or_try_init(|| async { self.store.system().relay_secret().await })
            .await
            .map(String::as_str)
            .map_err(|e| AgentError::disconnected(format!("the relay secret could not be read ({e})")))
    }

    /// Registers a new connection, closing an older one of the same workspace here, and
    /// records it in the database.
    pub async fn attach(&self, conn: Arc<AgentConn>) -> Result<(), agentry_store::StoreError> {
        let old = self.conns.lock().expect("agents lock").insert(conn.workspace_id, Arc::clone(&conn));
        if let Some(old) = old {
            old.close("the agent connected again");
        }
        self.changed.notify_waiters();
        self.store
            .system()
            .agent_connected(conn.workspace_id, conn.connection_id, self.replica_id, &conn.version)
            .await
    }

    /// A connection ended.
    pub async fn detach(&self, conn: &Arc<AgentConn>) {
        conn.close("the agent's connection closed");
        {
            let mut conns = self.conns.lock().expect("agents lock");
            if conns.get(&conn.workspace_id).is_some_and(|c| Arc::ptr_eq(c, conn)) {
                conns.remove(&conn.workspace_id);
            }
        }
        if let Err(e) = self.store.system().agent_disconnected(conn.connection_id).await {
            tracing::warn!(workspace = %conn.workspace_id, error = %e, "could not record an agent disconnect");
        }
    }

    /// The workspace's connection, if it is on this replica.
    pub fn local(&self, workspace_id: Uuid) -> Option<Arc<AgentConn>> {
        self.conns.lock().expect("agents lock").get(&workspace_id).filter(|c| !c.is_closed()).cloned()
    }

    /// Waits up to `timeout` for the workspace's agent to connect here.
    pub async fn wait_local(&self, workspace_id: Uuid, timeout: Duration) -> Option<Arc<AgentConn>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if let Some(c) = self.local(workspace_id) {
                return Some(c);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    /// Closes the workspace's connection here, if any (its workspace stopped).
    pub fn drop_local(&self, workspace_id: Uuid) {
        if let Some(c) = self.conns.lock().expect("agents lock").remove(&workspace_id) {
            c.close("the workspace stopped");
        }
    }

    /// The workspace's agent wherever it is connected: here, or through the replica that holds
    /// its connection. `Disconnected` when no live replica holds one.
    pub async fn get(&self, workspace_id: Uuid) -> Result<Arc<dyn WorkspaceAgent>, AgentError> {
        if let Some(c) = self.local(workspace_id) {
            return Ok(Arc::new(OpClient(Local(c))));
        }
        match self.relay_for(workspace_id).await? {
            Some(relay) => Ok(Arc::new(OpClient(relay))),
            None => Err(AgentError::disconnected("no server has a connection from the workspace's agent")),
        }
    }

    /// Carries one operation to the workspace's agent, wherever it is connected.
    pub async fn call(&self, workspace_id: Uuid, op: Op) -> Result<serde_json::Value, AgentError> {
        if let Some(c) = self.local(workspace_id) {
            return c.call_streaming(op, None).await;
        }
        match self.relay_for(workspace_id).await? {
            Some(relay) => relay.call(op).await,
            None => Err(AgentError::disconnected("no server has a connection from the workspace's agent")),
        }
    }

    /// The connected agent's version, if the workspace's agent is connected to a live replica.
    pub async fn connected_version(&self, workspace_id: Uuid) -> Option<String> {
        if let Some(c) = self.local(workspace_id) {
            return Some(c.version.clone());
        }
        let sys = self.store.system();
        sys.agent_route(workspace_id).await.ok().flatten()?;
        let states = sys.agent_versions(&[workspace_id]).await.ok()?;
        states.into_iter().next().map(|(_, v)| v)
    }

    async fn relay_for(&self, workspace_id: Uuid) -> Result<Option<RelayConn>, AgentError> {
        let route = self
            .store
            .system()
            .agent_route(workspace_id)
            .await
            .map_err(|e| AgentError::disconnected(format!("its location could not be looked up ({e})")))?;
        match route {
            Some(r) if r.replica_id != self.replica_id => {
                let secret = self.relay_secret().await?.to_string();
                let url = format!("{}{RELAY_PATH}{workspace_id}", r.relay_address.trim_end_matches('/'));
                Ok(Some(RelayConn { http: self.http.clone(), url, secret, replica_id: r.replica_id }))
            }
            _ => Ok(None),
        }
    }

    /// Registers this replica (with no relay address yet; [`run_heartbeat`](Self::run_heartbeat)
    /// sets it).
    pub async fn register(&self) -> Result<(), agentry_store::StoreError> {
        self.store.system().register_replica(self.replica_id, "", &hostname(), env!("CARGO_PKG_VERSION")).await
    }

    /// Keeps this replica's row fresh, with the address other replicas relay to; runs until
    /// aborted.
    pub async fn run_heartbeat(self: Arc<Self>, relay_address: String) {
        let sys = self.store.system();
        let host = hostname();
        loop {
            // A row lost to a long pause (or removed by a peer's clean-up) is written again.
            if let Err(e) = sys.register_replica(self.replica_id, &relay_address, &host, env!("CARGO_PKG_VERSION")).await {
                tracing::warn!(error = %e, "replica heartbeat failed");
            } else if let Err(e) = sys.heartbeat_replica_stats(self.replica_id, self.socket_counts()).await {
                tracing::warn!(error = %e, "recording this replica's socket counts failed");
            }
            tokio::time::sleep(REPLICA_HEARTBEAT).await;
        }
    }

    /// A clean shutdown: closes the connections here and removes this replica's row.
    pub async fn deregister(&self) {
        let conns: Vec<Arc<AgentConn>> = self.conns.lock().expect("agents lock").drain().map(|(_, c)| c).collect();
        for c in conns {
            c.close("the server holding the agent's connection shut down");
        }
        if let Err(e) = self.store.system().remove_replica(self.replica_id).await {
            tracing::warn!(error = %e, "could not remove this replica's row");
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_multiplexed_cancelled_when_dropped_and_failed_when_the_connection_closes() {
        let (conn, mut out) = AgentConn::new(Uuid::now_v7(), "test".into());

        // A caller that gives up tells the agent to drop the work.
        let gave_up = tokio::time::timeout(Duration::from_millis(50), conn.call_streaming(Op::ProcessList, None)).await;
        assert!(gave_up.is_err());
        assert!(matches!(out.recv().await, Some(ServerFrame::Call { id: 1, op: Op::ProcessList })));
        assert_eq!(out.recv().await, Some(ServerFrame::Cancel { id: 1 }));

        // Two calls in flight; answers are matched by id, in any order.
        let spawn = |op: Op| {
            let c = Arc::clone(&conn);
            tokio::spawn(async move { c.call_streaming(op, None).await })
        };
        let first = spawn(Op::ListDir { path: "a".into() });
        let second = spawn(Op::ListDir { path: "b".into() });
        let mut ids = HashMap::new();
        for _ in 0..2 {
            match out.recv().await {
                Some(ServerFrame::Call { id, op: Op::ListDir { path } }) => ids.insert(path, id),
                other => panic!("unexpected frame {other:?}"),
            };
        }
        conn.deliver(AgentFrame::Ok { id: ids["b"], value: serde_json::json!("for b") });
        assert_eq!(second.await.unwrap().unwrap(), serde_json::json!("for b"));

        // The connection goes away: the call still in flight fails, retryably, and so does the next.
        conn.close("the agent's connection closed");
        let e = first.await.unwrap().unwrap_err();
        assert!(e.is_retryable() && e.to_string().starts_with("workspace agent disconnected"), "{e}");
        assert!(conn.call_streaming(Op::ProcessList, None).await.unwrap_err().is_retryable());
    }
}
