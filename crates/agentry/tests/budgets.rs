//! Chat budgets and usage reports, black-box: real servers on a real PostgreSQL, spend
//! accumulated from real runs through the fake provider with prices on the model config.
//!
//! Every step the fake answers here reports its usage (`Step::Usage`), and the model costs $1
//! per million input tokens, so a step of 1000 input tokens costs exactly 1000 micro-dollars.

mod common;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use agentry_sdk::ClientError;
use agentry_store::Store;
use common::chat::{WAIT, setup_priced_provider, text, wait_status};
use common::{PASSWORD, TestServer, expect_error};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

/// What one scripted step costs (micro-dollars).
const STEP: i64 = 1000;

struct World {
    s: TestServer,
    owner: Client,
    fake: FakeLlm,
    a: sdk::Organization,
    b: sdk::Organization,
    alice: Client,
    alice_id: Uuid,
    bob: Client,
    bob_id: Uuid,
}

/// Org A with alice and bob (agents-access), org B; the fake as the priced default model.
async fn world() -> World {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let fake = FakeLlm::start().await;
    // $1 per million input tokens, output free: a step's cost is its input tokens in micros.
    setup_priced_provider(&owner, &fake, Some(1.0), Some(0.0)).await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let (alice, alice_user) = s.user(&owner, "alice", &[a.id]).await;
    let (bob, bob_user) = s.user(&owner, "bob", &[a.id]).await;
    for u in ["alice", "bob"] {
        owner.update_member_roles(&a.id.to_string(), u, &["agents-access"]).await.unwrap();
    }
    World { s, owner, fake, a, b, alice, alice_id: alice_user.id, bob, bob_id: bob_user.id }
}

/// A step that calls a tool no one has (its error result sends the loop round again, to the
/// next model call) and reports `input` tokens; `gate` holds it before it finishes.
fn costly_tool_step(input: u64, gate: Option<&str>) -> Turn {
    let mut t = Turn::tool_call("no_such_tool", json!({}));
    if let Some(g) = gate {
        t = t.then(Step::gate(g));
    }
    t.then(Step::Usage { input_tokens: input, output_tokens: 0 })
}

fn costly_answer(input: u64) -> Turn {
    Turn::text("done").then(Step::Usage { input_tokens: input, output_tokens: 0 })
}

async fn create(c: &Client, org: Uuid, prompt: &str) -> agentry_client::Result<sdk::Chat> {
    c.create_chat(&sdk::CreateChatRequest { organization_id: Some(org), content: Some(text(prompt)), ..Default::default() }).await
}

fn send(t: &str) -> sdk::CreateChatMessageRequest {
    sdk::CreateChatMessageRequest { content: Some(text(t)), ..Default::default() }
}

fn budget(limit: Option<i64>, period: &str) -> sdk::ChatBudgetRequest {
    sdk::ChatBudgetRequest { limit_micros: limit, period: period.into() }
}

async fn store(s: &TestServer) -> Store {
    Store::connect(s.database_url.parse().unwrap(), 2).await.unwrap()
}

/// Moves every recorded spend of the current periods into the past (the period "resets"
/// without waiting for the calendar): the rollups the check reads are data.
async fn start_new_period(s: &TestServer) {
    let mut conn = sqlx::PgConnection::connect(&s.database_url).await.unwrap();
    sqlx::query("UPDATE chat_spend_daily SET day = day - 40").execute(&mut conn).await.unwrap();
}

/// Runs one chat of `c` whose first step spends `STEP` and whose next model call must be
/// refused; returns it (in `error`, with `expected`'s message as `last_error`).
async fn run_until_stopped(w: &World, c: &Client, expected: &ClientError) -> sdk::Chat {
    let before = w.fake.requests().len();
    w.fake.push_turn(costly_tool_step(STEP as u64, None));
    let chat = create(c, w.a.id, "spend").await.unwrap();
    let chat = wait_status(c, chat.id, |s| matches!(s, sdk::ChatStatus::Error | sdk::ChatStatus::Waiting)).await;
    assert_eq!(chat.status, sdk::ChatStatus::Error, "{chat:?}");
    assert_eq!(chat.last_error.as_deref(), Some(expected.message().as_str()));
    assert_eq!(w.fake.requests().len(), before + 1, "the model call after the spend must not happen");
    chat
}

