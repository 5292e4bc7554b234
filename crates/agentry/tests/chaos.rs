//! Chaos tests (issue 16): faults other than a clean shutdown, against real processes.
//!
//! - a replica SIGKILLed while it streams many chats: the others finish each exactly once;
//! - a replica SIGKILLed while a tool runs: the tool is not run again, the model is told;
//! - PostgreSQL restarted under running replicas (a private cluster, never the shared one);
//! - provider faults through the fake provider: retries visible on the stream, then a clear
//!   `last_error`, and the chat goes on when the user sends again;
//! - a WebSocket client that drops mid-answer and reconnects gets the whole answer once.
//!
//! The two tests whose replicas depend on each other's live parts and hints (the killed replica
//! and the PostgreSQL restart) run under both fan-out transports (`over_postgres`, `over_nats`:
//! a real `nats-server`). Every wait is on a condition with a deadline (`common::eventually`,
//! `WAIT`), never on time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, RecordedRequest, Step, Turn};
use common::TestServer;
use common::chat::{Events, WAIT, collect_until, create_chat, history, open_events, parts_of, setup_provider, text, text_of, wait_status};
use serde_json::json;
use uuid::Uuid;

/// Flags of every replica here: heartbeats far more often than the stale limit, so a slow
/// machine never makes a live run look abandoned, and a stale limit short enough for a test.
const REPLICA: &[&str] = &["--chat-heartbeat-interval", "250ms", "--chat-stale-after", "5s", "--chat-acquire-interval", "200ms"];

fn is_title_request(req: &RecordedRequest) -> bool {
    req.body.to_string().contains("You name conversations")
}

