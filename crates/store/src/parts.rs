//! Live, not-yet-persisted chat events: streaming message parts and provider retries.
//!
//! These never touch a table. The worker publishes them to this process's [`Parts`] hub, which
//! (1) fans them out to local subscribers (chat streams) at once, (2) keeps the parts of each
//! chat's current step in a bounded buffer so a stream that connects mid-step can start with
//! them (its snapshot), and (3) forwards them to every other server process with `pg_notify`
//! on a separate channel, so a client connected to another replica sees the same parts.
//!
//! Why NOTIFY and not a relay connection between replicas: it needs no addressing between
//! processes and reuses the connection every process already has. Its limits shape the design:
//! a payload must stay under 8,000 bytes, so events are packed into batches of at most
//! [`MAX_PAYLOAD`] bytes (a text delta that is larger on its own is split; any other part that
//! is larger is sent with its `result`/`args` replaced by a note — the full value arrives a
//! moment later as the persisted message). Forwarding is one background task per process that
//! drains everything queued since its last `pg_notify` into one statement, so a busy process
//! sends a few notifications per round trip, not one per token. [`Parts::flush`] waits until
//! everything published so far was handed to PostgreSQL, which the worker does before it
//! commits a step, so remote streams see a step's parts before its message.
//!
//! Each batch carries its send time (`t`, unix ms), from which a receiver records the
//! `agentry_notify_lag_seconds` metric (a no-op unless `/metrics` is enabled).
//!
//! Events carry a per-process sequence number (`seq`), so a stream can drop the duplicates
//! between its snapshot and the live feed it subscribed to before the snapshot.
//!
//! Forwarding costs a trip through PostgreSQL per batch, which a lone server would pay for
//! nobody. Each process therefore announces itself on the channel every couple of seconds and
//! forwards only while it has heard from another process recently ([`Parts::has_peers`]). A
//! replica that has just started may miss the deltas of steps already streaming for a moment;
//! their persisted messages reach it as usual.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use crate::{Result, Store};

const CHANNEL: &str = "agentry_chat_parts";
/// Largest NOTIFY payload this module sends (PostgreSQL's hard limit is 8,000 bytes).
pub const MAX_PAYLOAD: usize = 7_900;
/// Events a slow subscriber may fall behind by before it skips ahead (the persisted message
/// still arrives through the database). A subscriber's queue grows to this only while it is
/// behind; an idle subscription holds no event storage at all.
const PER_SUBSCRIBER_QUEUE: usize = 4_096;
/// Parts kept per chat for snapshots; the oldest are dropped beyond this.
pub const BUFFER_PER_CHAT: usize = 10_000;
/// A chat's snapshot buffer that nothing was added to for this long is dropped, even if the
/// step's end (`Clear`) never arrived: a replica that stopped forwarding to us, or a worker
/// that died mid-step on another process, must not pin its parts here forever. A stream that
/// connects later during a step paused longer than this (a long tool run) starts without the
/// step's earlier parts; the saved message brings them when the step ends.
pub const BUFFER_IDLE: std::time::Duration = std::time::Duration::from_secs(120);
/// How often idle buffers are looked for.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// What a live event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveKind {
    /// A `message_part`: body `{role, part}`.
    Part,
    /// A provider retry: body `{attempt, delay_ms, error, status}`.
    Retry,
    /// The buffered parts of this chat were persisted (or abandoned); drop them.
    Clear,
}

/// One live event for one chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub chat_id: Uuid,
    pub seq: u64,
    pub kind: LiveKind,
    #[serde(default)]
    pub body: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending process; it ignores its own notifications.
    o: Uuid,
    /// When the sender handed the batch to PostgreSQL (unix ms), for the notify-lag metric;
    /// absent in presence announcements and from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<u64>,
    e: Vec<LiveEvent>,
}

enum Outgoing {
    Event(LiveEvent),
    Flush(oneshot::Sender<()>),
}

struct Inner {
    origin: Uuid,
    seq: AtomicU64,
    /// The queues of each chat's subscribers, only for chats that have one: a stream receives
    /// only its own chat's events, so the cost of a token does not grow with the number of
    /// open streams. Events are shared (`Arc`), not copied, between subscribers and the buffer.
    channels: Mutex<HashMap<Uuid, Vec<Arc<Queue>>>>,
    buffers: Mutex<HashMap<Uuid, Buffer>>,
    out: mpsc::UnboundedSender<Outgoing>,
    /// When another server process was last heard from (unix ms; 0 = never). Events are only
    /// forwarded while one is around: a single server would otherwise send every token through
    /// PostgreSQL and back for nobody.
    peer_seen_ms: AtomicU64,
}

