//! Per-token latency and the server's CPU per streamed token (issue 18), with the server in
//! its own process (the built binary, on its own database) so that its CPU time is its own;
//! the fake provider and the WebSocket clients run in this test process.
//!
//! `BENCH_CHATS` chats (default 500) are created, each gets one stream client, and every turn
//! waits at a gate until all streams are open; then each chat streams `BENCH_TOKENS` (200)
//! timestamped tokens `BENCH_TOKEN_MS` (100) apart. Latency = client receive time − the time the
//! fake wrote the token. Server CPU is `utime + stime` of the server process from the gate's
//! opening to the last token's arrival (so it includes each turn's persistence), divided by
//! the tokens delivered. Run with `scripts/bench/stream-latency.sh`; results in
//! `docs/benchmarks/chatd.md`.

mod common;

use std::time::Duration;

use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use common::chat::{create_chat, setup_provider};
use common::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) of process `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run scripts/bench/stream-latency.sh"]
async fn bench_stream_latency() {
    let chats = env("BENCH_CHATS", 500) as usize;
    let tokens = env("BENCH_TOKENS", 200) as usize;
    let token_ms = env("BENCH_TOKEN_MS", 100);
    let db = fresh_database().await;
    let (server, url) = spawn_server_process(&db);
    let pid = server.pid();
    let owner = first_owner(&url).await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let org = owner
        .create_organization(&sdk::CreateOrganizationRequest { name: "bench".into(), display_name: None, description: None })
        .await
        .unwrap();
    owner
        .create_user(&sdk::CreateUserRequest {
            email: "alice@example.com".into(),
            username: "alice".into(),
            password: PASSWORD.into(),
            name: None,
            organization_ids: Some(vec![org.id]),
        })
        .await
        .unwrap();
    owner.update_member_roles(&org.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    let alice = agentry_client::Client::new(&url).unwrap().logged_in("alice@example.com", PASSWORD).await.unwrap();
    fake.set_handler(move |req| {
        // Title requests (after each first turn) answer at once; they are not what is measured.
        if req.body.to_string().contains("You name conversations") {
            return Some(Turn::text("Bench"));
        }
        Some(Turn::new(vec![
            Step::Gate { name: "go".into() },
            Step::TextTokens { count: tokens, delay: Duration::from_millis(token_ms), embed_timestamp: true },
        ]))
    });

    let mut tasks = Vec::new();
    for i in 0..chats {
        let chat = create_chat(&alice, org.id, &format!("bench {i}")).await;
        let s = alice.stream_chat(chat.id, 0).await.unwrap();
        tasks.push(tokio::spawn(common::chat::token_latencies(s, tokens)));
    }
    // Let every turn reach the gate, so the measured window holds the streaming only.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while fake.requests().len() < chats {
        assert!(std::time::Instant::now() < deadline, "not every chat reached the provider");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (cpu0, rss0) = (cpu_seconds(pid), rss_kib(pid));
    let t0 = std::time::Instant::now();
    fake.open_gate("go");
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, rss1) = (cpu_seconds(pid), rss_kib(pid));
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "chats={chats} token_ms={token_ms} tokens={} wall={elapsed:.1}s tokens/s={:.0} server_cpu={:.2}s server_cpu/token={:.1}us server_rss={}->{}KiB p50={:.2}ms p90={:.2}ms p99={:.2}ms p999={:.2}ms max={:.2}ms",
        all.len(),
        all.len() as f64 / elapsed,
        cpu1 - cpu0,
        (cpu1 - cpu0) / all.len() as f64 * 1e6,
        rss0,
        rss1,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        *all.last().unwrap() as f64 / 1000.0,
    );
    assert_eq!(all.len(), chats * tokens, "every token reached its client");
    stop_server_process(server);
}
