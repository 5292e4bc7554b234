//! Black-box tests of organization-scoped chats: the create checks in their order, visibility,
//! the agents-access boundary, messages and the queue, files, streams, and bad input.
//! These servers run no chat daemon: the tests pin the states the API itself leaves chats in,
//! which a model run would change (`tests/chatd.rs` covers the agent loop).

mod common;

use agentry_sdk::ClientError;

use std::collections::BTreeSet;
use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use common::{TestServer, expect_error, expect_status};
use serde_json::json;
use uuid::Uuid;

/// A deployment with a default model config, orgs A and B, and people in them.
struct World {
    s: TestServer,
    owner: Client,
    a: sdk::Organization,
    b: sdk::Organization,
    model: sdk::ChatModelConfig,
}

async fn world() -> World {
    let s = TestServer::start_api_only().await;
    let (owner, _) = s.owner().await;
    let model = owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest {
            provider: "openai-compat".into(),
            model: "fake-model".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(model.is_default, "the first model config becomes the default");
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    World { s, owner, a, b, model }
}

impl World {
    /// A member of `orgs`, with agents-access in `with_access`.
    async fn member(&self, name: &str, orgs: &[Uuid], with_access: &[Uuid]) -> (Client, sdk::User) {
        let (c, u) = self.s.user(&self.owner, name, orgs).await;
        for org in with_access {
            self.owner.update_member_roles(&org.to_string(), name, &["agents-access"]).await.unwrap();
        }
        (c, u)
    }

    async fn workspace(&self, client: &Client, org: &sdk::Organization, user: &str, name: &str) -> sdk::Workspace {
        let template = match self.owner.templates(&org.id.to_string()).await.unwrap().into_iter().next() {
            Some(t) => t,
            None => self
                .owner
                .create_template(&org.id.to_string(), &sdk::CreateTemplateRequest {
                    name: format!("tpl-{}", org.name),
                    display_name: None,
                    description: None,
                    startup_script: None,
                    parameters: None,
                    network: None,
                    kind: None,
                })
                .await
                .unwrap(),
        };
        client
            .create_workspace(&org.id.to_string(), user, &sdk::CreateWorkspaceRequest {
                template_id: template.id,
                name: name.into(),
                rich_parameter_values: vec![],
            })
            .await
            .unwrap()
    }
}

fn text(t: &str) -> serde_json::Value {
    json!([{"type": "text", "text": t}])
}

fn create_req(org: Uuid, t: &str) -> sdk::CreateChatRequest {
    sdk::CreateChatRequest { organization_id: Some(org), content: Some(text(t)), ..Default::default() }
}

#[tokio::test]
async fn create_checks_run_in_the_documented_order() {
    let w = world().await;
    let (alice, _) = w.member("alice", &[w.a.id, w.b.id], &[w.a.id, w.b.id]).await;
    let (noaccess, _) = w.member("noaccess", &[w.a.id], &[]).await;
    let (bob, _) = w.member("bob", &[w.b.id], &[w.b.id]).await;

    // 1. malformed body
    let r = reqwest::Client::new()
        .post(format!("{}/api/experimental/chats", w.s.url))
        .header("Coder-Session-Token", alice.token().unwrap())
        .header("Content-Type", "application/json")
        .body("{\"organization_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // 2. organization required (missing, nil)
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { content: Some(text("hi")), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::OrganizationRequired), "{}", e);
    let e = expect_status(alice.create_chat(&create_req(Uuid::nil(), "hi")).await, 400);
    assert!(e.is(&ClientError::OrganizationRequired), "{}", e);
    // 3. not a member (also for an org that does not exist); checked before the content
    let e = expect_status(bob.create_chat(&sdk::CreateChatRequest { organization_id: Some(w.a.id), ..Default::default() }).await, 403);
    assert!(e.is(&ClientError::NotAMember), "{}", e);
    let e = expect_status(alice.create_chat(&create_req(Uuid::new_v4(), "hi")).await, 403);
    assert!(e.is(&ClientError::NotAMember), "{}", e);
    // 4. no agents-access in that org
    let e = expect_status(noaccess.create_chat(&create_req(w.a.id, "hi")).await, 403);
    assert!(e.is(&ClientError::Forbidden), "{}", e);
    // 5. content
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { organization_id: Some(w.a.id), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::ContentRequired), "{}", e);
    let bad = sdk::CreateChatRequest { content: Some(json!([{"type": "text", "text": "  "}])), ..create_req(w.a.id, "") };
    let e = expect_status(alice.create_chat(&bad).await, 400);
    let want = ClientError::InvalidInputPart { problem: agentry_sdk::Problem::PartTextEmpty { index: 0 } };
    assert!(e.is(&want), "{}", e);
    assert_eq!(e.body().unwrap().detail, want.detail());
    // 6. workspaces: inaccessible (even in another org) reads as not found; a readable one in
    // another org is the cross-org error.
    let bobs_ws = w.workspace(&bob, &w.b, "bob", "bobs-box").await;
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { workspace_id: Some(bobs_ws.id), ..create_req(w.a.id, "hi") }).await, 400);
    assert!(e.is(&ClientError::WorkspaceNotFound { field: None }), "{}", e);
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { workspace_id: Some(Uuid::new_v4()), ..create_req(w.a.id, "hi") }).await, 400);
    assert!(e.is(&ClientError::WorkspaceNotFound { field: None }), "{}", e);
    let alices_b_ws = w.workspace(&alice, &w.b, "alice", "alice-b").await;
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { workspace_id: Some(alices_b_ws.id), ..create_req(w.a.id, "hi") }).await, 400);
    assert!(e.is(&ClientError::WorkspaceInOtherOrganization), "{}", e);
    // 7. model config
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { model_config_id: Some(Uuid::nil()), ..create_req(w.a.id, "hi") }).await, 400);
    assert!(e.is(&ClientError::InvalidModelConfig), "{}", e);
    let e = expect_status(alice.create_chat(&sdk::CreateChatRequest { model_config_id: Some(Uuid::new_v4()), ..create_req(w.a.id, "hi") }).await, 400);
    assert!(e.is(&ClientError::InvalidModelConfig), "{}", e);
    // 8. a file uploaded for B cannot be used in a chat of A
    let file_b = alice.upload_chat_file(w.b.id, "notes.txt", "text/plain", b"hello".to_vec()).await.unwrap();
    let with_file = sdk::CreateChatRequest {
        content: Some(json!([{"type": "text", "text": "see file"}, {"type": "file", "file_id": file_b.id}])),
        ..create_req(w.a.id, "")
    };
    let e = expect_status(alice.create_chat(&with_file).await, 400);
    assert_eq!(e.body().unwrap().detail.as_deref(), Some("content[1].file_id belongs to a different organization."));
    // 9. usage limit
    w.owner.set_usage_limits(&sdk::UsageLimitConfig { enabled: true, limit_micros: 0, period: "day".into() }).await.unwrap();
    let e = expect_status(alice.create_chat(&create_req(w.a.id, "hi")).await, 409);
    assert_eq!(e.code(), Some("usage_limit_exceeded"));
    let raw = reqwest::Client::new()
        .post(format!("{}/api/experimental/chats", w.s.url))
        .header("Coder-Session-Token", alice.token().unwrap())
        .json(&create_req(w.a.id, "hi"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["spent_micros"], 0);
    assert_eq!(body["limit_micros"], 0);
    assert!(body["resets_at"].is_string());
    w.owner.set_usage_limits(&sdk::UsageLimitConfig { enabled: false, limit_micros: 0, period: "day".into() }).await.unwrap();
    // 10. success
    let alices_a_ws = w.workspace(&alice, &w.a, "alice", "alice-a").await;
    let file_a = alice.upload_chat_file(w.a.id, "a.txt", "text/plain", b"in a".to_vec()).await.unwrap();
    let chat = alice
        .create_chat(&sdk::CreateChatRequest {
            workspace_id: Some(alices_a_ws.id),
            content: Some(json!([{"type": "text", "text": "Build the thing please now today ok"}, {"type": "file", "file_id": file_a.id}])),
            labels: Some([("team".to_string(), "core".to_string())].into()),
            ..create_req(w.a.id, "")
        })
        .await
        .unwrap();
    assert_eq!(chat.organization_id, w.a.id);
    assert_eq!(chat.workspace_id, Some(alices_a_ws.id));
    assert_eq!(chat.status, sdk::ChatStatus::Pending);
    assert_eq!(chat.title, "Build the thing please now today…");
    assert_eq!(chat.last_model_config_id, w.model.id);
    assert_eq!(chat.root_chat_id, chat.id);
    assert_eq!(chat.files.as_ref().unwrap().len(), 1);
    let audit = w.owner.audit_logs(100, 0).await.unwrap();
    assert!(audit.audit_logs.iter().any(|l| l.resource_type == "chat" && l.action == "create" && l.resource_id == chat.id && l.organization_id == Some(w.a.id)));

    // PATCH binding a workspace of another org.
    let e = expect_status(alice.update_chat(chat.id, &sdk::UpdateChatRequest { workspace_id: Some(Some(alices_b_ws.id)), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::WorkspaceInOtherChatOrganization), "{}", e);
    let e = expect_status(alice.update_chat(chat.id, &sdk::UpdateChatRequest { workspace_id: Some(Some(bobs_ws.id)), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::WorkspaceNotFound { field: Some("workspace_id") }), "{}", e);
    assert_eq!(e.body().unwrap().validations[0].field, "workspace_id");
    alice.update_chat(chat.id, &sdk::UpdateChatRequest { workspace_id: Some(None), ..Default::default() }).await.unwrap();
    assert_eq!(alice.chat(chat.id).await.unwrap().workspace_id, None);
    w.s.stop().await;
}

#[tokio::test]
async fn no_default_model_config_is_reported() {
    let s = TestServer::start_api_only().await;
    let (owner, first) = s.owner().await;
    owner.update_member_roles(&first.organization_id.to_string(), "owner", &["agents-access"]).await.unwrap();
    let e = expect_status(owner.create_chat(&create_req(first.organization_id, "hi")).await, 400);
    assert!(e.is(&ClientError::NoDefaultModel), "{}", e);
    s.stop().await;
}

#[tokio::test]
async fn visibility_follows_the_organization() {
    let w = world().await;
    let (admin_a, _) = w.member("admin-a", &[w.a.id], &[]).await;
    w.owner.update_member_roles("org-a", "admin-a", &["organization-admin"]).await.unwrap();
    let (m1, _) = w.member("m1", &[w.a.id], &[w.a.id]).await;
    let (m2, _) = w.member("m2", &[w.a.id, w.b.id], &[w.a.id, w.b.id]).await;
    let c1 = m1.create_chat(&create_req(w.a.id, "one")).await.unwrap();
    let c2 = m2.create_chat(&create_req(w.a.id, "two")).await.unwrap();
    let c3 = m2.create_chat(&create_req(w.b.id, "three")).await.unwrap();

    let ids = |v: Vec<sdk::Chat>| v.into_iter().map(|c| c.id).collect::<BTreeSet<_>>();
    assert_eq!(ids(admin_a.chats("owner:all").await.unwrap()), BTreeSet::from([c1.id, c2.id]));
    assert!(admin_a.chats("").await.unwrap().is_empty(), "the default is owner:me");
    admin_a.chat(c2.id).await.unwrap();
    expect_status(admin_a.chat(c3.id).await, 404);
    assert_eq!(ids(m1.chats("owner:all").await.unwrap()), BTreeSet::from([c1.id]));
    expect_status(m1.chat(c2.id).await, 404);
    assert_eq!(ids(m2.chats("").await.unwrap()), BTreeSet::from([c2.id, c3.id]));
    assert_eq!(ids(m2.chats("organization:org-b").await.unwrap()), BTreeSet::from([c3.id]));
    assert_eq!(ids(admin_a.chats("owner:m2").await.unwrap()), BTreeSet::from([c2.id]));
    assert_eq!(ids(w.owner.chats("owner:all").await.unwrap()), BTreeSet::from([c1.id, c2.id, c3.id]));

    // Removed from A: the old chat in A is gone for them at once; B is untouched.
    w.owner.remove_member("org-a", "m2").await.unwrap();
    expect_status(m2.chat(c2.id).await, 404);
    assert_eq!(ids(m2.chats("owner:all").await.unwrap()), BTreeSet::from([c3.id]));
    w.s.stop().await;
}

#[tokio::test]
async fn pagination_returns_each_chat_once() {
    let w = world().await;
    let (m, _) = w.member("pager", &[w.a.id], &[w.a.id]).await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        created.insert(m.create_chat(&create_req(w.a.id, &format!("chat {i}"))).await.unwrap().id);
    }
    // Pin one, so the order mixes pinned and unpinned rows.
    let pinned = *created.iter().nth(3).unwrap();
    m.update_chat(pinned, &sdk::UpdateChatRequest { pin_order: Some(1), ..Default::default() }).await.unwrap();

    let mut by_offset = Vec::new();
    for offset in (0..8).step_by(2) {
        let page = m.chats_with(&[("limit", "2"), ("offset", &offset.to_string())]).await.unwrap();
        by_offset.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(by_offset.len(), 7);
    assert_eq!(by_offset.iter().copied().collect::<BTreeSet<_>>(), created);
    assert_eq!(by_offset[0], pinned, "pinned chats come first");

    let mut by_cursor = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let after_s = after.map(|a| a.to_string()).unwrap_or_default();
        let mut params = vec![("limit", "2")];
        if after.is_some() {
            params.push(("after_id", &after_s));
        }
        let page = m.chats_with(&params).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.id);
        by_cursor.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(by_cursor, by_offset);
    w.s.stop().await;
}

#[tokio::test]
async fn agents_access_boundary_on_both_sides() {
    let w = world().await;
    let (m, _) = w.member("member", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "first")).await.unwrap();
    let first_msg = m.chat_messages(chat.id, None, None).await.unwrap().messages[0].id;
    // Make the chat busy-able: a queued message to promote later.
    let queued = m
        .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("later")), ..Default::default() })
        .await
        .unwrap();
    assert!(queued.queued, "a pending chat queues");
    let qid = queued.queued_message.unwrap().id;

    // Without agents-access: every model-running call is 403 ...
    w.owner.update_member_roles("org-a", "member", &[]).await.unwrap();
    let send = sdk::CreateChatMessageRequest { content: Some(text("again")), ..Default::default() };
    expect_error(m.send_chat_message(chat.id, &send).await, ClientError::Forbidden);
    let edit = sdk::EditChatMessageRequest { content: Some(text("edited")) };
    expect_status(m.edit_chat_message(chat.id, first_msg, &edit).await, 403);
    expect_status(m.promote_queued_message(chat.id, qid).await, 403);
    let results = sdk::SubmitToolResultsRequest {
        results: vec![sdk::ToolResultInput { tool_call_id: "x".into(), output: json!({}), is_error: false }],
    };
    expect_status(m.submit_tool_results(chat.id, &results).await, 403);
    expect_status(m.regenerate_chat_title(chat.id).await, 403);
    expect_status(m.upload_chat_file(w.a.id, "n.txt", "text/plain", b"x".to_vec()).await, 403);
    expect_status(m.create_chat(&create_req(w.a.id, "no")).await, 403);
    // ... while reading, renaming, pinning, listing and archiving still work.
    m.chat(chat.id).await.unwrap();
    m.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(m.chats("").await.unwrap().len(), 1);
    m.update_chat(chat.id, &sdk::UpdateChatRequest { title: Some("Renamed".into()), pin_order: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(m.chat(chat.id).await.unwrap().title, "Renamed");
    m.interrupt_chat(chat.id).await.unwrap();

    // With it again: all succeed (tool results are refused only because nothing waits for them).
    w.owner.update_member_roles("org-a", "member", &["agents-access"]).await.unwrap();
    let q2 = m.send_chat_message(chat.id, &send).await.unwrap();
    let edited = m.edit_chat_message(chat.id, first_msg, &edit).await.unwrap();
    assert_eq!(edited.message.content, text("edited"));
    let q3 = m.send_chat_message(chat.id, &send).await.unwrap();
    m.promote_queued_message(chat.id, q3.queued_message.unwrap().id).await.unwrap();
    let e = expect_status(m.submit_tool_results(chat.id, &results).await, 409);
    assert!(e.is(&ClientError::NotAwaitingToolResults), "{}", e);
    m.upload_chat_file(w.a.id, "n.txt", "text/plain", b"x".to_vec()).await.unwrap();
    m.create_chat(&create_req(w.a.id, "yes")).await.unwrap();
    m.update_chat(chat.id, &sdk::UpdateChatRequest { archived: Some(true), ..Default::default() }).await.unwrap();
    let _ = q2;
    w.s.stop().await;
}

#[tokio::test]
async fn messages_queue_edit_and_interrupt() {
    let w = world().await;
    let (m, _) = w.member("writer", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "hello")).await.unwrap();

    // A pending chat is busy: messages queue, in order, up to 20.
    let mut queued = Vec::new();
    for i in 0..20 {
        let r = m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text(&format!("q{i}"))), ..Default::default() }).await.unwrap();
        queued.push(r.queued_message.unwrap().id);
    }
    let e = expect_status(m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("overflow")), ..Default::default() }).await, 429);
    assert_eq!(e.code(), Some("queue_full"));
    let page = m.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(page.queued_messages.iter().map(|q| q.id).collect::<Vec<_>>(), queued);

    m.delete_queued_message(chat.id, queued[0]).await.unwrap();
    expect_status(m.delete_queued_message(chat.id, queued[0]).await, 404);
    let promoted = m.promote_queued_message(chat.id, queued[1]).await.unwrap();
    assert_eq!(promoted.content, text("q1"));

    // Stop: the chat stops and its queue waits (before, the queue head ran right after Stop).
    let after = m.interrupt_chat(chat.id).await.unwrap();
    assert_eq!(after.status, sdk::ChatStatus::Waiting);
    let history = m.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(history.messages[0].content, text("q1"), "nothing new was promoted");
    assert_eq!(history.queued_messages.len(), 18);
    // Sending again resumes the queue in order: its head runs, the new message goes last.
    let resumed = m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("resume")), ..Default::default() }).await.unwrap();
    assert!(resumed.queued, "behind the held queue");
    let history = m.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(history.messages[0].content, text("q2"), "the queue head was promoted");
    assert_eq!(history.queued_messages.len(), 18);
    assert_eq!(history.queued_messages.last().unwrap().content, text("resume"));
    assert_eq!(m.chat(chat.id).await.unwrap().status, sdk::ChatStatus::Pending);

    // Edit: the message and everything after it go; the replacement is last; the queue clears.
    let first_id = history.messages.last().unwrap().id;
    let edited = m.edit_chat_message(chat.id, first_id, &sdk::EditChatMessageRequest { content: Some(text("hello again")) }).await.unwrap();
    let history = m.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(history.messages.iter().map(|x| x.id).collect::<Vec<_>>(), vec![edited.message.id]);
    assert!(history.queued_messages.is_empty());
    let e = expect_status(m.edit_chat_message(chat.id, first_id, &sdk::EditChatMessageRequest { content: Some(text("x")) }).await, 404);
    assert!(e.is(&ClientError::ChatMessageNotFound), "{}", e);

    // History paging newest first with before_id and has_more.
    for i in 0..3 {
        m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text(&format!("more {i}"))), busy_behavior: Some("interrupt".into()), ..Default::default() }).await.unwrap();
    }
    let p1 = m.chat_messages(chat.id, None, Some(2)).await.unwrap();
    assert!(p1.has_more);
    let p2 = m.chat_messages(chat.id, Some(p1.messages[1].id), Some(10)).await.unwrap();
    assert!(!p2.has_more);
    assert!(p2.messages.iter().all(|x| x.id < p1.messages[1].id));
    assert!(p2.queued_messages.is_empty(), "the queue comes only with the first page");
    w.s.stop().await;
}

