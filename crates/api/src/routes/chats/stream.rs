//! The two one-way WebSockets: a chat's `stream` and the caller's `watch`.
//!
//! The server only writes; every text frame is a JSON array (a batch) of events. Both sockets
//! subscribe to the process's change hub *before* reading any state, then read a snapshot, then
//! re-read the database whenever a hint for their chat (or owner) arrives — from this process
//! or, through LISTEN/NOTIFY, from any other. Hints are only triggers, so a lost or duplicated
//! hint costs a re-read, never a wrong screen. The caller's token is re-checked every
//! [`REAUTH_EVERY`] and, at once, whenever an auth change concerning the caller commits on any
//! process (`Store::auth_changes`: status, roles, memberships, keys); every re-read goes through
//! the authorizing facade, so a suspended user, a revoked key or a removed member's stream
//! closes within moments.
//!
//! Streaming parts and retries are not in the database: the chat stream also subscribes to the
//! process's live-parts hub (`agentry_store::parts`), which carries them from whichever server
//! runs the chat, and sends them as they come.

use std::time::Duration;

use agentry_rbac::Subject;
use agentry_sdk as sdk;
use agentry_store::StoreError;
use agentry_store::auth_cache::AuthChange;
use agentry_store::chats::{Chat, ChatStatus};
use agentry_store::parts::{LiveEvent, LiveKind};
use agentry_store::pubsub::{ChangeKind, ChatHint};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::chat_id;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::ApiQuery;
use crate::{AppState, convert};

/// How often a socket re-checks that its token is still valid.
pub const REAUTH_EVERY: Duration = Duration::from_secs(30);
const PING_EVERY: Duration = Duration::from_secs(15);
/// Most events per frame.
const BATCH: usize = 256;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Send only messages with a greater id (the newest one the client already has).
    pub after_id: Option<String>,
}

/// A live event as a stream event; `None` for the hub's own bookkeeping (`Clear`) and for a
/// body that is not the payload its kind promises (never written by the chat daemon).
fn live_event(e: &LiveEvent) -> Option<sdk::ChatStreamEvent> {
    let chat_id = e.chat_id;
    match e.kind {
        LiveKind::Part => {
            let message_part = serde_json::from_str(e.body.get()).ok()?;
            Some(sdk::ChatStreamEvent::MessagePart { chat_id, message_part })
        }
        LiveKind::Retry => {
            let retry = serde_json::from_str(e.body.get()).ok()?;
            Some(sdk::ChatStreamEvent::Retry { chat_id, retry })
        }
        LiveKind::Clear => None,
    }
}

/// The read buffer a stream socket allocates up front. These sockets only ever receive pongs
/// and a close from the client, and the WebSocket library's default (128 KiB per socket,
/// allocated at the upgrade) made 10,000 idle streams cost over a gigabyte. Larger client
/// frames still arrive; the buffer grows for them.
const READ_BUFFER: usize = 4 * 1024;

fn small_buffers(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
}

