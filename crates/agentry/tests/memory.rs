//! Memory per stream comes back (issue 18): a server process that had 10,000 idle chat streams
//! open returns, once they are closed, to within 10 MiB of its resident size before them.
//!
//! Before issue 18 every subscribed chat held a 4,096-slot event ring allocated up front
//! (128 KiB): 10,000 streams took over a gigabyte, and the allocator kept much of it after
//! they closed. The server runs as its own process (the built binary, API only: no chat daemon
//! is needed for idle chats) so its resident size is its own.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use sqlx::Connection;
use uuid::Uuid;

const STREAMS: usize = 10_000;
const SLACK_KIB: u64 = 10 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Opens a stream on each chat (a few hundred at a time), waits for each one's snapshot (so the
/// server has subscribed it), and returns them open.
async fn open_streams(
    client: &agentry_client::Client,
    chats: &[Uuid],
) -> Vec<agentry_client::EventStream<agentry_client::agentry_sdk::ChatStreamEvent>> {
    let mut open = Vec::with_capacity(chats.len());
    for chunk in chats.chunks(250) {
        let batch = join_all(chunk.iter().map(|&id| async move {
            let mut s = client.stream_chat(id, 0).await.unwrap();
            s.next_batch().await.expect("a snapshot").unwrap();
            s
        }))
        .await;
        open.extend(batch);
    }
    open
}

/// Raises this process's open-file limit to its hard limit (the server inherits it): 10,000
/// sockets do not fit the common default of 1,024.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_idle_streams_give_their_memory_back() {
    raise_fd_limit();
    let db = fresh_database().await;
    let (server, url) = spawn_api_only_process(&db);
    let owner = first_owner(&url).await;
    let me = owner.me().await.unwrap().id;

    // 10,000 idle chats (plus some for warming up), written directly: creating them through
    // the API would start model work, and nothing here is about creation.
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let model = Uuid::new_v4();
    sqlx::query("INSERT INTO chat_model_configs (id, provider, model, is_default) VALUES ($1, 'openai', 'm', true)")
        .bind(model)
        .execute(&mut conn)
        .await
        .unwrap();
    let chats: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, title)
         SELECT gen_random_uuid(), $1, (SELECT id FROM organizations WHERE is_default), $2, 'idle ' || i
         FROM generate_series(1, $3) i RETURNING id",
    )
    .bind(me)
    .bind(model)
    .bind((STREAMS + 500) as i32)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (warm, measured) = chats.split_at(500);

    // Warm up (connection pool, runtime threads, allocator arenas), then take the baseline.
    for s in open_streams(&owner, warm).await {
        s.close().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(server.pid());

    let streams = open_streams(&owner, measured).await;
    let peak = rss_kib(server.pid());
    join_all(streams.into_iter().map(|s| s.close())).await;

    // The server notices each close on its own schedule; give it until the deadline.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = rss_kib(server.pid());
    while after > before + SLACK_KIB && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = rss_kib(server.pid());
    }
    eprintln!("server RSS: {before} KiB before, {peak} KiB with {STREAMS} streams open, {after} KiB after closing them");
    assert!(
        after <= before + SLACK_KIB,
        "RSS {after} KiB after closing {STREAMS} idle streams, {before} KiB before (peak {peak} KiB)"
    );
    stop_server_process(server);
}
