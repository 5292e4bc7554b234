//! The local provisioner on a temporary directory: the startup script's environment and log,
//! stop ending what it started, delete removing the directory.

use std::time::{Duration, Instant};

use agentry_agent::ExecuteRequest;
use agentry_provisioner::{BuildSpec, LocalProvisioner, LogLine, Logs, ProvisionError, Provisioner};
use agentry_store::templates::NetworkMode;
use agentry_store::workspaces::LogStream;
use tokio::sync::mpsc;
use uuid::Uuid;

fn spec(script: &str) -> BuildSpec {
    BuildSpec {
        build_id: Uuid::now_v7(),
        workspace_id: Uuid::now_v7(),
        workspace_name: "ws".into(),
        owner_name: "alice".into(),
        startup_script: script.into(),
        parameters: vec![("region".into(), "eu-west".into()), ("path".into(), "not-the-PATH".into())],
        network: NetworkMode::Full,
    }
}

fn logs() -> (Logs, mpsc::UnboundedReceiver<LogLine>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Logs::new(tx), rx)
}

fn drain(rx: &mut mpsc::UnboundedReceiver<LogLine>) -> Vec<LogLine> {
    let mut out = Vec::new();
    while let Ok(l) = rx.try_recv() {
        out.push(l);
    }
    out
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie is reaped by its parent shell quickly, so also look
    // at /proc for a state other than Z.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn start_runs_the_script_with_parameters_and_stop_ends_its_processes() {
    let root = tempfile::tempdir().unwrap();
    let p = LocalProvisioner::new(root.path().join("workspaces")).with_shutdown_grace(Duration::from_millis(500));
    let s = spec(
        "echo \"region=$AGENTRY_PARAM_REGION owner=$AGENTRY_WORKSPACE_OWNER\"\n\
         test \"$PATH\" != not-the-PATH && echo path-intact\n\
         echo hello > greeting.txt\n\
         sleep 300 & echo $! > sleeper.pid",
    );
    let (l, mut rx) = logs();
    p.start(&s, &l).await.unwrap();
    let lines = drain(&mut rx);
    let script: Vec<&str> =
        lines.iter().filter(|l| l.stream == LogStream::Script).map(|l| l.output.as_str()).collect();
    assert_eq!(script, ["region=eu-west owner=alice", "path-intact"]);

    let dir = p.workspace_dir(s.workspace_id);
    assert_eq!(std::fs::read_to_string(dir.join("greeting.txt")).unwrap(), "hello\n");
    let pid: i32 = std::fs::read_to_string(dir.join("sleeper.pid")).unwrap().trim().parse().unwrap();
    assert!(alive(pid));

    let agent = p.agent(s.workspace_id).expect("agent registered after start");
    let out = agent.execute(ExecuteRequest::new("cat greeting.txt", Duration::from_secs(10))).await.unwrap();
    assert_eq!(out.output, "hello\n");

    p.stop(&s, &l).await.unwrap();
    assert!(p.agent(s.workspace_id).is_none());
    assert!(!alive(pid), "the background sleeper survived stop");

    p.delete(&s, &l).await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_failing_script_fails_the_start_and_leaves_no_agent() {
    let root = tempfile::tempdir().unwrap();
    let p = LocalProvisioner::new(root.path().to_path_buf());
    let s = spec("echo about to fail; exit 3");
    let (l, mut rx) = logs();
    let err = p.start(&s, &l).await.unwrap_err();
    assert!(matches!(err, ProvisionError::ScriptFailed { code: 3 }), "{err}");
    assert!(drain(&mut rx).iter().any(|l| l.output == "about to fail"));
    assert!(p.agent(s.workspace_id).is_none());
}

#[tokio::test]
async fn resume_reattaches_an_agent_to_an_existing_directory() {
    let root = tempfile::tempdir().unwrap();
    let p = LocalProvisioner::new(root.path().to_path_buf());
    let s = spec("echo kept > kept.txt");
    let (l, _rx) = logs();
    p.start(&s, &l).await.unwrap();

    let after_restart = LocalProvisioner::new(root.path().to_path_buf());
    assert!(after_restart.agent(s.workspace_id).is_none());
    after_restart.resume(s.workspace_id).await.unwrap();
    let agent = after_restart.agent(s.workspace_id).unwrap();
    let started = Instant::now();
    let out = agent.execute(ExecuteRequest::new("cat kept.txt", Duration::from_secs(10))).await.unwrap();
    assert_eq!(out.output, "kept\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(after_restart.resume(Uuid::now_v7()).await.is_err());
    p.shutdown().await;
}
