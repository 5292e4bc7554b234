//! Live, not-yet-persisted chat events: streaming message parts and provider retries.
//!
//! These never touch a table. The worker publishes them to this process's [`Parts`] hub, which
//! (1) fans them out to local subscribers (chat streams) at once, (2) keeps the parts of each
//! chat's current step in a bounded buffer so a stream that connects mid-step can start with
//! them (its snapshot), and (3) hands them to a [`crate::fanout`] transport (PostgreSQL
//! `pg_notify` by default, or NATS) so a client connected to another replica sees the same
//! parts.
//!
//! Events are packed into JSON envelopes of a transport's size limit (a text delta that is
//! larger on its own is split; any other part that is larger is sent with its `result`/`args`
//! replaced by a note — the full value arrives a moment later as the persisted message).
//! Forwarding is one background task per process that drains everything queued since its last
//! send into one batch, so a busy process sends a few messages per round trip, not one per
//! token. [`Parts::flush`] waits until everything published so far was handed to the
//! transport, which the worker does before it commits a step, so remote streams see a step's
//! parts before its message.
//!
//! Each batch carries its send time (`t`, unix ms), from which a receiver records the
//! `agentry_notify_lag_seconds` metric (a no-op unless `/metrics` is enabled).
//!
//! Events carry a per-process sequence number (`seq`), so a stream can drop the duplicates
//! between its snapshot and the live feed it subscribed to before the snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use crate::fanout::{Incoming, PubSub, Transport};
use crate::{Result, Store};

/// Largest NOTIFY payload this module sends (PostgreSQL's hard limit is 8,000 bytes).
pub const MAX_PAYLOAD: usize = crate::fanout::PG_MAX_PAYLOAD;
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
///
/// The body is kept as its JSON text, written once by the publisher: a stream copies it into
/// its frame and the transport into its envelope without serializing it again, and a chat's
/// snapshot buffer holds ~100 bytes per token instead of a `serde_json::Value` tree (two maps
/// and three strings, over a kilobyte; 500 chats streaming 200 tokens grew the server by
/// 160 MiB, and the page faults and heap growth were a tenth of its CPU per token — issue 18).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveEvent {
    pub chat_id: Uuid,
    pub seq: u64,
    pub kind: LiveKind,
    #[serde(default = "null_body")]
    pub body: Box<RawValue>,
}

fn null_body() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

impl LiveEvent {
    /// The body as a JSON value (for tests and the rare event that must be rewritten).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.body.get()).expect("a live event's body is JSON")
    }
}

