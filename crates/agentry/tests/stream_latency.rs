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

/// The benchmarks' users on a fresh server at `url`: the first owner makes `fake` the model and
/// creates an organization with alice (agents-access) in it; returns alice's client and the org.
async fn bench_users(url: &str, fake: &FakeLlm) -> (agentry_client::Client, sdk::Organization) {
    let owner = first_owner(url).await;
    setup_provider(&owner, fake).await;
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
    let alice = agentry_client::Client::new(url).unwrap().logged_in("alice@example.com", PASSWORD).await.unwrap();
    (alice, org)
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
    let fake = FakeLlm::start().await;
    let (alice, org) = bench_users(&url, &fake).await;
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
        tasks.push(tokio::spawn(common::chat::timed_token_latencies(s, tokens)));
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
    // For a profiler attached from outside (see docs/benchmarks/chatd.md): the window starts now.
    eprintln!("bench: gate open, server pid {pid}");
    let t0_unix_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    // Per chat, in arrival order: (arrival, latency), µs.
    let mut per_chat = Vec::new();
    for t in tasks {
        per_chat.push(t.await.unwrap());
    }
    let timed: Vec<(i64, i64)> = per_chat.iter().flatten().copied().collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, rss1) = (cpu_seconds(pid), rss_kib(pid));
    if std::env::var("BENCH_TIMELINE").is_ok() {
        // When the slow tokens arrived (ms after the gate), in 100 ms buckets: whether the
        // tail is spread over the run or is one stall (start, turn ends, a trim).
        let mut buckets = std::collections::BTreeMap::<i64, (usize, usize, i64)>::new();
        for &(at, lat) in &timed {
            let b = buckets.entry((at - t0_unix_us) / 100_000).or_default();
            b.0 += 1;
            if lat > 10_000 {
                b.1 += 1;
            }
            b.2 = b.2.max(lat);
        }
        for (b, (n, slow, max)) in buckets.iter().filter(|(_, v)| v.1 > 0) {
            eprintln!("timeline: {:>6} ms tokens={n} over_10ms={slow} max={:.1}ms", b * 100, *max as f64 / 1000.0);
        }
        // Which of its chat's tokens a slow one was (the first of each answer, or any): the
        // start of a turn costs the server more than a token, the test's side too.
        let mut by_index = std::collections::BTreeMap::<usize, (usize, i64)>::new();
        for chat in &per_chat {
            for (i, &(_, lat)) in chat.iter().enumerate().filter(|(_, t)| t.1 > 10_000) {
                let e = by_index.entry(i).or_default();
                e.0 += 1;
                e.1 = e.1.max(lat);
            }
        }
        for (i, (n, max)) in &by_index {
            eprintln!("timeline: token #{i:<4} over_10ms={n} max={:.1}ms", *max as f64 / 1000.0);
        }
    }
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        // Every token as `chat index written_us arrived_us` (unix µs), to join with a packet
        // capture of the loopback (which of server, fake or client held a slow token).
        let mut out = String::new();
        for (c, chat) in per_chat.iter().enumerate() {
            for (i, &(at, lat)) in chat.iter().enumerate() {
                out.push_str(&format!("{c} {i} {} {at}\n", at - lat));
            }
        }
        std::fs::write(&path, out).unwrap();
        eprintln!("bench: tokens written to {path}");
    }
    let mut all: Vec<i64> = timed.into_iter().map(|(_, l)| l).collect();
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

