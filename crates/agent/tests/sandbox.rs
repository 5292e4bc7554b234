//! The sandbox, tried from inside: every check is something a workspace command could do to
//! reach the server, its database or another workspace. These tests need `bwrap` (Debian's
//! `bubblewrap`, installed by `.ci/run`) and root, as the server's default deployment has; they
//! fail, rather than pass silently, when either is missing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentry_agent::{
    AgentError, ExecuteRequest, Identity, LocalAgent, Network, ReadFileRequest, SandboxSpec,
    WORKSPACE_MOUNT, WorkspaceAgent, find_bwrap, is_root,
};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
    uid: u32,
    agent: LocalAgent,
}

/// A uid no other test process uses at the same time (tests run in parallel processes).
fn fresh_uid() -> u32 {
    2_100_000 + (std::process::id() % 50_000) * 16 + rand_small()
}

fn rand_small() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % 16
}

async fn sandboxed(network: Network) -> Ws {
    assert!(is_root(), "the sandbox tests run as root, like the server's default deployment");
    let bwrap = find_bwrap(PATH).await.expect("bwrap must be installed (apt-get install bubblewrap)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let uid = fresh_uid();
    fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(uid), Some(uid)).unwrap();
    let spec = SandboxSpec {
        bwrap,
        identity: Identity::Uid { uid, gid: uid },
        network,
        state_dir: dir.path().join("state"),
    };
    spec.prepare().unwrap();
    let agent = LocalAgent::sandboxed(root.clone(), spec);
    Ws { _dir: dir, root, uid, agent }
}

async fn run(agent: &LocalAgent, command: &str) -> (Option<i32>, String) {
    let r = agent.execute(ExecuteRequest::new(command, Duration::from_secs(30))).await.unwrap();
    (r.exit_code, r.output)
}

/// Host processes running as `uid` (zombies excluded).
fn processes_of(uid: u32) -> usize {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| fs::metadata(e.path()).is_ok_and(|m| m.uid() == uid))
        .filter(|e| {
            fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
                let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next().unwrap_or("Z");
                state != "Z" && state != "X"
            })
        })
        .count()
}

async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn commands_run_as_the_workspace_user_with_a_clean_environment() {
    let ws = sandboxed(Network::Full).await;
    let (code, out) = run(&ws.agent, "id -u; id -g; echo HOME=$HOME; pwd").await;
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], ws.uid.to_string());
    assert_eq!(lines[1], ws.uid.to_string());
    assert_eq!(lines[2], format!("HOME={WORKSPACE_MOUNT}"));
    assert_eq!(lines[3], WORKSPACE_MOUNT);

    // Only the allow-list: the test process's own variables (cargo's, nextest's, HOME...) are
    // not there.
    let (_, env) = run(&ws.agent, "env").await;
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    for name in &names {
        assert!(
            ["PATH", "HOME", "USER", "LANG", "TERM", "PAGER", "GIT_EDITOR", "NO_COLOR", "PWD", "SHLVL", "_"]
                .contains(name),
            "unexpected variable {name} in {env}"
        );
    }
    assert!(std::env::vars().count() > 3);

    // The user has a name, so git and ssh can look it up.
    let (code, out) = run(&ws.agent, "id -un").await;
    assert_eq!((code, out.trim()), (Some(0), "workspace"));
}

#[tokio::test]
async fn files_a_command_creates_belong_to_the_workspace_user_on_the_host() {
    let ws = sandboxed(Network::Full).await;
    let (code, _) = run(&ws.agent, "echo hi > made.txt && mkdir -p sub/dir").await;
    assert_eq!(code, Some(0));
    assert_eq!(fs::metadata(ws.root.join("made.txt")).unwrap().uid(), ws.uid);
    assert_eq!(fs::metadata(ws.root.join("sub/dir")).unwrap().uid(), ws.uid);

    // What the file tools write belongs to the user too, and is writable from inside.
    ws.agent.write_file("tool/new.txt", "x").await.unwrap();
    assert_eq!(fs::metadata(ws.root.join("tool")).unwrap().uid(), ws.uid);
    assert_eq!(fs::metadata(ws.root.join("tool/new.txt")).unwrap().uid(), ws.uid);
    let (code, out) = run(&ws.agent, "echo more >> tool/new.txt && cat tool/new.txt").await;
    assert_eq!((code, out.as_str()), (Some(0), "xmore\n"));
    // Paths as the sandbox spells them work in the file tools.
    let read = ws.agent.read_file(ReadFileRequest::new(format!("{WORKSPACE_MOUNT}/made.txt"))).await.unwrap();
    assert!(read.content.contains("hi"));
}