async fn send_batch(sink: &mut futures::stream::SplitSink<WebSocket, Message>, events: &[impl serde::Serialize]) -> bool {
    for chunk in events.chunks(BATCH) {
        let text = serde_json::to_string(chunk).expect("events serialize");
        if sink.send(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    true
}

/// What the client has been told, so a re-read sends only the difference.
#[derive(Clone)]
struct Seen {
    last_message_id: i64,
    status: Option<ChatStatus>,
    queue: Option<Vec<i64>>,
    action_required: Vec<String>,
}

impl Seen {
    /// Events that bring the client from what it has seen to the chat as it is now. What was
    /// seen changes only when every read succeeded: a read that fails half-way (the database
    /// went away) must not count its events as sent, or the next re-read would skip them.
    async fn catch_up(&mut self, s: &AppState, subject: &Subject, chat: &Chat) -> Result<Vec<sdk::ChatStreamEvent>, StoreError> {
        let mut next = self.clone();
        let events = next.catch_up_from(s, subject, chat).await?;
        *self = next;
        Ok(events)
    }

    async fn catch_up_from(&mut self, s: &AppState, subject: &Subject, chat: &Chat) -> Result<Vec<sdk::ChatStreamEvent>, StoreError> {
        let actor = s.store.actor(subject);
        let mut events = Vec::new();
        let chat_id = chat.id;
        if self.status != Some(chat.status) {
            events.push(sdk::ChatStreamEvent::Status { chat_id, status: sdk::ChatStatusPayload { status: chat.status } });
            if chat.status == ChatStatus::Error
                && let Some(err) = &chat.last_error {
                    let error = sdk::ChatErrorPayload { message: err.clone() };
                    events.push(sdk::ChatStreamEvent::Error { chat_id, error });
                }
            self.status = Some(chat.status);
        }
        for m in actor.messages_after(chat, self.last_message_id).await? {
            self.last_message_id = self.last_message_id.max(m.id);
            events.push(sdk::ChatStreamEvent::Message { chat_id, message: convert::message(m) });
        }
        let queue = actor.queued_messages(chat).await?;
        let ids: Vec<i64> = queue.iter().map(|q| q.id).collect();
        if self.queue.as_ref() != Some(&ids) {
            let queued_messages = queue.into_iter().map(convert::queued).collect();
            events.push(sdk::ChatStreamEvent::QueueUpdate { chat_id, queued_messages });
            self.queue = Some(ids);
        }
        let pending = if chat.status == ChatStatus::RequiresAction { actor.pending_tool_calls(chat).await? } else { Vec::new() };
        let pending_ids: Vec<String> = pending.iter().map(|c| c.tool_call_id.clone()).collect();
        if !pending.is_empty() && pending_ids != self.action_required {
            let tool_calls = pending
                .into_iter()
                .map(|c| sdk::PendingToolCall { tool_call_id: c.tool_call_id, tool_name: c.tool_name, args: c.args })
                .collect();
            let action_required = sdk::ActionRequiredPayload { tool_calls };
            events.push(sdk::ChatStreamEvent::ActionRequired { chat_id, action_required });
        }
        self.action_required = pending_ids;
        Ok(events)
    }
}

#[utoipa::path(get, path = "/api/experimental/chats/{chat}/stream", tag = "chats", params(("chat" = Uuid, Path), StreamParams),
    responses((status = 101, description = "WebSocket: JSON arrays of ChatStreamEvent"), (status = 404, body = sdk::Response)))]
pub async fn stream(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<StreamParams>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let id = chat_id(&id)?;
    let after = match p.after_id.as_deref() {
        None | Some("") => 0,
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| ApiError::from(ClientError::InvalidAfterId))?,
    };
    // Refuse before upgrading, so failures are plain HTTP answers.
    let chat = s.store.actor(&auth.subject).chat(id).await?;
    // Only this chat's changes and this user's auth changes wake the stream (see
    // `stream_wakes`).
    let wakes = s.stream_wakes().watch(chat.id, auth.user.id);
    let live = s.parts().subscribe(chat.id);
    Ok(small_buffers(ws).on_upgrade(move |socket| async move {
        let _counted = s.provisioning.agents().socket_opened(agentry_provisioner::SocketKind::Stream);
        run_stream(s, auth, chat, after, wakes, live, socket).await
    }))
}

/// A live event on the wire: the JSON of the `sdk::ChatStreamEvent` that [`live_event`] makes
/// (`type`, `chat_id`, then `message_part` or `retry`), written straight from the hub's shared
/// event, whose body is copied in as the JSON text the publisher wrote. Building the `sdk`
/// value first deep-copied every token's JSON once per stream.
#[derive(serde::Serialize)]
struct LiveFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chat_id: uuid::Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_part: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<&'a serde_json::value::RawValue>,
}

fn live_frame(e: &LiveEvent) -> Option<LiveFrame<'_>> {
    let (kind, message_part, retry) = match e.kind {
        LiveKind::Part => ("message_part", Some(&*e.body), None),
        LiveKind::Retry => ("retry", None, Some(&*e.body)),
        LiveKind::Clear => return None,
    };
    Some(LiveFrame { kind, chat_id: e.chat_id, message_part, retry })
}

/// Sends live events as frames of at most [`BATCH`] events.
async fn send_live(sink: &mut futures::stream::SplitSink<WebSocket, Message>, events: &[std::sync::Arc<LiveEvent>]) -> bool {
    let frames: Vec<LiveFrame<'_>> = events.iter().filter_map(|e| live_frame(e)).collect();
    send_batch(sink, &frames).await
}

