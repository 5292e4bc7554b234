//! Workspace operations through the agent: one round trip on the replica holding the agent's
//! connection versus relayed through another replica, and whole-file read throughput.
//!
//! Starts two real `agentry server` processes on one fresh PostgreSQL database and an external
//! workspace whose `agentry agent` (the real binary) connects to replica A, then measures, in
//! one run:
//!
//! - `POST /workspaces/{id}/execute` of `true` (500 calls each after 50 warm-up calls, A and B
//!   alternating) sent to A (same replica: HTTP → A → agent) and to B (relayed: HTTP → B → A →
//!   agent);
//! - `GET /workspaces/{id}/files/content` of a 10 MiB file, 10 times through each.
//!
//! Results: `docs/benchmarks/agent-relay.md`. Run with a PostgreSQL at `DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`):
//!
//!     cargo bench -p agentry --bench agent_relay

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

const WARMUP: usize = 50;
const CALLS: usize = 500;
const FILE_BYTES: usize = 10 * 1024 * 1024;
const FILE_ROUNDS: usize = 10;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(db: &str, dir: &std::path::Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(["server", "--http-address", "127.0.0.1:0", "--chat-daemon", "false", "--postgres-url", db, "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("agentry listening on ").unwrap().to_string();
    (Killed(child), url)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Round trips of `execute("true")` through `a` and `b`, interleaved call by call so both see
/// the same machine load.
async fn execute_round_trips(a: &Client, b: &Client, ws: uuid::Uuid) -> (Vec<Duration>, Vec<Duration>) {
    let req = sdk::WorkspaceExecuteRequest { command: "true".into(), workdir: None, timeout_ms: Some(60_000), run_in_background: false };
    for _ in 0..WARMUP {
        a.execute(ws, &req).await.unwrap();
        b.execute(ws, &req).await.unwrap();
    }
    let (mut ta, mut tb) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        for (c, times) in [(a, &mut ta), (b, &mut tb)] {
            let t = Instant::now();
            let r = c.execute(ws, &req).await.unwrap();
            times.push(t.elapsed());
            assert_eq!(r.exit_code, Some(0));
        }
    }
    ta.sort();
    tb.sort();
    (ta, tb)
}

async fn file_reads(c: &Client, ws: uuid::Uuid) -> Vec<Duration> {
    let mut times = Vec::with_capacity(FILE_ROUNDS);
    for _ in 0..FILE_ROUNDS {
        let t = Instant::now();
        let bytes = c.workspace_file(ws, "big.bin").await.unwrap();
        times.push(t.elapsed());
        assert_eq!(bytes.len(), FILE_BYTES);
    }
    times.sort();
    times
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("agentry_bench_agents_{}", std::process::id());
    let mut conn = PgConnectOptions::from_str(&admin).unwrap().connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let opts = PgConnectOptions::from_str(&admin).unwrap();
    let db = format!("postgres://{}@{}:{}/{name}", opts.get_username(), opts.get_host(), opts.get_port());

    let scratch = tempfile::tempdir().unwrap();
    let (a, url_a) = server(&db, &scratch.path().join("a"));
    let (b, url_b) = server(&db, &scratch.path().join("b"));
    let owner = Client::new(&url_a).unwrap();
    owner
        .create_first_user(&sdk::CreateFirstUserRequest {
            email: "owner@example.com".into(),
            username: "owner".into(),
            password: "correct horse battery".into(),
            name: None,
        })
        .await
        .unwrap();
    let owner = owner.logged_in("owner@example.com", "correct horse battery").await.unwrap();
    let org = owner.organization("default").await.unwrap();
    let t = owner
        .create_template("default", &sdk::CreateTemplateRequest {
            name: "bench".into(),
            display_name: None,
            description: None,
            startup_script: None,
            parameters: None,
            network: None,
            kind: Some(sdk::TemplateKind::External),
        })
        .await
        .unwrap();
    let w = owner
        .create_workspace(&org.id.to_string(), "me", &sdk::CreateWorkspaceRequest {
            template_id: t.id,
            name: "bench".into(),
            rich_parameter_values: vec![],
        })
        .await
        .unwrap();
    let creds = owner.external_agent(w.id).await.unwrap();
    let home = scratch.path().join("agent");
    std::fs::create_dir_all(&home).unwrap();
    let content: Vec<u8> = (0..FILE_BYTES).map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[i % 27]).collect();
    std::fs::write(home.join("big.bin"), &content).unwrap();
    let agent = Killed(
        Command::new(env!("CARGO_BIN_EXE_agentry"))
            .args(["agent", "--url", &url_a])
            .env("AGENTRY_AGENT_TOKEN", &creds.token)
            .current_dir(&home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let build = owner.wait_for_build(w.latest_build.id, |_| {}).await.unwrap();
    assert_eq!(build.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", build.job.error);
    let via_b = Client::new(&url_b).unwrap().with_token(owner.token().unwrap());

    let (same, relayed) = execute_round_trips(&owner, &via_b, w.id).await;
    let read_same = file_reads(&owner, w.id).await;
    let read_relayed = file_reads(&via_b, w.id).await;

    println!("execute(\"true\") round trip, {CALLS} calls each (ms):");
    println!("| path | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    for (label, t) in [("same replica (client → A → agent)", &same), ("relayed (client → B → A → agent)", &relayed)] {
        let mean = t.iter().sum::<Duration>() / t.len() as u32;
        println!("| {label} | {} | {} | {} |", ms(percentile(t, 0.5)), ms(percentile(t, 0.99)), ms(mean));
    }
    println!(
        "added by the relay hop: p50 {} ms, p99 {} ms",
        ms(percentile(&relayed, 0.5).saturating_sub(percentile(&same, 0.5))),
        ms(percentile(&relayed, 0.99).saturating_sub(percentile(&same, 0.99)))
    );
    println!("\n10 MiB file read (GET /files/content), {FILE_ROUNDS} reads each:");
    println!("| path | median time (ms) | median throughput (MiB/s) |");
    println!("|---|---|---|");
    for (label, t) in [("same replica", &read_same), ("relayed", &read_relayed)] {
        let median = percentile(t, 0.5);
        println!("| {label} | {} | {:.1} |", ms(median), 10.0 / median.as_secs_f64());
    }

    drop(agent);
    drop((a, b));
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).execute(&mut conn).await;
    conn.close().await.unwrap();
}
