//! Black-box tests of issue 11: access decisions hold everywhere and at once. The AI-work rule
//! is re-checked where the model or a tool is about to run (promotion, claim, every model call,
//! every tool call), auth changes reach running chats and open sockets of every process at once,
//! and the other holes of the same review stay closed.

mod common;

use agentry_sdk::ClientError;

use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use common::chat::{WAIT, create_chat, setup_provider, text, wait_status};
use common::{TestServer, expect_status};
use serde_json::{Value, json};
use uuid::Uuid;

/// Org A; alice is a member of it with agents-access; the default model runs on the fake.
struct World {
    s: TestServer,
    owner: Client,
    fake: FakeLlm,
    a: sdk::Organization,
    alice: Client,
}

async fn world_on(s: TestServer) -> World {
    let (owner, _) = s.owner().await;
    let fake = FakeLlm::start().await;
    setup_provider(&owner, &fake).await;
    let a = s.org(&owner, "org-a").await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    owner.update_member_roles(&a.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    World { s, owner, fake, a, alice }
}

async fn world() -> World {
    world_on(TestServer::start().await).await
}




/// The ways an organization admin takes AI work away from a member.
#[derive(Clone, Copy, Debug)]
enum Revoke {
    /// `agents-access` unassigned; still a member.
    Role,
    /// Removed from the organization.
    Removal,
    /// Suspended.
    Suspension,
}

async fn revoke(w: &World, how: Revoke) {
    let org = w.a.id.to_string();
    match how {
        Revoke::Role => {
            w.owner.update_member_roles(&org, "alice", &[]).await.unwrap();
        }
        Revoke::Removal => w.owner.remove_member(&org, "alice").await.unwrap(),
        Revoke::Suspension => {
            w.owner.suspend_user("alice").await.unwrap();
        }
    }
}

/// The scenario: three messages queued behind a slow turn, then access taken away. The
/// turn stops with the pinned error, the three messages stay stored, and the model is never
/// called for them.
async fn queued_turns_are_kept_and_never_answered(how: Revoke) {
    let w = world().await;
    w.fake.push_turns([
        Turn::new(vec![Step::text("slow "), Step::delay(Duration::from_millis(2500)), Step::text("first answer")]),
        Turn::text("answer to a queued message"),
        Turn::text("answer to a queued message"),
        Turn::text("answer to a queued message"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "one").await;
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Running).await;
    for n in ["two", "three", "four"] {
        let sent = w
            .alice
            .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text(n)), ..Default::default() })
            .await
            .unwrap();
        assert!(sent.queued, "a busy chat queues");
    }
    revoke(&w, how).await;
    // The site owner can read any chat, whatever happened to alice.
    let after = wait_status(&w.owner, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(after.status, sdk::ChatStatus::Error, "{how:?}: {:?}", after.last_error);
    assert_eq!(after.last_error.as_deref(), Some(ClientError::NoAiAccess.message().as_str()), "{how:?}");
    // Give a (wrong) promotion time to happen, then look again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = w.owner.chat_messages(chat.id, None, Some(200)).await.unwrap();
    let queued: Vec<String> = page.queued_messages.iter().map(|q| q.content[0]["text"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(queued, ["two", "three", "four"], "{how:?}: queued messages are kept");
    assert!(page.messages.iter().all(|m| m.role != sdk::MessageRole::User || m.content[0]["text"] == "one"), "{how:?}: nothing was promoted");
    assert_eq!(w.fake.requests().len(), 1, "{how:?}: the model was called only for the first turn");
    assert_eq!(w.owner.chat(chat.id).await.unwrap().status, sdk::ChatStatus::Error);
}

#[tokio::test]
async fn queued_turns_of_a_member_whose_agents_access_is_revoked_never_run() {
    queued_turns_are_kept_and_never_answered(Revoke::Role).await;
}

#[tokio::test]
async fn queued_turns_of_a_removed_member_never_run() {
    queued_turns_are_kept_and_never_answered(Revoke::Removal).await;
}

#[tokio::test]
async fn queued_turns_of_a_suspended_member_never_run() {
    queued_turns_are_kept_and_never_answered(Revoke::Suspension).await;
}

/// A chat waiting for a worker while its owner loses access is never claimed into a model run:
/// the API-only server takes the messages, the daemon (another process) starts afterwards.
#[tokio::test]
async fn a_pending_chat_of_a_removed_member_is_not_run_by_another_process() {
    let w = world_on(TestServer::start_api_only().await).await;
    let chat = create_chat(&w.alice, w.a.id, "one").await;
    let sent = w
        .alice
        .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("two")), ..Default::default() })
        .await
        .unwrap();
    assert!(sent.queued);
    revoke(&w, Revoke::Removal).await;
    w.fake.set_handler(|_| Some(Turn::text("must not be asked")));
    let (_daemon, _url) = common::spawn_server_process(&w.s.database_url);
    let after = wait_status(&w.owner, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(after.last_error.as_deref(), Some(ClientError::NoAiAccess.message().as_str()));
    assert_eq!(after.status, sdk::ChatStatus::Error);
    assert!(w.fake.requests().is_empty(), "the model was called for a member who had been removed");
    let page = w.owner.chat_messages(chat.id, None, Some(200)).await.unwrap();
    assert_eq!(page.queued_messages.len(), 1, "the queued message is kept");
}