/// `first` (when the caller already received it) and every live event queued for the stream
/// right now, without the ones the snapshot already carried and the hub's bookkeeping.
fn drain_live(
    first: Option<Result<std::sync::Arc<LiveEvent>, RecvError>>,
    live: &mut agentry_store::parts::Subscription,
    in_snapshot: &mut std::collections::HashSet<u64>,
) -> Vec<std::sync::Arc<LiveEvent>> {
    let mut batch = Vec::new();
    let mut next = first.or_else(|| live.try_recv().ok().map(Ok));
    while let Some(item) = next.take() {
        match item {
            Ok(e) => {
                if e.kind != LiveKind::Clear && (in_snapshot.is_empty() || !in_snapshot.remove(&e.seq)) {
                    batch.push(e);
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
        }
        if batch.len() < BATCH {
            next = live.try_recv().ok().map(Ok);
        }
    }
    batch
}

/// When a chat stream next pings its client and re-checks its token.
struct Timers {
    ping: tokio::time::Instant,
    reauth: tokio::time::Instant,
}

/// Which of [`Timers`] fired.
struct Due {
    ping: bool,
    reauth: bool,
}

impl Timers {
    fn new(now: tokio::time::Instant) -> Timers {
        Timers { ping: now + PING_EVERY, reauth: now + REAUTH_EVERY }
    }

    /// The earlier of the two.
    fn next(&self) -> tokio::time::Instant {
        self.ping.min(self.reauth)
    }

    /// Which are due at `now`; each that is is set to its next time.
    fn due(&mut self, now: tokio::time::Instant) -> Due {
        let due = Due { ping: now >= self.ping, reauth: now >= self.reauth };
        if due.ping {
            self.ping = now + PING_EVERY;
        }
        if due.reauth {
            self.reauth = now + REAUTH_EVERY;
        }
        due
    }
}

async fn run_stream(
    s: AppState,
    mut auth: Auth,
    chat: Chat,
    after: i64,
    wakes: crate::stream_wakes::StreamWatch,
    mut live: agentry_store::parts::Subscription,
    socket: WebSocket,
) {
    let (mut sink, incoming) = socket.split();
    // The client never writes but pongs (and a close), so its half of the socket is read by a
    // task of its own, which says when the stream must end. Polled in the loop below, the read
    // half was re-polled for every token sent (the WebSocket library zeroes its read buffer on
    // each poll: a few % of the server's CPU per token, issue 18).
    // `AGENTRY_BENCH_BEFORE=stream-read` keeps reading in the loop, for the benchmark.
    let (mut incoming, mut client_gone) = if agentry_store::bench_before("stream-read") {
        (Some(incoming), None)
    } else {
        (None, Some(read_until_close(incoming)))
    };
    let chat_id = chat.id;
    let mut seen = Seen { last_message_id: after, status: None, queue: None, action_required: Vec::new() };
    let _ = s.store.actor(&auth.subject).mark_chat_read(&chat).await;
    // The snapshot: the chat's state, then the parts of the step in flight. `live` was
    // subscribed before either was read, so parts published meanwhile arrive twice; their
    // sequence numbers let the live feed drop the copies. The database is read first: a step's
    // parts leave the buffer before its message is committed, so the buffer read afterwards
    // never holds parts of a message the snapshot already carries.
    let caught_up = seen.catch_up(&s, &auth.subject, &chat).await;
    let buffered = s.parts().snapshot(chat_id).await;
    let mut in_snapshot: std::collections::HashSet<u64> = buffered.iter().map(|e| e.seq).collect();
    match caught_up {
        Ok(mut events) => {
            events.extend(buffered.iter().filter_map(live_event));
            if !send_batch(&mut sink, &events).await {
                return;
            }
        }
        _ => return,
    }
    // The ping and the re-authentication share one timer, set to whichever is due first: a
    // token costs one timer poll, not two (issue 18).
    let mut timers = Timers::new(tokio::time::Instant::now());
    let timer = tokio::time::sleep_until(timers.next());
    tokio::pin!(timer);
    loop {
        let refresh = tokio::select! {
            // In this order, so that a client that left or a change of access is never kept
            // waiting behind a burst of tokens (both are cheap to poll), and a token that is
            // ready is sent without polling the timer.
            biased;
            _ = async { client_gone.as_mut().expect("checked").await }, if client_gone.is_some() => break,
            woken = wakes.changed() => {
                if woken.closed() { break }
                if woken.auth() && auth.refresh(&s).await.is_err() { break }
                true
            }
            first = live.recv() => {
                // Live parts skip the database: forward this one and whatever else is queued
                // for this chat, as one frame.
                let batch = drain_live(Some(first), &mut live, &mut in_snapshot);
                if !batch.is_empty() && !send_live(&mut sink, &batch).await {
                    break;
                }
                false
            }
            () = &mut timer => {
                let due = timers.due(tokio::time::Instant::now());
                timer.as_mut().reset(timers.next());
                if due.ping && sink.send(Message::Ping(Vec::new().into())).await.is_err() { break }
                if due.reauth && auth.refresh(&s).await.is_err() { break }
                due.reauth
            }
            msg = async { incoming.as_mut().expect("checked").next().await }, if incoming.is_some() => match msg {
                Some(Ok(m)) if !ends_stream(&m) => false,
                _ => break,
            },
        };
        if !refresh {
            continue;
        }
        // A step's parts are published before its message is committed, so they are queued
        // here before the hint about that message arrives: send them first, or a client could
        // see the message and then deltas of a step that is already over.
        let pending = drain_live(None, &mut live, &mut in_snapshot);
        if !pending.is_empty() && !send_live(&mut sink, &pending).await {
            break;
        }
        // A database that is briefly unreachable (a restart, a failover) does not end the
        // stream: the next hint (the hub sends `Resync` when its listener reconnects) or the
        // re-authentication tick reads again. Anything else (gone, no longer readable) does.
        let current = match s.store.actor(&auth.subject).chat(chat_id).await {
            Ok(c) => c,
            Err(StoreError::Database(e)) => {
                tracing::debug!(chat = %chat_id, error = %e, "chat stream re-read failed; waiting for the next hint");
                continue;
            }
            Err(_) => break,
        };
        match seen.catch_up(&s, &auth.subject, &current).await {
            Ok(events) if events.is_empty() => {}
            Ok(events) => {
                if !send_batch(&mut sink, &events).await {
                    break;
                }
            }
            Err(StoreError::Database(e)) => {
                tracing::debug!(chat = %chat_id, error = %e, "chat stream re-read failed; waiting for the next hint");
            }
            Err(_) => break,
        }
    }
    if let Ok(c) = s.store.actor(&auth.subject).chat(chat_id).await {
        let _ = s.store.actor(&auth.subject).mark_chat_read(&c).await;
    }
    let _ = sink.close().await;
}

/// Whether a message from a stream's client ends the stream: the client never writes, so
/// anything but a pong or a ping does.
fn ends_stream(m: &Message) -> bool {
    !matches!(m, Message::Pong(_) | Message::Ping(_))
}

/// Reads the client's half of a stream socket until the client closes it, breaks it, or sends
/// anything but a pong or a ping (see [`ends_stream`]); the receiver then completes. Dropping
/// the receiver (the stream ended for its own reasons) stops the reading.
fn read_until_close(mut incoming: futures::stream::SplitStream<WebSocket>) -> tokio::sync::oneshot::Receiver<()> {
    let (gone, rx) = tokio::sync::oneshot::channel();
    let mut gone = Some(gone);
    tokio::spawn(async move {
        loop {
            let ended = tokio::select! {
                _ = gone.as_mut().expect("not yet sent").closed() => return,
                msg = incoming.next() => !matches!(msg, Some(Ok(ref m)) if !ends_stream(m)),
            };
            if ended {
                if let Some(gone) = gone.take() {
                    let _ = gone.send(());
                }
                return;
            }
        }
    });
    rx
}

#[utoipa::path(get, path = "/api/experimental/chats/watch", tag = "chats",
    responses((status = 101, description = "WebSocket: JSON arrays of ChatWatchEvent")))]