/// The number after `marker` in a request (the prompts here are numbered).
fn numbered(req: &RecordedRequest, marker: &str) -> Option<usize> {
    let body = req.body.to_string();
    let at = body.find(marker)? + marker.len();
    body[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

fn last_tool_message(req: &RecordedRequest) -> Option<String> {
    let msgs = req.body["messages"].as_array()?;
    let last = msgs.last()?;
    (last["role"] == "tool").then(|| last["content"].as_str().unwrap_or_default().to_string())
}

fn status_is(e: &sdk::ChatStreamEvent, status: sdk::ChatStatus) -> bool {
    matches!(e, sdk::ChatStreamEvent::Status { status: s, .. } if s.status == status)
}

fn answered(events: &[sdk::ChatStreamEvent], needle: &str) -> bool {
    events.iter().any(|e| e.message().is_some_and(|m| m.role == sdk::MessageRole::Assistant && text_of(m).contains(needle)))
}

async fn idle(c: &Client, id: Uuid) -> sdk::Chat {
    wait_status(c, id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error | sdk::ChatStatus::RequiresAction)).await
}

async fn login(url: &str) -> Client {
    Client::new(url).unwrap().logged_in("owner@example.com", common::PASSWORD).await.unwrap()
}

/// Each chat `ids[i]`: its stream `streams[i]` sees `answer(i)` and the chat go idle, and its
/// saved history is exactly the prompt `prompt(i)` and one answer `answer(i)`.
async fn each_answered_once(
    c: &Client,
    ids: &[Uuid],
    streams: &mut [Events],
    prompt: impl Fn(usize) -> String,
    answer: impl Fn(usize) -> String,
) {
    for (i, s) in streams.iter_mut().enumerate() {
        let needle = answer(i);
        collect_until(s, |e| answered(e, &needle) && e.iter().any(|e| status_is(e, sdk::ChatStatus::Waiting))).await;
    }
    for (i, id) in ids.iter().enumerate() {
        let chat = idle(c, *id).await;
        assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
        let seq: Vec<(String, String)> = history(c, *id).await.iter().map(|m| (m.role.to_string(), text_of(m))).collect();
        assert_eq!(seq, [("user".to_string(), prompt(i)), ("assistant".to_string(), answer(i))], "chat {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL the replica running 50 streaming chats.

crate::under_both_transports!(killing_the_replica_streaming_50_chats_finishes_each_once_on_the_others);

async fn killing_the_replica_streaming_50_chats_finishes_each_once_on_the_others(via: common::Via) {
    const CHATS: usize = 50;
    let db = common::fresh_database().await;
    let transport = common::Transport::start(via);
    let fake = FakeLlm::start().await;
    // The doomed replica's calls (the first CHATS) stream a few tokens and hang; every later
    // call answers its chat's prompt.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    fake.set_handler(move |req| {
        if is_title_request(req) {
            return Some(Turn::text("A title"));
        }
        let n = numbered(req, "chaos chat ")?;
        Some(if seen.fetch_add(1, Ordering::SeqCst) < CHATS {
            Turn::new(vec![Step::TextTokens { count: 5, delay: Duration::ZERO, embed_timestamp: false }, Step::Hang])
        } else {
            Turn::text(format!("answer to chaos chat {n}."))
        })
    });
    let (mut doomed, url_a) = common::spawn_replica(&db, &transport, REPLICA);
    let owner_a = common::first_owner(&url_a).await;
    setup_provider(&owner_a, &fake).await;
    let org = owner_a.me().await.unwrap().organization_ids[0];
    let mut ids = Vec::new();
    for i in 0..CHATS {
        ids.push(create_chat(&owner_a, org, &format!("chaos chat {i}.")).await.id);
    }
    // Every chat is mid-answer on the doomed replica (the only one so far).
    fake.wait_for_requests(CHATS, WAIT).await;
    for id in &ids {
        wait_status(&owner_a, *id, |s| s == sdk::ChatStatus::Running).await;
    }

    let (survivor_b, url_b) = common::spawn_replica(&db, &transport, REPLICA);
    let (survivor_c, _url_c) = common::spawn_replica(&db, &transport, REPLICA);
    let owner_b = login(&url_b).await;
    let mut streams: Vec<Events> = Vec::new();
    for id in &ids {
        streams.push(open_events(&owner_b, *id, 0).await);
    }
    doomed.kill();

    // A client on a surviving replica sees each chat answered and idle; nothing lost, nothing
    // twice: the prompt and exactly one answer per chat.
    each_answered_once(&owner_b, &ids, &mut streams, |i| format!("chaos chat {i}."), |i| format!("answer to chaos chat {i}.")).await;
    let agent_calls = fake.requests().iter().filter(|r| !is_title_request(r)).count();
    assert_eq!(agent_calls, 2 * CHATS, "one cut-off call and one answer per chat");
    common::stop_server_process(survivor_b);
    common::stop_server_process(survivor_c);
}

// ---------------------------------------------------------------------------------------------
// 2. SIGKILL in the middle of a tool call.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_cut_off_by_a_crash_is_reported_as_interrupted_and_not_run_again() {
    // One process at a time holds the chat: the default transport is enough.
    let transport = common::Transport::start(common::Via::Postgres);
    let db = common::fresh_database().await;
    let fake = FakeLlm::start().await;
    let child_calls = Arc::new(AtomicUsize::new(0));
    let seen = child_calls.clone();
    fake.set_handler(move |req| {
        if is_title_request(req) {
            return Some(Turn::text("A title"));
        }
        if req.body.to_string().contains("You are a subagent") {
            // The child stays busy while its replica lives, so wait_agent keeps waiting.
            return Some(if seen.fetch_add(1, Ordering::SeqCst) == 0 { Turn::new(vec![Step::Hang]) } else { Turn::text("child report") });
        }
        Some(match last_tool_message(req) {
            None => Turn::tool_call("spawn_agent", json!({"prompt": "Find the answer", "title": "finder"})),
            Some(r) if r.contains(agentry_chatd::CRASHED_RESULT) => Turn::text("The wait was cut off; moving on."),
            Some(r) if r.contains("chat_id") && !r.contains("report") => {
                let spawned: serde_json::Value = serde_json::from_str(&r).unwrap();
                Turn::tool_call("wait_agent", json!({"chat_id": spawned["chat_id"], "timeout_seconds": 600}))
            }
            Some(other) => Turn::text(format!("unexpected tool result: {other}")),
        })
    });
    let (mut doomed, url_a) = common::spawn_replica(&db, &transport, REPLICA);
    let owner_a = common::first_owner(&url_a).await;
    setup_provider(&owner_a, &fake).await;
    let org = owner_a.me().await.unwrap().organization_ids[0];
    let chat = create_chat(&owner_a, org, "Delegate and wait").await;

    // The call is saved before the tool starts; once it is, wait_agent is running (the child
    // hangs), and the replica dies.
    let call_id = common::eventually("the wait_agent call to be saved", || async {
        let h = history(&owner_a, chat.id).await;
        h.iter().flat_map(|m| parts_of(m, "tool-call")).find(|p| p["tool_name"] == "wait_agent").map(|p| p["tool_call_id"].as_str().unwrap().to_string())
    })
    .await;
    doomed.kill();

    let (survivor, url_b) = common::spawn_replica(&db, &transport, REPLICA);
    let owner_b = login(&url_b).await;
    let done = common::eventually("the chat to continue after the crash", || async {
        let c = owner_b.chat(chat.id).await.unwrap();
        let h = history(&owner_b, chat.id).await;
        (c.status != sdk::ChatStatus::Running && c.status != sdk::ChatStatus::Pending && h.last().is_some_and(|m| m.role == sdk::MessageRole::Assistant && !text_of(m).is_empty()))
            .then_some((c, h))
    })
    .await;
    let (c, h) = done;
    assert_eq!(c.status, sdk::ChatStatus::Waiting, "{:?}", c.last_error);
    let roles: Vec<String> = h.iter().map(|m| m.role.to_string()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool", "assistant"]);
    // wait_agent was called once, and its result says it was interrupted.
    let calls: Vec<String> = h.iter().flat_map(|m| parts_of(m, "tool-call")).map(|p| p["tool_name"].as_str().unwrap().to_string()).collect();
    assert_eq!(calls, ["spawn_agent", "wait_agent"]);
    let result = parts_of(&h[4], "tool-result")[0].clone();
    assert_eq!(result["tool_call_id"], json!(call_id));
    assert_eq!(result["is_error"], true);
    assert!(result.to_string().contains(agentry_chatd::CRASHED_RESULT), "{result}");
    assert_eq!(text_of(&h[5]), "The wait was cut off; moving on.");
    // The model was asked for the wait once, and next saw the interruption, not a re-run.
    let parent: Vec<RecordedRequest> =
        fake.requests().into_iter().filter(|r| !is_title_request(r) && !r.body.to_string().contains("You are a subagent")).collect();
    assert_eq!(parent.len(), 3, "spawn, wait, continue");
    assert!(last_tool_message(&parent[2]).unwrap().contains(agentry_chatd::CRASHED_RESULT));
    common::stop_server_process(survivor);
}

// ---------------------------------------------------------------------------------------------
// 3. PostgreSQL restarted under running replicas.

/// A PostgreSQL cluster of this test's own (initdb into a temporary directory, TCP on a free
/// port of 127.0.0.1, trust), so restarting it disturbs no other test. Stopped when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn bin_dir() -> std::path::PathBuf {
        let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").is_file())
            .collect();
        dirs.sort();
        dirs.pop().expect("a PostgreSQL version with pg_ctl")
    }

    /// Runs a PostgreSQL tool as the `postgres` account when this is root (PostgreSQL refuses
    /// to run as root), as this user otherwise.
    fn run(&self, tool: &str, args: &[&str]) {
        if let Err(e) = self.try_run(tool, args) {
            panic!("{e}");
        }
    }

    fn try_run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        Err(format!("{tool} {args:?}: {}{}\n{log}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let status = std::process::Command::new("chown").args(["postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        let mut pg = PrivatePostgres { dir, bin: Self::bin_dir(), port: 0 };
        pg.run("initdb", &["-D", &pg.data(), "-U", "postgres", "--auth=trust", "--no-sync"]);
        // A free port, chosen just before starting (bound and released): another test may still
        // take it in between, so a start that finds it taken tries another.
        for attempt in 1.. {
            pg.port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            match pg.try_pg_ctl("start") {
                Ok(()) => break,
                Err(e) if attempt < 5 && e.contains("Address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        pg
    }

    fn pg_ctl(&self, action: &str) {
        if let Err(e) = self.try_pg_ctl(action) {
            panic!("{e}");
        }
    }

    fn try_pg_ctl(&self, action: &str) -> Result<(), String> {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.try_run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "-t", "120", "-m", "fast", action])
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

crate::under_both_transports!(replicas_ride_out_a_postgres_restart_while_chats_stream);

async fn replicas_ride_out_a_postgres_restart_while_chats_stream(via: common::Via) {
    const CHATS: usize = 6;
    let transport = common::Transport::start(via);
    let pg = PrivatePostgres::start();
    let db = pg.url();
    let fake = FakeLlm::start().await;
    // Each answer streams a little, waits until PostgreSQL has restarted, then ends.
    fake.set_handler(|req| {
        if is_title_request(req) {
            return Some(Turn::text("A title"));
        }
        let n = numbered(req, "restart chat ")?;
        Some(Turn::new(vec![
            Step::TextTokens { count: 3, delay: Duration::ZERO, embed_timestamp: false },
            Step::gate(format!("go {n}")),
            Step::text(format!("and the rest of answer {n}.")),
        ]))
    });
    // A runs the chats; B only serves clients, so everything B shows crossed PostgreSQL.
    let (runner, url_a) = common::spawn_replica(&db, &transport, REPLICA);
    let mut api_only = REPLICA.to_vec();
    api_only.extend(["--chat-daemon", "false"]);
    let (viewer, url_b) = common::spawn_replica(&db, &transport, &api_only);
    let owner_a = common::first_owner(&url_a).await;
    setup_provider(&owner_a, &fake).await;
    let org = owner_a.me().await.unwrap().organization_ids[0];
    let owner_b = login(&url_b).await;
    let (bob_b, bob) = {
        let bob = owner_a
            .create_user(&sdk::CreateUserRequest {
                email: "bob@example.com".into(),
                username: "bob".into(),
                password: common::PASSWORD.into(),
                name: None,
                organization_ids: None,
            })
            .await
            .unwrap();
        (Client::new(&url_b).unwrap().logged_in("bob@example.com", common::PASSWORD).await.unwrap(), bob)
    };
    bob_b.me().await.unwrap();

    let mut ids = Vec::new();
    let mut streams = Vec::new();
    for i in 0..CHATS {
        let id = create_chat(&owner_a, org, &format!("restart chat {i}.")).await.id;
        streams.push(open_events(&owner_b, id, 0).await);
        ids.push(id);
    }
    fake.wait_for_requests(CHATS, WAIT).await;

    // Half the answers end (and are saved) around the restart, half after it.
    for i in 0..CHATS / 2 {
        fake.open_gate(&format!("go {i}"));
    }
    pg.pg_ctl("restart");

    // Every replica reconnects: both answer requests again.
    for c in [&owner_a, &owner_b] {
        common::eventually("the API to answer after the restart", || async { c.me().await.ok() }).await;
    }
    for i in CHATS / 2..CHATS {
        fake.open_gate(&format!("go {i}"));
    }
    // No chat is left running: each ends (through B's API) ...
    for id in &ids {
        let chat = idle(&owner_b, *id).await;
        assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
    }
    // ... and B's streams, opened before the restart, see each chat finish (hints crossed
    // PostgreSQL after it came back: B listens again).
    each_answered_once(&owner_b, &ids, &mut streams, |i| format!("restart chat {i}."), |i| format!("tok0 tok1 tok2 and the rest of answer {i}.")).await;

    // Live parts cross again: a new chat on A streams its deltas to a client on B.
    fake.set_handler(|req| {
        if is_title_request(req) {
            return Some(Turn::text("A title"));
        }
        Some(Turn::new(vec![Step::text("live again "), Step::gate("after"), Step::text("done.")]))
    });
    let fresh = create_chat(&owner_a, org, "after the restart").await.id;
    let mut s = open_events(&owner_b, fresh, 0).await;
    collect_until(&mut s, |e| e.iter().any(|e| e.kind() == "message_part")).await;
    fake.open_gate("after");
    collect_until(&mut s, |e| answered(e, "live again done.")).await;

    // Auth changes cross again: bob suspended through A loses B at once.
    owner_a.suspend_user(&bob.id.to_string()).await.unwrap();
    common::eventually("bob's session on B to end", || async { bob_b.me().await.err() }).await;

    common::stop_server_process(runner);
    common::stop_server_process(viewer);
}

// ---------------------------------------------------------------------------------------------
// 4. Provider faults.

/// A server whose daemon retries three times quickly and counts a provider silent for 500 ms
/// as stalled; the owner's default model is the fake.
async fn fault_world() -> (TestServer, Client, FakeLlm, Uuid) {
    let cfg = agentry_chatd::DaemonConfig { provider_idle_timeout: Duration::from_millis(500), ..common::test_chatd() };
    let s = TestServer::start_with(&common::fresh_database().await, cfg).await;
    let (owner, first) = s.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    (s, owner, fake, first.organization_id)
}

/// Runs one fault: once a stream is open on an answered chat (retry events are live only), the
/// user sends again and every attempt of that call fails the same way. Returns the stream's
/// retry events and the chat's `last_error`, after checking that the user can go on.
async fn fault(fault: Vec<Step>, expected_retries: usize) -> (Vec<sdk::RetryInfo>, String) {
    let (s, owner, fake, org) = fault_world().await;
    fake.push_turn(Turn::text("first answer"));
    let chat = create_chat(&owner, org, "hello").await;
    let mut stream = open_events(&owner, chat.id, 0).await;
    collect_until(&mut stream, |e| answered(e, "first answer") && e.iter().any(|e| status_is(e, sdk::ChatStatus::Waiting))).await;
    for _ in 0..=expected_retries {
        fake.push_turn(Turn::new(fault.clone()));
    }
    let send = |t: &str| sdk::CreateChatMessageRequest { content: Some(text(t)), ..Default::default() };
    owner.send_chat_message(chat.id, &send("and now?")).await.unwrap();
    let events = collect_until(&mut stream, |e| e.iter().any(|e| e.kind() == "error")).await;
    let retries: Vec<sdk::RetryInfo> = events
        .iter()
        .filter_map(|e| match e {
            sdk::ChatStreamEvent::Retry { retry, .. } => Some(retry.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), expected_retries, "{retries:?}");
    assert_eq!(fake.requests().len(), 1 + expected_retries + 1, "bounded: one call per attempt");
    let failed = idle(&owner, chat.id).await;
    assert_eq!(failed.status, sdk::ChatStatus::Error);
    let last_error = failed.last_error.expect("a last_error");
    let shown = events.iter().find_map(|e| match e {
        sdk::ChatStreamEvent::Error { error, .. } => Some(error.message.clone()),
        _ => None,
    });
    assert_eq!(shown.as_deref(), Some(last_error.as_str()), "the stream shows the same error");

    // The user goes on: sending again runs the chat, and the provider answers now.
    fake.push_turn(Turn::text("back to normal"));
    owner.send_chat_message(chat.id, &send("again")).await.unwrap();
    collect_until(&mut stream, |e| answered(e, "back to normal")).await;
    assert_eq!(idle(&owner, chat.id).await.status, sdk::ChatStatus::Waiting);
    s.stop().await;
    (retries, last_error)
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_providers_delay_then_fails_clearly() {
    let (retries, err) = fault(vec![Step::Error { status: 429, body: json!({"message": "slow down"}), retry_after: Some(1) }], 2).await;
    // Retry-After (1 s) wins over the backoff, capped at the policy's 500 ms.
    assert!(retries.iter().all(|r| r.status == Some(429) && r.delay_ms == 500), "{retries:?}");
    assert_eq!(retries.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2]);
    assert!(err.contains("429") && err.contains("slow down"), "{err}");
}

#[tokio::test]
async fn a_500_is_retried_with_backoff_then_fails_clearly() {
    let (retries, err) = fault(vec![Step::error(500, "internal trouble")], 2).await;
    assert_eq!(retries.iter().map(|r| (r.attempt, r.delay_ms, r.status)).collect::<Vec<_>>(), [(1, 50, Some(500)), (2, 100, Some(500))]);
    assert!(err.contains("500") && err.contains("internal trouble"), "{err}");
}

#[tokio::test]
async fn a_stalled_stream_times_out_is_retried_then_fails_clearly() {
    // Before: no idle timeout, so a provider that stopped sending held the chat forever.
    let (retries, err) = fault(vec![Step::Hang], 2).await;
    assert_eq!(retries.iter().map(|r| (r.attempt, r.delay_ms)).collect::<Vec<_>>(), [(1, 50), (2, 100)]);
    assert!(retries.iter().all(|r| r.error.contains("sent nothing")), "{retries:?}");
    assert!(err.contains("sent nothing for 0.5 s"), "{err}");
}

#[tokio::test]
async fn a_stream_that_stalls_after_content_is_not_retried_and_fails_clearly() {
    // Content was streamed (clients may show it): the call is not sent again; the partial step
    // is saved and the turn fails with the stall.
    let (retries, err) = fault(vec![Step::text("half an "), Step::Hang], 0).await;
    assert!(retries.is_empty());
    assert!(err.contains("sent nothing for 0.5 s"), "{err}");
}

#[tokio::test]
async fn a_connection_reset_mid_stream_is_retried_then_fails_clearly() {
    let (retries, err) = fault(vec![Step::Reset], 2).await;
    assert_eq!(retries.iter().map(|r| (r.attempt, r.delay_ms, r.status)).collect::<Vec<_>>(), [(1, 50, None), (2, 100, None)]);
    assert!(err.contains("connection error"), "{err}");
}

#[tokio::test]
async fn malformed_sse_fails_at_once_with_a_clear_error() {
    // A stream that breaks the protocol is not retried: the provider answered, and answering
    // again the same way is likely. The chat fails at once with the decoding error.
    let (retries, err) = fault(vec![Step::Raw { event: None, data: "{not json".into() }], 0).await;
    assert!(retries.is_empty());
    assert!(err.contains("cannot decode provider event"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 5. A WebSocket client that drops mid-answer and comes back.

fn streamed_text(events: &[sdk::ChatStreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.message_part()?.part {
            sdk::Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_client_that_reconnects_mid_answer_gets_the_rest_with_no_gap_and_no_duplicate() {
    let s = TestServer::start_with(&common::fresh_database().await, common::test_chatd()).await;
    let (owner, first) = s.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let token = |n: usize| Step::TextTokens { count: n, delay: Duration::ZERO, embed_timestamp: false };
    fake.push_turn(Turn::new(vec![
        token(10),
        Step::gate("while away"),
        Step::text("then more words while the client is away, "),
        Step::gate("back"),
        Step::text("and the end."),
    ]));
    let chat = create_chat(&owner, first.organization_id, "talk").await;
    let mut observer = open_events(&owner, chat.id, 0).await;
    let mut client = open_events(&owner, chat.id, 0).await;
    let before = collect_until(&mut client, |e| streamed_text(e).matches("tok").count() == 10).await;
    let last_seen = before.iter().filter_map(|e| e.message().map(|m| m.id)).max().expect("the prompt was sent");
    drop(client);

    // While the client is away the answer goes on (the observer sees it), then it returns.
    fake.open_gate("while away");
    collect_until(&mut observer, |e| streamed_text(e).contains("client is away, ")).await;
    let mut back = open_events(&owner, chat.id, last_seen).await;
    // The snapshot (taken once the socket is up) already holds what was said while away; only
    // then does the answer go on, so the reconnect is really mid-answer.
    let mut after = collect_until(&mut back, |e| streamed_text(e).contains("client is away, ")).await;
    fake.open_gate("back");
    after.extend(collect_until(&mut back, |e| answered(e, "and the end.")).await);

    let answer = history(&owner, chat.id).await.into_iter().rfind(|m| m.role == sdk::MessageRole::Assistant).map(|m| text_of(&m)).unwrap();
    assert!(answer.ends_with("then more words while the client is away, and the end."), "{answer}");
    // The reconnected stream's snapshot holds the step so far (it replaces what the client
    // had), the live parts follow: together exactly the answer, once.
    assert_eq!(streamed_text(&after), answer);
    assert!(answer.starts_with(&streamed_text(&before)));
    // Nothing the client already had is sent again.
    assert!(after.iter().filter_map(|e| e.message()).all(|m| m.id > last_seen));
    s.stop().await;
}
