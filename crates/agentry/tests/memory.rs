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

/// Opens `n` watch sockets (`GET /chats/watch`) as `client`, a few hundred at a time (each
/// past its handshake).
async fn open_watches(
    client: &agentry_client::Client,
    n: usize,
) -> Vec<agentry_client::EventStream<agentry_client::agentry_sdk::ChatWatchEvent>> {
    let mut open = Vec::with_capacity(n);
    while open.len() < n {
        let batch = join_all((0..250.min(n - open.len())).map(|_| async move { client.watch_chats().await.unwrap() })).await;
        open.extend(batch);
    }
    open
}

/// The fan-out measurement of `docs/benchmarks/fanout.md` (issue 16): one server process with
/// 10,000 idle watch sockets (a user with no chats) and 1,000 stream sockets on one chat, the
/// resident size each costs, and the time one streamed token takes to reach all 1,000 streams
/// (the fake stamps it when it writes it). Run with
/// `cargo test -p agentry --test memory -- --ignored --nocapture fan_out`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; see docs/benchmarks/fanout.md"]
async fn fan_out_to_1000_streams_with_10000_idle_watches() {
    use agentry_fakellm::{FakeLlm, Step, Turn};
    const WATCHES: usize = 10_000;
    const STREAMS: usize = 1_000;
    const EVENTS: usize = 5;
    raise_fd_limit();
    let db = fresh_database().await;
    let (server, url) = spawn_agentry_with(Some(&db), &tempfile::tempdir().unwrap().keep(), &["--chat-acquire-interval", "200ms"]);
    let owner = first_owner(&url).await;
    let fake = FakeLlm::start().await;
    chat::setup_provider(&owner, &fake).await;
    fake.push_turn(Turn::new(vec![
        Step::gate("all connected"),
        Step::TextTokens { count: EVENTS, delay: Duration::from_millis(500), embed_timestamp: true },
    ]));
    let org = owner.me().await.unwrap().organization_ids[0];
    owner
        .create_user(&agentry_client::agentry_sdk::CreateUserRequest {
            email: "idle@example.com".into(),
            username: "idle".into(),
            password: PASSWORD.into(),
            name: None,
            organization_ids: None,
        })
        .await
        .unwrap();
    let idle = agentry_client::Client::new(&url).unwrap().logged_in("idle@example.com", PASSWORD).await.unwrap();
    let chat = chat::create_chat(&owner, org, "fan me out").await;
    fake.wait_for_requests(1, chat::WAIT).await;

    // Warm up, then measure each kind of socket on its own.
    for s in open_watches(&idle, 250).await {
        s.close().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = rss_kib(server.pid());
    let t = Instant::now();
    let watches = open_watches(&idle, WATCHES).await;
    let watch_open_s = t.elapsed().as_secs_f64();
    let with_watches = rss_kib(server.pid());
    let t = Instant::now();
    let streams = open_streams(&owner, &vec![chat.id; STREAMS]).await;
    let stream_open_s = t.elapsed().as_secs_f64();
    let with_streams = rss_kib(server.pid());

    // One token at a time, 500 ms apart: the latest arrival of each is the fan-out time.
    let readers: Vec<_> = streams.into_iter().map(|s| tokio::spawn(chat::token_latencies(s, EVENTS))).collect();
    fake.open_gate("all connected");
    let mut per_token: Vec<Vec<i64>> = vec![Vec::new(); EVENTS];
    for r in readers {
        for (i, l) in r.await.unwrap().into_iter().enumerate() {
            per_token[i].push(l);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap();
    println!(
        "watches={WATCHES} open={watch_open_s:.1}s rss {base} -> {with_watches} KiB ({:.1} KiB/watch); streams={STREAMS} open={stream_open_s:.1}s rss -> {with_streams} KiB ({:.1} KiB/stream); loadavg {}",
        (with_watches - base) as f64 / WATCHES as f64,
        (with_streams - with_watches) as f64 / STREAMS as f64,
        load.trim()
    );
    for (i, mut l) in per_token.into_iter().enumerate() {
        assert_eq!(l.len(), STREAMS, "token {i} reached every stream");
        l.sort_unstable();
        let ms = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)] as f64 / 1000.0;
        println!("token {i}: provider -> first client {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, last client {:.1} ms", ms(0.0), ms(0.5), ms(0.99), ms(1.0));
    }
    join_all(watches.into_iter().map(|s| s.close())).await;
    stop_server_process(server);
}