impl PartialEq for LiveEvent {
    fn eq(&self, other: &Self) -> bool {
        (self.chat_id, self.seq, self.kind, self.body.get()) == (other.chat_id, other.seq, other.kind, other.body.get())
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The sending process; it ignores its own notifications.
    pub(crate) o: Uuid,
    /// When the sender handed the batch to PostgreSQL (unix ms), for the notify-lag metric;
    /// absent in presence announcements and from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) t: Option<u64>,
    pub(crate) e: Vec<LiveEvent>,
}

enum Outgoing {
    Event(LiveEvent),
    Flush(oneshot::Sender<()>),
}

struct Inner {
    seq: AtomicU64,
    /// Per chat: its subscribers' queues and its snapshot buffer, under one lock, so a token
    /// costs one lock and one lookup (two maps under two locks were most of the hub's share of
    /// the CPU per token: cache misses on 500 chats' entries, issue 18). A chat has an entry
    /// only while it has a subscriber or a buffer.
    chats: Mutex<HashMap<Uuid, ChatLive>>,
    out: mpsc::UnboundedSender<Outgoing>,
    transport: Arc<dyn Transport>,
}

/// One chat's live state in this process.
#[derive(Default)]
struct ChatLive {
    /// The queues of the chat's subscribers (streams): a stream receives only its own chat's
    /// events, so the cost of a token does not grow with the number of open streams. Events
    /// are shared (`Arc`), not copied, between subscribers and the buffer.
    queues: Vec<Arc<Queue>>,
    /// The parts of the chat's current step, for snapshots.
    buffer: Option<Buffer>,
}

impl ChatLive {
    fn is_unused(&self) -> bool {
        self.queues.is_empty() && self.buffer.is_none()
    }
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
    /// This process published them (it runs the step), so it answers snapshot requests.
    own: bool,
}

/// Gives a map's storage back once most of its entries are gone (a `HashMap` never shrinks by
/// itself, so 10,000 chats streamed once would keep their slots).
fn shrink<V>(map: &mut HashMap<Uuid, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// This process's live-event hub. Cheap to clone.
#[derive(Clone)]
pub struct Parts {
    inner: Arc<Inner>,
}

impl Parts {
    /// Starts listening for other processes' events and forwarding this process's, through
    /// PostgreSQL. The tasks end when the store's pool closes.
    pub async fn start(store: &Store) -> Result<Parts> {
        Parts::start_with(store, &PubSub::Postgres).await
    }

    /// [`Parts::start`] with the given transport.
    pub async fn start_with(store: &Store, pubsub: &PubSub) -> Result<Parts> {
        let origin = Uuid::new_v4();
        let (to_hub, mut incoming) = mpsc::unbounded_channel();
        let transport = crate::fanout::start(store, pubsub, origin, to_hub).await?;
        let (out, mut rx) = mpsc::unbounded_channel();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        let parts = Parts {
            inner: Arc::new(Inner {
                seq: AtomicU64::new(start),
                chats: Mutex::new(HashMap::new()),
                out,
                transport: transport.clone(),
            }),
        };

        // What the transport receives. Holds the hub weakly: the transport's tasks must not
        // keep it alive.
        let weak = Arc::downgrade(&parts.inner);
        tokio::spawn(async move {
            while let Some(item) = incoming.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                let parts = Parts { inner };
                match item {
                    Incoming::Events(events) => {
                        for e in events {
                            parts.local(e, false);
                        }
                    }
                    Incoming::Snapshot(chat, answer) => {
                        let _ = answer.send(parts.buffered(chat));
                    }
                }
            }
        });

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
                if !batch.is_empty() {
                    transport.send(std::mem::take(&mut batch)).await;
                }
                for ack in acks.drain(..) {
                    let _ = ack.send(());
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
        self.publish_raw(chat_id, kind, serde_json::value::to_raw_value(&body).expect("a JSON value serializes"));
    }

    /// [`Parts::publish`] with the body already serialized (`serde_json::value::to_raw_value`
    /// of the part), which is what a token costs least as.
    pub fn publish_raw(&self, chat_id: Uuid, kind: LiveKind, body: Box<RawValue>) {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let e = LiveEvent { chat_id, seq, kind, body };
        if self.has_peers() {
            let _ = self.inner.out.send(Outgoing::Event(e.clone()));
        }
        self.local(e, true);
    }

    /// Whether events are forwarded to other processes: with PostgreSQL, while another server
    /// process announced itself recently; with NATS, always (its server drops what nobody
    /// subscribed to).
    pub fn has_peers(&self) -> bool {
        self.inner.transport.forwards()
    }

    /// Waits until everything published so far was sent to the other servers.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.out.send(Outgoing::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Every live event of `chat_id` from now on. Subscribe before taking [`Parts::snapshot`].
    ///
    /// A subscription is a small queue that holds events only while its stream is behind;
    /// dropping it removes it at once, and the chat's entry with its last subscription,
    /// whether or not another event for the chat ever arrives.
    pub fn subscribe(&self, chat_id: Uuid) -> Subscription {
        let queue = Arc::new(Queue::default());
        let mut chats = self.inner.lock();
        let chat = chats.entry(chat_id).or_default();
        if chat.queues.is_empty() {
            // Under the lock, so the transport sees watch/unwatch in the order they happened.
            self.inner.transport.watch(chat_id, true);
        }
        chat.queues.push(queue.clone());
        Subscription { queue, chat_id, inner: Arc::downgrade(&self.inner) }
    }

    /// How many chats have a live channel here (subscribed streams); for tests and metrics.
    pub fn live_channels(&self) -> usize {
        self.inner.lock().values().filter(|c| !c.queues.is_empty()).count()
    }

    /// Drops the snapshot buffers nothing was added to for `idle` (see [`BUFFER_IDLE`], which
    /// a background task applies every few seconds).
    pub fn drop_idle_buffers(&self, idle: std::time::Duration) {
        let mut chats = self.inner.lock();
        let transport = &self.inner.transport;
        chats.retain(|chat, c| {
            if let Some(b) = &c.buffer
                && b.touched.elapsed() >= idle
            {
                if b.own {
                    transport.serve(*chat, false);
                }
                c.buffer = None;
            }
            !c.is_unused()
        });
        shrink(&mut chats);
    }

    /// How many chats have a snapshot buffer here; for tests and metrics.
    pub fn live_buffers(&self) -> usize {
        self.inner.lock().values().filter(|c| c.buffer.is_some()).count()
    }

    /// The parts of the chat's current step seen so far (for a stream's snapshot).
    pub fn buffered(&self, chat_id: Uuid) -> Vec<LiveEvent> {
        let chats = self.inner.lock();
        let buffer = chats.get(&chat_id).and_then(|c| c.buffer.as_ref());
        buffer.map(|b| b.events.iter().map(|e| LiveEvent::clone(e)).collect()).unwrap_or_default()
    }

    /// The parts of the chat's current step for a stream's snapshot: this process's buffer when
    /// it runs the step or the transport delivers every chat here, otherwise (NATS) what the
    /// process running the step answers.
    pub async fn snapshot(&self, chat_id: Uuid) -> Vec<LiveEvent> {
        let own = self.inner.lock().get(&chat_id).and_then(|c| c.buffer.as_ref()).is_some_and(|b| b.own);
        if !own && let Some(events) = self.inner.transport.snapshot(chat_id).await {
            return events;
        }
        self.buffered(chat_id)
    }

    fn local(&self, e: LiveEvent, own: bool) {
        let chat_id = e.chat_id;
        let e = Arc::new(e);
        let mut chats = self.inner.lock();
        let transport = &self.inner.transport;
        let chat = match e.kind {
            LiveKind::Part => {
                let chat = chats.entry(chat_id).or_default();
                let b = chat.buffer.get_or_insert_with(|| {
                    if own {
                        transport.serve(chat_id, true);
                    }
                    Buffer { events: VecDeque::new(), touched: std::time::Instant::now(), own }
                });
                if own && !b.own {
                    // This process took the chat over mid-step (its old runner died).
                    b.own = true;
                    transport.serve(chat_id, true);
                }
                if b.events.len() >= BUFFER_PER_CHAT {
                    b.events.pop_front();
                }
                b.events.push_back(e.clone());
                b.touched = std::time::Instant::now();
                chat
            }
            LiveKind::Clear => {
                let Some(chat) = chats.get_mut(&chat_id) else { return };
                if chat.buffer.take().is_some_and(|b| b.own) {
                    transport.serve(chat_id, false);
                }
                if chat.is_unused() {
                    chats.remove(&chat_id);
                    shrink(&mut chats);
                    return;
                }
                chat
            }
            LiveKind::Retry => {
                let Some(chat) = chats.get_mut(&chat_id) else { return };
                chat
            }
        };
        for q in &chat.queues {
            q.push(&e);
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ChatLive>> {
        self.chats.lock().expect("parts lock")
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
        let mut chats = inner.lock();
        if let Some(chat) = chats.get_mut(&self.chat_id) {
            chat.queues.retain(|q| !Arc::ptr_eq(q, &self.queue));
            if chat.queues.is_empty() {
                inner.transport.watch(self.chat_id, false);
                if chat.is_unused() {
                    chats.remove(&self.chat_id);
                    shrink(&mut chats);
                }
            }
        }
    }
}

/// Packs events into JSON envelopes of at most `max` bytes, splitting or trimming events that
/// are too large on their own.
pub(crate) fn pack(origin: Uuid, events: Vec<LiveEvent>, max: usize) -> Vec<String> {
    let overhead = serde_json::to_string(&Envelope { o: origin, t: Some(u64::MAX), e: vec![] }).expect("envelope").len();
    let t = now_ms();
    let budget = max - overhead;
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
    let mut body = e.value();
    let raw = |v: &serde_json::Value| serde_json::value::to_raw_value(v).expect("a JSON value serializes");
    let text = body["part"]["text"].as_str().map(str::to_string);
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
            body["part"]["text"] = serde_json::Value::String(rest[..cut].to_string());
            piece.body = raw(&body);
            pieces.push(serde_json::to_string(&piece).expect("event serializes"));
            rest = &rest[cut..];
        }
        return pieces;
    }
    let mut trimmed = e;
    for key in ["result", "args", "args_delta"] {
        if body["part"].get(key).is_some() {
            body["part"][key] = serde_json::json!("(too large for a live update; see the saved message)");
        }
    }
    trimmed.body = raw(&body);
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
            body: serde_json::value::to_raw_value(&json!({"role": "assistant", "part": {"type": "text", "text": text}})).unwrap(),
        }
    }

    #[test]
    fn payloads_stay_under_the_limit_and_keep_the_text() {
        let big = "ü".repeat(10_000);
        let events = vec![part("a"), part(&big), part("b")];
        let payloads = pack(Uuid::new_v4(), events, MAX_PAYLOAD);
        assert!(payloads.len() >= 3);
        let mut text = String::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            let env: Envelope = serde_json::from_str(p).unwrap();
            for e in env.e {
                text.push_str(e.value()["part"]["text"].as_str().unwrap());
            }
        }
        assert_eq!(text, format!("a{big}b"));
    }

    #[test]
    fn oversized_results_are_trimmed() {
        let mut e = part("");
        e.body = serde_json::value::to_raw_value(&json!({"role": "tool", "part": {"type": "tool-result", "result": "x".repeat(20_000)}})).unwrap();
        let payloads = pack(Uuid::new_v4(), vec![e], MAX_PAYLOAD);
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].len() <= MAX_PAYLOAD);
    }
}
