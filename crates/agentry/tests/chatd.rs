//! Black-box tests of the chat daemon: real servers (in-process and as separate processes) on a
//! real PostgreSQL, the fake LLM provider over HTTP, the typed client and its WebSockets.

mod common;

use agentry_sdk::ClientError;

use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, RecordedRequest, Step, Turn};
use common::TestServer;
use common::chat::{WAIT, create_chat, setup_provider, text, wait_status};
use serde_json::{Value, json};
use uuid::Uuid;


/// A deployment whose default model runs on the fake, with orgs A and B (a template each) and
/// alice, a member of A with agents-access.
struct World {
    s: TestServer,
    owner: Client,
    fake: FakeLlm,
    a: sdk::Organization,
    b: sdk::Organization,
    tpl_a: sdk::Template,
    tpl_b: sdk::Template,
    alice: Client,
    alice_id: Uuid,
}


async fn template(owner: &Client, org: &sdk::Organization, name: &str) -> sdk::Template {
    owner
        .create_template(&org.id.to_string(), &sdk::CreateTemplateRequest {
            name: name.into(),
            display_name: None,
            description: Some(format!("template {name}")),
            startup_script: None,
            parameters: None,
            network: None,
            kind: None,
        })
        .await
        .unwrap()
}

async fn world() -> World {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let tpl_a = template(&owner, &a, "tpl-a").await;
    let tpl_b = template(&owner, &b, "tpl-b").await;
    let (alice, user) = s.user(&owner, "alice", &[a.id]).await;
    owner.update_member_roles(&a.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    World { s, owner, fake, a, b, tpl_a, tpl_b, alice, alice_id: user.id }
}




async fn idle(c: &Client, id: Uuid) -> sdk::Chat {
    wait_status(c, id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error | sdk::ChatStatus::RequiresAction)).await
}

/// The visible history, oldest first.
async fn history(c: &Client, id: Uuid) -> Vec<sdk::ChatMessage> {
    let mut m = c.chat_messages(id, None, Some(200)).await.unwrap().messages;
    m.sort_by_key(|m| m.id);
    m
}

fn parts_of<'a>(m: &'a sdk::ChatMessage, kind: &str) -> Vec<&'a Value> {
    m.content.as_array().into_iter().flatten().filter(|p| p["type"] == kind).collect()
}

fn text_of(m: &sdk::ChatMessage) -> String {
    parts_of(m, "text").iter().filter_map(|p| p["text"].as_str()).collect()
}

type Events = tokio::sync::mpsc::UnboundedReceiver<sdk::ChatStreamEvent>;

/// Opens a chat's stream and forwards its events, one by one, to a channel.
async fn open_stream(c: &Client, id: Uuid) -> Events {
    let mut s = c.stream_chat(id, 0).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(batch)) = s.next_batch().await {
            for e in batch {
                if tx.send(e).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Collects stream events until `stop` says so (or the deadline passes).
async fn collect_until(stream: &mut Events, stop: impl Fn(&[sdk::ChatStreamEvent]) -> bool) -> Vec<sdk::ChatStreamEvent> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stop(&all) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, stream.recv()).await {
            Ok(Some(e)) => all.push(e),
            Ok(None) => panic!("stream ended; events so far: {:?}", all.iter().map(|e| e.kind()).collect::<Vec<_>>()),
            Err(_) => panic!("timed out; events so far: {:?}", all.iter().map(|e| e.kind()).collect::<Vec<_>>()),
        }
    }
    all
}

fn is_final_answer(events: &[sdk::ChatStreamEvent], needle: &str) -> bool {
    events.iter().any(|e| e.kind() == "message" && e.message().is_some_and(|m| m.role == sdk::MessageRole::Assistant && text_of(m).contains(needle)))
}

