//! Workspace agents as their own processes (issue 13), black-box: real server processes on one
//! PostgreSQL, the real `agentry agent` binary, and a chat run by the fake model.
//!
//! - An `external` workspace comes up when the command its owner is shown runs elsewhere (in
//!   another directory, as another OS user when the test runs as root); stopping it ends the
//!   agent and revokes its token, which is then refused.
//! - An agent token is nothing on the user routes; an agent of another protocol version is
//!   refused with the reason.
//! - Two replicas: the agent is connected to A (through a fail-over proxy standing in for a load
//!   balancer), the chat is run by B, and every workspace tool reaches the agent through A. When
//!   A is killed mid-operation the operation fails with the retryable "workspace agent
//!   disconnected" error, the agent reconnects to B within 10 s, and the next tool call works.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use common::chat::{setup_provider, text, wait_status};
use common::{PASSWORD, TestServer, expect_status};
use serde_json::{Value, json};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(90);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The uid the agent runs as: `nobody` when the test can switch users, else the test's own.
fn agent_uid() -> u32 {
    if is_root() { 65534 } else { unsafe { libc::geteuid() } }
}

/// A directory the agent's user owns, away from any server's data directory.
fn agent_home() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    if is_root() {
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Runs a shell command line in `dir` as the agent's user, with the `agentry` binary on PATH
/// and nothing of the test's environment.
fn run_as_agent_user(command: &str, dir: &Path) -> Child {
    let bin = Path::new(env!("CARGO_BIN_EXE_agentry")).parent().unwrap().display().to_string();
    let script = format!("cd '{}' && {command}", dir.display());
    let mut c = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = std::process::Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    c.env_clear()
        .env("PATH", format!("{bin}:/usr/bin:/bin"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the agent")
}

/// Waits (bounded) for a child to exit.
fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the agent did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Ends an agent the test started (SIGTERM: it ends its processes and exits).
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        // SAFETY: kill with a pid we started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn finished(c: &Client, build: Uuid) -> sdk::WorkspaceBuild {
    tokio::time::timeout(DEADLINE, c.wait_for_build(build, |_| {})).await.expect("build did not finish").unwrap()
}

async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn external_template(owner: &Client, org: &str, name: &str) -> sdk::Template {
    let t = owner
        .create_template(org, &sdk::CreateTemplateRequest {
            name: name.into(),
            display_name: None,
            description: None,
            startup_script: None,
            parameters: None,
            network: None,
            kind: Some(sdk::TemplateKind::External),
        })
        .await
        .unwrap();
    assert_eq!(t.kind, sdk::TemplateKind::External);
    t
}

fn exec(command: &str) -> sdk::WorkspaceExecuteRequest {
    sdk::WorkspaceExecuteRequest { command: command.into(), workdir: None, timeout_ms: Some(60_000), run_in_background: false }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_workspace_comes_up_with_the_shown_command_and_its_token_dies_with_it() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let org = owner.organization("default").await.unwrap();
    let t = external_template(&owner, "default", "laptop").await;
    let req = sdk::CreateWorkspaceRequest { template_id: t.id, name: "laptop".into(), rich_parameter_values: vec![] };
    let w = owner.create_workspace(&org.id.to_string(), "me", &req).await.unwrap();
    assert_eq!(w.kind, sdk::TemplateKind::External);

    let creds = owner.external_agent(w.id).await.unwrap();
    assert!(creds.token.starts_with("agentry-agent-"), "{creds:?}");
    assert_eq!(creds.command, format!("AGENTRY_AGENT_TOKEN={} agentry agent --url {}", creds.token, s.url));

    // The agent token opens no user route.
    let as_agent = Client::new(&s.url).unwrap().with_token(&creds.token);
    expect_status(as_agent.me().await, 401);
    expect_status(as_agent.workspaces("").await, 401);
    expect_status(as_agent.execute(w.id, &exec("id")).await, 401);

    // Until the agent connects, the workspace is starting and says it never saw one.
    let before = owner.workspace(w.id).await.unwrap();
    assert_eq!(before.agent.as_ref().unwrap().status, "never_connected");

    // The shown command, run by hand elsewhere, brings the workspace up.
    let home = agent_home();
    let agent = AgentProcess(run_as_agent_user(&creds.command, home.path()));
    let b = finished(&owner, w.latest_build.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", b.job.error);
    let up = owner.workspace(w.id).await.unwrap();
    assert_eq!(up.status, sdk::WorkspaceStatus::Running);
    let a = up.agent.unwrap();
    assert_eq!((a.status.as_str(), a.version.as_str()), ("connected", env!("CARGO_PKG_VERSION")));
    assert!(a.replica_id.is_some() && a.last_seen_at.is_some());

    // It runs in that directory, as that user.
    let out = owner.execute(w.id, &exec("id -u; pwd; echo made-here > made.txt")).await.unwrap();
    assert_eq!(out.output, format!("{}\n{}\n", agent_uid(), home.path().canonicalize().unwrap().display()));
    let made = home.path().join("made.txt");
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "made-here\n");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&made).unwrap()), agent_uid());

    // A local workspace has no agent command.
    let local = owner
        .create_template("default", &sdk::CreateTemplateRequest {
            name: "local".into(),
            display_name: None,
            description: None,
            startup_script: None,
            parameters: None,
            network: None,
            kind: None,
        })
        .await
        .unwrap();
    let lw = owner
        .create_workspace(&org.id.to_string(), "me", &sdk::CreateWorkspaceRequest {
            template_id: local.id,
            name: "local".into(),
            rich_parameter_values: vec![],
        })
        .await
        .unwrap();
    expect_status(owner.external_agent(lw.id).await, 409);
    // Nor does anyone without `ssh` on the workspace learn it exists.
    let (member, _) = s.user(&owner, "member", &[]).await;
    expect_status(member.external_agent(w.id).await, 404);

    // Whole files come back through the agent, across chunks, confined to the workspace.
    let big: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(home.path().join("big.bin"), &big).unwrap();
    assert_eq!(owner.workspace_file(w.id, "big.bin").await.unwrap(), big);
    assert_eq!(owner.workspace_file(w.id, "made.txt").await.unwrap(), b"made-here\n");
    let e = expect_status(owner.workspace_file(w.id, "../../etc/passwd").await, 400);
    assert!(e.message().unwrap().contains("outside the workspace"), "{e}");
    expect_status(member.workspace_file(w.id, "made.txt").await, 404);

    // Stopping the workspace ends the agent and revokes its tokens.
    let stop = owner.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    let b = finished(&owner, stop.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", b.job.error);
    let mut agent = agent;
    let status = tokio::task::block_in_place(|| wait_exit(&mut agent.0, Duration::from_secs(30)));
    assert!(status.success(), "{status}");
    let down = owner.workspace(w.id).await.unwrap();
    assert_eq!(down.agent.unwrap().status, "disconnected");

    // The revoked token is refused, and the agent says why instead of retrying forever.
    let mut again = run_as_agent_user(&creds.command, home.path());
    let status = tokio::task::block_in_place(|| wait_exit(&mut again, Duration::from_secs(30)));
    assert!(!status.success());
    let said = stderr_of(&mut again);
    assert!(said.contains("invalid or has been revoked"), "{said}");
}