#[tokio::test]
async fn archive_cascades_and_pins_reset() {
    let w = world().await;
    let (m, _) = w.member("archiver", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "root")).await.unwrap();
    m.update_chat(chat.id, &sdk::UpdateChatRequest { pin_order: Some(1), ..Default::default() }).await.unwrap();
    m.update_chat(chat.id, &sdk::UpdateChatRequest { archived: Some(true), ..Default::default() }).await.unwrap();
    let archived = m.chat(chat.id).await.unwrap();
    assert!(archived.archived);
    assert_eq!(archived.pin_order, 0);
    assert_eq!(archived.status, sdk::ChatStatus::Waiting, "archiving stops a pending run");
    let e = expect_status(m.update_chat(chat.id, &sdk::UpdateChatRequest { archived: Some(true), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::ChatAlreadyArchived), "{}", e);
    let e = expect_status(m.update_chat(chat.id, &sdk::UpdateChatRequest { pin_order: Some(1), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::CannotPinArchived), "{}", e);
    assert!(m.chats("archived:false").await.unwrap().is_empty());
    assert_eq!(m.chats("archived:true").await.unwrap().len(), 1);
    let audit = w.owner.audit_logs(100, 0).await.unwrap();
    assert!(audit.audit_logs.iter().any(|l| l.resource_type == "chat" && l.action == "archive"));
    w.s.stop().await;
}

#[tokio::test]
async fn files_upload_and_download() {
    let w = world().await;
    let (m, _) = w.member("filer", &[w.a.id], &[w.a.id]).await;
    let (other, _) = w.member("other", &[w.a.id], &[w.a.id]).await;
    let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
    let up = m.upload_chat_file(w.a.id, "pic.png", "image/png", png.clone()).await.unwrap();
    let (bytes, ct) = m.download_chat_file(up.id).await.unwrap();
    assert_eq!((bytes, ct.as_str()), (png.clone(), "image/png"));
    // Another member cannot read it until it is in a chat they can read.
    expect_status(other.download_chat_file(up.id).await, 404);

    let e = expect_status(m.upload_chat_file(w.a.id, "pic.png", "text/plain", png.clone()).await, 400);
    assert!(e.is(&ClientError::FileTypeMismatch), "{}", e);
    let e = expect_status(m.upload_chat_file(w.a.id, "x.svg", "image/svg+xml", b"<svg/>".to_vec()).await, 400);
    assert_eq!(e.code(), Some("unsupported_file_type"));
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let e = expect_status(m.upload_chat_file(w.a.id, "big.txt", "text/plain", big).await, 413);
    assert!(e.is(&ClientError::FileTooLarge), "{}", e);
    expect_status(m.upload_chat_file(w.b.id, "b.txt", "text/plain", b"b".to_vec()).await, 404);
    w.s.stop().await;
}

#[tokio::test]
async fn bad_input_and_concurrent_posts() {
    let w = world().await;
    let (m, _) = w.member("poster", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "start")).await.unwrap();
    let http = reqwest::Client::new();
    let get = |path: String| http.get(format!("{}{}", w.s.url, path)).header("Coder-Session-Token", m.token().unwrap()).send();
    assert_eq!(get("/api/experimental/chats/not-a-uuid".into()).await.unwrap().status(), 400);
    assert_eq!(get(format!("/api/experimental/chats/{}", Uuid::new_v4())).await.unwrap().status(), 404);
    assert_eq!(get(format!("/api/experimental/chats/{}/messages?limit=0", chat.id)).await.unwrap().status(), 400);
    assert_eq!(get(format!("/api/experimental/chats/{}/messages?before_id=-1", chat.id)).await.unwrap().status(), 400);
    assert_eq!(get("/api/experimental/chats?q=color:blue".into()).await.unwrap().status(), 400);
    assert_eq!(get("/api/experimental/chats?label=broken".into()).await.unwrap().status(), 400);
    let e = expect_status(m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(json!([])), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::ContentRequired), "{}", e);
    let e = expect_status(m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("x")), busy_behavior: Some("shout".into()), ..Default::default() }).await, 400);
    assert!(e.is(&ClientError::InvalidBusyBehavior), "{}", e);
    let e = expect_status(m.edit_chat_message(chat.id, 0, &sdk::EditChatMessageRequest { content: Some(text("x")) }).await, 400);
    assert!(e.is(&ClientError::InvalidChatMessageId), "{}", e);

    // Interrupt makes the chat idle; then 20 clients post at once. Each message ends up exactly
    // once, in history or in the queue, in one order.
    m.interrupt_chat(chat.id).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = m.clone();
        tasks.push(tokio::spawn(async move {
            c.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text(&format!("post {i}"))), ..Default::default() }).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        ids.push(if r.queued { ("q", r.queued_message.unwrap().id) } else { ("m", r.message.unwrap().id) });
    }
    assert_eq!(ids.iter().filter(|(k, _)| *k == "m").count(), 1, "exactly one post finds the chat idle");
    let page = m.chat_messages(chat.id, None, Some(200)).await.unwrap();
    let mut texts: Vec<String> = page.messages.iter().rev().map(|x| x.content[0]["text"].as_str().unwrap().to_string()).collect();
    texts.extend(page.queued_messages.iter().map(|q| q.content[0]["text"].as_str().unwrap().to_string()));
    let posts: Vec<&String> = texts.iter().filter(|t| t.starts_with("post ")).collect();
    assert_eq!(posts.len(), 20);
    assert_eq!(posts.iter().collect::<BTreeSet<_>>().len(), 20, "no duplicates: {posts:?}");
    w.s.stop().await;
}