fn last_tool_message(req: &RecordedRequest) -> Option<String> {
    let msgs = req.body["messages"].as_array()?;
    let last = msgs.last()?;
    (last["role"] == "tool").then(|| last["content"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn the_agents_execute_tool_runs_in_the_workspace_sandbox() {
    let w = world().await;
    let data_dir = w.s.data_dir.path().display().to_string();
    let probe = format!(
        "id -u; echo procs=$(ls /proc | grep -c '^[0-9]'); env | cut -d= -f1 | sort | tr '\\n' ' '; echo; \
         ls {data_dir} >/dev/null 2>&1 && echo saw-data-dir; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c '[p]ostgres'; \
         echo mine > mine.txt"
    );
    w.fake.push_turns([
        Turn::tool_call("create_workspace", json!({"template_id": w.tpl_a.id, "name": "boxed"})),
        Turn::tool_call("execute", json!({"command": probe})),
        Turn::text("Checked."),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "Look around").await;
    let chat = idle(&w.alice, chat.id).await;
    assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
    let h = history(&w.alice, chat.id).await;
    let exec = h.iter().flat_map(|m| parts_of(m, "tool-result")).find(|p| p["tool_name"] == "execute").expect("execute ran");
    assert_eq!(exec["is_error"], false, "{exec}");
    let out = exec["result"]["output"].as_str().unwrap().to_string();
    let lines: Vec<&str> = out.lines().collect();
    let uid: u32 = lines[0].parse().unwrap_or_else(|_| panic!("{out}"));
    assert_ne!(uid, 0, "the agent's commands must not run as root: {out}");
    let procs: usize = lines[1].strip_prefix("procs=").unwrap().parse().unwrap();
    assert!(procs <= 8, "the server's processes are visible: {out}");
    for name in lines[2].split_whitespace() {
        assert!(
            ["PATH", "HOME", "USER", "LANG", "TERM", "PAGER", "GIT_EDITOR", "NO_COLOR", "PWD", "SHLVL", "_", "AGENTRY_CHAT_ID"]
                .contains(&name),
            "the server's environment leaked ({name}): {out}"
        );
    }
    assert!(!out.contains("saw-data-dir"), "{out}");
    assert_eq!(lines[3], "0", "a postgres process is visible: {out}");
    let ws_id = chat.workspace_id.unwrap();
    let file = w.s.data_dir.path().join("workspaces").join(ws_id.to_string()).join("mine.txt");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(file).unwrap()), uid);
    w.s.stop().await;
}

#[tokio::test]
async fn agent_lists_templates_creates_a_workspace_and_executes_in_its_org() {
    let w = world().await;
    // A second version: the agent's workspace gets the active one.
    let active = w
        .owner
        .update_template(w.tpl_a.id, &sdk::UpdateTemplateRequest { startup_script: Some("echo v2".into()), ..Default::default() })
        .await
        .unwrap()
        .active_version_id;
    assert_ne!(active, w.tpl_a.active_version_id);
    w.fake.push_turns([
        Turn::tool_call("list_templates", json!({})),
        Turn::tool_call("create_workspace", json!({"template_id": w.tpl_a.id, "name": "agent-ws"})),
        Turn::tool_call("execute", json!({"command": "echo made-by-agent > out.txt && cat out.txt"})),
        // The answer streams only once the stream below is connected.
        Turn::new(vec![Step::gate("answer"), Step::text("All done: out.txt is written.")]),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "Please set up a workspace and write out.txt").await;
    let mut stream = open_stream(&w.alice, chat.id).await;
    w.fake.open_gate("answer");
    let events = collect_until(&mut stream, |e| is_final_answer(e, "All done")).await;

    // Deltas of the answer arrived before the answer's message.
    let first_part = events
        .iter()
        .position(|e| e.kind() == "message_part" && e.message_part().is_some_and(|p| matches!(&p.part, sdk::Part::Text { text } if text.contains("All"))))
        .expect("text deltas were streamed");
    let final_msg = events.iter().position(|e| e.kind() == "message" && e.message().is_some_and(|m| text_of(m).contains("All done"))).unwrap();
    assert!(first_part < final_msg);
    assert!(events.iter().any(|e| e.kind() == "message_part" && e.message_part().is_some_and(|p| matches!(p.part, sdk::Part::ToolCall { .. }))));

    let chat = idle(&w.alice, chat.id).await;
    assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
    let h = history(&w.alice, chat.id).await;
    let roles: Vec<&str> = h.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]);
    let calls: Vec<&str> = h.iter().flat_map(|m| parts_of(m, "tool-call")).filter_map(|p| p["tool_name"].as_str()).collect();
    assert_eq!(calls, ["list_templates", "create_workspace", "execute"]);

    // list_templates returned A's template only, each with its organization.
    let listed = &parts_of(&h[2], "tool-result")[0]["result"];
    let items = listed["templates"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], json!(w.tpl_a.id));
    assert_eq!(items[0]["organization_id"], json!(w.a.id));
    assert!(!listed.to_string().contains(&w.tpl_b.id.to_string()));

    // The workspace is bound, belongs to A and alice, and holds the file.
    let ws_id = chat.workspace_id.expect("workspace bound to the chat");
    let ws = w.alice.workspace(ws_id).await.unwrap();
    assert_eq!(ws.organization_id, w.a.id);
    assert_eq!(ws.owner_id, w.alice_id);
    assert_eq!((ws.template_version_id, ws.outdated), (active, false));
    let exec = &parts_of(&h[6], "tool-result")[0];
    assert_eq!(exec["is_error"], false, "{exec}");
    assert!(exec["result"]["output"].as_str().unwrap().contains("made-by-agent"));
    let file = w.s.data_dir.path().join("workspaces").join(ws_id.to_string()).join("out.txt");
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), "made-by-agent");

    // Every model call saw the tools; the second saw list_templates' result.
    let reqs = w.fake.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs[0].body["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "create_workspace"));
    assert!(last_tool_message(&reqs[1]).unwrap().contains("tpl-a"));
    let _ = &w.b;
}