#[tokio::test]
async fn an_agent_of_another_protocol_version_is_refused_with_the_reason() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = TestServer::start().await;
    let url = format!("{}/api/v2/workspaceagents/me/rpc", s.url.replacen("http://", "ws://", 1));
    for (version, shown) in [(Some("99"), "99"), (None, "none")] {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("authorization", "Bearer agentry-agent-00".parse().unwrap());
        if let Some(v) = version {
            req.headers_mut().insert("agentry-agent-protocol", v.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 400);
                let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
                assert!(body.contains("protocol mismatch"), "{body}");
                assert!(body.contains("speaks version 1") && body.contains(&format!("agent speaks {shown}")), "{body}");
            }
            other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r.status())),
        }
    }
    // The right version with a token that is not one is refused too.
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("authorization", "Bearer agentry-agent-00".parse().unwrap());
    req.headers_mut().insert("agentry-agent-protocol", "1".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r.status())),
    }
}

/// A TCP proxy that sends each connection to the first backend that accepts it: a stand-in for
/// the load balancer in front of the replicas.
async fn failover_proxy(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let backends = backends.clone();
            tokio::spawn(async move {
                for b in backends {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(b).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap()
}

fn parts_of<'a>(m: &'a sdk::ChatMessage, kind: &str) -> Vec<&'a Value> {
    m.content.as_array().into_iter().flatten().filter(|p| p["type"] == kind).collect()
}

/// The tool results of a chat, in order.
async fn tool_results(c: &Client, chat: Uuid) -> Vec<Value> {
    let mut m = c.chat_messages(chat, None, Some(200)).await.unwrap().messages;
    m.sort_by_key(|m| m.id);
    m.iter().flat_map(|m| parts_of(m, "tool-result")).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_on_another_replica_reaches_the_agent_and_survives_that_replica_dying() {
    let db = common::fresh_database().await;
    // A serves the API and holds the agent; B runs the chats.
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (mut server_a, url_a) = common::spawn_agentry_with(Some(&db), dir_a.path(), &["--chat-daemon", "false"]);
    let (_server_b, url_b) = common::spawn_agentry_with(
        Some(&db),
        dir_b.path(),
        &["--chat-acquire-interval", "200ms", "--chat-heartbeat-interval", "1s"],
    );
    let proxy = failover_proxy(vec![addr_of(&url_a), addr_of(&url_b)]).await;

    let owner = common::first_owner(&url_a).await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let org = owner.organization("default").await.unwrap();
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
    let alice = Client::new(&url_a).unwrap().logged_in("alice@example.com", PASSWORD).await.unwrap();
    let t = external_template(&owner, "default", "remote").await;
    let req = sdk::CreateWorkspaceRequest { template_id: t.id, name: "remote".into(), rich_parameter_values: vec![] };
    let w = alice.create_workspace(&org.id.to_string(), "me", &req).await.unwrap();

    // The agent reaches the replicas through the proxy, which prefers A while A lives.
    let creds = alice.external_agent(w.id).await.unwrap();
    let home = agent_home();
    let command = format!("AGENTRY_AGENT_TOKEN={} agentry agent --url http://{proxy}", creds.token);
    let _agent = AgentProcess(run_as_agent_user(&command, home.path()));
    let b = finished(&alice, w.latest_build.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", b.job.error);
    let on_a = alice.workspace(w.id).await.unwrap().agent.unwrap();
    assert_eq!(on_a.status, "connected");

    // B (the only chat daemon) runs the chat: each tool reaches the agent through A.
    fake.push_turns([
        Turn::tool_call("execute", json!({"command": "printf 'alpha\\nbeta\\n' > notes.txt && echo relayed"})),
        Turn::tool_call("read_file", json!({"path": "notes.txt"})),
        Turn::tool_call("edit_files", json!({"edits": [{"path": "notes.txt", "old_text": "beta", "new_text": "gamma"}]})),
        Turn::tool_call("execute", json!({"command": "sleep 1; echo bg-done", "run_in_background": true})),
        Turn::tool_call("process_output", json!({"process_id": "proc-2", "wait_seconds": 60})),
        // In flight when A dies.
        Turn::tool_call("execute", json!({"command": "touch started.marker; sleep 120", "timeout_seconds": 300})),
        Turn::new(vec![Step::gate("after-failover"), Step::tool_call("execute", json!({"command": "cat notes.txt"}))]),
        Turn::text("All done."),
    ]);
    let chat = alice
        .create_chat(&sdk::CreateChatRequest {
            organization_id: Some(org.id),
            workspace_id: Some(w.id),
            content: Some(text("Work in the workspace.")),
            ..Default::default()
        })
        .await
        .unwrap();

    let marker = home.path().join("started.marker");
    eventually("the long command to start", DEADLINE, || async { marker.exists().then_some(()) }).await;
    let results = tool_results(&alice, chat.id).await;
    assert_eq!(results.len(), 5, "{results:#?}");
    for r in &results {
        assert_eq!(r["is_error"], false, "{r}");
    }
    assert!(results[0]["result"]["output"].as_str().unwrap().contains("relayed"), "{}", results[0]);
    assert!(results[1]["result"]["content"].as_str().unwrap().contains("beta"), "{}", results[1]);
    assert!(results[2]["result"]["files"][0]["diff"].as_str().unwrap().contains("+gamma"), "{}", results[2]);
    assert!(results[3]["result"]["background_process_id"] == "proc-2", "{}", results[3]);
    assert!(results[4]["result"]["output"].as_str().unwrap().contains("bg-done"), "{}", results[4]);

    // A dies mid-operation; from now on alice talks to B.
    let client_b = Client::new(&url_b).unwrap().with_token(alice.token().unwrap());
    server_a.kill();
    let killed = Instant::now();
    let failed = eventually("the in-flight tool call to fail", DEADLINE, || async {
        let r = tool_results(&client_b, chat.id).await;
        (r.len() >= 6).then(|| r[5].clone())
    })
    .await;
    assert_eq!(failed["is_error"], true, "{failed}");
    let message = failed["result"].to_string();
    assert!(message.contains("workspace agent disconnected") && message.contains("retry"), "{message}");

    // The agent comes back through B within 10 s.
    let on_b = eventually("the agent to reconnect to B", Duration::from_secs(10), || async {
        let a = client_b.workspace(w.id).await.ok()?.agent?;
        (a.status == "connected" && a.replica_id != on_a.replica_id).then_some(a)
    })
    .await;
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_ne!(on_b.replica_id, on_a.replica_id);

    // And the next tool call works.
    fake.open_gate("after-failover");
    let chat = wait_status(&client_b, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
    let results = tool_results(&client_b, chat.id).await;
    assert_eq!(results.len(), 7, "{results:#?}");
    assert_eq!(results[6]["is_error"], false, "{}", results[6]);
    assert_eq!(results[6]["result"]["output"], "alpha\ngamma\n", "{}", results[6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_refuses_a_server_of_another_protocol_version() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that upgrades but speaks protocol 2.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&req).to_string();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("sec-websocket-key: ").or_else(|| l.strip_prefix("Sec-WebSocket-Key: ")))
                .unwrap()
                .trim()
                .to_string();
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nagentry-agent-protocol: 2\r\n\r\n"
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let home = agent_home();
    let mut agent = run_as_agent_user(&format!("AGENTRY_AGENT_TOKEN=agentry-agent-00 agentry agent --url http://{addr}"), home.path());
    let status = tokio::task::block_in_place(|| wait_exit(&mut agent, Duration::from_secs(30)));
    assert!(!status.success());
    let said = stderr_of(&mut agent);
    assert!(said.contains("protocol mismatch") && said.contains("the server speaks 2"), "{said}");
}
