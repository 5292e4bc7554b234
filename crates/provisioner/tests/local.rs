//! The local provisioner on a temporary directory, sandboxed as in a default deployment (these
//! tests run as root with `bwrap` installed, as `.ci/run` arranges): the startup script's
//! environment and log, stop ending what it started, delete removing the directory, and
//! refusing to run anything when the sandbox is unavailable.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use agentry_agent::ExecuteRequest;
use agentry_provisioner::{
    BuildSpec, Isolation, LocalProvisioner, LogLine, Logs, ProvisionError, Provisioner, ResumeSpec,
};
use agentry_store::templates::NetworkMode;
use agentry_store::workspaces::LogStream;
use tokio::sync::mpsc;
use uuid::Uuid;

/// A workspace uid no concurrently running test process uses.
fn fresh_uid() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    2_300_000 + (std::process::id() % 50_000) * 16 + NEXT.fetch_add(1, Ordering::Relaxed) % 16
}

async fn sandboxed(root: &Path) -> LocalProvisioner {
    let isolation = Isolation::detect(false).await;
    assert!(matches!(isolation, Isolation::Sandbox { .. }), "bwrap must be installed: {isolation:?}");
    LocalProvisioner::new(root.to_path_buf(), isolation)
}

/// Host processes running as `uid` (zombies excluded).
fn processes_of(uid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.uid() == uid))
        .filter(|e| std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z')))
        .count()
}

fn spec(script: &str) -> BuildSpec {
    BuildSpec {
        sandbox_uid: fresh_uid(),
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

#[tokio::test]
async fn start_runs_the_script_with_parameters_and_stop_ends_its_processes() {
    let root = tempfile::tempdir().unwrap();
    let p = sandboxed(&root.path().join("workspaces")).await.with_shutdown_grace(Duration::from_millis(500));
    let s = spec(
        "echo \"region=$AGENTRY_PARAM_REGION owner=$AGENTRY_WORKSPACE_OWNER\"\n\
         test \"$PATH\" != not-the-PATH && echo path-intact\n\
         echo hello > greeting.txt\n\
         sleep 300 &",
    );
    let (l, mut rx) = logs();
    p.start(&s, &l).await.unwrap();
    let lines = drain(&mut rx);
    let script: Vec<&str> =
        lines.iter().filter(|l| l.stream == LogStream::Script).map(|l| l.output.as_str()).collect();
    assert_eq!(script, ["region=eu-west owner=alice", "path-intact"]);

    let dir = p.workspace_dir(s.workspace_id);
    assert_eq!(std::fs::read_to_string(dir.join("greeting.txt")).unwrap(), "hello\n");
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (s.sandbox_uid, 0o700));
    assert_eq!(std::fs::metadata(dir.join("greeting.txt")).unwrap().uid(), s.sandbox_uid);
    assert!(processes_of(s.sandbox_uid) >= 1, "the background sleeper runs after the script");

    let agent = p.agent(s.workspace_id).expect("agent registered after start");
    let out = agent.execute(ExecuteRequest::new("cat greeting.txt", Duration::from_secs(10))).await.unwrap();
    assert_eq!(out.output, "hello\n");

    p.stop(&s, &l).await.unwrap();
    assert!(p.agent(s.workspace_id).is_none());
    assert_eq!(processes_of(s.sandbox_uid), 0, "the background sleeper survived stop");

    p.delete(&s, &l).await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_failing_script_fails_the_start_and_leaves_no_agent() {
    let root = tempfile::tempdir().unwrap();
    let p = sandboxed(root.path()).await;
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
    let p = sandboxed(root.path()).await;
    let s = spec("echo kept > kept.txt");
    let (l, _rx) = logs();
    p.start(&s, &l).await.unwrap();

    let after_restart = sandboxed(root.path()).await;
    assert!(after_restart.agent(s.workspace_id).is_none());
    let resume = |id| ResumeSpec { workspace_id: id, sandbox_uid: s.sandbox_uid, network: NetworkMode::Full };
    after_restart.resume(&resume(s.workspace_id)).await.unwrap();
    let agent = after_restart.agent(s.workspace_id).unwrap();
    let out = agent.execute(ExecuteRequest::new("cat kept.txt; id -u", Duration::from_secs(60))).await.unwrap();
    assert_eq!(out.output, format!("kept\n{}\n", s.sandbox_uid));
    assert!(after_restart.resume(&resume(Uuid::now_v7())).await.is_err());
    p.shutdown().await;
}

#[tokio::test]
async fn without_a_sandbox_nothing_starts_and_the_reason_is_given() {
    let root = tempfile::tempdir().unwrap();
    // A PATH without bwrap, as on a host where the package is missing.
    let reason = agentry_agent::find_bwrap("/nonexistent").await.unwrap_err();
    let p = LocalProvisioner::new(root.path().to_path_buf(), Isolation::Unavailable { reason: reason.clone() });
    let s = spec("touch ran.txt");
    let (l, _rx) = logs();
    let err = p.start(&s, &l).await.unwrap_err();
    assert!(matches!(err, ProvisionError::SandboxUnavailable(_)), "{err}");
    assert!(err.to_string().contains("apt-get install bubblewrap"), "{err}");
    assert!(!p.workspace_dir(s.workspace_id).exists(), "nothing was created");
    assert!(p.agent(s.workspace_id).is_none());
    assert_eq!(p.isolation().ready(), Err(reason));
}

#[tokio::test]
async fn the_unsafe_mode_runs_on_the_host_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let p = LocalProvisioner::new(root.path().to_path_buf(), Isolation::detect(true).await);
    assert_eq!(p.isolation().label(), "unsandboxed");
    let s = spec("echo ran");
    let (l, mut rx) = logs();
    p.start(&s, &l).await.unwrap();
    assert!(drain(&mut rx).iter().any(|l| l.output.contains("without a sandbox")));
    p.shutdown().await;
}