fn org_over(resets_at: chrono::DateTime<chrono::Utc>) -> ClientError {
    ClientError::OrganizationBudgetExceeded { spent_micros: 0, limit_micros: 0, resets_at }
}

fn member_over(resets_at: chrono::DateTime<chrono::Utc>) -> ClientError {
    ClientError::MemberBudgetExceeded { spent_micros: 0, limit_micros: 0, resets_at }
}

#[tokio::test(flavor = "multi_thread")]
async fn budgets_at_each_level_stop_the_next_model_call() {
    let w = world().await;
    let a = w.a.id.to_string();

    // --- the organization's budget: the loop stops, the queue stays, the API refuses ---
    let org_budget = w.owner.set_chat_budget(&a, None, &budget(Some(STEP / 2), "month")).await.unwrap();
    assert_eq!((org_budget.limit_micros, org_budget.period.as_str(), org_budget.spent_micros), (Some(STEP / 2), "month", 0));
    let over = org_over(org_budget.period_end);
    assert!(over.message().contains("organization's chat budget"), "{}", over.message());
    w.fake.push_turn(costly_tool_step(STEP as u64, Some("spend")));
    let chat = create(&w.alice, w.a.id, "first").await.unwrap();
    w.fake.wait_for_requests(1, WAIT).await;
    // Queued while the step runs (nothing is spent yet, so the send is allowed).
    assert!(w.alice.send_chat_message(chat.id, &send("queued")).await.unwrap().queued);
    w.fake.open_gate("spend");
    let chat = wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Error).await;
    assert_eq!(chat.last_error.as_deref(), Some(over.message().as_str()));
    assert_eq!(w.fake.requests().len(), 1, "no model call after the budget was spent");
    let msgs = w.alice.chat_messages(chat.id, None, None).await.unwrap();
    assert_eq!(msgs.queued_messages.len(), 1, "the queued message is kept");
    assert_eq!(w.alice.chat_budget(&a, Some("me")).await.unwrap().limit_micros, None);
    assert_eq!(w.owner.chat_budget(&a, None).await.unwrap().spent_micros, STEP);
    // Every call that would start AI work in A now gets 409 naming the organization's budget.
    expect_error(w.alice.send_chat_message(chat.id, &send("again")).await, over.clone());
    expect_error(create(&w.alice, w.a.id, "new").await, over.clone());
    expect_error(create(&w.bob, w.a.id, "new").await, over.clone());
    // Another organization is not affected.
    w.owner.add_member(&w.b.id.to_string(), "alice").await.unwrap();
    w.owner.update_member_roles(&w.b.id.to_string(), "alice", &["agents-access"]).await.unwrap();
    w.fake.push_turn(costly_answer(10));
    let in_b = create(&w.alice, w.b.id, "in b").await.unwrap();
    wait_status(&w.alice, in_b.id, |s| s == sdk::ChatStatus::Waiting).await;

    // --- the period resets: at the period's end by the clock, and through the data ---
    let st = store(&w.s).await;
    let end = org_budget.period_end;
    assert!(st.worker().check_budgets_at(w.a.id, w.alice_id, end - chrono::Duration::seconds(1)).await.is_err());
    st.worker().check_budgets_at(w.a.id, w.alice_id, end).await.unwrap();
    start_new_period(&w.s).await;
    assert_eq!(w.owner.chat_budget(&a, None).await.unwrap().spent_micros, 0);
    w.fake.push_turn(costly_answer(10));
    let fresh = create(&w.bob, w.a.id, "after the reset").await.unwrap();
    wait_status(&w.bob, fresh.id, |s| s == sdk::ChatStatus::Waiting).await;
    w.owner.set_chat_budget(&a, None, &budget(None, "month")).await.unwrap();
    start_new_period(&w.s).await;

    // --- a member's budget in A: alice stops, bob goes on ---
    let mine = w.owner.set_chat_budget(&a, Some("alice"), &budget(Some(STEP / 2), "week")).await.unwrap();
    assert_eq!((mine.user_id, mine.period.as_str()), (Some(w.alice_id), "week"));
    let over = member_over(mine.period_end);
    assert!(over.message().contains("your chat budget in this organization"), "{}", over.message());
    let chat = run_until_stopped(&w, &w.alice, &over).await;
    expect_error(w.alice.send_chat_message(chat.id, &send("again")).await, over.clone());
    let seen = w.alice.chat_budget(&a, Some("me")).await.unwrap();
    assert_eq!((seen.limit_micros, seen.spent_micros), (Some(STEP / 2), STEP));
    w.fake.push_turn(costly_answer(10));
    let bobs = create(&w.bob, w.a.id, "bob goes on").await.unwrap();
    wait_status(&w.bob, bobs.id, |s| s == sdk::ChatStatus::Waiting).await;
    w.owner.set_chat_budget(&a, Some("alice"), &budget(None, "week")).await.unwrap();
    start_new_period(&w.s).await;

    // --- the deployment's default limit per user ---
    w.owner
        .set_usage_limits(&sdk::UsageLimitConfig { enabled: true, limit_micros: STEP / 2, period: "day".into() })
        .await
        .unwrap();
    let status = w.alice.usage_status().await.unwrap();
    let over = ClientError::UsageLimitExceeded { spent_micros: 0, limit_micros: 0, resets_at: status.period_end };
    assert!(over.message().contains("your chat usage limit"), "{}", over.message());
    let chat = run_until_stopped(&w, &w.alice, &over).await;
    expect_error(w.alice.send_chat_message(chat.id, &send("again")).await, over.clone());

    // Every change was audited.
    let audit = w.owner.audit_logs(100, 0).await.unwrap();
    let budget_entries = audit.audit_logs.iter().filter(|l| l.resource_type == "chat_budget").count();
    assert_eq!(budget_entries, 4, "two sets and two removals");
    assert!(audit.audit_logs.iter().any(|l| l.resource_type == "chat_usage_limit"));
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subagent_cannot_start_once_the_budget_is_spent() {
    let w = world().await;
    let a = w.a.id.to_string();
    // The parent's model call starts within budget; the budget is spent (set to 0) while it
    // runs, before its spawn_agent call reaches the tools.
    w.fake.push_turn(
        Turn::tool_call("spawn_agent", json!({"prompt": "Find the answer", "title": "finder"}))
            .then(Step::gate("spawn"))
            .then(Step::Usage { input_tokens: 10, output_tokens: 0 }),
    );
    let parent = create(&w.alice, w.a.id, "delegate").await.unwrap();
    w.fake.wait_for_requests(1, WAIT).await;
    let b = w.owner.set_chat_budget(&a, None, &budget(Some(0), "day")).await.unwrap();
    w.fake.open_gate("spawn");
    let parent = wait_status(&w.alice, parent.id, |s| s == sdk::ChatStatus::Error).await;
    assert_eq!(parent.last_error.as_deref(), Some(org_over(b.period_end).message().as_str()));
    let history = w.alice.chat_messages(parent.id, None, Some(200)).await.unwrap().messages;
    let refused = history.iter().flat_map(|m| m.content.as_array().cloned().unwrap_or_default()).any(|p| {
        p["type"] == "tool-result" && p["result"].to_string().contains("no subagent can start")
    });
    assert!(refused, "{history:?}");
    assert_eq!(w.fake.requests().len(), 1, "neither the child nor the parent called the model again");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_chats_racing_a_nearly_spent_budget_overshoot_by_at_most_one_call_each() {
    let w = world().await;
    let a = w.a.id.to_string();
    const CHATS: usize = 20;
    w.owner.set_chat_budget(&a, None, &budget(Some(STEP), "day")).await.unwrap();
    // 900 of 1000 spent.
    w.fake.push_turn(costly_answer(900));
    let first = create(&w.alice, w.a.id, "warm up").await.unwrap();
    wait_status(&w.alice, first.id, |s| s == sdk::ChatStatus::Waiting).await;
    assert_eq!(w.owner.chat_budget(&a, None).await.unwrap().spent_micros, 900);

    // Every later call spends a full step, and waits at the gate until all 20 are in flight:
    // each passed its check with 100 left.
    w.fake.set_handler(|_| Some(costly_tool_step(STEP as u64, Some("race"))));
    let mut chats = Vec::new();
    for i in 0..CHATS {
        let c = if i % 2 == 0 { &w.alice } else { &w.bob };
        chats.push((c, create(c, w.a.id, &format!("race {i}")).await.unwrap()));
    }
    w.fake.wait_for_requests(1 + CHATS, WAIT).await;
    w.fake.open_gate("race");
    let end = w.owner.chat_budget(&a, None).await.unwrap().period_end;
    for (c, chat) in &chats {
        let done = wait_status(c, chat.id, |s| matches!(s, sdk::ChatStatus::Error | sdk::ChatStatus::Waiting)).await;
        assert_eq!(done.last_error.as_deref(), Some(org_over(end).message().as_str()), "{done:?}");
    }
    // The bound: at most one model call per racing chat after the budget was spent.
    assert_eq!(w.fake.requests().len(), 1 + CHATS, "each chat made exactly the one call it was racing with");
    let spent = w.owner.chat_budget(&a, None).await.unwrap().spent_micros;
    assert_eq!(spent, 900 + CHATS as i64 * STEP);
    assert!(spent - STEP <= CHATS as i64 * STEP, "overshoot {} exceeds {CHATS} steps", spent - STEP);

    // Usage totals are the sum of the recorded steps (each assistant message's cost).
    let mut per_user = std::collections::HashMap::<Uuid, i64>::new();
    let mut sum = 0;
    for (c, chat) in chats.iter().map(|(c, ch)| (*c, ch.id)).chain([(&w.alice, first.id)]) {
        let msgs = w.owner.chat_messages(chat, None, Some(200)).await.unwrap().messages;
        let cost: i64 = msgs.iter().filter_map(|m| m.total_cost_micros).sum();
        let owner = if std::ptr::eq(c, &w.alice) { w.alice_id } else { w.bob_id };
        *per_user.entry(owner).or_default() += cost;
        sum += cost;
    }
    assert_eq!(sum, spent);
    let org = [("organization_id", a.clone())];
    let by_day = w.owner.chat_usage(&[org[0].clone(), ("group_by", "day".into())]).await.unwrap();
    assert_eq!(by_day.total_micros, sum);
    assert_eq!(by_day.series.len(), 1);
    assert_eq!(by_day.series[0].key, chrono::Utc::now().date_naive().to_string());
    assert_eq!(by_day.series[0].input_tokens, 900 + CHATS as i64 * STEP);
    let by_user = w.owner.chat_usage(&[org[0].clone(), ("group_by", "user".into())]).await.unwrap();
    for e in &by_user.series {
        assert_eq!(Some(&e.micros), per_user.get(&e.key.parse::<Uuid>().unwrap()), "{e:?}");
    }
    let by_model = w.owner.chat_usage(&[org[0].clone(), ("group_by", "model".into())]).await.unwrap();
    assert_eq!(by_model.series.len(), 1);
    assert_eq!(by_model.series[0].micros, sum);
    let csv = w.owner.chat_usage_csv(&[org[0].clone(), ("group_by", "user".into())]).await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("key,micros,input_tokens,output_tokens"));
    assert_eq!(lines.map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap()).sum::<i64>(), sum);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn who_may_read_and_set_budgets_and_usage() {
    let w = world().await;
    let (a, b) = (w.a.id.to_string(), w.b.id.to_string());
    let (admin_b, _) = w.s.user(&w.owner, "admin-b", &[w.b.id]).await;
    w.owner.update_member_roles(&b, "admin-b", &["organization-admin"]).await.unwrap();
    let (admin_a, _) = w.s.user(&w.owner, "admin-a", &[w.a.id]).await;
    w.owner.update_member_roles(&a, "admin-a", &["organization-admin"]).await.unwrap();
    let (auditor_a, _) = w.s.user(&w.owner, "auditor-a", &[w.a.id]).await;
    w.owner.update_member_roles(&a, "auditor-a", &["organization-auditor"]).await.unwrap();
    let (site_auditor, _) = w.s.user(&w.owner, "site-auditor", &[]).await;
    w.owner.update_site_roles("site-auditor", &["auditor"]).await.unwrap();
    w.fake.push_turn(costly_answer(STEP as u64));
    let chat = create(&w.alice, w.a.id, "spend").await.unwrap();
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Waiting).await;
    let in_a = |extra: &[(&'static str, String)]| {
        let mut p = vec![("organization_id", a.clone())];
        p.extend_from_slice(extra);
        p
    };

    // The org admin of A sets A's budgets; the org admin of B cannot see that A's exist.
    admin_a.set_chat_budget(&a, None, &budget(Some(50 * STEP), "month")).await.unwrap();
    admin_a.set_chat_budget(&a, Some("bob"), &budget(Some(10 * STEP), "day")).await.unwrap();
    assert_eq!(expect_status(admin_b.chat_budget(&a, None).await), 404);
    assert_eq!(expect_status(admin_b.set_chat_budget(&a, None, &budget(None, "month")).await), 404);
    assert_eq!(expect_status(admin_b.set_chat_budget(&a, Some("bob"), &budget(Some(0), "month")).await), 404);
    assert_eq!(expect_status(admin_b.chat_usage(&in_a(&[])).await), 404);
    admin_b.set_chat_budget(&b, None, &budget(Some(1), "day")).await.unwrap();
    // Members read their own budget and usage, not the organization's or another member's.
    assert_eq!(w.bob.chat_budget(&a, Some("me")).await.unwrap().limit_micros, Some(10 * STEP));
    assert_eq!(expect_status(w.bob.chat_budget(&a, None).await), 403);
    // (Members cannot read other users' accounts, so another member's budget is not found.)
    assert_eq!(expect_status(w.bob.chat_budget(&a, Some("alice")).await), 404);
    assert_eq!(expect_status(w.bob.set_chat_budget(&a, Some("me"), &budget(None, "day")).await), 403);
    assert_eq!(expect_status(w.bob.chat_usage(&in_a(&[])).await), 403);
    assert_eq!(expect_status(w.bob.chat_usage(&in_a(&[("user_id", w.alice_id.to_string())])).await), 403);
    assert_eq!(w.alice.chat_usage(&in_a(&[("user_id", w.alice_id.to_string())])).await.unwrap().total_micros, STEP);
    // Without filters a member gets their own usage.
    assert_eq!(w.alice.chat_usage(&[]).await.unwrap().total_micros, STEP);
    assert_eq!(w.bob.chat_usage(&[]).await.unwrap().total_micros, 0);
    assert_eq!(expect_status(w.bob.chat_usage(&[("user_id", w.alice_id.to_string())]).await), 403);
    // Org auditors read their organization, but set nothing.
    assert_eq!(auditor_a.chat_usage(&in_a(&[])).await.unwrap().total_micros, STEP);
    assert_eq!(auditor_a.chat_budget(&a, None).await.unwrap().spent_micros, STEP);
    assert_eq!(expect_status(auditor_a.set_chat_budget(&a, None, &budget(None, "month")).await), 403);
    assert_eq!(admin_a.chat_usage(&in_a(&[("group_by", "user".into())])).await.unwrap().series[0].key, w.alice_id.to_string());
    // The site auditor and the site owner read everything.
    let all = site_auditor.chat_usage(&[("group_by", "organization".into())]).await.unwrap();
    assert_eq!((all.total_micros, all.series[0].key.clone()), (STEP, a.clone()));
    assert_eq!(w.owner.chat_usage(&[]).await.unwrap().total_micros, STEP);
    assert_eq!(expect_status(site_auditor.set_chat_budget(&a, None, &budget(None, "month")).await), 403);
    // Bad input is a 400 naming the field.
    let e = expect_error(admin_a.set_chat_budget(&a, None, &budget(Some(1), "year")).await, ClientError::InvalidLimitPeriod);
    assert_eq!(e.body().unwrap().validations[0].field, "period");
    expect_error(admin_a.set_chat_budget(&a, None, &budget(Some(-1), "day")).await, ClientError::NegativeUsageLimit);
    expect_error(w.owner.chat_usage(&[("group_by", "week".into())]).await, ClientError::InvalidUsageGroup);
    expect_error(w.owner.chat_usage(&[("from", "2026-02-01".into()), ("to", "2026-01-01".into())]).await, ClientError::InvalidUsageRange);
    expect_error(w.owner.chat_usage(&[("from", "-200000-01-01".into()), ("to", "-199999-12-31".into())]).await, ClientError::InvalidUsageRange);
    expect_error(w.owner.chat_usage(&[("format", "xml".into())]).await, ClientError::InvalidUsageFormat);
    // A user who is not a member has no member budget there.
    assert_eq!(expect_status(admin_a.chat_budget(&a, Some("admin-b")).await), 404);
    w.s.stop().await;
}

