//! Live parts between two server processes' hubs on one database, under both fan-out
//! transports: delivered only to the chat's own subscribers; under PostgreSQL forwarded once a
//! peer has announced itself, under NATS only to processes that watch the chat.

mod common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use agentry_store::Store;
use agentry_store::fanout::{NatsServer, PubSub};
use agentry_store::parts::{LiveKind, Parts};
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

async fn fresh_store() -> (Store, String) {
    let url = common::fresh_database().await;
    (Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap(), url)
}

/// The fan-out transports every cross-process test runs under: PostgreSQL `pg_notify` (the
/// default) and a real NATS server started for the test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    Postgres,
    Nats,
}

/// Defines a module `name` with one `#[tokio::test]` per transport, `name::over_postgres` and
/// `name::over_nats`, each calling the function `name(Via::…)`.
macro_rules! under_both_transports {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn over_postgres() {
                super::$name(super::Via::Postgres).await
            }
            #[tokio::test]
            async fn over_nats() {
                super::$name(super::Via::Nats).await
            }
        }
    };
}

/// Two hubs on one database, as two server processes have, over `via` (with the NATS server
/// it needs, kept alive by the caller).
async fn two_hubs(via: Via) -> (Parts, Parts, Option<NatsServer>) {
    let (store_a, url) = fresh_store().await;
    let store_b = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    let nats = (via == Via::Nats).then(NatsServer::start);
    let pubsub = nats.as_ref().map(NatsServer::pubsub).unwrap_or(PubSub::Postgres);
    let a = Parts::start_with(&store_a, &pubsub).await.unwrap();
    let b = Parts::start_with(&store_b, &pubsub).await.unwrap();
    (a, b, nats)
}

fn text(t: &str) -> serde_json::Value {
    serde_json::json!({"role": "assistant", "part": {"type": "text", "text": t}})
}

under_both_transports!(parts_reach_a_watching_process);

/// A stream on process A of a chat that process B runs gets B's parts, and only its chat's.
/// Under NATS, A receives none of the parts of a chat nobody watches there (under PostgreSQL
/// every process receives every chat's parts); a stream that starts watching mid-step gets the
/// step so far from B either way; and once A's last stream of a chat goes, so do its parts.
async fn parts_reach_a_watching_process(via: Via) {
    let (a, b, _nats) = two_hubs(via).await;
    let (chat, unwatched, late) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut rx = a.subscribe(chat);
    // A stream takes its snapshot after subscribing; under NATS that also means A's
    // subscription is in place at the server.
    assert!(a.snapshot(chat).await.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b.has_peers() {
        assert!(via == Via::Postgres, "NATS forwards without peer bookkeeping");
        assert!(Instant::now() < deadline, "process B never heard of process A");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.publish(unwatched, LiveKind::Part, text("nobody watches this here"));
    b.publish(late, LiveKind::Part, text("before the late stream"));
    b.publish(chat, LiveKind::Part, text("hello"));
    b.flush().await;
    let e = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.unwrap().unwrap();
    assert_eq!(e.chat_id, chat, "a subscriber gets only its own chat's events");
    assert_eq!(e.value()["part"]["text"], "hello");
    // A keeps the parts of the step in flight for streams that connect later, per chat.
    assert_eq!(a.buffered(chat).len(), 1);
    // B sent `unwatched` before `chat` on the same connection, so it would have arrived first.
    let expected = if via == Via::Nats { 0 } else { 1 };
    assert_eq!(a.buffered(unwatched).len(), expected, "parts of an unwatched chat on A under {via:?}");
    assert_eq!(a.live_buffers(), if via == Via::Nats { 1 } else { 3 });

    // A stream of `late` on A starts with the step's parts so far, wherever they are.
    let mut late_rx = a.subscribe(late);
    let snap = a.snapshot(late).await;
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(snap[0].value()["part"]["text"], "before the late stream");
    b.publish(late, LiveKind::Part, text("after"));
    b.flush().await;
    let e = tokio::time::timeout(Duration::from_secs(60), late_rx.recv()).await.unwrap().unwrap();
    assert_eq!(e.value()["part"]["text"], "after");

    // The last stream of `chat` goes; under NATS, so does A's subscription.
    drop(rx);
    drop(late_rx);
    let mut barrier = a.subscribe(unwatched);
    let _ = a.snapshot(unwatched).await;
    b.publish(chat, LiveKind::Part, text("nobody watches this any more"));
    b.publish(unwatched, LiveKind::Part, text("barrier"));
    b.flush().await;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), barrier.recv()).await.unwrap().unwrap();
        if e.value()["part"]["text"] == "barrier" {
            break;
        }
    }
    assert_eq!(a.buffered(chat).len(), if via == Via::Nats { 1 } else { 2 }, "parts after the last stream went");
}