#[tokio::test]
async fn another_orgs_template_is_refused_and_a_subagent_reports_back() {
    let w = world().await;
    // Alice may read B's templates (she is a member there too, without agents-access), so the
    // refusal below comes from the chat's organization, not from RBAC.
    w.owner.add_member(&w.b.id.to_string(), "alice").await.unwrap();
    let tpl_b = w.tpl_b.id;
    w.fake.set_handler(move |req| {
        let body = req.body.to_string();
        if body.contains("You are a subagent") {
            return Some(Turn::text("child report: the answer is 42"));
        }
        match last_tool_message(req) {
            None => Some(Turn::tool_call("create_workspace", json!({"template_id": tpl_b}))),
            Some(r) if r.contains("belongs to another organization") => {
                Some(Turn::tool_call("spawn_agent", json!({"prompt": "Find the answer", "title": "finder"})))
            }
            Some(r) if r.contains("\"report\"") => Some(Turn::text("The subagent said 42.")),
            Some(r) => {
                let spawned: Value = serde_json::from_str(&r).unwrap();
                Some(Turn::tool_call("wait_agent", json!({"chat_id": spawned["chat_id"], "timeout_seconds": 600})))
            }
        }
    });
    let chat = create_chat(&w.alice, w.a.id, "Use org B's template, then delegate").await;
    let chat = idle(&w.alice, chat.id).await;
    assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
    let h = history(&w.alice, chat.id).await;

    // The cross-organization template was a tool error naming list_templates; nothing was created.
    let refused = &parts_of(&h[2], "tool-result")[0];
    assert_eq!(refused["is_error"], true);
    let message = refused["result"]["error"].as_str().unwrap();
    assert!(message.contains("belongs to another organization") && message.contains("list_templates"), "{refused}");
    let ws = w.owner.workspaces("owner:alice").await.unwrap();
    assert!(ws.workspaces.is_empty(), "no workspace may be created: {ws:?}");
    assert!(chat.workspace_id.is_none());

    // The child: same org and owner, parent linked; its report reached the parent.
    let listed = w.alice.chats("owner:me").await.unwrap();
    let parent = listed.iter().find(|c| c.id == chat.id).unwrap();
    let child = parent.children.first().expect("child chat listed under its parent").clone();
    assert_eq!(child.organization_id, w.a.id);
    assert_eq!(child.owner_id, w.alice_id);
    assert_eq!(child.parent_chat_id, Some(chat.id));
    assert_eq!(child.root_chat_id, chat.id);
    let waited = h.iter().flat_map(|m| parts_of(m, "tool-result")).find(|p| p["tool_name"] == "wait_agent").unwrap().clone();
    assert_eq!(waited["result"]["report"], "child report: the answer is 42", "{waited}");
    assert!(text_of(h.last().unwrap()).contains("42"));
    // Children are not offered spawn or workspace-lifecycle tools.
    let child_req = w.fake.requests().into_iter().find(|r| r.body.to_string().contains("You are a subagent")).unwrap();
    let names: Vec<String> = child_req.body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap().to_string()).collect();
    assert!(names.contains(&"execute".to_string()));
    for banned in ["spawn_agent", "create_workspace", "start_workspace", "list_templates"] {
        assert!(!names.contains(&banned.to_string()), "{banned} offered to a child");
    }
}

#[tokio::test]
async fn interrupt_keeps_the_partial_reply() {
    let w = world().await;
    // A few tokens, then the model keeps the answer open until the interrupt ends it.
    w.fake.push_turn(Turn::new(vec![
        Step::TextTokens { count: 10, delay: Duration::from_millis(5), embed_timestamp: false },
        Step::Hang,
    ]));
    let chat = create_chat(&w.alice, w.a.id, "Talk for a while").await;
    let mut stream = open_stream(&w.alice, chat.id).await;
    collect_until(&mut stream, |e| e.iter().filter(|e| e.kind() == "message_part").count() >= 5).await;
    w.alice.interrupt_chat(chat.id).await.unwrap();
    let chat = idle(&w.alice, chat.id).await;
    assert_eq!(chat.status, sdk::ChatStatus::Waiting);
    // The worker saves the partial step after the interrupt; wait for it.
    let partial = common::eventually("the partial reply to be saved", || async {
        let h = history(&w.alice, chat.id).await;
        h.iter().find(|m| m.role == sdk::MessageRole::Assistant).cloned()
    })
    .await;
    assert!(text_of(&partial).starts_with("tok0 tok1 tok2 tok3 tok4"), "{}", text_of(&partial));
    // The cut-off answer says it was stopped, so it is not shown as a complete one.
    assert!(partial.stopped, "a stopped answer is marked");

    // A later answer that runs to its end is not marked.
    w.fake.push_turn(Turn::text("a whole answer"));
    w.alice
        .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("again")), ..Default::default() })
        .await
        .unwrap();
    let whole = common::eventually("the second answer", || async {
        let h = history(&w.alice, chat.id).await;
        h.into_iter().rfind(|m| m.role == sdk::MessageRole::Assistant && text_of(m) == "a whole answer")
    })
    .await;
    assert!(!whole.stopped);
}

