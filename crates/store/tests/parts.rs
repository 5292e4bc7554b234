//! Live parts between two server processes' hubs on one database: forwarded once a peer has
//! announced itself, delivered only to the chat's own subscribers.

use std::str::FromStr;
use std::time::{Duration, Instant};

use agentry_store::Store;
use agentry_store::parts::{LiveKind, Parts};
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

async fn fresh_store() -> (Store, String) {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let name = format!("agentry_test_{now}_{}", Uuid::new_v4().simple());
    let mut conn = PgConnectOptions::from_str(&admin).unwrap().connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let o = PgConnectOptions::from_str(&admin).unwrap();
    let url = format!("postgres://{}@{}:{}/{name}", o.get_username(), o.get_host(), o.get_port());
    (Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap(), url)
}

#[tokio::test]
async fn parts_reach_the_other_process_once_it_is_known() {
    let (store_a, url) = fresh_store().await;
    let a = Parts::start(&store_a).await.unwrap();
    let (chat, other_chat) = (Uuid::new_v4(), Uuid::new_v4());
    let mut rx = a.subscribe(chat);
    // Alone, nothing is forwarded.
    assert!(!a.has_peers());

    let store_b = Store::connect(PgConnectOptions::from_str(&url).unwrap(), 4).await.unwrap();
    let b = Parts::start(&store_b).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b.has_peers() {
        assert!(Instant::now() < deadline, "process B never heard of process A");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.publish(other_chat, LiveKind::Part, serde_json::json!({"role": "assistant", "part": {"type": "text", "text": "not yours"}}));
    b.publish(chat, LiveKind::Part, serde_json::json!({"role": "assistant", "part": {"type": "text", "text": "hello"}}));
    b.flush().await;
    let e = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.unwrap().unwrap();
    assert_eq!(e.chat_id, chat, "a subscriber gets only its own chat's events");
    assert_eq!(e.body["part"]["text"], "hello");
    // A keeps the parts of the step in flight for streams that connect later, per chat.
    assert_eq!(a.buffered(chat).len(), 1);
    assert_eq!(a.buffered(other_chat).len(), 1);
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
    assert_eq!(e.body["n"], 1);
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
        assert_eq!(fast.recv().await.unwrap().body["n"], n);
    }
    match slow.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => assert_eq!(skipped, 5_000 - 4_096),
        other => panic!("expected a lag notice, got {other:?}"),
    }
    assert_eq!(slow.recv().await.unwrap().body["n"], 5_000 - 4_096);
    assert!(fast.try_recv().is_err(), "nothing left for the stream that kept up");
}