pub async fn watch(State(s): State<AppState>, auth: Auth, ws: WebSocketUpgrade) -> Response {
    let hints = s.hub().subscribe();
    let auth_changes = s.store.auth_changes();
    small_buffers(ws).on_upgrade(move |socket| async move {
        let _counted = s.provisioning.agents().socket_opened(agentry_provisioner::SocketKind::Watch);
        run_watch(s, auth, hints, auth_changes, socket).await
    })
}

/// Whether a received auth change may concern `user` (a lagged receiver missed some: maybe), or
/// `None` when the channel closed: the process no longer hears of access changes, so a socket
/// holding access must end (and a closed channel is always ready: polled first in a biased
/// `select!`, it would otherwise starve every other branch).
fn concerns(change: Result<AuthChange, RecvError>, user: uuid::Uuid) -> Option<bool> {
    match change {
        Ok(c) => Some(c.concerns(user)),
        Err(RecvError::Lagged(_)) => Some(true),
        Err(RecvError::Closed) => None,
    }
}

fn watch_kind(kind: ChangeKind) -> Option<sdk::ChatWatchKind> {
    use sdk::ChatWatchKind as W;
    match kind {
        ChangeKind::Created | ChangeKind::Unarchived => Some(W::Created),
        ChangeKind::StatusChange => Some(W::StatusChange),
        ChangeKind::TitleChange => Some(W::TitleChange),
        ChangeKind::Archived => Some(W::Deleted),
        ChangeKind::ActionRequired => Some(W::ActionRequired),
        ChangeKind::Message | ChangeKind::Queue | ChangeKind::Updated => None,
    }
}