/// CPU seconds of every process named `name` on this machine (PostgreSQL's backends, the NATS
/// server). Other work on the machine counts too; the results say so.
fn cpu_seconds_named(name: &str) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let comm = stat.split('(').nth(1).and_then(|r| r.rsplit_once(')')).map(|(c, _)| c).unwrap_or("");
        if comm == name {
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
            total += (fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0)) / 100.0;
        }
    }
    total
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.into()).split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The multi-replica benchmark of `docs/benchmarks/replicas.md` (issue 16): for each transport
/// (`BENCH_TRANSPORTS`, default `postgres,nats`) and replica count (`BENCH_REPLICAS`, `1,2,3`),
/// that many server processes (the built binary) on one fresh database, replica 0 the only
/// one running chats (`--chat-daemon false` elsewhere) and, with 2 or 3 replicas, every
/// WebSocket client connected to one of the others (round robin), so each token crosses the
/// transport. At each token interval of `BENCH_TOKEN_MS` (default `100,20,10`), `BENCH_CHATS`
/// (100) chats stream `BENCH_TOKENS` (100) timestamped tokens each, started together at a gate.
/// One line per run: tokens/s delivered, provider → client latency, CPU per token of each
/// server process, PostgreSQL's (all `postgres` processes) and nats-server's CPU, the load
/// average. Run with `scripts/bench/replicas.sh`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run scripts/bench/replicas.sh"]
async fn bench_replicas() {
    let chats = env("BENCH_CHATS", 100) as usize;
    let tokens = env("BENCH_TOKENS", 100) as usize;
    let rates: Vec<u64> = env_list("BENCH_TOKEN_MS", "100,20,10").iter().map(|s| s.parse().unwrap()).collect();
    let counts: Vec<usize> = env_list("BENCH_REPLICAS", "1,2,3").iter().map(|s| s.parse().unwrap()).collect();
    for transport in env_list("BENCH_TRANSPORTS", "postgres,nats") {
        for &replicas in &counts {
            let nats = (transport == "nats").then(agentry_store::fanout::NatsServer::start);
            let db = fresh_database().await;
            let fake = FakeLlm::start().await;
            let mut servers = Vec::new();
            let mut alice0 = None;
            for i in 0..replicas {
                let mut extra = vec![];
                if i > 0 {
                    extra.extend(["--chat-daemon", "false"]);
                }
                if let Some(n) = &nats {
                    extra.extend(["--pubsub", n.url()]);
                }
                let dir = tempfile::tempdir().unwrap().keep();
                servers.push(spawn_agentry_with(Some(&db), &dir, &extra));
                if i == 0 {
                    // Migrated, with its users, before the others join.
                    alice0 = Some(bench_users(&servers[0].1, &fake).await);
                }
            }
            let (alice0, org) = alice0.unwrap();
            // Clients on the replicas that do not run the chats (all on replica 0 when alone).
            let mut clients = Vec::new();
            for (_, url) in servers.iter().skip(if replicas > 1 { 1 } else { 0 }) {
                clients.push(agentry_client::Client::new(url).unwrap().logged_in("alice@example.com", PASSWORD).await.unwrap());
            }
            for (round, &token_ms) in rates.iter().enumerate() {
                let gate = format!("go{round}");
                let g = gate.clone();
                fake.set_handler(move |req| {
                    if req.body.to_string().contains("You name conversations") {
                        return Some(Turn::text("Bench"));
                    }
                    Some(Turn::new(vec![
                        Step::Gate { name: g.clone() },
                        Step::TextTokens { count: tokens, delay: Duration::from_millis(token_ms), embed_timestamp: true },
                    ]))
                });
                let agent_calls = |f: &FakeLlm| f.requests().iter().filter(|r| !r.body.to_string().contains("You name conversations")).count();
                let before = agent_calls(&fake);
                let mut tasks = Vec::new();
                for i in 0..chats {
                    let chat = create_chat(&alice0, org.id, &format!("bench {round} {i}")).await;
                    let s = clients[i % clients.len()].stream_chat(chat.id, 0).await.unwrap();
                    tasks.push(tokio::spawn(common::chat::token_latencies(s, tokens)));
                }
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while agent_calls(&fake) < before + chats {
                    assert!(std::time::Instant::now() < deadline, "not every chat reached the provider");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let pids: Vec<u32> = servers.iter().map(|(p, _)| p.pid()).collect();
                let cpu0: Vec<f64> = pids.iter().map(|&p| cpu_seconds(p)).collect();
                let (pg0, nats0) = (cpu_seconds_named("postgres"), cpu_seconds_named("nats-server"));
                let t0 = std::time::Instant::now();
                fake.open_gate(&gate);
                let mut all = Vec::new();
                for t in tasks {
                    // A stream that misses tokens ends short; the shortfall is reported.
                    if let Ok(Ok(l)) = tokio::time::timeout(Duration::from_secs(120), t).await {
                        all.extend(l);
                    }
                }
                let elapsed = t0.elapsed().as_secs_f64();
                let cpu: Vec<f64> = pids.iter().zip(&cpu0).map(|(&p, c0)| cpu_seconds(p) - c0).collect();
                let pg = cpu_seconds_named("postgres") - pg0;
                let nats_cpu = cpu_seconds_named("nats-server") - nats0;
                let load = std::fs::read_to_string("/proc/loadavg").unwrap();
                all.sort_unstable();
                let n = all.len().max(1);
                let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0;
                let total: f64 = cpu.iter().sum::<f64>() + pg + nats_cpu;
                println!(
                    "transport={transport} replicas={replicas} chats={chats} token_ms={token_ms} offered/s={:.0} delivered={}/{} tokens/s={:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms cpu/token_us=[{}] pg_cpu={:.2}s pg_share={:.0}% nats_cpu={:.2}s load={}",
                    (chats as f64) * 1000.0 / token_ms as f64,
                    all.len(),
                    chats * tokens,
                    all.len() as f64 / elapsed,
                    pct(0.5),
                    pct(0.99),
                    all.last().copied().unwrap_or(0) as f64 / 1000.0,
                    cpu.iter().map(|c| format!("{:.1}", c / n as f64 * 1e6)).collect::<Vec<_>>().join(","),
                    pg,
                    if total > 0.0 { pg / total * 100.0 } else { 0.0 },
                    nats_cpu,
                    load.split_whitespace().take(3).collect::<Vec<_>>().join("/"),
                );
            }
            for (p, _) in servers {
                stop_server_process(p);
            }
            drop(nats);
        }
    }
}

