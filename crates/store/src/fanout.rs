//! How live chat events ([`crate::parts`]) travel between server processes.
//!
//! [`Parts`](crate::parts::Parts) keeps everything local (subscriber queues, snapshot buffers)
//! and hands the rest to a [`Transport`]:
//!
//! - [`Postgres`] (the default, nothing to run): batched `pg_notify` on one channel that every
//!   process LISTENs to, so every process receives every chat's events while it has peers.
//! - [`Nats`] (`--pubsub nats://…`): one subject per chat (`agentry.parts.<chat>`). A process
//!   subscribes to a chat's subject when its first local stream of that chat appears and
//!   unsubscribes when the last one goes, so it receives only the chats its clients watch. A
//!   stream that starts watching mid-step asks the process running the step for the parts so far
//!   (`agentry.snap.<chat>`, request/reply), since its own process received none of them.
//!
//! Either way these events are re-derivable: a step's persisted message (read from PostgreSQL,
//! announced by the change hints in [`crate::pubsub`], which stay on PostgreSQL because they are
//! sent inside the writing transaction) supersedes its parts, so a lost event costs a client
//! latency until the step ends, never data.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::parts::{Envelope, LiveEvent, pack};
use crate::{Result, Store};

/// Which transport to use; parsed from `--pubsub` / `AGENTRY_PUBSUB`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PubSub {
    /// `pg_notify` through the database every process already uses.
    #[default]
    Postgres,
    /// A NATS server (`nats://host:port`, several separated by commas).
    Nats(String),
}

impl std::str::FromStr for PubSub {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<PubSub, String> {
        let s = s.trim();
        if s.is_empty() || s == "postgres" {
            Ok(PubSub::Postgres)
        } else if s.starts_with("nats://") || s.starts_with("tls://") {
            Ok(PubSub::Nats(s.to_string()))
        } else {
            Err("expected `postgres` or a nats://host:port URL".into())
        }
    }
}

/// What a transport delivers to this process's hub.
pub(crate) enum Incoming {
    /// Another process's events.
    Events(Vec<LiveEvent>),
    /// Another process asks for the buffered parts of a chat this process is running.
    Snapshot(Uuid, oneshot::Sender<Vec<LiveEvent>>),
}

/// Moves live events between processes. Calls from the hub never block: interest changes are
/// queued to the transport's own tasks.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Hands a batch of this process's events to the others; resolves once they were sent.
    fn send(&self, events: Vec<LiveEvent>) -> BoxFuture<'_, ()>;
    /// Whether sending reaches anybody (otherwise the hub does not queue events at all).
    fn forwards(&self) -> bool;
    /// The first local stream of `chat` appeared (`true`) or the last one went (`false`).
    fn watch(&self, _chat: Uuid, _on: bool) {}
    /// This process started (`true`) or ended (`false`) a step of `chat` whose parts it buffers.
    fn serve(&self, _chat: Uuid, _on: bool) {}
    /// The parts of `chat`'s step in flight from the process running it, when only that process
    /// has them; `None` when the local buffer is as good as it gets.
    fn snapshot(&self, _chat: Uuid) -> BoxFuture<'_, Option<Vec<LiveEvent>>> {
        Box::pin(async { None })
    }
}