#[track_caller]
fn expect_status<T: std::fmt::Debug>(r: agentry_client::Result<T>) -> u16 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.status().map(|s| s.as_u16()).unwrap_or(0),
    }
}

fn agentry(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_CONFIG_DIR", config)
        .env_remove("AGENTRY_URL")
        .env_remove("AGENTRY_SESSION_TOKEN")
        .output()
        .expect("run agentry");
    assert!(out.status.success(), "agentry {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_usage_round_trip() {
    let w = world().await;
    w.fake.push_turn(costly_answer(STEP as u64));
    let chat = create(&w.alice, w.a.id, "spend").await.unwrap();
    wait_status(&w.alice, chat.id, |s| s == sdk::ChatStatus::Waiting).await;
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    agentry(cfg, &["login", &w.s.url, "--email", "owner@example.com", "--password", PASSWORD]);
    let since = chrono::Utc::now().date_naive().to_string();
    let json = agentry(cfg, &["usage", "--org", "org-a", "--user", "alice", "--since", &since, "-o", "json"]);
    let report: sdk::ChatUsageReport = serde_json::from_str(&json).unwrap();
    let api = w
        .owner
        .chat_usage(&[("organization_id", w.a.id.to_string()), ("user_id", w.alice_id.to_string()), ("from", since.clone())])
        .await
        .unwrap();
    assert_eq!(report, api);
    assert_eq!(report.total_micros, STEP);
    let table = agentry(cfg, &["usage", "--org", "org-a", "--group-by", "user"]);
    assert!(table.starts_with("USER"), "{table}");
    assert!(table.contains(&w.alice_id.to_string()) && table.contains("$0.00") && table.contains("TOTAL"), "{table}");
    let csv = agentry(cfg, &["usage", "--org", "org-a", "--csv"]);
    assert!(csv.starts_with("key,micros,input_tokens,output_tokens\n"), "{csv}");
    assert!(csv.contains(&format!(",{STEP},{STEP},0")), "{csv}");
    w.s.stop().await;
}