#[tokio::test]
async fn nothing_of_the_host_is_visible_but_system_directories() {
    let ws = sandboxed(Network::Full).await;
    let server_dir = ws.root.parent().unwrap().display().to_string();
    for path in [server_dir.as_str(), "/root", "/home", "/var/lib", "/run", "/work"] {
        let (code, out) = run(&ws.agent, &format!("ls {path}")).await;
        assert_ne!(code, Some(0), "ls {path} succeeded inside the sandbox: {out}");
    }
    // Its own /proc: the sandbox's init, the waiter, the shell and ps's parent at most — no
    // server, no PostgreSQL, no test runner.
    let (_, out) = run(&ws.agent, "ls /proc | grep -c '^[0-9]'").await;
    let count: usize = out.trim().parse().unwrap();
    assert!(count <= 6, "{count} processes visible");
    let (_, out) = run(&ws.agent, "cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '").await;
    assert!(!out.contains("postgres") && !out.contains("cargo") && !out.contains("sandbox-"), "{out}");
    // System directories are read-only.
    let (code, _) = run(&ws.agent, "touch /usr/bin/x || touch /etc/x").await;
    assert_ne!(code, Some(0));
    // /tmp is private but lasts across commands of the workspace.
    let (code, _) = run(&ws.agent, "echo kept > /tmp/t").await;
    assert_eq!(code, Some(0));
    let (_, out) = run(&ws.agent, "cat /tmp/t").await;
    assert_eq!(out, "kept\n");
}

#[tokio::test]
async fn two_workspaces_cannot_reach_each_other() {
    let a = sandboxed(Network::Full).await;
    let b = sandboxed(Network::Full).await;
    fs::write(b.root.join("secret.txt"), "b's secret").unwrap();
    std::os::unix::fs::chown(b.root.join("secret.txt"), Some(b.uid), Some(b.uid)).unwrap();
    let other = b.root.join("secret.txt").display().to_string();

    // By absolute host path, by `..`, and through a symlink planted in its own directory.
    let (_, out) = run(&a.agent, &format!("cat {other}; cat ../*/secret.txt; ln -s {other} link; cat link")).await;
    assert!(!out.contains("b's secret"), "{out}");
    let (code, _) = run(&a.agent, &format!("echo x > {other}")).await;
    assert_ne!(code, Some(0));
    // The file tools refuse the planted link.
    let err = a.agent.read_file(ReadFileRequest::new("link")).await.unwrap_err();
    assert!(matches!(err, AgentError::PathOutsideWorkspace { .. }), "{err}");
    assert_eq!(fs::read_to_string(b.root.join("secret.txt")).unwrap(), "b's secret");
    // Even on the host, the other workspace's directory is closed to a's user.
    fs::set_permissions(&b.root, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    assert_eq!(fs::metadata(&b.root).unwrap().uid(), b.uid);
}

#[tokio::test]
async fn without_network_the_host_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}' && echo connected");

    let full = sandboxed(Network::Full).await;
    let (_, out) = run(&full.agent, &probe).await;
    assert!(out.contains("connected"), "with full network the host port is reachable: {out}");

    let none = sandboxed(Network::None).await;
    let (code, out) = run(&none.agent, &probe).await;
    assert_ne!(code, Some(0));
    assert!(!out.contains("connected"), "{out}");
}