/// One subscriber's pending events. Empty (and unallocated) while the stream keeps up.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<Arc<LiveEvent>>,
    /// Events dropped because the subscriber fell [`PER_SUBSCRIBER_QUEUE`] behind.
    lagged: u64,
}

impl Queue {
    fn push(&self, e: &Arc<LiveEvent>) {
        {
            let mut s = self.state.lock().expect("parts queue lock");
            if s.events.len() >= PER_SUBSCRIBER_QUEUE {
                s.events.pop_front();
                s.lagged += 1;
            }
            s.events.push_back(e.clone());
        }
        self.ready.notify_one();
    }

    fn pop(&self) -> Result<Arc<LiveEvent>, TryRecvError> {
        let mut s = self.state.lock().expect("parts queue lock");
        if s.lagged > 0 {
            return Err(TryRecvError::Lagged(std::mem::take(&mut s.lagged)));
        }
        match s.events.pop_front() {
            Some(e) => {
                // A burst's storage is given back once the stream has caught up.
                if s.events.is_empty() && s.events.capacity() > 64 {
                    s.events = VecDeque::new();
                }
                Ok(e)
            }
            None => Err(TryRecvError::Empty),
        }
    }
}

/// The parts of one chat's current step, for snapshots.
struct Buffer {
    events: VecDeque<Arc<LiveEvent>>,
    touched: std::time::Instant,
}