pub(crate) async fn start(store: &Store, which: &PubSub, origin: Uuid, to_hub: mpsc::UnboundedSender<Incoming>) -> Result<Arc<dyn Transport>> {
    Ok(match which {
        PubSub::Postgres => Arc::new(Postgres::start(store, origin, to_hub).await?),
        PubSub::Nats(url) => Arc::new(Nats::start(url, origin, to_hub).await?),
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Parses another process's envelope: its events, after recording the lag metric. `None` for
/// this process's own envelopes and malformed ones.
fn receive(payload: &[u8], own_prefix: &[u8], origin: Uuid) -> Option<Envelope> {
    // This process's own envelopes may come back; skip them before parsing (`pack` always
    // starts an envelope with its origin).
    if payload.starts_with(own_prefix) {
        return None;
    }
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(env) if env.o == origin => None,
        Ok(env) => {
            if let Some(t) = env.t.filter(|_| !env.e.is_empty()) {
                // Wall clocks of two hosts: only as good as their sync.
                metrics::histogram!("agentry_notify_lag_seconds").record(now_ms().saturating_sub(t) as f64 / 1000.0);
            }
            Some(env)
        }
        Err(e) => {
            tracing::warn!(error = %e, "ignoring malformed live chat event");
            None
        }
    }
}

const PG_CHANNEL: &str = "agentry_chat_parts";
/// Largest NOTIFY payload sent (PostgreSQL's hard limit is 8,000 bytes).
pub const PG_MAX_PAYLOAD: usize = 7_900;
/// How often each process announces itself on the PostgreSQL channel.
const PRESENCE_EVERY: Duration = Duration::from_secs(2);
/// A peer not heard from for this long is gone.
const PEER_TTL_MS: u64 = 6_000;

/// Batched `pg_notify` to every process.
///
/// Why NOTIFY and not a relay connection between replicas: it needs no addressing between
/// processes and reuses the database every process already has. A payload must stay under
/// 8,000 bytes, so events are packed into envelopes of at most [`PG_MAX_PAYLOAD`] bytes. One
/// statement sends everything queued since the last one. Every process receives every event,
/// and PostgreSQL's one notification queue carries the deployment's whole token rate.
///
/// Forwarding costs a trip through PostgreSQL per batch, which a lone server would pay for
/// nobody. Each process therefore announces itself every couple of seconds and forwards only
/// while it has heard from another process recently ([`Transport::forwards`]). A replica that
/// has just started may miss the deltas of steps already streaming for a moment; their
/// persisted messages reach it as usual.
struct Postgres {
    pool: sqlx::PgPool,
    origin: Uuid,
    /// When another server process was last heard from (unix ms; 0 = never).
    peer_seen_ms: Arc<AtomicU64>,
}

impl Postgres {
    async fn start(store: &Store, origin: Uuid, to_hub: mpsc::UnboundedSender<Incoming>) -> Result<Postgres> {
        let mut listener = PgListener::connect_with(&store.pool).await?;
        listener.listen(PG_CHANNEL).await?;
        let peer_seen_ms = Arc::new(AtomicU64::new(0));
        let seen = peer_seen_ms.clone();
        let own_prefix = format!("{{\"o\":\"{origin}\"");
        let pool = store.pool.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(env) = receive(n.payload().as_bytes(), own_prefix.as_bytes(), origin) {
                            seen.store(now_ms(), Ordering::Relaxed);
                            if !env.e.is_empty() && to_hub.send(Incoming::Events(env.e)).is_err() {
                                return;
                            }
                        }
                    }
                    // The connection was lost (sqlx reconnects on the next call), and with it
                    // the notifications sent meanwhile, presence included.
                    Ok(None) => keep_peers(&seen),
                    Err(e) => {
                        if pool.is_closed() {
                            return;
                        }
                        keep_peers(&seen);
                        tracing::warn!(error = %e, "live chat event listener failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        // Presence: an empty envelope now and every few seconds, so other processes know to
        // forward their events here.
        let pool = store.pool.clone();
        let hello = format!("{{\"o\":\"{origin}\",\"e\":[]}}");
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRESENCE_EVERY);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    return;
                }
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(PG_CHANNEL).bind(&hello).execute(&pool).await {
                    tracing::debug!(error = %e, "announcing this process to the live channel failed");
                }
            }
        });
        Ok(Postgres { pool: store.pool.clone(), origin, peer_seen_ms })
    }
}

/// While the listener is cut off from PostgreSQL, nothing is heard from the peers, presence
/// included, so silence says nothing about whether they left: a process that had a peer before
/// keeps forwarding to it through the outage and for a whole [`PEER_TTL_MS`] after it, time
/// for the peer's next announcement. (Before, a restart of PostgreSQL longer than the TTL made
/// a replica drop the live parts it sent right after reconnecting, until the peer's next
/// announcement arrived.) A process that never heard a peer stays alone.
fn keep_peers(seen: &AtomicU64) {
    if now_ms().saturating_sub(seen.load(Ordering::Relaxed)) < PEER_TTL_MS {
        seen.store(now_ms(), Ordering::Relaxed);
    }
}

impl Transport for Postgres {
    fn send(&self, events: Vec<LiveEvent>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let payloads = pack(self.origin, events, PG_MAX_PAYLOAD);
            if payloads.is_empty() {
                return;
            }
            if let Err(e) = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n")
                .bind(PG_CHANNEL)
                .bind(&payloads)
                .execute(&self.pool)
                .await
                && !self.pool.is_closed()
            {
                tracing::warn!(error = %e, "forwarding live chat events failed; remote streams miss them");
            }
        })
    }

    fn forwards(&self) -> bool {
        now_ms().saturating_sub(self.peer_seen_ms.load(Ordering::Relaxed)) < PEER_TTL_MS
    }
}

/// Largest envelope published to NATS (its default `max_payload` is 1 MiB).
const NATS_MAX_PAYLOAD: usize = 64 * 1024;
/// How long a stream waits for the running process's snapshot before using what it has.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

fn parts_subject(chat: Uuid) -> String {
    format!("agentry.parts.{}", chat.simple())
}

fn snap_subject(chat: Uuid) -> String {
    format!("agentry.snap.{}", chat.simple())
}