async fn run_watch(
    s: AppState,
    mut auth: Auth,
    mut hints: tokio::sync::broadcast::Receiver<ChatHint>,
    mut auth_changes: tokio::sync::broadcast::Receiver<AuthChange>,
    socket: WebSocket,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut reauth = tokio::time::interval(REAUTH_EVERY);
    reauth.reset();
    loop {
        let change = tokio::select! {
            hint = hints.recv() => match hint {
                Ok(ChatHint::Changed(c)) if c.owner_id == auth.subject.user_id() => Some(c),
                // Missed events cannot be recovered here; clients refetch the list on reconnect,
                // so close and let them.
                Err(RecvError::Lagged(_)) | Ok(ChatHint::Resync) => break,
                Err(RecvError::Closed) => break,
                Ok(_) => None,
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() { break }
                None
            }
            _ = reauth.tick() => {
                if auth.refresh(&s).await.is_err() { break }
                None
            }
            change = auth_changes.recv() => {
                let Some(concerned) = concerns(change, auth.user.id) else { break };
                if concerned {
                    let before: Vec<uuid::Uuid> = auth.subject.org_ids().collect();
                    if auth.refresh(&s).await.is_err() { break }
                    // Removed from an organization: the client's list still shows chats it
                    // may no longer see, and watch has no event for that. Closing makes it
                    // reconnect and refetch.
                    if before.iter().any(|o| !auth.subject.is_member_of(*o)) { break }
                }
                None
            }
            msg = incoming.next() => match msg {
                Some(Ok(Message::Pong(_))) | Some(Ok(Message::Ping(_))) => None,
                _ => break,
            },
        };
        let Some(change) = change else { continue };
        let Some(kind) = watch_kind(change.kind) else { continue };
        let chat = match s.store.actor(&auth.subject).chat(change.chat_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => continue,
            // A briefly unreachable database loses this one change, not the socket.
            Err(StoreError::Database(e)) => {
                tracing::debug!(chat = %change.chat_id, error = %e, "watch re-read failed");
                continue;
            }
            Err(_) => break,
        };
        let event = sdk::ChatWatchEvent { kind, chat: convert::chat(chat, Vec::new()) };
        if !send_batch(&mut sink, &[event]).await {
            break;
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One timer serves both: the ping every 15 s, the re-authentication every 30 s, each
    /// on its own schedule however late the timer is polled.
    #[test]
    fn the_ping_and_the_reauthentication_keep_their_own_schedules() {
        let t0 = tokio::time::Instant::now();
        let mut timers = Timers::new(t0);
        assert_eq!(timers.next(), t0 + PING_EVERY);
        let due = timers.due(t0 + PING_EVERY);
        assert!(due.ping && !due.reauth);
        assert_eq!(timers.next(), t0 + REAUTH_EVERY, "the next ping is due with the re-authentication");
        let due = timers.due(t0 + REAUTH_EVERY);
        assert!(due.ping && due.reauth);
        assert_eq!(timers.next(), t0 + REAUTH_EVERY + PING_EVERY);
        // Polled late (a busy machine): what is overdue fires once, then counts from now.
        let late = t0 + REAUTH_EVERY * 3;
        let due = timers.due(late);
        assert!(due.ping && due.reauth);
        assert_eq!(timers.next(), late + PING_EVERY);
        assert!(!timers.due(late + PING_EVERY / 2).ping);
    }

    #[test]
    fn a_live_frame_is_the_json_of_its_stream_event() {
        let chat = uuid::Uuid::new_v4();
        for (kind, body) in [
            (LiveKind::Part, serde_json::json!({"role": "assistant", "part": {"type": "text", "text": "hé \"x\""}})),
            (LiveKind::Retry, serde_json::json!({"attempt": 2, "delay_ms": 1000, "error": "busy", "status": 529})),
        ] {
            let e = LiveEvent { chat_id: chat, seq: 7, kind, body: serde_json::value::to_raw_value(&body).unwrap() };
            // The same JSON (key order may differ: the direct frame keeps the stored object's).
            let direct: serde_json::Value = serde_json::from_str(&serde_json::to_string(&[live_frame(&e).unwrap()]).unwrap()).unwrap();
            let via_sdk = serde_json::to_value([live_event(&e).unwrap()]).unwrap();
            assert_eq!(direct, via_sdk);
        }
        let clear = LiveEvent { chat_id: chat, seq: 8, kind: LiveKind::Clear, body: serde_json::value::to_raw_value(&serde_json::Value::Null).unwrap() };
        assert!(live_frame(&clear).is_none() && live_event(&clear).is_none());
    }
}