/// Gives a map's storage back once most of its entries are gone (a `HashMap` never shrinks by
/// itself, so 10,000 chats streamed once would keep their slots).
fn shrink<V>(map: &mut HashMap<Uuid, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

/// How often each process announces itself on the channel.
const PRESENCE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// A peer not heard from for this long is gone.
const PEER_TTL_MS: u64 = 6_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// This process's live-event hub. Cheap to clone.
#[derive(Clone)]
pub struct Parts {
    inner: Arc<Inner>,
}

impl Parts {
    /// Starts listening for other processes' events and forwarding this process's. The tasks
    /// end when the store's pool closes.
    pub async fn start(store: &Store) -> Result<Parts> {
        let mut listener = PgListener::connect_with(&store.pool).await?;
        listener.listen(CHANNEL).await?;
        let (out, mut rx) = mpsc::unbounded_channel();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        let parts = Parts {
            inner: Arc::new(Inner {
                origin: Uuid::new_v4(),
                seq: AtomicU64::new(start),
                channels: Mutex::new(HashMap::new()),
                buffers: Mutex::new(HashMap::new()),
                out,
                peer_seen_ms: AtomicU64::new(0),
            }),
        };

        let receiver = parts.clone();
        let own_prefix = format!("{{\"o\":\"{}\"", parts.inner.origin);
        let pool = store.pool.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // This process's own envelopes come back too; skip them before parsing
                    // (`pack` always starts an envelope with its origin).
                    Ok(Some(n)) if n.payload().starts_with(&own_prefix) => {}
                    Ok(Some(n)) => match serde_json::from_str::<Envelope>(n.payload()) {
                        Ok(env) if env.o == receiver.inner.origin => {}
                        Ok(env) => {
                            let now = now_ms();
                            receiver.inner.peer_seen_ms.store(now, Ordering::Relaxed);
                            if let Some(t) = env.t.filter(|_| !env.e.is_empty()) {
                                // Wall clocks of two hosts: only as good as their sync.
                                metrics::histogram!("agentry_notify_lag_seconds").record(now.saturating_sub(t) as f64 / 1000.0);
                            }
                            for e in env.e {
                                receiver.local(e);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring malformed live chat event"),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        if pool.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "live chat event listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });

        let origin = parts.inner.origin;
        let pool = store.pool.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut acks = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(item) = next.take().or_else(|| rx.try_recv().ok()) {
                    match item {
                        Outgoing::Event(e) => batch.push(e),
                        Outgoing::Flush(ack) => acks.push(ack),
                    }
                    if batch.len() >= 2_048 {
                        break;
                    }
                }
                let payloads = pack(origin, std::mem::take(&mut batch));
                if !payloads.is_empty()
                    && let Err(e) = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n")
                        .bind(CHANNEL)
                        .bind(&payloads)
                        .execute(&pool)
                        .await
                {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %e, "forwarding live chat events failed; remote streams miss them");
                }
                for ack in acks.drain(..) {
                    let _ = ack.send(());
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
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&hello).execute(&pool).await {
                    tracing::debug!(error = %e, "announcing this process to the live channel failed");
                }
            }
        });
        // Buffers whose step end never arrived go after `BUFFER_IDLE`.
        let weak = Arc::downgrade(&parts.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Parts { inner }.drop_idle_buffers(BUFFER_IDLE);
            }
        });
        Ok(parts)
    }

    /// Publishes an event for `chat_id` here and, shortly, on every other server.
    pub fn publish(&self, chat_id: Uuid, kind: LiveKind, body: serde_json::Value) {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let e = LiveEvent { chat_id, seq, kind, body };
        if self.has_peers() {
            let _ = self.inner.out.send(Outgoing::Event(e.clone()));
        }
        self.local(e);
    }

    /// Whether another server process listened recently (so events are forwarded).
    pub fn has_peers(&self) -> bool {
        now_ms().saturating_sub(self.inner.peer_seen_ms.load(Ordering::Relaxed)) < PEER_TTL_MS
    }

    /// Waits until everything published so far was sent to the other servers.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.out.send(Outgoing::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Every live event of `chat_id` from now on. Subscribe before taking [`Parts::buffered`].
    ///
    /// A subscription is a small queue that holds events only while its stream is behind;
    /// dropping it removes it at once, and the chat's entry with its last subscription,
    /// whether or not another event for the chat ever arrives.
    pub fn subscribe(&self, chat_id: Uuid) -> Subscription {
        let queue = Arc::new(Queue::default());
        let mut channels = self.inner.channels.lock().expect("parts channel lock");
        channels.entry(chat_id).or_default().push(queue.clone());
        Subscription { queue, chat_id, inner: Arc::downgrade(&self.inner) }
    }

    /// How many chats have a live channel here (subscribed streams); for tests and metrics.
    pub fn live_channels(&self) -> usize {
        self.inner.channels.lock().expect("parts channel lock").len()
    }

    /// Drops the snapshot buffers nothing was added to for `idle` (see [`BUFFER_IDLE`], which
    /// a background task applies every few seconds).
    pub fn drop_idle_buffers(&self, idle: std::time::Duration) {
        let mut buffers = self.inner.buffers.lock().expect("parts buffer lock");
        buffers.retain(|_, b| b.touched.elapsed() < idle);
        shrink(&mut buffers);
    }

    /// How many chats have a snapshot buffer here; for tests and metrics.
    pub fn live_buffers(&self) -> usize {
        self.inner.buffers.lock().expect("parts buffer lock").len()
    }

    /// The parts of the chat's current step seen so far (for a stream's snapshot).
    pub fn buffered(&self, chat_id: Uuid) -> Vec<LiveEvent> {
        let buffers = self.inner.buffers.lock().expect("parts buffer lock");
        buffers.get(&chat_id).map(|b| b.events.iter().map(|e| LiveEvent::clone(e)).collect()).unwrap_or_default()
    }

    fn local(&self, e: LiveEvent) {
        let chat_id = e.chat_id;
        let e = Arc::new(e);
        {
            let mut buffers = self.inner.buffers.lock().expect("parts buffer lock");
            match e.kind {
                LiveKind::Part => {
                    let b = buffers
                        .entry(chat_id)
                        .or_insert_with(|| Buffer { events: VecDeque::new(), touched: std::time::Instant::now() });
                    if b.events.len() >= BUFFER_PER_CHAT {
                        b.events.pop_front();
                    }
                    b.events.push_back(e.clone());
                    b.touched = std::time::Instant::now();
                }
                LiveKind::Clear => {
                    buffers.remove(&chat_id);
                    shrink(&mut buffers);
                }
                LiveKind::Retry => {}
            }
        }
        let channels = self.inner.channels.lock().expect("parts channel lock");
        if let Some(queues) = channels.get(&chat_id) {
            for q in queues {
                q.push(&e);
            }
        }
    }
}