enum Interest {
    Watch(Uuid, bool),
    Serve(Uuid, bool),
    /// Queued after the chat's `Watch`, so the request leaves after the subscription.
    Snapshot(Uuid, oneshot::Sender<Option<Vec<LiveEvent>>>),
    /// Answered once everything queued before it was handed to the client.
    Barrier(oneshot::Sender<()>),
}

/// Per-chat subjects on a NATS server.
///
/// async-nats reconnects by itself and re-sends this client's subscriptions after a reconnect;
/// events published while the connection was down are lost (see the module docs for why that
/// costs latency only).
struct Nats {
    client: async_nats::Client,
    origin: Uuid,
    interest: mpsc::UnboundedSender<Interest>,
}

impl Nats {
    async fn start(url: &str, origin: Uuid, to_hub: mpsc::UnboundedSender<Incoming>) -> Result<Nats> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("agentry-{origin}"))
            .no_echo()
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting (live parts are missed meanwhile)"),
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            })
            .connect(url)
            .await
            .map_err(|e| crate::StoreError::PubSub(format!("connecting to NATS at {url}: {e}")))?;
        let (interest, mut rx) = mpsc::unbounded_channel::<Interest>();
        let c = client.clone();
        tokio::spawn(async move {
            let mut watching: HashMap<Uuid, oneshot::Sender<oneshot::Sender<()>>> = HashMap::new();
            let mut serving: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
            let own_prefix = format!("{{\"o\":\"{origin}\"");
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Interest::Watch(chat, true) => {
                        if watching.contains_key(&chat) {
                            continue;
                        }
                        let mut sub = match c.subscribe(parts_subject(chat)).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(error = %e, %chat, "subscribing to a chat's live parts failed");
                                continue;
                            }
                        };
                        let to_hub = to_hub.clone();
                        let own_prefix = own_prefix.clone();
                        let (stop, mut stopped) = oneshot::channel::<oneshot::Sender<()>>();
                        watching.insert(chat, stop);
                        tokio::spawn(async move {
                            loop {
                                tokio::select! {
                                    m = sub.next() => {
                                        let Some(m) = m else { return };
                                        if let Some(env) = receive(&m.payload, own_prefix.as_bytes(), origin)
                                            && to_hub.send(Incoming::Events(env.e)).is_err()
                                        {
                                            return;
                                        }
                                    }
                                    done = &mut stopped => {
                                        // Explicitly, so the UNSUB is queued before whatever
                                        // this process asks the server next.
                                        let _ = sub.unsubscribe().await;
                                        if let Ok(done) = done {
                                            let _ = done.send(());
                                        }
                                        return;
                                    }
                                }
                            }
                        });
                    }
                    Interest::Watch(chat, false) => {
                        if let Some(stop) = watching.remove(&chat) {
                            let (done, unsubscribed) = oneshot::channel();
                            if stop.send(done).is_ok() {
                                let _ = unsubscribed.await;
                            }
                        }
                    }
                    Interest::Serve(chat, true) => {
                        if serving.contains_key(&chat) {
                            continue;
                        }
                        let mut sub = match c.subscribe(snap_subject(chat)).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(error = %e, %chat, "offering a chat's snapshot failed");
                                continue;
                            }
                        };
                        let (to_hub, c) = (to_hub.clone(), c.clone());
                        serving.insert(
                            chat,
                            tokio::spawn(async move {
                                while let Some(m) = sub.next().await {
                                    let Some(reply) = m.reply else { continue };
                                    let (tx, rx) = oneshot::channel();
                                    if to_hub.send(Incoming::Snapshot(chat, tx)).is_err() {
                                        return;
                                    }
                                    let events = rx.await.unwrap_or_default();
                                    let limit = c.server_info().max_payload.max(NATS_MAX_PAYLOAD);
                                    let payload = snapshot_payload(origin, events, limit);
                                    if let Err(e) = c.publish(reply, payload.into()).await {
                                        tracing::debug!(error = %e, "answering a snapshot request failed");
                                    }
                                }
                            }),
                        );
                    }
                    Interest::Serve(chat, false) => {
                        if let Some(t) = serving.remove(&chat) {
                            t.abort();
                        }
                    }
                    Interest::Barrier(done) => {
                        let _ = done.send(());
                    }
                    Interest::Snapshot(chat, answer) => {
                        let c = c.clone();
                        let own_prefix = own_prefix.clone();
                        tokio::spawn(async move {
                            let got = tokio::time::timeout(SNAPSHOT_WAIT, c.request(snap_subject(chat), bytes::Bytes::new())).await;
                            let events = match got {
                                Ok(Ok(m)) => receive(&m.payload, own_prefix.as_bytes(), origin).map(|env| env.e),
                                // No process runs a step of this chat, or it did not answer in time.
                                _ => None,
                            };
                            let _ = answer.send(events);
                        });
                    }
                }
            }
        });
        Ok(Nats { client, origin, interest })
    }
}