#[tokio::test]
async fn background_work_outlives_the_command_and_shutdown_ends_it() {
    let ws = sandboxed(Network::Full).await;
    let mut lines = Vec::new();
    let started = Instant::now();
    let code = ws
        .agent
        .run_script("echo starting; (sleep 1; echo later > later.txt) & sleep 600 & echo started", &[], |l| {
            lines.push(l)
        })
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(started.elapsed() < Duration::from_secs(20), "the script's exit waited for its children");
    assert_eq!(lines, vec!["starting", "started"]);
    let later = ws.root.join("later.txt");
    eventually(Duration::from_secs(20), "the background child's file", || later.exists()).await;
    assert!(processes_of(ws.uid) >= 1, "the long sleeper is still running");

    ws.agent.shutdown().await;
    eventually(Duration::from_secs(20), "every workspace process gone", || processes_of(ws.uid) == 0).await;
}

#[tokio::test]
async fn exit_codes_timeouts_and_signals_behave_as_without_a_sandbox() {
    let ws = sandboxed(Network::Full).await;
    assert_eq!(run(&ws.agent, "exit 7").await.0, Some(7));
    assert_eq!(run(&ws.agent, "kill -9 $$").await.0, Some(128 + 9));

    let r = ws.agent.execute(ExecuteRequest::new("echo begun; sleep 600", Duration::from_millis(500))).await.unwrap();
    assert!(r.timed_out);
    let id = r.background_process_id.unwrap();
    assert!(r.output.contains("begun"));
    ws.agent.process_signal(&id, agentry_agent::Signal::Kill).await.unwrap();
    let out = ws.agent.process_output(&id, Duration::from_secs(20)).await.unwrap();
    assert!(!out.running, "{out:?}");
    eventually(Duration::from_secs(20), "the killed group gone", || processes_of(ws.uid) == 0).await;
}

#[tokio::test]
async fn request_variables_reach_only_the_command() {
    let ws = sandboxed(Network::Full).await;
    let mut req = ExecuteRequest::new("echo $GREETING; echo ${LD_PRELOAD:-none}", Duration::from_secs(30));
    req.env = vec![
        ("GREETING".into(), "hello".into()),
        // A library path from the request must never reach bwrap or setpriv, which run as root.
        ("LD_PRELOAD".into(), "/nonexistent/evil.so".into()),
        ("-u".into(), "x".into()),
    ];
    let r = ws.agent.execute(req).await.unwrap();
    assert_eq!(r.exit_code, Some(0), "{}", r.output);
    let lines: Vec<&str> = r.output.lines().collect();
    assert_eq!(lines[lines.len() - 2..], ["hello", "/nonexistent/evil.so"], "{}", r.output);
    // The dynamic loader complains once per program that got the variable: the sandbox's
    // waiting shell and the command's shell. bwrap, setpriv and env (root, or before the
    // switch) would each add a complaint.
    let complaints = r.output.matches("cannot be preloaded").count();
    assert!(complaints <= 2, "{}", r.output);
}

#[tokio::test]
async fn the_file_tools_act_with_the_workspace_users_rights() {
    let ws = sandboxed(Network::Full).await;
    // A directory inside the workspace that only root may write: the workspace's commands cannot
    // write there, and neither can the file tools acting for it. (Were they to act as root, a
    // process swapping a directory for a symlink between check and use could redirect a write
    // anywhere on the host.)
    fs::create_dir(ws.root.join("locked")).unwrap();
    let (code, _) = run(&ws.agent, "echo x > locked/by-command.txt").await;
    assert_ne!(code, Some(0));
    let err = ws.agent.write_file("locked/by-tool.txt", "x").await.unwrap_err();
    assert!(err.to_string().contains("ermission denied"), "{err}");
    assert!(!ws.root.join("locked/by-tool.txt").exists());
    // Reading what root wrote unreadable to others is refused the same way.
    fs::write(ws.root.join("private.txt"), "root only").unwrap();
    fs::set_permissions(ws.root.join("private.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = ws.agent.read_file(ReadFileRequest::new("private.txt")).await.unwrap_err();
    assert!(err.to_string().contains("ermission denied"), "{err}");
    // And the server's own identity is back on the thread afterwards: it can still read it.
    assert_eq!(fs::read_to_string(ws.root.join("private.txt")).unwrap(), "root only");
    // Ordinary files work as before, owned by the user.
    ws.agent.write_file("ok/new.txt", "fine").await.unwrap();
    assert_eq!(fs::metadata(ws.root.join("ok/new.txt")).unwrap().uid(), ws.uid);
}