#[tokio::test]
async fn stop_leaves_queued_messages_waiting_until_the_user_sends_again() {
    let w = world().await;
    w.fake.push_turns([
        Turn::new(vec![Step::text("working on it "), Step::Hang]),
        Turn::text("answer to two"),
        Turn::text("answer to three"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "one").await;
    w.fake.wait_for_requests(1, WAIT).await;
    let send = |t: &str| sdk::CreateChatMessageRequest { content: Some(text(t)), ..Default::default() };
    assert!(w.alice.send_chat_message(chat.id, &send("two")).await.unwrap().queued);
    w.alice.interrupt_chat(chat.id).await.unwrap();
    // The worker saves the partial step and ends the turn; the queued message must not run.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !history(&w.alice, chat.id).await.iter().any(|m| m.role == sdk::MessageRole::Assistant) {
        assert!(tokio::time::Instant::now() < deadline, "partial reply never saved");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(w.fake.requests().len(), 1, "nothing ran after Stop");
        let c = w.alice.chat(chat.id).await.unwrap();
        assert_eq!(c.status, sdk::ChatStatus::Waiting);
    }
    assert_eq!(w.alice.chat_messages(chat.id, None, None).await.unwrap().queued_messages.len(), 1);
    // Sending again resumes: the held message first, then the new one.
    w.alice.send_chat_message(chat.id, &send("three")).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let texts = loop {
        let h = history(&w.alice, chat.id).await;
        let texts: Vec<String> = h.iter().map(text_of).collect();
        if texts.last().is_some_and(|t| t == "answer to three") {
            break texts;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck: {texts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(texts[2..], ["two", "answer to two", "three", "answer to three"].map(String::from));
}

#[tokio::test]
async fn a_message_sent_while_running_is_queued_and_runs_next() {
    let w = world().await;
    w.fake.push_turns([
        // The first answer waits mid-way until the second message is in.
        Turn::new(vec![Step::text("first "), Step::gate("queued"), Step::text("answer")]),
        Turn::text("second answer"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "one").await;
    w.fake.wait_for_requests(1, WAIT).await;
    let sent = w
        .alice
        .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("two")), ..Default::default() })
        .await
        .unwrap();
    assert!(sent.queued, "a busy chat queues");
    w.fake.open_gate("queued");
    let deadline = tokio::time::Instant::now() + WAIT;
    let h = loop {
        let h = history(&w.alice, chat.id).await;
        if h.len() >= 4 && idle(&w.alice, chat.id).await.status == sdk::ChatStatus::Waiting {
            break h;
        }
        if tokio::time::Instant::now() >= deadline {
            let c = w.alice.chat(chat.id).await.unwrap();
            let seq: Vec<(String, String)> = h.iter().map(|m| (m.role.to_string(), text_of(m))).collect();
            panic!(
                "stuck: status {} last_error {:?}; history {seq:?}; queue {:?}; provider calls {}",
                c.status,
                c.last_error,
                w.alice.chat_messages(chat.id, None, None).await.unwrap().queued_messages,
                w.fake.requests().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seq: Vec<(String, String)> = h.iter().map(|m| (m.role.to_string(), text_of(m))).collect();
    assert_eq!(
        seq,
        [
            ("user".into(), "one".into()),
            ("assistant".into(), "first answer".into()),
            ("user".into(), "two".into()),
            ("assistant".into(), "second answer".into())
        ]
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_and_reported_on_the_stream() {
    let w = world().await;
    w.fake.push_turns([
        // Retry events are live only (not in a snapshot): fail once the stream is open.
        Turn::new(vec![Step::gate("streaming"), Step::error(429, "slow down")]),
        Turn::text("answer after retry"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "hello").await;
    let mut stream = open_stream(&w.alice, chat.id).await;
    w.fake.open_gate("streaming");
    let events = collect_until(&mut stream, |e| is_final_answer(e, "answer after retry")).await;
    let retry = events
        .iter()
        .find_map(|e| match e {
            sdk::ChatStreamEvent::Retry { retry, .. } => Some(retry),
            _ => None,
        })
        .expect("a retry event");
    assert_eq!(retry.attempt, 1);
    assert_eq!(retry.status, Some(429));
    assert_eq!(idle(&w.alice, chat.id).await.status, sdk::ChatStatus::Waiting);
}

#[tokio::test]
async fn a_provider_that_keeps_failing_leaves_a_readable_error() {
    let w = world().await;
    w.fake.set_handler(|_| Some(Turn::error(503, "the model is overloaded")));
    let chat = create_chat(&w.alice, w.a.id, "hello").await;
    let chat = idle(&w.alice, chat.id).await;
    assert_eq!(chat.status, sdk::ChatStatus::Error);
    let err = chat.last_error.unwrap();
    assert!(err.contains("503") && err.contains("overloaded"), "{err}");
    // The test daemon makes 3 attempts.
    assert_eq!(w.fake.requests().len(), 3);
}

#[tokio::test]
async fn a_call_of_an_unknown_tool_gets_an_error_result_and_the_turn_goes_on() {
    // Before: a name that was neither built in nor declared counted as a client tool, so the
    // chat parked in `requires_action` waiting for a client that did not exist.
    let w = world().await;
    w.fake.push_turns([Turn::tool_call("frobnicate", json!({"x": 1})), Turn::text("sorry, no such tool")]);
    let chat = create_chat(&w.alice, w.a.id, "frobnicate it").await;
    let done = idle(&w.alice, chat.id).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);
    let h = history(&w.alice, chat.id).await;
    let result = h.iter().flat_map(|m| parts_of(m, "tool-result")).next().expect("a tool result");
    assert_eq!(result["tool_name"], "frobnicate");
    assert_eq!(result["is_error"], true);
    assert!(result.to_string().contains("There is no tool named"), "{result}");
    assert!(text_of(h.last().unwrap()).contains("sorry, no such tool"));
    assert_eq!(w.fake.requests().len(), 2, "the model saw the error and answered");
}

#[tokio::test]
async fn dynamic_tools_park_the_chat_until_results_arrive() {
    let w = world().await;
    w.fake.push_turns([Turn::tool_call("ask_client", json!({"q": "color?"})), Turn::text("client said blue")]);
    let mut req = sdk::CreateChatRequest { organization_id: Some(w.a.id), content: Some(text("ask")), ..Default::default() };
    req.unsafe_dynamic_tools = Some(vec![sdk::DynamicTool {
        name: "ask_client".into(),
        description: Some("Ask the client".into()),
        input_schema: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
    }]);
    let chat = w.alice.create_chat(&req).await.unwrap();
    let parked = idle(&w.alice, chat.id).await;
    assert_eq!(parked.status, sdk::ChatStatus::RequiresAction);
    let h = history(&w.alice, chat.id).await;
    let call = parts_of(h.last().unwrap(), "tool-call")[0].clone();
    // The ids must match the pending calls exactly: an unknown id, or a duplicate, is refused.
    let result = |id: &str| sdk::ToolResultInput { tool_call_id: id.into(), output: json!("blue"), is_error: false };
    let good = call["tool_call_id"].as_str().unwrap();
    for wrong in [vec![result("not-a-call")], vec![result(good), result(good)], vec![result(good), result("extra")]] {
        let r = w.alice.submit_tool_results(chat.id, &sdk::SubmitToolResultsRequest { results: wrong }).await;
        assert!(common::expect_status(r, 400).is(&ClientError::ToolResultsMismatch { expected: vec![] }));
    }
    assert_eq!(w.alice.chat(chat.id).await.unwrap().status, sdk::ChatStatus::RequiresAction, "nothing was recorded");
    w.alice
        .submit_tool_results(chat.id, &sdk::SubmitToolResultsRequest {
            results: vec![sdk::ToolResultInput { tool_call_id: call["tool_call_id"].as_str().unwrap().into(), output: json!("blue"), is_error: false }],
        })
        .await
        .unwrap();
    wait_status(&w.alice, chat.id, |s| s != sdk::ChatStatus::RequiresAction).await;
    let done = idle(&w.alice, chat.id).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting);
    assert!(text_of(history(&w.alice, chat.id).await.last().unwrap()).contains("blue"));
}

/// Logs in as the first user of a server that has none yet.

#[tokio::test]
async fn two_server_processes_run_each_of_50_chats_exactly_once() {
    let db = common::fresh_database().await;
    let local = TestServer::start_on(&db).await;
    let (owner, first) = local.owner().await;
    let fake = FakeLlm::start().await;
    fake.set_handler(|_| Some(Turn::new(vec![Step::delay(Duration::from_millis(50)), Step::text("one answer")])));
    setup_provider(&owner, &fake).await;
    let (child, url) = common::spawn_agentry_with(Some(&db), &tempfile::tempdir().unwrap().keep(), &["--chat-acquire-interval", "200ms"]);
    let remote = Client::new(&url).unwrap().logged_in("owner@example.com", common::PASSWORD).await.unwrap();

    let mut ids = Vec::new();
    for i in 0..50 {
        // Half the chats are created through each server.
        let c = if i % 2 == 0 { &owner } else { &remote };
        ids.push(create_chat(c, first.organization_id, &format!("chat {i}")).await.id);
    }
    for id in &ids {
        let chat = idle(&owner, *id).await;
        assert_eq!(chat.status, sdk::ChatStatus::Waiting, "{:?}", chat.last_error);
        let h = history(&owner, *id).await;
        let answers = h.iter().filter(|m| m.role == sdk::MessageRole::Assistant).count();
        assert_eq!(answers, 1, "chat {id} was answered {answers} times");
    }
    // Agent calls only; the second process also asks for titles (the test daemon does not).
    let agent_calls = fake.requests().iter().filter(|r| !r.body.to_string().contains("You name conversations")).count();
    assert_eq!(agent_calls, 50, "one model call per chat");
    common::stop_server_process(child);
    local.stop().await;
}

#[tokio::test]
async fn a_chat_whose_server_is_killed_mid_stream_is_finished_by_another() {
    let db = common::fresh_database().await;
    let fake = FakeLlm::start().await;
    // The first call hangs mid-answer (its server dies); the retry elsewhere answers.
    fake.push_turn(Turn::new(vec![Step::text("partial "), Step::Hang]));
    fake.push_turn(Turn::text("finished after failover"));
    let (mut doomed, url) = common::spawn_agentry_with(
        Some(&db),
        &tempfile::tempdir().unwrap().keep(),
        &["--chat-heartbeat-interval", "250ms", "--chat-stale-after", "5s"],
    );
    let owner = common::first_owner(&url).await;
    setup_provider(&owner, &fake).await;
    let me = owner.me().await.unwrap();
    let org = me.organization_ids[0];
    let chat = create_chat(&owner, org, "survive a crash").await;
    fake.wait_for_requests(1, WAIT).await;
    wait_status(&owner, chat.id, |s| s == sdk::ChatStatus::Running).await;
    doomed.kill();

    // Heartbeats far more often than the stale limit, so a slow machine never makes the
    // survivor's own run look abandoned (which would call the model a third time).
    let cfg = agentry_chatd::DaemonConfig {
        stale_after: Duration::from_secs(5),
        heartbeat_interval: Duration::from_millis(250),
        ..common::test_chatd()
    };
    let survivor = TestServer::start_with(&db, cfg).await;
    let client = survivor.client.logged_in("owner@example.com", common::PASSWORD).await.unwrap();
    let done = idle(&client, chat.id).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);
    let h = history(&client, chat.id).await;
    let seq: Vec<(String, String)> = h.iter().map(|m| (m.role.to_string(), text_of(m))).collect();
    assert_eq!(seq, [("user".into(), "survive a crash".into()), ("assistant".into(), "finished after failover".into())]);
    assert_eq!(fake.requests().len(), 2);
    survivor.stop().await;
}

// The cross-replica stream test runs under both fan-out transports.
crate::under_both_transports!(a_client_of_another_replica_streams_the_whole_answer);

/// A chat runs on server A (in-process, the only chat daemon); its client is connected to
/// server B (the real binary, API only) and connects mid-answer. Through the transport, B's
/// stream starts with the step's parts so far (its snapshot), gets the rest live, and the parts
/// add up to exactly the saved answer: nothing missing, nothing twice.
async fn a_client_of_another_replica_streams_the_whole_answer(via: common::Via) {
    let db = common::fresh_database().await;
    let transport = common::Transport::start(via);
    let a = TestServer::start_with_pubsub(&db, Some(common::test_chatd()), transport.pubsub()).await;
    let (owner, first) = a.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let (b, url_b) = common::spawn_replica(&db, &transport, &["--chat-daemon", "false"]);
    let via_b = Client::new(&url_b).unwrap().logged_in("owner@example.com", common::PASSWORD).await.unwrap();

    let before = "These words stream before the client connects. ";
    let after = "And these after it did, through the other replica.";
    fake.push_turn(Turn::new(vec![Step::text(before), Step::Gate { name: "go".into() }, Step::text(after)]));
    let chat = create_chat(&owner, first.organization_id, "stream me across replicas").await;
    fake.wait_for_requests(1, WAIT).await;
    // The first words are published on A; wait until A's own stream has them all.
    let mut on_a = open_stream(&owner, chat.id).await;
    let streamed = |events: &[sdk::ChatStreamEvent]| -> String {
        events
            .iter()
            .filter_map(|e| e.message_part())
            .filter(|p| p.role == sdk::MessageRole::Assistant)
            .filter_map(|p| match &p.part {
                sdk::Part::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    collect_until(&mut on_a, |e| streamed(e) == before).await;

    let mut on_b = open_stream(&via_b, chat.id).await;
    // B's snapshot (the first batch) carries the parts so far.
    let snapshot = collect_until(&mut on_b, |e| streamed(e) == before).await;
    fake.open_gate("go");
    let rest = collect_until(&mut on_b, |e| is_final_answer(e, "other replica")).await;
    let saved = history(&owner, chat.id).await.into_iter().filter(|m| m.role == sdk::MessageRole::Assistant).map(|m| text_of(&m)).collect::<String>();
    assert_eq!(saved, format!("{before}{after}"));
    let end = rest.iter().position(|e| e.kind() == "message" && e.message().is_some_and(|m| m.role == sdk::MessageRole::Assistant)).unwrap();
    assert_eq!(format!("{}{}", streamed(&snapshot), streamed(&rest[..end])), saved, "B's parts, snapshot and live, are the answer exactly once under {via:?}");
    common::stop_server_process(b);
    a.stop().await;
}

/// `(utime + stime)` of this process in seconds, and its resident set in KiB.
fn proc_usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status.lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    (ticks / 100.0, rss)
}

/// The benchmark of `docs/benchmarks/chatd.md`: 500 concurrent chats on one server, the fake
/// streaming 200 timestamped tokens each, one WebSocket client per chat. Run with
/// `scripts/bench/chatd.sh`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run scripts/bench/chatd.sh"]
async fn bench_500_concurrent_streaming_chats() {
    const CHATS: usize = 500;
    const TOKENS: usize = 200;
    // Milliseconds between two tokens of one chat (BENCH_TOKEN_MS); 500 chats at 10 ms offer
    // 50,000 tokens/s, far beyond two cores, which measures the ceiling; at 100 ms they offer
    // 5,000 tokens/s, a load the machine can carry, which measures latency.
    let token_ms: u64 = std::env::var("BENCH_TOKEN_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let w = world().await;
    w.fake.set_handler(move |_| {
        Some(Turn::new(vec![
            Step::delay(Duration::from_millis(3000)),
            Step::TextTokens { count: TOKENS, delay: Duration::from_millis(token_ms), embed_timestamp: true },
        ]))
    });
    let (cpu0, rss0) = proc_usage();
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CHATS {
        let chat = create_chat(&w.alice, w.a.id, &format!("bench {i}")).await;
        let s = w.alice.stream_chat(chat.id, 0).await.unwrap();
        tasks.push(tokio::spawn(common::chat::token_latencies(s, TOKENS)));
    }
    let mut peak_rss = rss0;
    let mut all = Vec::new();
    for t in tasks {
        peak_rss = peak_rss.max(proc_usage().1);
        all.extend(t.await.unwrap());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, _) = proc_usage();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "chats={CHATS} token_ms={token_ms} tokens={} wall={elapsed:.1}s tokens/s={:.0} cpu={:.1}s cpu/token={:.1}us rss_delta/chat={:.1}KiB p50={:.2}ms p99={:.2}ms max={:.2}ms",
        all.len(),
        all.len() as f64 / elapsed,
        cpu1 - cpu0,
        (cpu1 - cpu0) / all.len() as f64 * 1e6,
        (peak_rss - rss0) as f64 / CHATS as f64,
        pct(0.5),
        pct(0.99),
        *all.last().unwrap() as f64 / 1000.0,
    );
    assert_eq!(all.len(), CHATS * TOKENS, "every token reached its client");
}

/// Runs the CLI as `client`'s user (through the environment overrides of the saved session).
async fn cli(s: &TestServer, client: &Client, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_URL", &s.url)
        .env("AGENTRY_SESSION_TOKEN", client.token().unwrap())
        .output()
        .await
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_cli_streams_an_answer_with_its_tool_calls() {
    let w = world().await;
    w.fake.push_turn(Turn::new(vec![Step::text("Looking."), Step::tool_call("list_templates", json!({}))]));
    w.fake.push_turn(Turn::text("Org A has tpl-a."));
    let (ok, stdout, stderr) = cli(&w.s, &w.alice, &["chats", "create", "--org", "org-a", "Which templates can I use?"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Looking."), "{stdout}");
    assert!(stdout.contains("→ list_templates"), "{stdout}");
    assert!(stdout.contains("← list_templates ok"), "{stdout}");
    assert!(stdout.contains("tpl-a"), "{stdout}");
    assert!(stdout.trim_end().ends_with("Org A has tpl-a."), "{stdout}");

    let (ok, list, _) = cli(&w.s, &w.alice, &["chats", "list", "-o", "json"]).await;
    assert!(ok);
    let chats: Vec<sdk::Chat> = serde_json::from_str(&list).unwrap();
    assert_eq!(chats.len(), 1);
    let id = chats[0].id.to_string();
    let (ok, shown, _) = cli(&w.s, &w.alice, &["chats", "show", &id]).await;
    assert!(ok && shown.contains("Which templates can I use?") && shown.contains("Org A has tpl-a."), "{shown}");

    // `send` streams the next answer; a failing provider makes the command fail readably.
    w.fake.push_turn(Turn::text("Second answer."));
    let (ok, stdout, _) = cli(&w.s, &w.alice, &["chats", "send", &id, "And again?"]).await;
    assert!(ok && stdout.contains("Second answer."), "{stdout}");
    for _ in 0..3 {
        w.fake.push_turn(Turn::error(500, "upstream down"));
    }
    let (ok, _, stderr) = cli(&w.s, &w.alice, &["chats", "send", &id, "Once more?"]).await;
    assert!(!ok && stderr.contains("error"), "{stderr}");

    let (ok, _, _) = cli(&w.s, &w.alice, &["chats", "archive", &id]).await;
    assert!(ok);
    assert!(w.alice.chat(chats[0].id).await.unwrap().archived);
    // Without agents-access in the org the CLI reports the server's refusal.
    let (bob, _) = w.s.user(&w.owner, "bob", &[w.a.id]).await;
    let (ok, _, stderr) = cli(&w.s, &bob, &["chats", "create", "--org", "org-a", "hi"]).await;
    assert!(!ok && stderr.contains(&ClientError::Forbidden.message()), "{stderr}");
    w.s.stop().await;
}

#[tokio::test]
async fn attachments_reach_the_model_as_images_and_text() {
    let w = world().await;
    let png = b"\x89PNG\r\n\x1a\nfake-image-bytes".to_vec();
    let img = w.alice.upload_chat_file(w.a.id, "screen.png", "image/png", png.clone()).await.unwrap();
    let notes = w.alice.upload_chat_file(w.a.id, "notes.txt", "text/plain", b"remember the milk".to_vec()).await.unwrap();
    w.fake.push_turn(Turn::text("Seen both."));
    let chat = w
        .alice
        .create_chat(&sdk::CreateChatRequest {
            organization_id: Some(w.a.id),
            content: Some(json!([
                {"type": "text", "text": "Look at these"},
                {"type": "file", "file_id": img.id},
                {"type": "file", "file_id": notes.id},
                {"type": "file-reference", "file_name": "src/main.rs", "start_line": 3, "end_line": 4, "content": "fn main() {}"},
            ])),
            ..Default::default()
        })
        .await
        .unwrap();
    idle(&w.alice, chat.id).await;
    let body = w.fake.requests().pop().unwrap().body.to_string();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
    assert!(body.contains(&encoded), "the image goes to the model as an image: {body}");
    assert!(body.contains("remember the milk"), "the text file's contents are shown: {body}");
    assert!(body.contains("src/main.rs, lines 3-4") && body.contains("fn main() {}"), "{body}");
}

/// A stream's client only ever answers pings: a ping from it is answered and the stream goes on,
/// while anything else it writes ends the stream, which the server then closes. (The server
/// reads the client's half in a task of its own since issue 18; this is what that task decides.)
#[tokio::test]
async fn a_stream_ends_when_its_client_writes_anything_but_a_ping() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = TestServer::start().await;
    let (owner, first) = s.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let chat = create_chat(&owner, first.organization_id, "hello").await;
    let url = format!("{}/api/experimental/chats/{}/stream", s.url.replacen("http://", "ws://", 1), chat.id);
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("Coder-Session-Token", owner.token().unwrap().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(matches!(tokio::time::timeout(WAIT, ws.next()).await.expect("the server answers"), Some(Ok(Message::Text(_)))), "the snapshot comes first");
    ws.send(Message::Ping(b"still there?".to_vec().into())).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the server answers") {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(&p[..], b"still there?");
                break;
            }
            Some(Ok(Message::Text(_) | Message::Ping(_))) => {} // the chat's events, the server's pings
            other => panic!("a ping ended the stream: {other:?}"),
        }
    }
    ws.send(Message::Text("hello?".into())).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the server answers") {
            Some(Ok(Message::Text(_) | Message::Pong(_) | Message::Ping(_))) => {}
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    s.stop().await;
}
