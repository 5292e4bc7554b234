//! Black-box tests of `LocalAgent` through the `WorkspaceAgent` interface: real files in
//! temporary directories, real `sh` processes. Waiting is done by polling with a deadline or by
//! the agent's own waits, never by sleeping a fixed time and hoping.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentry_agent::{
    AgentError, ExecuteRequest, FileEdit, LocalAgent, OUTPUT_CAP, ReadFileRequest, Signal,
    WorkspaceAgent,
};

fn workspace() -> (tempfile::TempDir, LocalAgent) {
    let dir = tempfile::tempdir().unwrap();
    let agent = LocalAgent::new(dir.path().to_path_buf());
    (dir, agent)
}

fn edit(path: &str, old: &str, new: &str) -> FileEdit {
    FileEdit {
        path: path.into(),
        old_text: old.into(),
        new_text: new.into(),
        replace_all: false,
    }
}

fn cmd(command: &str, timeout: Duration) -> ExecuteRequest {
    ExecuteRequest::new(command, timeout)
}

/// Whether `pid` is a running process (a zombie is not: it has exited and awaits reaping).
fn running(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Polls `cond` until it holds, failing the test after `limit`.
async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads a pid a command wrote to `file` in the workspace, waiting for it to appear.
async fn read_pid(root: &Path, file: &str) -> i32 {
    let path = root.join(file);
    let mut pid = None;
    eventually(Duration::from_secs(60), "the pid file", || {
        pid = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.unwrap()
}

// --- Path confinement -------------------------------------------------------------------

/// Paths every file operation and `workdir` must refuse.
fn escaping_paths(root: &Path) -> Vec<String> {
    fs::create_dir(root.join("inside")).unwrap();
    symlink("/", root.join("to-root")).unwrap();
    let outside = tempfile::tempdir().unwrap().keep();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    symlink(&outside, root.join("inside/out-dir")).unwrap();
    vec![
        "../x".into(),
        "inside/../../x".into(),
        "/etc/passwd".into(),
        "to-root".into(),
        "to-root/etc/passwd".into(),
        "to-root/tmp/new-file".into(),
        "inside/out-dir".into(),
        "inside/out-dir/secret.txt".into(),
        "inside/out-dir/new-file.txt".into(),
    ]
}

fn assert_outside<T: std::fmt::Debug>(result: Result<T, AgentError>, path: &str) {
    match result {
        Err(e @ AgentError::PathOutsideWorkspace { .. }) => {
            assert!(e.to_string().contains("outside the workspace"), "{e}");
        }
        other => panic!("{path}: expected PathOutsideWorkspace, got {other:?}"),
    }
}

#[tokio::test]
async fn escaping_paths_are_refused_by_every_operation() {
    let (dir, agent) = workspace();
    for path in escaping_paths(dir.path()) {
        assert_outside(agent.read_file(ReadFileRequest::new(&path)).await, &path);
        assert_outside(agent.write_file(&path, "pwned").await, &path);
        assert_outside(
            agent.edit_files(vec![edit(&path, "secret", "pwned")]).await,
            &path,
        );
        let mut req = cmd("pwd", Duration::from_secs(5));
        req.workdir = Some(path.clone());
        assert_outside(agent.execute(req).await, &path);
    }
    // Nothing was written through the links.
    assert!(!Path::new("/tmp/new-file").exists());
    let out_dir = fs::read_link(dir.path().join("inside/out-dir")).unwrap();
    assert_eq!(
        fs::read_to_string(out_dir.join("secret.txt")).unwrap(),
        "secret"
    );
    assert!(!out_dir.join("new-file.txt").exists());
    fs::remove_dir_all(out_dir).unwrap();
}

#[tokio::test]
async fn paths_inside_the_workspace_work_relative_and_absolute() {
    let (dir, agent) = workspace();
    agent.write_file("sub/file.txt", "one\n").await.unwrap();
    let absolute = dir.path().join("sub/file.txt");
    let read = agent
        .read_file(ReadFileRequest::new(absolute.to_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(read.content, "     1\tone\n");

    let mut req = cmd("pwd", Duration::from_secs(60));
    req.workdir = Some("sub".into());
    let out = agent.execute(req).await.unwrap();
    let expected = fs::canonicalize(dir.path().join("sub")).unwrap();
    assert_eq!(out.output.trim(), expected.to_str().unwrap());
}

// --- Files ------------------------------------------------------------------------------

#[tokio::test]
async fn read_file_pages_with_line_numbers() {
    let (_dir, agent) = workspace();
    let text: String = (1..=30).map(|i| format!("row {i}\n")).collect();
    agent.write_file("rows.txt", &text).await.unwrap();
    let page = agent
        .read_file(ReadFileRequest {
            path: "rows.txt".into(),
            offset: Some(12),
            limit: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(page.content, "    12\trow 12\n    13\trow 13\n");
    assert_eq!(page.total_lines, 30);
    assert!(page.truncated);
    let missing = agent
        .read_file(ReadFileRequest::new("nope.txt"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, AgentError::NotFound { .. }),
        "{missing:?}"
    );
}

#[tokio::test]
async fn edits_apply_in_order_and_report_diffs() {
    let (dir, agent) = workspace();
    agent
        .write_file("a.txt", "alpha\nbeta\ngamma\n")
        .await
        .unwrap();
    agent.write_file("b.txt", "x x x\n").await.unwrap();
    let result = agent
        .edit_files(vec![
            edit("a.txt", "beta", "BETA"),
            // Applies to the result of the previous edit on the same file.
            edit("a.txt", "BETA\ngamma", "BETA\nGAMMA"),
            FileEdit {
                replace_all: true,
                ..edit("b.txt", "x", "y")
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "alpha\nBETA\nGAMMA\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("b.txt")).unwrap(),
        "y y y\n"
    );
    assert_eq!(result.files.len(), 2);
    assert_eq!(result.files[0].path, "a.txt");
    assert_eq!(result.files[0].replacements, 2);
    assert_eq!(
        result.files[0].diff,
        "--- a.txt\n+++ a.txt\n@@ -1,3 +1,3 @@\n alpha\n-beta\n-gamma\n+BETA\n+GAMMA\n"
    );
    assert_eq!(result.files[1].replacements, 3);
}

#[tokio::test]
async fn a_failing_edit_leaves_every_file_unchanged() {
    let (dir, agent) = workspace();
    agent.write_file("one.txt", "keep me\n").await.unwrap();
    agent.write_file("two.txt", "dup dup\n").await.unwrap();
    agent.write_file("three.txt", "three\n").await.unwrap();
    let snapshot = || {
        ["one.txt", "two.txt", "three.txt"].map(|f| fs::read_to_string(dir.path().join(f)).unwrap())
    };
    let before = snapshot();

    let not_found = agent
        .edit_files(vec![
            edit("one.txt", "keep me", "changed"),
            edit("three.txt", "three", "3"),
            edit("two.txt", "absent text", "x"),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&not_found, AgentError::EditNotFound { edit: 3, path, .. } if path == "two.txt"),
        "{not_found:?}"
    );
    assert!(not_found.to_string().contains("No file was changed"));
    assert_eq!(snapshot(), before);

    let ambiguous = agent
        .edit_files(vec![
            edit("one.txt", "keep me", "changed"),
            edit("two.txt", "dup", "x"),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(ambiguous, AgentError::EditAmbiguous { count: 2, .. }),
        "{ambiguous:?}"
    );
    assert!(ambiguous.to_string().contains("replace_all"));
    assert_eq!(snapshot(), before);

    let missing_file = agent
        .edit_files(vec![
            edit("one.txt", "keep me", "changed"),
            edit("nope.txt", "a", "b"),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(missing_file, AgentError::NotFound { .. }),
        "{missing_file:?}"
    );
    assert_eq!(snapshot(), before);

    // No temporary files were left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
}

// --- Commands ---------------------------------------------------------------------------

#[tokio::test]
async fn execute_merges_output_and_reports_exit_code() {
    let (_dir, agent) = workspace();
    let out = agent
        .execute(cmd(
            "echo out1; echo err1 >&2; echo out2; echo \"$TERM $PAGER $GIT_EDITOR $NO_COLOR $EXTRA\"; exit 3",
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.output, "out1\nerr1\nout2\ndumb cat true 1 \n");
    assert!(!out.timed_out && !out.truncated);
    assert_eq!(out.background_process_id, None);

    let mut req = cmd(
        "echo $EXTRA; read x || echo stdin-closed",
        Duration::from_secs(60),
    );
    req.env = vec![("EXTRA".into(), "given".into())];
    let out = agent.execute(req).await.unwrap();
    assert_eq!(out.output, "given\nstdin-closed\n");
    assert_eq!(out.exit_code, Some(0));
    // Finished foreground commands are not listed.
    assert!(agent.process_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_timed_out_command_keeps_running_in_the_background() {
    let (dir, agent) = workspace();
    fs::write(dir.path().join("gate"), "").unwrap();
    // Prints, then waits for the test to remove `gate`, then prints again and exits 7.
    let script = "echo before; while [ -e gate ]; do sleep 0.02; done; echo after; exit 7";
    // Long enough for the shell to print "before" on a busy machine; the gate holds the rest.
    let out = agent
        .execute(cmd(script, Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.exit_code, None);
    assert_eq!(out.output, "before\n");
    let id = out.background_process_id.expect("a background id");

    let listed = agent.process_list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].running),
        (id.as_str(), true)
    );
    assert_eq!(listed[0].command, script);

    let snapshot = agent.process_output(&id, Duration::ZERO).await.unwrap();
    assert!(snapshot.running);
    assert_eq!(snapshot.output, "before\n");

    fs::remove_file(dir.path().join("gate")).unwrap();
    let done = agent
        .process_output(&id, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(!done.running);
    assert_eq!(done.exit_code, Some(7));
    assert_eq!(done.output, "before\nafter\n");
    let listed = agent.process_list().await.unwrap();
    assert_eq!((listed[0].running, listed[0].exit_code), (false, Some(7)));
}

#[tokio::test]
async fn run_in_background_returns_at_once() {
    let (dir, agent) = workspace();
    fs::write(dir.path().join("gate"), "").unwrap();
    let mut req = cmd(
        "while [ -e gate ]; do sleep 0.02; done; echo finished",
        Duration::ZERO,
    );
    req.run_in_background = true;
    let out = agent.execute(req).await.unwrap();
    let id = out.background_process_id.expect("a background id");
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, None);
    assert!(
        agent
            .process_output(&id, Duration::ZERO)
            .await
            .unwrap()
            .running
    );
    fs::remove_file(dir.path().join("gate")).unwrap();
    let done = agent
        .process_output(&id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        (done.exit_code, done.output.as_str()),
        (Some(0), "finished\n")
    );
}

#[tokio::test]
async fn a_chatty_background_child_does_not_hide_the_exit() {
    let (dir, agent) = workspace();
    // `yes` writes to the shared output pipe without pause and outlives the shell. The shell
    // speaks first: the output keeps its head and its tail, and whatever the shell wrote after
    // `yes` started can be pushed out of the tail by the time it exits.
    let out = agent
        .execute(cmd(
            "echo shell-done; yes & echo $! > yes.pid",
            Duration::from_secs(30),
        ))
        .await
        .unwrap();
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, Some(0));
    assert!(out.output.contains("shell-done"));
    let yes = read_pid(dir.path(), "yes.pid").await;
    agent.shutdown().await;
    assert!(!running(yes));
}

#[tokio::test]
async fn large_output_is_capped_and_flagged() {
    let (_dir, agent) = workspace();
    // About 200 KiB: numbered lines so head and tail can be recognised.
    let out = agent
        .execute(cmd(
            "i=0; while [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); done",
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert!(out.output.len() <= OUTPUT_CAP, "{} bytes", out.output.len());
    assert!(out.output.starts_with("line 0\nline 1\n"));
    assert!(out.output.ends_with("line 19999\n"));
    assert!(out.output.contains("bytes of output omitted"));
}

#[tokio::test]
async fn unknown_process_ids_are_reported() {
    let (_dir, agent) = workspace();
    let err = agent
        .process_output("proc-999", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::UnknownProcess { .. }));
    assert!(err.to_string().contains("process_list"));
    let err = agent
        .process_signal("proc-999", Signal::Kill)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::UnknownProcess { .. }));
}

#[tokio::test]
async fn process_signal_ends_the_whole_group() {
    let (dir, agent) = workspace();
    // The shell starts a child that ignores nothing and would outlive the shell's own exit.
    let mut req = cmd("sleep 1000 & echo $! > child.pid; wait", Duration::ZERO);
    req.run_in_background = true;
    let id = agent
        .execute(req)
        .await
        .unwrap()
        .background_process_id
        .unwrap();
    let child = read_pid(dir.path(), "child.pid").await;
    assert!(running(child));

    agent.process_signal(&id, Signal::Terminate).await.unwrap();
    let done = agent
        .process_output(&id, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!done.running);
    assert_eq!(done.exit_code, Some(128 + libc::SIGTERM));
    eventually(Duration::from_secs(60), "the child to die", || {
        !running(child)
    })
    .await;
    // Signalling a finished process is not an error.
    agent.process_signal(&id, Signal::Kill).await.unwrap();
}

// --- Startup script and shutdown --------------------------------------------------------

#[tokio::test]
async fn run_script_streams_lines_and_shutdown_ends_its_background_processes() {
    let (dir, agent) = workspace();
    let agent = agent.with_shutdown_grace(Duration::from_millis(500));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    let script = "echo starting \"$GREETING\"\n\
                  sleep 1000 &\n\
                  echo $! > bg.pid\n\
                  trap '' TERM; (trap '' TERM; sleep 1000) &\n\
                  echo $! > stubborn.pid\n\
                  echo warn >&2\n\
                  printf 'no newline'\n\
                  exit 4";
    let env = vec![("GREETING".to_string(), "hello".to_string())];
    let code = agent
        .run_script(script, &env, move |line| seen.lock().unwrap().push(line))
        .await
        .unwrap();
    assert_eq!(code, 4);
    assert_eq!(
        *lines.lock().unwrap(),
        ["starting hello", "warn", "no newline"]
    );

    let bg = read_pid(dir.path(), "bg.pid").await;
    let stubborn = read_pid(dir.path(), "stubborn.pid").await;
    assert!(running(bg) && running(stubborn));
    let listed = agent.process_list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].command.as_str(), listed[0].exit_code),
        ("startup script", Some(4))
    );

    // A foreground command that leaves a child behind, and a background command.
    agent
        .execute(cmd(
            "sleep 1000 & echo $! > fg-child.pid",
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    let fg_child = read_pid(dir.path(), "fg-child.pid").await;
    let mut req = cmd("echo $$ > bg-shell.pid; sleep 1000", Duration::ZERO);
    req.run_in_background = true;
    agent.execute(req).await.unwrap();
    let bg_shell = read_pid(dir.path(), "bg-shell.pid").await;

    agent.shutdown().await;
    for pid in [bg, stubborn, fg_child, bg_shell] {
        assert!(!running(pid), "pid {pid} survived shutdown");
    }
    let refused = agent
        .execute(cmd("true", Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(matches!(refused, AgentError::ShuttingDown), "{refused:?}");
}

#[tokio::test]
async fn dropping_the_agent_kills_what_it_started() {
    let (dir, agent) = workspace();
    let mut req = cmd("sleep 1000 & echo $! > child.pid; wait", Duration::ZERO);
    req.run_in_background = true;
    agent.execute(req).await.unwrap();
    let child = read_pid(dir.path(), "child.pid").await;
    drop(agent);
    eventually(Duration::from_secs(60), "the child to die", || {
        !running(child)
    })
    .await;
}

#[test]
fn requests_and_responses_are_json() {
    let req: ExecuteRequest =
        serde_json::from_str(r#"{"command":"ls","timeout_ms":1500}"#).unwrap();
    assert_eq!(req.timeout, Duration::from_millis(1500));
    assert!(!req.run_in_background && req.workdir.is_none() && req.env.is_empty());
    let edit: FileEdit =
        serde_json::from_str(r#"{"path":"a","old_text":"x","new_text":"y"}"#).unwrap();
    assert!(!edit.replace_all);
    assert_eq!(
        serde_json::to_string(&Signal::Terminate).unwrap(),
        r#""terminate""#
    );
}

// --- Bounded reads -----------------------------------------------------------------------

#[tokio::test]
async fn reading_a_fifo_is_refused_at_once() {
    let (dir, agent) = workspace();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(60), agent.read_file(ReadFileRequest::new("pipe")))
        .await
        .expect("read_file on a FIFO must not block")
        .unwrap_err();
    assert!(matches!(err, AgentError::NotARegularFile { .. }), "{err}");
    let err = agent.edit_files(vec![edit("pipe", "a", "b")]).await.unwrap_err();
    assert!(matches!(err, AgentError::NotARegularFile { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_huge_sparse_file_is_read_up_to_the_cap() {
    let (dir, agent) = workspace();
    let path = dir.path().join("huge.log");
    let file = fs::File::create(&path).unwrap();
    file.set_len(10 * 1024 * 1024 * 1024).unwrap();
    drop(file);
    // A sparse file of zeros looks binary; give it text at the start.
    use std::io::{Seek, Write};
    let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(&b"a line of text\n".repeat(100_000)).unwrap();
    drop(f);

    let started = Instant::now();
    let r = agent.read_file(ReadFileRequest { path: "huge.log".into(), offset: None, limit: Some(5) }).await.unwrap();
    assert!(r.truncated);
    assert!(r.content.contains("file truncated"), "{}", &r.content[r.content.len().saturating_sub(300)..]);
    assert!(r.content.contains("10737418240 bytes"));
    assert!(r.total_lines <= agentry_agent::FILE_READ_CAP / 15 + 1);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let err = agent.edit_files(vec![edit("huge.log", "a line", "b line")]).await.unwrap_err();
    assert!(err.to_string().contains("more than the"), "{err}");
}