#[tokio::test]
async fn a_chats_channel_is_freed_when_its_last_stream_goes() {
    let (store, _) = fresh_store().await;
    let parts = Parts::start(&store).await.unwrap();
    // 10,000 streams subscribe once and go away with no event ever arriving for their chats:
    // each channel (a 4,096-slot ring) must go with its last subscriber.
    let chats: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
    let subs: Vec<_> = chats.iter().map(|&c| parts.subscribe(c)).collect();
    assert_eq!(parts.live_channels(), 10_000);
    drop(subs);
    assert_eq!(parts.live_channels(), 0, "idle chats' channels outlived their streams");

    // Two streams of one chat: the channel stays for the second, and still delivers.
    let chat = chats[0];
    let first = parts.subscribe(chat);
    let mut second = parts.subscribe(chat);
    drop(first);
    assert_eq!(parts.live_channels(), 1);
    parts.publish(chat, LiveKind::Part, serde_json::json!({"n": 1}));
    let e = tokio::time::timeout(Duration::from_secs(60), second.recv()).await.unwrap().unwrap();
    assert_eq!(e.value()["n"], 1);
    drop(second);
    assert_eq!(parts.live_channels(), 0);
}

#[tokio::test]
async fn a_steps_buffer_goes_with_the_step_or_when_left_idle() {
    let (store, _) = fresh_store().await;
    let parts = Parts::start(&store).await.unwrap();
    // Parts published with no stream watching still fill each chat's snapshot buffer.
    let chats: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
    for &c in &chats {
        parts.publish(c, LiveKind::Part, serde_json::json!({"role": "assistant", "part": {"type": "text", "text": "x"}}));
    }
    assert_eq!(parts.live_buffers(), 10_000);
    // The step's end frees it.
    for &c in &chats[..5_000] {
        parts.publish(c, LiveKind::Clear, serde_json::Value::Null);
    }
    assert_eq!(parts.live_buffers(), 5_000);
    // A step whose end never arrives (its worker died on another process, or that process
    // stopped forwarding to us) is dropped once idle, not kept forever.
    parts.drop_idle_buffers(Duration::from_secs(3_600));
    assert_eq!(parts.live_buffers(), 5_000, "buffers in use must stay");
    parts.drop_idle_buffers(Duration::ZERO);
    assert_eq!(parts.live_buffers(), 0);
    assert!(parts.buffered(chats[9_999]).is_empty());
}

#[tokio::test]
async fn a_stream_that_falls_far_behind_skips_ahead_and_goes_on() {
    let (store, _) = fresh_store().await;
    let parts = Parts::start(&store).await.unwrap();
    let chat = Uuid::new_v4();
    let mut slow = parts.subscribe(chat);
    let mut fast = parts.subscribe(chat);
    for n in 0..5_000 {
        parts.publish(chat, LiveKind::Part, serde_json::json!({"n": n}));
        // The other stream keeps up and misses nothing.
        assert_eq!(fast.recv().await.unwrap().value()["n"], n);
    }
    match slow.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => assert_eq!(skipped, 5_000 - 4_096),
        other => panic!("expected a lag notice, got {other:?}"),
    }
    assert_eq!(slow.recv().await.unwrap().value()["n"], 5_000 - 4_096);
    assert!(fast.try_recv().is_err(), "nothing left for the stream that kept up");
}
