//! Measures what the sandbox adds to a command: `echo ok` through `LocalAgent::execute`, 200
//! times unsandboxed and 200 times in the bubblewrap sandbox, interleaved in one run so both see
//! the same machine. Prints p50/p99 of each and of the difference. Needs root and `bwrap`.
//!
//! `cargo run --release -p agentry-agent --example sandbox_overhead [calls]`

use std::time::{Duration, Instant};

use agentry_agent::{ExecuteRequest, Identity, LocalAgent, Network, SandboxSpec, WorkspaceAgent, find_bwrap};

/// One `echo ok` through the agent, in milliseconds.
async fn time(agent: &LocalAgent) -> f64 {
    let req = ExecuteRequest::new("echo ok", Duration::from_secs(30));
    let started = Instant::now();
    let r = agent.execute(req).await.unwrap();
    assert_eq!(r.output, "ok\n");
    started.elapsed().as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let bwrap = find_bwrap(&std::env::var("PATH").unwrap_or_default()).await.expect("bwrap");
    let dir = tempfile::tempdir().unwrap();
    let (plain_root, boxed_root) = (dir.path().join("plain"), dir.path().join("boxed"));
    std::fs::create_dir_all(&plain_root).unwrap();
    std::fs::create_dir_all(&boxed_root).unwrap();
    let uid = 2_900_000;
    std::os::unix::fs::chown(&boxed_root, Some(uid), Some(uid)).unwrap();
    let spec = SandboxSpec {
        bwrap,
        identity: Identity::Uid { uid, gid: uid },
        network: Network::Full,
        state_dir: dir.path().join("state"),
    };
    spec.prepare().unwrap();
    let plain = LocalAgent::new(plain_root);
    let boxed = LocalAgent::sandboxed(boxed_root, spec);

    // Warm up both paths (page cache, first exec of each binary).
    for _ in 0..10 {
        time(&plain).await;
        time(&boxed).await;
    }
    let (mut p, mut b) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        p.push(time(&plain).await);
        b.push(time(&boxed).await);
    }
    p.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    println!("calls per variant: {calls}");
    println!("unsandboxed  p50 {:6.2} ms  p99 {:6.2} ms", percentile(&p, 0.5), percentile(&p, 0.99));
    println!("sandboxed    p50 {:6.2} ms  p99 {:6.2} ms", percentile(&b, 0.5), percentile(&b, 0.99));
    println!(
        "overhead     p50 {:6.2} ms  p99 {:6.2} ms",
        percentile(&b, 0.5) - percentile(&p, 0.5),
        percentile(&b, 0.99) - percentile(&p, 0.99)
    );
}