/// A stream's receiver of one chat's live events (see [`Parts::subscribe`]), with the
/// semantics of a broadcast receiver: `Lagged(n)` once after `n` events were skipped because
/// the stream fell too far behind.
pub struct Subscription {
    queue: Arc<Queue>,
    chat_id: Uuid,
    inner: std::sync::Weak<Inner>,
}

impl Subscription {
    /// The next event, waiting for one. Cancel-safe: an event is taken only when returned.
    pub async fn recv(&mut self) -> Result<Arc<LiveEvent>, RecvError> {
        loop {
            match self.queue.pop() {
                Ok(e) => return Ok(e),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(_) => self.queue.ready.notified().await,
            }
        }
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Result<Arc<LiveEvent>, TryRecvError> {
        self.queue.pop()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else { return };
        let mut channels = inner.channels.lock().expect("parts channel lock");
        if let Some(queues) = channels.get_mut(&self.chat_id) {
            queues.retain(|q| !Arc::ptr_eq(q, &self.queue));
            if queues.is_empty() {
                channels.remove(&self.chat_id);
                shrink(&mut channels);
            }
        }
    }
}

/// Packs events into JSON envelopes of at most [`MAX_PAYLOAD`] bytes, splitting or trimming
/// events that are too large on their own.
fn pack(origin: Uuid, events: Vec<LiveEvent>) -> Vec<String> {
    let overhead = serde_json::to_string(&Envelope { o: origin, t: Some(u64::MAX), e: vec![] }).expect("envelope").len();
    let t = now_ms();
    let budget = MAX_PAYLOAD - overhead;
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0;
    let flush = |current: &mut Vec<String>, out: &mut Vec<String>| {
        if !current.is_empty() {
            out.push(format!("{{\"o\":\"{origin}\",\"t\":{t},\"e\":[{}]}}", current.join(",")));
            current.clear();
        }
    };
    for e in events {
        for piece in fit(e, budget) {
            if size + piece.len() + 1 > budget {
                flush(&mut current, &mut out);
                size = 0;
            }
            size += piece.len() + 1;
            current.push(piece);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// One event as serialized pieces that each fit `budget`.
fn fit(e: LiveEvent, budget: usize) -> Vec<String> {
    let s = serde_json::to_string(&e).expect("event serializes");
    if s.len() <= budget {
        return vec![s];
    }
    let text = e.body["part"]["text"].as_str().map(str::to_string);
    if let Some(text) = text {
        // A long text or reasoning delta: several deltas with the same seq, in order.
        let room = budget.saturating_sub(s.len() - text.len()).max(64) / 2;
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut piece = e.clone();
            piece.body["part"]["text"] = serde_json::Value::String(rest[..cut].to_string());
            pieces.push(serde_json::to_string(&piece).expect("event serializes"));
            rest = &rest[cut..];
        }
        return pieces;
    }
    let mut trimmed = e;
    for key in ["result", "args", "args_delta"] {
        if trimmed.body["part"].get(key).is_some() {
            trimmed.body["part"][key] = serde_json::json!("(too large for a live update; see the saved message)");
        }
    }
    let s = serde_json::to_string(&trimmed).expect("event serializes");
    if s.len() <= budget { vec![s] } else { Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(text: &str) -> LiveEvent {
        LiveEvent {
            chat_id: Uuid::nil(),
            seq: 1,
            kind: LiveKind::Part,
            body: json!({"role": "assistant", "part": {"type": "text", "text": text}}),
        }
    }

    #[test]
    fn payloads_stay_under_the_limit_and_keep_the_text() {
        let big = "ü".repeat(10_000);
        let events = vec![part("a"), part(&big), part("b")];
        let payloads = pack(Uuid::new_v4(), events);
        assert!(payloads.len() >= 3);
        let mut text = String::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            let env: Envelope = serde_json::from_str(p).unwrap();
            for e in env.e {
                text.push_str(e.body["part"]["text"].as_str().unwrap());
            }
        }
        assert_eq!(text, format!("a{big}b"));
    }

    #[test]
    fn oversized_results_are_trimmed() {
        let mut e = part("");
        e.body = json!({"role": "tool", "part": {"type": "tool-result", "result": "x".repeat(20_000)}});
        let payloads = pack(Uuid::new_v4(), vec![e]);
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].len() <= MAX_PAYLOAD);
    }
}
