//! The operational surface for replicas (issue 16): `GET /api/v2/replicas` and Prometheus
//! metrics at `/metrics` behind `--metrics`, for the site owner and site auditors only.

mod common;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::{FakeLlm, Step, Turn};
use common::TestServer;
use common::chat::{create_chat, setup_provider, wait_status};

/// A user with `site_roles` (none: a plain member of the default organization), logged in.
async fn user(url: &str, owner: &Client, name: &str, site_roles: &[&str]) -> Client {
    let email = format!("{name}@example.com");
    owner
        .create_user(&sdk::CreateUserRequest {
            email: email.clone(),
            username: name.into(),
            password: common::PASSWORD.into(),
            name: None,
            organization_ids: None,
        })
        .await
        .unwrap();
    if !site_roles.is_empty() {
        owner.update_site_roles(name, site_roles).await.unwrap();
    }
    Client::new(url).unwrap().logged_in(&email, common::PASSWORD).await.unwrap()
}

/// The spawned servers also ask the model for chat titles.
fn is_title_request(r: &agentry_fakellm::RecordedRequest) -> bool {
    r.body.to_string().contains("You name conversations")
}

/// `GET /metrics` with `c`'s token (none for `None`): the status and the body.
async fn scrape(url: &str, c: Option<&Client>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{url}/metrics"));
    if let Some(t) = c.and_then(|c| c.token()) {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn is_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{a="x",b="y\"z"}` → the label names, or why the set is malformed.
fn parse_labels(s: &str) -> Result<Vec<String>, String> {
    let inner = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or("labels not in braces")?;
    let mut names = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        names.push(name.to_string());
        // The value runs to the first unescaped quote.
        let mut escaped = false;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated label value")?;
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(names)
}

fn is_value(v: &str) -> bool {
    matches!(v, "+Inf" | "-Inf" | "NaN") || v.parse::<f64>().is_ok()
}

/// Checks the Prometheus text exposition format (what `promtool check metrics` parses): every
/// sample line is `name{labels} value [timestamp]`, HELP and TYPE lines are well formed, a
/// metric's TYPE comes before its samples and at most once. Returns the sample names.
fn check_exposition(text: &str) -> Vec<String> {
    let mut typed = std::collections::HashMap::<String, String>::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) => assert!(is_metric_name(name), "{at}"),
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(is_metric_name(name), "{at}");
                    assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{at}");
                    assert!(typed.insert(name.to_string(), kind.to_string()).is_none(), "TYPE given twice, {at}");
                }
                (Some("HELP" | "TYPE"), _, _) => panic!("malformed {at}"),
                _ => {} // a plain comment
            }
            continue;
        }
        assert!(!line.starts_with('#'), "comment without a space, {at}");
        let (series, rest) = match line.find('{') {
            Some(i) => {
                let close = line.rfind('}').unwrap_or_else(|| panic!("unclosed labels, {at}"));
                let labels = &line[i..=close];
                parse_labels(labels).unwrap_or_else(|e| panic!("{e}, {at}"));
                (&line[..i], line[close + 1..].trim_start())
            }
            None => line.split_once(' ').map(|(a, b)| (a, b.trim_start())).unwrap_or_else(|| panic!("no value, {at}")),
        };
        assert!(is_metric_name(series), "bad metric name, {at}");
        let fields: Vec<&str> = rest.split(' ').collect();
        assert!(!fields.is_empty() && fields.len() <= 2, "expected a value and maybe a timestamp, {at}");
        assert!(is_value(fields[0]), "bad value, {at}");
        if let Some(ts) = fields.get(1) {
            assert!(ts.parse::<i64>().is_ok(), "bad timestamp, {at}");
        }
        // Histogram and summary samples carry suffixes of their family's name.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| series.strip_suffix(s).filter(|f| typed.contains_key(*f)))
            .unwrap_or(series);
        assert!(typed.contains_key(family), "sample before (or without) its TYPE, {at}");
        samples.push(series.to_string());
    }
    samples
}

#[test]
fn the_exposition_checker_refuses_malformed_text() {
    for bad in [
        "# TYPE x counter\nx{a=\"1\" 3\n",
        "# TYPE x counter\nx{1a=\"1\"} 3\n",
        "# TYPE x counter\nx three\n",
        "# TYPE x nonsense\nx 3\n",
        "x 3\n",
        "# TYPE 9x counter\n9x 3\n",
    ] {
        assert!(std::panic::catch_unwind(|| check_exposition(bad)).is_err(), "accepted: {bad:?}");
    }
    let good = "# HELP x things\n# TYPE x counter\nx{a=\"q\\\"uote\",b=\"\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    assert_eq!(check_exposition(good), ["x", "h_bucket", "h_sum", "h_count"]);
}

#[tokio::test]
async fn metrics_with_the_flag_scrape_cleanly_for_the_owner_and_auditor_only() {
    let db = common::fresh_database().await;
    let fake = FakeLlm::start().await;
    // One provider error (retried), then an answer streamed in several deltas. The spawned
    // server also asks for a title, answered separately.
    let agent_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = agent_calls.clone();
    fake.set_handler(move |r| {
        if is_title_request(r) {
            return Some(Turn::text("A title"));
        }
        Some(match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Turn::error(500, "upstream broke"),
            _ => Turn::text("metrics are counted one token at a time"),
        })
    });
    let (server, url) = common::spawn_agentry_with(
        Some(&db),
        &tempfile::tempdir().unwrap().keep(),
        &["--metrics", "--chat-acquire-interval", "200ms", "--chat-retry-attempts", "3"],
    );
    let owner = common::first_owner(&url).await;
    setup_provider(&owner, &fake).await;
    let org = owner.me().await.unwrap().organization_ids[0];
    let chat = create_chat(&owner, org, "count this").await;
    let done = wait_status(&owner, chat.id, |s| matches!(s, sdk::ChatStatus::Waiting | sdk::ChatStatus::Error)).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);

    let (status, body) = scrape(&url, Some(&owner)).await;
    assert_eq!(status, 200, "{body}");
    let samples = check_exposition(&body);
    for name in [
        "agentry_http_request_duration_seconds_bucket",
        "agentry_chats",
        "agentry_open_sockets",
        "agentry_tokens_streamed_total",
        "agentry_provider_errors_total",
        "agentry_chat_claim_seconds_bucket",
    ] {
        assert!(samples.iter().any(|s| s == name), "{name} missing from:\n{body}");
    }
    // Requests are labelled by their route template, never by the ids in the path.
    assert!(body.contains("route=\"/api/experimental/chats/{chat}\""), "{body}");
    assert!(!body.contains(&chat.id.to_string()), "{body}");
    assert!(body.contains("agentry_chats{status=\"waiting\"} 1"), "{body}");
    assert!(body.contains("agentry_provider_errors_total{provider=\"openai-compat\",kind=\"retried\"} 1"), "{body}");

    // Never public: no token is 401, a plain member and a site user-admin are 403; a site
    // auditor may read.
    assert_eq!(scrape(&url, None).await.0, 401);
    let member = user(&url, &owner, "member", &[]).await;
    let (status, body) = scrape(&url, Some(&member)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"message\":\"Forbidden.\""), "{body}");
    let user_admin = user(&url, &owner, "useradmin", &["user-admin"]).await;
    assert_eq!(scrape(&url, Some(&user_admin)).await.0, 403);
    let auditor = user(&url, &owner, "auditor", &["auditor"]).await;
    let (status, body) = scrape(&url, Some(&auditor)).await;
    assert_eq!(status, 200, "{body}");
    check_exposition(&body);

    // A second process without a chat daemon receives the first one's live parts through
    // pg_notify and measures their lag (once the first has heard of it: presence announcements
    // every 2 s, so chats are run until one is forwarded).
    let (api_only, api_url) = common::spawn_agentry_with(
        Some(&db),
        &tempfile::tempdir().unwrap().keep(),
        &["--metrics", "--chat-daemon", "false"],
    );
    let remote_owner = Client::new(&api_url).unwrap().logged_in("owner@example.com", common::PASSWORD).await.unwrap();
    let body = common::eventually("the notify lag measured on the other process", || async {
        let chat = create_chat(&owner, org, "forward me").await;
        wait_status(&owner, chat.id, |s| s == sdk::ChatStatus::Waiting).await;
        let (status, body) = scrape(&api_url, Some(&remote_owner)).await;
        assert_eq!(status, 200, "{body}");
        body.contains("agentry_notify_lag_seconds_count").then_some(body)
    })
    .await;
    let samples = check_exposition(&body);
    assert!(samples.iter().any(|s| s == "agentry_notify_lag_seconds_bucket"), "{body}");
    common::stop_server_process(api_only);
    common::stop_server_process(server);
}

#[tokio::test]
async fn without_the_flag_metrics_is_a_plain_404() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let (status, body) = scrape(&s.url, Some(&owner)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("route_not_found"), "{body}");
    assert!(!body.contains("agentry_"), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn replicas_list_every_process_with_its_chats_and_sockets_for_owner_and_auditor_only() {
    let db = common::fresh_database().await;
    let fake = FakeLlm::start().await;
    // The chat holds its run mid-answer until the gate opens.
    fake.set_handler(|r| {
        Some(if is_title_request(r) {
            Turn::text("A title")
        } else {
            Turn::new(vec![Step::text("half "), Step::gate("finish"), Step::text("done")])
        })
    });
    let local = TestServer::start_api_only_on(&db).await;
    let (owner, first) = local.owner().await;
    setup_provider(&owner, &fake).await;
    // The only process with a chat daemon: it runs the chat.
    let (runner, runner_url) = common::spawn_agentry_with(Some(&db), &tempfile::tempdir().unwrap().keep(), &["--chat-acquire-interval", "200ms"]);

    let chat = create_chat(&owner, first.organization_id, "hold on").await;
    wait_status(&owner, chat.id, |s| s == sdk::ChatStatus::Running).await;
    // A watch socket and a chat stream held on the API-only process.
    let _watch = owner.watch_chats().await.unwrap();
    let _stream = owner.stream_chat(chat.id, 0).await.unwrap();

    let runner_version = Client::new(&runner_url).unwrap().buildinfo().await.unwrap().version;
    let replicas = common::eventually("both replicas with their chats and sockets", || async {
        let r = owner.replicas().await.unwrap();
        let running: Vec<&sdk::Replica> = r.iter().filter(|x| x.chats_running == 1).collect();
        let holding: Vec<&sdk::Replica> = r.iter().filter(|x| x.sockets.watch == 1 && x.sockets.stream == 1).collect();
        (r.len() == 2 && running.len() == 1 && holding.len() == 1 && running[0].id != holding[0].id).then_some(r)
    })
    .await;
    for r in &replicas {
        assert!(r.alive, "{r:?}");
        assert_eq!(r.version, runner_version);
        assert!(r.last_heartbeat_at >= r.started_at, "{r:?}");
        assert!(r.relay_address.starts_with("http://"), "{r:?}");
    }

    // A site auditor sees the same; a plain member, an org admin and no one at all do not.
    let auditor = user(&local.url, &owner, "auditor", &["auditor"]).await;
    assert_eq!(auditor.replicas().await.unwrap().len(), 2);
    let member = user(&local.url, &owner, "member", &[]).await;
    common::expect_error(member.replicas().await, sdk::ClientError::Forbidden);
    let org_admin = user(&local.url, &owner, "orgadmin", &[]).await;
    owner.update_member_roles(&first.organization_id.to_string(), "orgadmin", &["organization-admin"]).await.unwrap();
    common::expect_error(org_admin.replicas().await, sdk::ClientError::Forbidden);
    common::expect_status(local.client.replicas().await, 401);

    fake.open_gate("finish");
    let done = wait_status(&owner, chat.id, |s| s != sdk::ChatStatus::Running).await;
    assert_eq!(done.status, sdk::ChatStatus::Waiting, "{:?}", done.last_error);
    // Once finished, no process runs it (the count comes from the database, at once).
    common::eventually("no chat running", || async {
        owner.replicas().await.unwrap().iter().all(|r| r.chats_running == 0).then_some(())
    })
    .await;
    common::stop_server_process(runner);
    local.stop().await;
}

#[tokio::test]
async fn a_replica_that_shuts_down_cleanly_leaves_the_list() {
    let db = common::fresh_database().await;
    let a = TestServer::start_on(&db).await;
    let (owner, _) = a.owner().await;
    let b = TestServer::start_api_only_on(&db).await;
    common::eventually("two replicas", || async { (owner.replicas().await.unwrap().len() == 2).then_some(()) }).await;
    b.stop().await;
    common::eventually("one replica", || async { (owner.replicas().await.unwrap().len() == 1).then_some(()) }).await;
    a.stop().await;
}