#[tokio::test]
async fn stream_sends_a_snapshot_then_live_events() {
    let w = world().await;
    let (m, _) = w.member("streamer", &[w.a.id], &[w.a.id]).await;
    let (other, _) = w.member("peeker", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "hello stream")).await.unwrap();
    let e = other.stream_chat(chat.id, 0).await.err().unwrap();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(404));

    let mut stream = m.stream_chat(chat.id, 0).await.unwrap();
    let snapshot = next(&mut stream).await;
    let kinds: Vec<&str> = snapshot.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, vec!["status", "message", "queue_update"]);
    assert_eq!(snapshot[0].status(), Some(sdk::ChatStatus::Pending));

    let sent = m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("queued one")), ..Default::default() }).await.unwrap();
    assert!(sent.queued);
    let ev = next_of(&mut stream, "queue_update").await;
    assert!(matches!(&ev, sdk::ChatStreamEvent::QueueUpdate { queued_messages, .. } if queued_messages.len() == 1), "{ev:?}");
    // Stop: the status says so; the queued message waits for the user.
    m.interrupt_chat(chat.id).await.unwrap();
    let ev = next_of(&mut stream, "status").await;
    assert_eq!(ev.status(), Some(sdk::ChatStatus::Waiting));
    // Sending again resumes the queue: its head becomes a message.
    m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("resume")), ..Default::default() }).await.unwrap();
    let ev = next_of(&mut stream, "message").await;
    assert_eq!(ev.message().unwrap().content, text("queued one"));
    stream.close().await;

    // Resuming after the newest message sends only what is newer.
    let last = m.chat_messages(chat.id, None, Some(1)).await.unwrap().messages[0].id;
    let mut resumed = m.stream_chat(chat.id, last).await.unwrap();
    let snap = next(&mut resumed).await;
    assert!(snap.iter().all(|e| e.kind() != "message"), "{snap:?}");
    w.s.stop().await;
}