/// A snapshot answer: one envelope of at most `limit` bytes, with the step's earliest parts
/// when they do not all fit (the rest arrive with the persisted message).
fn snapshot_payload(origin: Uuid, events: Vec<LiveEvent>, limit: usize) -> String {
    let budget = limit.saturating_sub(200);
    let mut pieces = Vec::new();
    let mut size = 0;
    for e in events {
        let s = serde_json::to_string(&e).expect("event serializes");
        if size + s.len() + 1 > budget {
            break;
        }
        size += s.len() + 1;
        pieces.push(s);
    }
    format!("{{\"o\":\"{origin}\",\"e\":[{}]}}", pieces.join(","))
}

impl Transport for Nats {
    fn send(&self, events: Vec<LiveEvent>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The snapshot subscriptions of steps these events start go to the server first,
            // so a stream that connects right after sees them.
            let (tx, rx) = oneshot::channel();
            if self.interest.send(Interest::Barrier(tx)).is_ok() {
                let _ = tokio::time::timeout(SNAPSHOT_WAIT, rx).await;
            }
            // One envelope (or a few, for large events) per chat in the batch, in order.
            let mut by_chat: Vec<(Uuid, Vec<LiveEvent>)> = Vec::new();
            let mut index: HashMap<Uuid, usize> = HashMap::new();
            for e in events {
                let i = *index.entry(e.chat_id).or_insert_with(|| {
                    by_chat.push((e.chat_id, Vec::new()));
                    by_chat.len() - 1
                });
                by_chat[i].1.push(e);
            }
            for (chat, events) in by_chat {
                let subject = parts_subject(chat);
                for payload in pack(self.origin, events, NATS_MAX_PAYLOAD) {
                    if let Err(e) = self.client.publish(subject.clone(), payload.into()).await {
                        tracing::warn!(error = %e, "publishing live chat events to NATS failed; remote streams miss them");
                    }
                }
            }
            if let Err(e) = self.client.flush().await {
                tracing::debug!(error = %e, "flushing to NATS failed");
            }
        })
    }

    fn forwards(&self) -> bool {
        // The server drops what nobody subscribed to; there is no peer bookkeeping to do.
        true
    }

    fn watch(&self, chat: Uuid, on: bool) {
        let _ = self.interest.send(Interest::Watch(chat, on));
    }

    fn serve(&self, chat: Uuid, on: bool) {
        let _ = self.interest.send(Interest::Serve(chat, on));
    }

    fn snapshot(&self, chat: Uuid) -> BoxFuture<'_, Option<Vec<LiveEvent>>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.interest.send(Interest::Snapshot(chat, tx)).ok()?;
            // Bounded also when the interest task waits on a connection that is down.
            tokio::time::timeout(SNAPSHOT_WAIT * 2, rx).await.ok()?.ok().flatten()
        })
    }
}

/// A real `nats-server` for tests and benchmarks: started on a random port, killed on drop.
///
/// The port is chosen by nats-server itself (`-p -1`) and read from the ports file it writes
/// (`--ports_file_dir`), not picked by binding `127.0.0.1:0` and releasing it: that would leave
/// a window in which another test could take the port. Set `NATS_SERVER` to use a binary other
/// than `nats-server` on the `PATH` (or `/usr/sbin/nats-server`, where Debian puts it).
pub struct NatsServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile_dir::Dir,
}

impl NatsServer {
    /// Starts one and waits (at most 30 s) until it listens.
    pub fn start() -> NatsServer {
        let bin = std::env::var("NATS_SERVER").ok().unwrap_or_else(|| {
            if std::path::Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server".into() } else { "nats-server".into() }
        });
        let dir = tempfile_dir::Dir::new();
        let child = std::process::Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin} (Debian package nats-server): {e}"));
        let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let url = loop {
            #[derive(serde::Deserialize)]
            struct Ports {
                nats: Vec<String>,
            }
            if let Some(url) = std::fs::read(&ports).ok().and_then(|b| serde_json::from_slice::<Ports>(&b).ok()).and_then(|p| p.nats.into_iter().next()) {
                break url;
            }
            assert!(std::time::Instant::now() < deadline, "nats-server did not write its ports file within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer { child, url, _dir: dir }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The transport setting that uses this server.
    pub fn pubsub(&self) -> PubSub {
        PubSub::Nats(self.url.clone())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private temporary directory, removed on drop (the store has no `tempfile` dependency).
mod tempfile_dir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("agentry-nats-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir(&p).expect("temporary directory");
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