/// A turn already in flight when the member is removed does not run its next tool call; the
/// chat runs on a second server process, the removal happens on the first.
#[tokio::test]
async fn a_running_turn_does_not_run_its_next_tool_call_after_removal_on_another_process() {
    let w = world_on(TestServer::start_api_only().await).await;
    let (_daemon, _url) = common::spawn_server_process(&w.s.database_url);
    // The model answers slowly with a tool call that would create a subagent chat.
    w.fake.push_turns([
        Turn::new(vec![
            Step::text("thinking"),
            Step::delay(Duration::from_millis(2500)),
            Step::tool_call("spawn_agent", json!({"prompt": "do secret things", "title": "spawned-after-removal"})),
        ]),
        Turn::text("must not be asked"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "go").await;
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Running).await;
    w.fake.wait_for_requests(1, WAIT).await;
    revoke(&w, Revoke::Removal).await;
    let after = wait_status(&w.owner, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(after.status, sdk::ChatStatus::Error);
    assert_eq!(after.last_error.as_deref(), Some(ClientError::NoAiAccess.message().as_str()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = w.owner.chats("owner:all").await.unwrap();
    assert!(
        all.iter().all(|c| c.title != "spawned-after-removal" && c.children.iter().all(|k| k.title != "spawned-after-removal")),
        "the tool call ran after the removal"
    );
    assert_eq!(w.fake.requests().len(), 1, "the model was called again after the removal");
}

/// Revoking the role while the model is producing a tool call: the daemon re-checks, at once,
/// on the auth change, and the tool never runs (same process).
#[tokio::test]
async fn a_tool_call_after_the_role_is_revoked_does_not_run() {
    let w = world().await;
    w.fake.push_turns([
        Turn::new(vec![
            Step::delay(Duration::from_millis(2000)),
            Step::tool_call("spawn_agent", json!({"prompt": "x", "title": "spawned-after-revoke"})),
        ]),
        Turn::text("must not be asked"),
    ]);
    let chat = create_chat(&w.alice, w.a.id, "go").await;
    w.fake.wait_for_requests(1, WAIT).await;
    revoke(&w, Revoke::Role).await;
    let after = wait_status(&w.alice, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(after.last_error.as_deref(), Some(ClientError::NoAiAccess.message().as_str()));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let all = w.owner.chats("owner:all").await.unwrap();
    assert!(all.iter().all(|c| c.children.is_empty() && c.title != "spawned-after-revoke"));
    assert_eq!(w.fake.requests().len(), 1);
    // Giving the role back lets the member continue.
    w.owner.update_member_roles(&w.a.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    w.fake.push_turn(Turn::text("back again"));
    w.alice
        .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text("again")), ..Default::default() })
        .await
        .unwrap();
    let done = wait_status(&w.alice, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);
}

/// Waits until the socket ends (closed, errored) and returns how long that took.
async fn closes_within<T: serde::de::DeserializeOwned>(s: &mut agentry_client::EventStream<T>, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.next_batch()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

#[tokio::test]
async fn a_removed_members_stream_closes_within_two_seconds() {
    let w = world().await;
    w.fake.push_turn(Turn::text("hello"));
    let chat = create_chat(&w.alice, w.a.id, "hi").await;
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Waiting).await;
    let mut stream = w.alice.stream_chat(chat.id, 0).await.unwrap();
    let mut watch = w.alice.watch_chats().await.unwrap();
    let first = stream.next_batch().await.unwrap().unwrap();
    assert!(!first.is_empty(), "a snapshot arrives");
    // Still open while nothing changes, and while changes do not take access away.
    assert!(!closes_within(&mut stream, Duration::from_millis(500)).await, "the stream closed by itself");
    let b = w.s.org(&w.owner, "org-b").await;
    w.owner.add_member(&b.id.to_string(), "alice").await.unwrap();
    assert!(!closes_within(&mut stream, Duration::from_millis(500)).await, "joining an org closed the stream");
    assert!(!closes_within(&mut watch, Duration::from_millis(100)).await, "joining an org closed the watch");
    revoke(&w, Revoke::Removal).await;
    assert!(closes_within(&mut stream, Duration::from_secs(2)).await, "the stream stayed open after the removal");
    // The watch closes too, so the client refetches a list without the org's chats.
    assert!(closes_within(&mut watch, Duration::from_secs(2)).await, "the watch stayed open after the removal");
}

#[tokio::test]
async fn a_suspended_users_watch_closes_within_two_seconds_on_another_process() {
    let w = world().await;
    let (_other, url) = common::spawn_api_only_process(&w.s.database_url);
    let alice_there = Client::new(&url).unwrap().with_token(w.alice.token().unwrap());
    let mut watch = alice_there.watch_chats().await.unwrap();
    assert!(!closes_within(&mut watch, Duration::from_millis(500)).await, "the watch closed by itself");
    revoke(&w, Revoke::Suspension).await;
    assert!(closes_within(&mut watch, Duration::from_secs(2)).await, "the watch stayed open after the suspension");
    expect_status(alice_there.me().await, 401);
}

/// A chat stream hears of its user's auth changes through the process's router
/// (`api::stream_wakes`), which on another process learns of them from PostgreSQL.
#[tokio::test]
async fn a_suspended_users_stream_closes_within_two_seconds_on_another_process() {
    let w = world().await;
    w.fake.push_turn(Turn::text("hello"));
    let chat = create_chat(&w.alice, w.a.id, "hi").await;
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Waiting).await;
    let (_other, url) = common::spawn_api_only_process(&w.s.database_url);
    let alice_there = Client::new(&url).unwrap().with_token(w.alice.token().unwrap());
    let mut stream = alice_there.stream_chat(chat.id, 0).await.unwrap();
    assert!(!stream.next_batch().await.unwrap().unwrap().is_empty(), "a snapshot arrives");
    // Another user's change reaches the router too, and must not close this stream.
    w.s.user(&w.owner, "bob", &[w.a.id]).await;
    let b = w.s.org(&w.owner, "org-b").await;
    w.owner.add_member(&b.id.to_string(), "bob").await.unwrap();
    assert!(!closes_within(&mut stream, Duration::from_millis(500)).await, "the stream closed by itself");
    revoke(&w, Revoke::Suspension).await;
    assert!(closes_within(&mut stream, Duration::from_secs(2)).await, "the stream stayed open after the suspension");
}

fn check(rt: &str, action: &str, owner: Option<&str>, org: Uuid) -> sdk::AuthorizationCheck {
    sdk::AuthorizationCheck {
        object: sdk::AuthorizationObject {
            resource_type: rt.into(),
            owner_id: owner.map(str::to_string),
            organization_id: Some(org),
            resource_id: None,
        },
        action: action.into(),
    }
}

/// Item 10: the picker's question (`chat create`, owner me) and the create endpoint agree for a
/// site owner who is not a member of the organization; membership makes both say yes.
#[tokio::test]
async fn a_site_owner_who_is_not_a_member_may_not_start_ai_work_there() {
    let w = world().await;
    let b = w.s.org(&w.owner, "org-b").await;
    // The creator becomes a member; the site owner leaves, keeping only site-wide rights.
    w.owner.remove_member("org-b", "owner").await.unwrap();
    assert!(!w.owner.members("org-b").await.unwrap().iter().any(|m| m.username == "owner"));
    let checks = std::collections::BTreeMap::from([
        ("create".to_string(), check("chat", "create", Some("me"), b.id)),
        ("read".to_string(), check("chat", "read", Some("me"), b.id)),
    ]);
    let got = w.owner.authcheck(&sdk::AuthorizationRequest { checks: checks.clone() }).await.unwrap();
    assert!(!got["create"], "authcheck offers an org the owner is not a member of");
    assert!(got["read"], "the site owner still reads every chat");
    let e = expect_status(
        w.owner
            .create_chat(&sdk::CreateChatRequest { organization_id: Some(b.id), content: Some(text("hi")), ..Default::default() })
            .await,
        403,
    );
    assert!(e.is(&ClientError::NotAMember), "{}", e);

    w.owner.add_member("org-b", "owner").await.unwrap();
    let got = w.owner.authcheck(&sdk::AuthorizationRequest { checks }).await.unwrap();
    assert!(got["create"], "a member site owner may start AI work");
    w.fake.push_turn(Turn::text("hello owner"));
    create_chat(&w.owner, b.id, "hi").await;
}

/// Item 6: an organization user admin may not unassign an org admin's roles, so may not strip
/// them by removing and re-adding the admin either; nor remove the site owner. An org admin may
/// remove a user admin (it may unassign every role the user admin holds).
#[tokio::test]
async fn removing_a_member_needs_the_right_to_unassign_each_of_their_roles() {
    let w = world().await;
    let org = w.a.id.to_string();
    // The site owner (the org's creator) stays a member with no org roles: only being the site
    // owner protects the membership below.
    w.owner.update_member_roles(&org, "owner", &[]).await.unwrap();
    let (uadmin, _) = w.s.user(&w.owner, "uadmin", &[w.a.id]).await;
    w.owner.update_member_roles(&org, "uadmin", &["organization-user-admin"]).await.unwrap();
    let (_admin, _) = w.s.user(&w.owner, "oadmin", &[w.a.id]).await;
    w.owner.update_member_roles(&org, "oadmin", &["organization-admin"]).await.unwrap();

    // Unassigning is refused (as before) ...
    expect_status(uadmin.update_member_roles(&org, "oadmin", &[]).await, 403);
    // ... and so is the removal that would strip the same role.
    expect_status(uadmin.remove_member(&org, "oadmin").await, 403);
    let roles = |members: Vec<sdk::OrganizationMember>, who: &str| {
        members.into_iter().find(|m| m.username == who).map(|m| m.roles.into_iter().map(|r| r.name).collect::<Vec<_>>())
    };
    assert_eq!(
        roles(w.owner.members(&org).await.unwrap(), "oadmin"),
        Some(vec!["organization-admin".to_string()]),
        "the org admin keeps membership and role"
    );
    // The site owner's membership is the site owner's to end.
    expect_status(uadmin.remove_member(&org, "owner").await, 403);
    assert!(roles(w.owner.members(&org).await.unwrap(), "owner").is_some());
    // What the user admin may unassign, it may remove: alice holds agents-access.
    uadmin.remove_member(&org, "alice").await.unwrap();
    assert!(roles(w.owner.members(&org).await.unwrap(), "alice").is_none());
}

/// A reqwest client with no cookie store: every header is the test's choice.
fn raw_http() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// The status line's code of a WebSocket handshake sent over a plain TCP connection.
async fn ws_handshake_status(base: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {head:?}"))
}

/// Item 3: chat WebSockets authenticated by the session cookie only from the access URL's
/// origin (or with no Origin: not a browser); a token header is unaffected.
#[tokio::test]
async fn cookie_websockets_from_a_foreign_origin_are_refused() {
    let w = world().await;
    w.fake.push_turn(Turn::text("hello"));
    let chat = create_chat(&w.alice, w.a.id, "hi").await;
    let cookie = format!("agentry_session_token={}", w.alice.token().unwrap());
    let token = w.alice.token().unwrap().to_string();
    let stream = format!("/api/experimental/chats/{}/stream", chat.id);
    for path in ["/api/experimental/chats/watch", stream.as_str()] {
        let evil = [("Cookie", cookie.as_str()), ("Origin", "http://evil.example")];
        assert_eq!(ws_handshake_status(&w.s.url, path, &evil).await, 403, "{path}: foreign origin");
        // Same host, another port: same site, not same origin.
        let sibling = w.s.url.rsplit_once(':').map(|(h, _)| format!("{h}:1")).unwrap();
        assert_eq!(ws_handshake_status(&w.s.url, path, &[("Cookie", &cookie), ("Origin", &sibling)]).await, 403, "{path}: sibling port");
        assert_eq!(ws_handshake_status(&w.s.url, path, &[("Cookie", &cookie), ("Origin", &w.s.url)]).await, 101, "{path}: own origin");
        assert_eq!(ws_handshake_status(&w.s.url, path, &[("Cookie", &cookie)]).await, 101, "{path}: no origin");
        let by_header = [("Coder-Session-Token", token.as_str()), ("Origin", "http://evil.example")];
        assert_eq!(ws_handshake_status(&w.s.url, path, &by_header).await, 101, "{path}: token header");
    }
}

/// Item 3: cookie-authenticated state changes need a same-origin proof; the same requests with
/// the token header work. Body-taking routes insist on their content type.
#[tokio::test]
async fn cookie_posts_without_a_same_origin_proof_are_refused() {
    let w = world().await;
    let http = raw_http();
    let token = w.alice.token().unwrap().to_string();
    let cookie = format!("agentry_session_token={token}");
    let url = |p: &str| format!("{}{p}", w.s.url);
    let files = url(&format!("/api/experimental/chats/files?organization={}", w.a.id));
    let keys = url("/api/v2/users/me/keys");

    // A form-like text/plain upload and a body-less key request, as a foreign page would send.
    let r = http.post(&files).header("Cookie", &cookie).header("Content-Type", "text/plain").header("Origin", "http://evil.example").body("hello").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.post(&keys).header("Cookie", &cookie).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.post(&keys).header("Cookie", &cookie).header("Sec-Fetch-Site", "same-site").send().await.unwrap();
    assert_eq!(r.status(), 403, "same-site is not same-origin");
    let r = http.post(&keys).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 403, "no proof at all");
    let r = http.post(url("/api/v2/users/logout")).header("Cookie", &cookie).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403, "logout");
    w.alice.me().await.expect("the session survived the forged logout");

    // The same requests from the deployment's own page, or with the token header, work.
    let r = http.post(&files).header("Cookie", &cookie).header("Content-Type", "text/plain").header("Origin", &w.s.url).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http.post(&files).header("Coder-Session-Token", &token).header("Content-Type", "text/plain").header("Origin", "http://evil.example").body("hello").send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http.post(&keys).header("Cookie", &cookie).header("Sec-Fetch-Site", "same-origin").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = http.post(&keys).header("Authorization", format!("Bearer {token}")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    // GETs stay plain.
    let r = http.get(url("/api/v2/users/me")).header("Cookie", &cookie).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A key request with a body must declare it JSON.
    let r = http.post(&keys).header("Coder-Session-Token", &token).header("Content-Type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http.post(&keys).header("Coder-Session-Token", &token).header("Content-Type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// Item 7: an org auditor reads the org's audit log but not its chats, so chat entries show the
/// chat's id, never its title (the first words of a prompt); the site owner sees the title.
#[tokio::test]
async fn an_auditor_sees_no_chat_title_in_the_audit_log() {
    let w = world().await;
    let (auditor, _) = w.s.user(&w.owner, "auditor", &[w.a.id]).await;
    w.owner.update_member_roles(&w.a.id.to_string(), "auditor", &["organization-auditor"]).await.unwrap();
    w.fake.set_handler(|_| Some(Turn::text("ok")));
    let secret = "merger plans for ACME";
    let chat = w
        .alice
        .create_chat(&sdk::CreateChatRequest {
            organization_id: Some(w.a.id),
            content: Some(text(&format!("{secret}: summarize them"))),
            ..Default::default()
        })
        .await
        .unwrap();
    w.alice
        .update_chat(chat.id, &sdk::UpdateChatRequest { title: Some(format!("{secret} (renamed)")), ..Default::default() })
        .await
        .unwrap();

    let seen = auditor.audit_logs(200, 0).await.unwrap();
    let about_chat: Vec<&sdk::AuditLog> = seen.audit_logs.iter().filter(|l| l.resource_id == chat.id).collect();
    assert_eq!(about_chat.len(), 2, "the auditor still sees that the chat was created and changed");
    let shown = serde_json::to_string(&seen).unwrap();
    assert!(!shown.contains("merger") && !shown.contains("ACME"), "the auditor sees the title: {shown}");
    assert!(about_chat.iter().all(|l| l.resource_target == chat.id.to_string()));

    let owner_view = serde_json::to_string(&w.owner.audit_logs(200, 0).await.unwrap()).unwrap();
    assert!(owner_view.contains("merger plans"), "whoever may read the chat sees its title");
    // Membership entries stay readable to the auditor (it may read members).
    assert!(seen.audit_logs.iter().any(|l| l.resource_type == "organization_member" && l.resource_target == "alice"));
}

/// Item 8: user objects list only the organizations the viewer may see.
#[tokio::test]
async fn org_admins_see_only_the_organization_ids_they_may_see() {
    let w = world().await;
    let b = w.s.org(&w.owner, "org-b").await;
    w.owner.add_member("org-b", "alice").await.unwrap();
    let (admin, _) = w.s.user(&w.owner, "admin-a", &[w.a.id]).await;
    w.owner.update_member_roles(&w.a.id.to_string(), "admin-a", &["organization-admin"]).await.unwrap();

    let seen = admin.user("alice").await.unwrap();
    assert_eq!(seen.organization_ids, vec![w.a.id], "an org admin of A sees alice's membership of A only");
    let listed = admin.users(100, 0).await.unwrap();
    let alice = listed.users.iter().find(|u| u.username == "alice").unwrap();
    assert_eq!(alice.organization_ids, vec![w.a.id]);
    // Alice herself and the site owner see both.
    let mine = w.alice.me().await.unwrap().organization_ids;
    assert!(mine.contains(&w.a.id) && mine.contains(&b.id));
    let owner_view = w.owner.user("alice").await.unwrap().organization_ids;
    assert!(owner_view.contains(&w.a.id) && owner_view.contains(&b.id));
}

/// Item 8: a followed build log re-checks access like chat streams: removing the member ends
/// it within moments, not when the build finishes.
#[tokio::test]
async fn a_followed_build_log_ends_when_the_follower_is_removed() {
    use futures::StreamExt;
    let w = world().await;
    let t = w
        .owner
        .create_template(&w.a.id.to_string(), &sdk::CreateTemplateRequest {
            name: "slow".into(),
            display_name: None,
            description: None,
            startup_script: Some("echo starting; sleep 30; echo done".into()),
            parameters: None,
            network: None,
            kind: None,
        })
        .await
        .unwrap();
    let ws = w
        .alice
        .create_workspace(&w.a.id.to_string(), "me", &sdk::CreateWorkspaceRequest {
            template_id: t.id,
            name: "slow-ws".into(),
            rich_parameter_values: vec![],
        })
        .await
        .unwrap();
    let mut lines = w.alice.follow_build_logs(ws.latest_build.id, 0).await.unwrap().boxed();
    // The build is running: its first line arrives.
    let first = tokio::time::timeout(WAIT, async {
        loop {
            let l = lines.next().await.expect("log ended early").unwrap();
            if l.output.contains("starting") {
                return l;
            }
        }
    })
    .await
    .expect("no log line");
    assert!(first.output.contains("starting"));
    revoke(&w, Revoke::Removal).await;
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(l) = lines.next().await {
            if l.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the followed log kept streaming after the removal");
}

/// Runs the CLI as `token`'s user.
async fn cli(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_URL", url)
        .env("AGENTRY_SESSION_TOKEN", token)
        .output()
        .await
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Item 4: keys are listed (never with their secret) and revoked; a revoked key is refused at
/// once by another server process, and its open watch socket there closes.
#[tokio::test]
async fn a_revoked_key_is_refused_at_once_on_another_process() {
    let w = world().await;
    let (_other, url) = common::spawn_api_only_process(&w.s.database_url);
    let key = w
        .alice
        .create_api_key("me", &sdk::CreateTokenRequest { lifetime_seconds: Some(3600), token_name: Some("ci".into()) })
        .await
        .unwrap()
        .key;
    let there = Client::new(&url).unwrap().with_token(&key);
    // Used (and cached) on the other process.
    assert_eq!(there.me().await.unwrap().username, "alice");
    let mut watch = there.watch_chats().await.unwrap();

    let id = key.split_once('-').unwrap().0;
    // Its use is recorded (in the background, so poll).
    let keys = common::eventually("the key's last_used to be recorded", || async {
        let keys = w.alice.api_keys("me").await.unwrap();
        keys.iter().any(|k| k.id == id && k.last_used.is_some()).then_some(keys)
    })
    .await;
    let listed = keys.iter().find(|k| k.id == id).expect("the new key is listed");
    assert_eq!(listed.name, "ci");
    assert_eq!(listed.scope, "all");
    assert_eq!(listed.login_type, "token");
    assert!(listed.expires_at > listed.created_at);
    let shown = serde_json::to_string(&keys).unwrap();
    assert!(!shown.contains(key.split_once('-').unwrap().1), "a secret was listed");
    // Sessions are listed too (alice's login), and nobody else may list alice's keys.
    assert!(keys.iter().any(|k| k.login_type == "password"));
    let (bob, _) = w.s.user(&w.owner, "bob", &[w.a.id]).await;
    expect_status(bob.api_keys("alice").await, 404);
    expect_status(bob.delete_api_key("alice", id).await, 404);

    w.alice.delete_api_key("me", id).await.unwrap();
    expect_status(there.me().await, 401);
    assert!(closes_within(&mut watch, Duration::from_secs(2)).await, "the revoked key's socket stayed open");
    assert!(w.alice.api_keys("me").await.unwrap().iter().all(|k| k.id != id));
    expect_status(w.alice.delete_api_key("me", id).await, 404);
    w.alice.me().await.expect("alice's own session is untouched");
}

/// Item 4: `agentry tokens create|list|delete`.
#[tokio::test]
async fn the_cli_creates_lists_and_revokes_tokens() {
    let w = world().await;
    let token = w.alice.token().unwrap().to_string();
    let (ok, key, err) = cli(&w.s.url, &token, &["tokens", "create", "--name", "laptop", "--lifetime", "2h"]).await;
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let id = key.split_once('-').unwrap().0.to_string();
    let (ok, table, err) = cli(&w.s.url, &token, &["tokens", "list"]).await;
    assert!(ok, "{err}");
    assert!(table.lines().any(|l| l.starts_with(&id) && l.contains("laptop")), "{table}");
    let (ok, json, _) = cli(&w.s.url, &token, &["tokens", "list", "-o", "json"]).await;
    assert!(ok);
    let listed: Vec<sdk::ApiKey> = serde_json::from_str(&json).unwrap();
    let k = listed.iter().find(|k| k.id == id).unwrap();
    let lifetime = k.expires_at - k.created_at;
    assert!((lifetime.num_seconds() - 7200).abs() < 60, "{lifetime}");
    Client::new(&w.s.url).unwrap().with_token(&key).me().await.unwrap();
    let (ok, _, err) = cli(&w.s.url, &token, &["tokens", "delete", &id]).await;
    assert!(ok, "{err}");
    expect_status(Client::new(&w.s.url).unwrap().with_token(&key).me().await, 401);
}

async fn login_status(http: &reqwest::Client, url: &str, email: &str, password: &str) -> reqwest::Response {
    http.post(format!("{url}/api/v2/users/login")).json(&json!({"email": email, "password": password})).send().await.unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Item 5: a wrong password for a real email and any password for an unknown email take the
/// same time (both cost one Argon2 hash), so timing does not reveal which emails exist.
#[tokio::test]
async fn login_timing_does_not_reveal_which_emails_exist() {
    let s = TestServer::start_api_only().await;
    let (owner, _) = s.owner().await;
    let mut known = Vec::new();
    for i in 0..5 {
        s.user(&owner, &format!("timed{i}"), &[]).await;
        known.push(format!("timed{i}@example.com"));
    }
    let http = raw_http();
    // Warm up (connection, the dummy hash).
    assert_eq!(login_status(&http, &s.url, "warm@example.com", "x").await.status(), 401);
    let (mut t_known, mut t_unknown) = (Vec::new(), Vec::new());
    for i in 0..50 {
        // Interleaved, so drift hits both alike; at most 10 failures per account.
        let start = std::time::Instant::now();
        assert_eq!(login_status(&http, &s.url, &known[i % 5], "wrong password").await.status(), 401);
        t_known.push(start.elapsed());
        let start = std::time::Instant::now();
        assert_eq!(login_status(&http, &s.url, &format!("nobody{i}@example.com"), "wrong password").await.status(), 401);
        t_unknown.push(start.elapsed());
    }
    let (k, u) = (median(t_known), median(t_unknown));
    let ratio = k.as_secs_f64().max(u.as_secs_f64()) / k.as_secs_f64().min(u.as_secs_f64());
    assert!(ratio < 1.5, "median known {k:?} vs unknown {u:?} (ratio {ratio:.2})");
    // Failed logins are audited, for real and unknown emails.
    let audit = owner.audit_logs(500, 0).await.unwrap();
    let failed: Vec<&sdk::AuditLog> = audit.audit_logs.iter().filter(|l| l.action == "login").collect();
    assert!(failed.iter().any(|l| l.resource_target == "timed0" && l.diff["success"] == false));
    assert!(failed.iter().any(|l| l.resource_target == "nobody7@example.com"));
}

/// Item 5: ten failures a minute per account, then 429 with Retry-After, for the right password
/// too; other accounts log in as usual.
#[tokio::test]
async fn repeated_wrong_logins_are_throttled_per_account() {
    let w = world_on(TestServer::start_api_only().await).await;
    let (_bob, _) = w.s.user(&w.owner, "bob", &[w.a.id]).await;
    let http = raw_http();
    for _ in 0..10 {
        assert_eq!(login_status(&http, &w.s.url, "alice@example.com", "guess").await.status(), 401);
    }
    let r = login_status(&http, &w.s.url, "alice@example.com", "guess").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Locked out for now, whatever the password (a success would end the guessing).
    let r = login_status(&http, &w.s.url, "ALICE@example.com", common::PASSWORD).await;
    assert_eq!(r.status(), 429);
    // Others are unaffected; alice's existing sessions too.
    assert_eq!(login_status(&http, &w.s.url, "bob@example.com", common::PASSWORD).await.status(), 201);
    w.alice.me().await.unwrap();
    // Unknown emails are throttled alike (the limit does not reveal existence either).
    for _ in 0..10 {
        assert_eq!(login_status(&http, &w.s.url, "ghost@example.com", "guess").await.status(), 401);
    }
    assert_eq!(login_status(&http, &w.s.url, "ghost@example.com", "guess").await.status(), 429);
    // A burst of concurrent guesses cannot outrun the limit: attempts count while in flight.
    let burst = (0..30).map(|_| {
        let (http, url) = (http.clone(), w.s.url.clone());
        async move { login_status(&http, &url, "burst@example.com", "guess").await.status().as_u16() }
    });
    let statuses = futures::future::join_all(burst).await;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20, "{statuses:?}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Item 5: 200 concurrent wrong logins hash at most twice-the-cores passwords at a time, so the
/// server's memory stays flat (each Argon2 hash takes 19 MiB).
#[tokio::test]
async fn memory_stays_flat_under_200_concurrent_wrong_logins() {
    let s = TestServer::start_api_only().await;
    s.owner().await;
    let (server, url) = common::spawn_api_only_process(&s.database_url);
    let pid = server.pid();
    let http = raw_http();
    assert_eq!(login_status(&http, &url, "owner@example.com", "warm-up").await.status(), 401);
    let baseline = rss_kib(pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let attempts = (0..200).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let email = if i % 2 == 0 { "owner@example.com".to_string() } else { format!("flood{i}@example.com") };
            login_status(&http, &url, &email, "wrong").await.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    done.store(true, std::sync::atomic::Ordering::Release);
    let peak = sampler.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    // Twice the cores hashing at 19 MiB each, plus room for 200 connections.
    let allowed = cores * 2 * 19 * 1024 + 64 * 1024;
    let grew = peak.saturating_sub(baseline);
    assert!(grew < allowed, "RSS grew by {} MiB under the flood (allowed {} MiB)", grew / 1024, allowed / 1024);
}

/// Item 9: the UI (and every other answer) carries a strict policy: own origin only, no inline
/// script or style, never framed; HSTS only when the access URL is https.
#[tokio::test]
async fn the_ui_is_served_with_strict_security_headers() {
    let s = TestServer::start_api_only().await;
    let http = raw_http();
    for path in ["/", "/agents", "/api/v2/buildinfo"] {
        let r = http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'), "{path}: {csp}");
        let host = s.url.trim_start_matches("http://");
        assert!(csp.contains(&format!("connect-src 'self' ws://{host}")), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "{path}: no HSTS over http");
    }

    let dir = tempfile::tempdir().unwrap();
    let (_https, url) = common::spawn_agentry_with(
        Some(&s.database_url),
        dir.path(),
        &["--chat-daemon", "false", "--access-url", "https://agents.example.com"],
    );
    let r = http.get(format!("{url}/")).send().await.unwrap();
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("wss://agents.example.com"));
}

/// Item 1, promotion after an interrupt: interrupting a chat that has no worker promotes its
/// queue head at once — unless the owner lost access, and then the queue stays and the chat
/// stops with the error (no daemon here, so nothing else decides).
#[tokio::test]
async fn an_interrupt_does_not_promote_the_queue_of_an_owner_who_lost_access() {
    let w = world_on(TestServer::start_api_only().await).await;
    let chat = create_chat(&w.alice, w.a.id, "one").await;
    for n in ["two", "three"] {
        let sent = w
            .alice
            .send_chat_message(chat.id, &sdk::CreateChatMessageRequest { content: Some(text(n)), ..Default::default() })
            .await
            .unwrap();
        assert!(sent.queued);
    }
    revoke(&w, Revoke::Role).await;
    // Stopping is not AI work: alice may still interrupt her own chat; a Stop holds the queue.
    let after = w.alice.interrupt_chat(chat.id).await.unwrap();
    assert_eq!(after.status, sdk::ChatStatus::Waiting);
    // Sending again would resume the queue, which is AI work: refused, and still nothing runs.
    let again = sdk::CreateChatMessageRequest { content: Some(text("four")), ..Default::default() };
    expect_status(w.alice.send_chat_message(chat.id, &again).await, 403);
    let page = w.alice.chat_messages(chat.id, None, Some(200)).await.unwrap();
    assert_eq!(page.queued_messages.len(), 2, "the queue is kept");
    assert_eq!(page.messages.iter().filter(|m| m.role == sdk::MessageRole::User).count(), 1, "nothing was promoted");

    // Nothing is lost: with access back, alice sends the kept queue on explicitly.
    expect_status(w.alice.promote_queued_message(chat.id, page.queued_messages[0].id).await, 403);
    w.owner.update_member_roles(&w.a.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    let promoted = w.alice.promote_queued_message(chat.id, page.queued_messages[0].id).await.unwrap();
    assert_eq!(promoted.content[0]["text"], "two");
    assert_eq!(w.alice.chat(chat.id).await.unwrap().status, sdk::ChatStatus::Pending);
}

/// Item 1: subagents follow their root. The owner loses access while a child runs and the root
/// waits for it: both stop with the error and neither calls the model again.
#[tokio::test]
async fn a_subagent_and_its_root_stop_when_the_owner_loses_access() {
    let w = world().await;
    w.fake.set_handler(|req| {
        let body = req.body.to_string();
        if body.contains("You are a subagent") {
            return Some(Turn::new(vec![Step::delay(Duration::from_millis(3000)), Step::text("child report")]));
        }
        let last = req.body["messages"].as_array().and_then(|m| m.last().cloned()).unwrap_or_default();
        if last["role"] != "tool" {
            return Some(Turn::tool_call("spawn_agent", json!({"prompt": "Find it", "title": "finder"})));
        }
        let spawned: Value = serde_json::from_str(last["content"].as_str().unwrap_or("{}")).unwrap_or_default();
        if spawned["chat_id"].is_string() {
            return Some(Turn::tool_call("wait_agent", json!({"chat_id": spawned["chat_id"], "timeout_seconds": 30})));
        }
        Some(Turn::text("must not be asked"))
    });
    let root = create_chat(&w.alice, w.a.id, "delegate").await;
    // The root asked twice (spawn, then wait) and the child once, slowly.
    common::eventually("the root and the child to both call the model", || async {
        let requests = w.fake.requests();
        (requests.len() >= 3 && requests.iter().any(|r| r.body.to_string().contains("You are a subagent"))).then_some(())
    })
    .await;
    let asked = w.fake.requests().len();
    revoke(&w, Revoke::Role).await;
    let root_after = wait_status(&w.alice, root.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    let child = w.alice.chats("owner:me").await.unwrap().into_iter().find(|c| c.id == root.id).unwrap().children[0].clone();
    let child_after = wait_status(&w.alice, child.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    for c in [&root_after, &child_after] {
        assert_eq!(c.status, sdk::ChatStatus::Error, "{}", c.title);
        assert_eq!(c.last_error.as_deref(), Some(ClientError::NoAiAccess.message().as_str()), "{}", c.title);
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(w.fake.requests().len(), asked, "the model was called after the owner lost access");
}