async fn next(s: &mut agentry_client::EventStream<sdk::ChatStreamEvent>) -> Vec<sdk::ChatStreamEvent> {
    tokio::time::timeout(Duration::from_secs(60), s.next_batch()).await.expect("an event batch").expect("open").unwrap()
}

async fn next_of(s: &mut agentry_client::EventStream<sdk::ChatStreamEvent>, kind: &str) -> sdk::ChatStreamEvent {
    loop {
        for e in next(s).await {
            if e.kind() == kind {
                return e;
            }
        }
    }
}

#[tokio::test]
async fn watch_reaches_clients_of_another_server_process() {
    let w = world().await;
    let (m, _) = w.member("watcher", &[w.a.id], &[w.a.id]).await;
    // Server 2: the real binary, a separate process on the same database.
    let (child, url2) = common::spawn_api_only_process(&w.s.database_url);
    let via2 = Client::new(&url2).unwrap().with_token(m.token().unwrap());
    let mut watch = via2.watch_chats().await.unwrap();
    let chat = m.create_chat(&create_req(w.a.id, "cross replica")).await.unwrap();
    let mut stream2 = via2.stream_chat(chat.id, 0).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(60), watch.next_batch()).await.unwrap().unwrap().unwrap();
    assert_eq!((first[0].kind, first[0].chat.id), (sdk::ChatWatchKind::Created, chat.id));
    next(&mut stream2).await;

    // A request to server 1 that changes status and adds a message is seen through server 2.
    m.interrupt_chat(chat.id).await.unwrap();
    let ev = next_of(&mut stream2, "status").await;
    assert_eq!(ev.status(), Some(sdk::ChatStatus::Waiting));
    let w_ev = tokio::time::timeout(Duration::from_secs(60), watch.next_batch()).await.unwrap().unwrap().unwrap();
    assert_eq!(w_ev[0].kind, sdk::ChatWatchKind::StatusChange);
    m.send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("over there")), ..Default::default() }).await.unwrap();
    let ev = next_of(&mut stream2, "message").await;
    assert_eq!(ev.message().unwrap().content, text("over there"));
    common::stop_server_process(child);
    w.s.stop().await;
}

#[tokio::test]
async fn title_regeneration_asks_the_chats_model() {
    let w = world().await;
    let fake = agentry_fakellm::FakeLlm::start().await;
    w.owner
        .create_chat_provider(&sdk::CreateChatProviderRequest {
            provider: "openai-compat".into(),
            base_url: Some(fake.openai_base_url()),
            ..Default::default()
        })
        .await
        .unwrap();
    let providers = w.owner.chat_providers().await.unwrap();
    assert!(!providers[0].has_api_key, "no key was given, and keys are never returned anyway");
    let (m, _) = w.member("titler", &[w.a.id], &[w.a.id]).await;
    let chat = m.create_chat(&create_req(w.a.id, "the CI build fails on arm64 every other night")).await.unwrap();

    fake.push_turn(agentry_fakellm::Turn::text("\"Flaky arm64 CI builds.\""));
    let renamed = m.regenerate_chat_title(chat.id).await.unwrap();
    assert_eq!(renamed.title, "Flaky arm64 CI builds");
    let req = fake.requests().pop().unwrap();
    assert_eq!(req.body["model"], "fake-model");
    assert!(req.body.to_string().contains("every other night"), "the first message is sent: {}", req.body);

    // Someone who may read the chat but does not own it cannot make the model run in it.
    let (admin, _) = w.member("admin-t", &[w.a.id], &[]).await;
    w.owner.update_member_roles("org-a", "admin-t", &["organization-admin"]).await.unwrap();
    admin.chat(chat.id).await.unwrap();
    expect_status(admin.regenerate_chat_title(chat.id).await, 403);

    // While a regeneration runs, a second one and a rename are refused; afterwards both work.
    fake.push_turn(agentry_fakellm::Turn::new(vec![
        agentry_fakellm::Step::gate("title"),
        agentry_fakellm::Step::text("Slow title"),
    ]));
    let first = tokio::spawn({
        let m = m.clone();
        async move { m.regenerate_chat_title(chat.id).await }
    });
    fake.wait_for_requests(2, Duration::from_secs(60)).await;
    let e = expect_status(m.regenerate_chat_title(chat.id).await, 409);
    assert!(e.is(&ClientError::TitleRegenerating), "{}", e);
    let rename = sdk::UpdateChatRequest { title: Some("Mine".into()), ..Default::default() };
    expect_status(m.update_chat(chat.id, &rename).await, 409);
    fake.open_gate("title");
    assert_eq!(first.await.unwrap().unwrap().title, "Slow title");
    m.update_chat(chat.id, &rename).await.unwrap();
    m.update_chat(chat.id, &sdk::UpdateChatRequest { title: Some("Flaky arm64 CI builds".into()), ..Default::default() }).await.unwrap();

    // A provider that fails is reported, and the title stays.
    fake.push_turn(agentry_fakellm::Turn::error(401, "bad key"));
    let e = expect_status(m.regenerate_chat_title(chat.id).await, 502);
    assert_eq!(e.code(), Some("title_generation_failed"));
    assert_eq!(m.chat(chat.id).await.unwrap().title, "Flaky arm64 CI builds");
    let models = m.chat_models().await.unwrap();
    assert_eq!(models.providers[0].models[0].id, w.model.id);
    assert!(models.providers[0].available);
    w.s.stop().await;
}

#[tokio::test]
async fn the_same_model_config_twice_is_refused() {
    let s = TestServer::start_api_only().await;
    let (owner, _) = s.owner().await;
    owner
        .create_chat_provider(&sdk::CreateChatProviderRequest { provider: "openai".into(), api_key: Some("k".into()), ..Default::default() })
        .await
        .unwrap();
    let req = |name: Option<&str>| sdk::CreateChatModelConfigRequest {
        provider: "openai".into(),
        model: "gpt-x".into(),
        display_name: name.map(Into::into),
        ..Default::default()
    };
    owner.create_chat_model_config(&req(None)).await.unwrap();
    let e = expect_status(owner.create_chat_model_config(&req(None)).await, 409);
    assert!(e.is(&ClientError::ModelConfigExists), "{e}");
    // Same model under another name is a distinct entry (e.g. other prices).
    owner.create_chat_model_config(&req(Some("GPT X (batch)"))).await.unwrap();
    assert_eq!(owner.chat_model_configs().await.unwrap().len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn a_huge_offset_is_an_empty_page_not_a_crash() {
    // Found by schemathesis: `limit + offset` overflowed in the paged list queries (a panic, 500).
    let w = world().await;
    let huge = i64::MAX - 1;
    for path in [
        format!("/api/experimental/chats?offset={huge}"),
        format!("/api/v2/workspaces?offset={huge}&limit=5"),
        format!("/api/v2/audit?offset={huge}"),
    ] {
        let res = w.owner.request(reqwest::Method::GET, &path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}: {}", res.text().await.unwrap());
    }
    w.s.stop().await;
}
