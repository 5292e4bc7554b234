//! Black-box tests of templates, workspaces, builds and the local provisioner (issue 4),
//! through the real server and the typed client.

mod common;

use agentry_sdk::ClientError;

use std::str::FromStr;
use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use common::{TestServer, eventually, expect_status};
use futures::StreamExt;
use sqlx::ConnectOptions;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

/// Follows a build's log to its end (bounded by the deadline) and returns the finished build.
async fn finished(c: &Client, build: Uuid) -> sdk::WorkspaceBuild {
    tokio::time::timeout(DEADLINE, c.wait_for_build(build, |_| {})).await.expect("build did not finish").unwrap()
}

fn param(name: &str, t: sdk::TemplateParameterType, default: Option<&str>, required: bool) -> sdk::TemplateParameter {
    sdk::TemplateParameter {
        name: name.into(),
        param_type: t,
        default: default.map(Into::into),
        required,
        options: vec![],
        description: String::new(),
    }
}

async fn template(c: &Client, org: &str, name: &str, script: &str, params: Vec<sdk::TemplateParameter>) -> sdk::Template {
    c.create_template(
        org,
        &sdk::CreateTemplateRequest {
            name: name.into(),
            display_name: None,
            description: Some("for tests".into()),
            startup_script: Some(script.into()),
            parameters: Some(params),
            network: None,
            kind: None,
        },
    )
    .await
    .unwrap()
}

fn new_workspace(template: Uuid, name: &str, values: &[(&str, &str)]) -> sdk::CreateWorkspaceRequest {
    sdk::CreateWorkspaceRequest {
        template_id: template,
        name: name.into(),
        rich_parameter_values: values
            .iter()
            .map(|(n, v)| sdk::WorkspaceBuildParameter { name: n.to_string(), value: v.to_string() })
            .collect(),
    }
}

/// Running `sleep 300` processes of host user `uid` (a sandboxed workspace's processes run as the
/// workspace's own uid, which owns its directory).
fn sleepers(uid: u32) -> usize {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.uid() == uid))
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.starts_with(b"sleep\x00300\x00")))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        })
        .count()
}

fn dir_owner(dir: &std::path::Path) -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir).unwrap())
}

fn exec(command: &str) -> sdk::WorkspaceExecuteRequest {
    sdk::WorkspaceExecuteRequest { command: command.into(), workdir: None, timeout_ms: Some(20_000), run_in_background: false }
}

#[tokio::test]
async fn a_template_of_another_org_cannot_be_used() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let t = template(&owner, "org-a", "base", "true", vec![]).await;
    assert_eq!(t.organization_id, a.id);

    // Someone in both organizations can read the template, so the answer names the mismatch.
    let (both, _) = s.user(&owner, "both", &[a.id, b.id]).await;
    let e = expect_status(both.create_workspace("org-b", "me", &new_workspace(t.id, "ws", &[])).await, 400);
    let msg = e.message().unwrap();
    assert!(msg.contains("\"base\"") && msg.contains("another organization") && msg.contains("\"org-b\""), "{msg}");
    assert_eq!(e.body().unwrap().validations[0].field, "template_id");
    // The site owner too.
    expect_status(owner.create_workspace(&b.id.to_string(), "both", &new_workspace(t.id, "ws", &[])).await, 400);
    // In its own organization it works.
    let w = both.create_workspace("org-a", "me", &new_workspace(t.id, "ws", &[])).await.unwrap();
    assert_eq!((w.organization_id, w.template_id), (a.id, t.id));
    assert_eq!(w.latest_build.build_number, 1);
    assert_eq!(w.latest_build.transition, sdk::WorkspaceTransition::Start);
    s.stop().await;
}

#[tokio::test]
async fn members_of_another_org_see_nothing_of_it() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let b = s.org(&owner, "org-b").await;
    let t = template(&owner, "org-a", "base", "echo started", vec![]).await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    let (bob, _) = s.user(&owner, "bob", &[b.id]).await;
    let w = alice.create_workspace("org-a", "me", &new_workspace(t.id, "mine", &[])).await.unwrap();
    assert_eq!(finished(&alice, w.latest_build.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);

    // Alice, a member of A, reads A's templates (paginated) and her workspace.
    template(&owner, "org-a", "second", "true", vec![]).await;
    let names: Vec<String> = alice.templates("org-a").await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["base", "second"]);
    let page: Vec<String> = alice.templates_page("org-a", 1, 1).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(page, ["second"]);
    alice.template(t.id).await.unwrap();
    alice.workspace(w.id).await.unwrap();

    // Bob, only in B, gets 404 for all of it, and his lists are empty.
    expect_status(bob.template(t.id).await, 404);
    expect_status(bob.templates("org-a").await, 404);
    expect_status(bob.workspace(w.id).await, 404);
    expect_status(bob.workspace_build(w.latest_build.id).await, 404);
    expect_status(bob.build_logs(w.latest_build.id, 0).await, 404);
    expect_status(bob.follow_build_logs(w.latest_build.id, 0).await.map(|_| ()), 404);
    expect_status(bob.create_build(w.id, sdk::WorkspaceTransition::Stop).await, 404);
    expect_status(bob.execute(w.id, &exec("id")).await, 404);
    assert!(bob.workspaces("").await.unwrap().workspaces.is_empty());
    assert_eq!(bob.workspaces("owner:alice").await.unwrap().count, 0);
    assert!(bob.templates("org-b").await.unwrap().is_empty());
    // Nor can he use A's template for himself in A.
    expect_status(bob.create_workspace("org-a", "me", &new_workspace(t.id, "x", &[])).await, 404);
    s.stop().await;
}

#[tokio::test]
async fn org_admin_stops_a_members_workspace_but_cannot_execute_in_it() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let (admin, _) = s.user(&owner, "admin-a", &[a.id]).await;
    owner.update_member_roles("org-a", "admin-a", &["organization-admin"]).await.unwrap();
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    // The admin manages templates of the org.
    let t = template(&admin, "org-a", "base", "echo ready", vec![]).await;
    let w = alice.create_workspace("org-a", "me", &new_workspace(t.id, "mine", &[])).await.unwrap();
    finished(&alice, w.latest_build.id).await;

    let out = alice.execute(w.id, &exec("echo hi from $(pwd)")).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.output, "hi from /workspace\n");
    // The site owner may execute too; the org admin reads the workspace but may not.
    owner.execute(w.id, &exec("true")).await.unwrap();
    admin.workspace(w.id).await.unwrap();
    let e = expect_status(admin.execute(w.id, &exec("id")).await, 403);
    assert!(e.is(&ClientError::Forbidden), "{}", e);

    let stop = admin.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    assert_eq!(stop.initiator_id, Some(admin.me().await.unwrap().id));
    assert_eq!(finished(&admin, stop.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    assert_eq!(alice.workspace(w.id).await.unwrap().status, sdk::WorkspaceStatus::Stopped);
    // Executing in a stopped workspace is a conflict, not a crash.
    expect_status(alice.execute(w.id, &exec("true")).await, 409);
    s.stop().await;
}

#[tokio::test]
async fn a_banned_member_cannot_create_workspaces() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let t = template(&owner, "org-a", "base", "true", vec![]).await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    let w = alice.create_workspace("org-a", "me", &new_workspace(t.id, "before", &[])).await.unwrap();
    finished(&alice, w.latest_build.id).await;

    owner.update_member_roles("org-a", "alice", &["organization-workspace-creation-ban"]).await.unwrap();
    let e = expect_status(alice.create_workspace("org-a", "me", &new_workspace(t.id, "after", &[])).await, 403);
    assert!(e.is(&ClientError::Forbidden), "{}", e);
    // The ban covers delete too; start and stop of the existing workspace remain hers.
    expect_status(alice.create_build(w.id, sdk::WorkspaceTransition::Delete).await, 403);
    let stop = alice.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    finished(&alice, stop.id).await;
    s.stop().await;
}

#[tokio::test]
async fn start_runs_the_script_and_stop_kills_what_it_started() {
    let s = TestServer::start().await;
    let (owner, first) = s.owner().await;
    let script = "echo \"hello $AGENTRY_PARAM_GREETING x$AGENTRY_PARAM_COUNT\"\n\
                  echo to-stderr >&2\n\
                  sleep 300 &";
    let t = template(
        &owner,
        "default",
        "sleeper",
        script,
        vec![
            param("greeting", sdk::TemplateParameterType::String, Some("world"), false),
            param("count", sdk::TemplateParameterType::Number, None, true),
        ],
    )
    .await;
    let w = owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[("count", "3")])).await.unwrap();
    assert_eq!(w.organization_id, first.organization_id);
    assert_eq!(
        w.latest_build.parameters,
        vec![
            sdk::WorkspaceBuildParameter { name: "greeting".into(), value: "world".into() },
            sdk::WorkspaceBuildParameter { name: "count".into(), value: "3".into() },
        ]
    );

    // Following the log streams every line and ends when the build does.
    let mut lines = Vec::new();
    let stream = tokio::time::timeout(DEADLINE, async {
        let st = owner.follow_build_logs(w.latest_build.id, 0).await.unwrap();
        st.map(|l| l.unwrap()).collect::<Vec<_>>().await
    })
    .await
    .expect("the followed log did not end");
    lines.extend(stream);
    let script_lines: Vec<&str> =
        lines.iter().filter(|l| l.stream == sdk::LogStream::Script).map(|l| l.output.as_str()).collect();
    assert_eq!(script_lines, ["hello world x3", "to-stderr"]);
    assert!(lines.windows(2).all(|p| p[0].id < p[1].id));
    assert_eq!(owner.build_logs(w.latest_build.id, 0).await.unwrap(), lines);
    let tail = owner.build_logs(w.latest_build.id, lines[2].id).await.unwrap();
    assert_eq!(tail, lines[3..]);

    let running = owner.workspace(w.id).await.unwrap();
    assert_eq!(running.status, sdk::WorkspaceStatus::Running);
    assert_eq!(running.latest_build.job.status, sdk::ProvisionerJobStatus::Succeeded);
    let dir = s.data_dir.path().join("workspaces").join(w.id.to_string());
    let uid = dir_owner(&dir);
    assert_ne!(uid, 0, "the workspace belongs to its own user");
    assert_eq!(sleepers(uid), 1, "the startup script's background process should run");

    // The status filter and the other search keys are applied in SQL.
    let q = |q: &'static str| {
        let owner = owner.clone();
        async move { owner.workspaces(q).await.unwrap().workspaces.into_iter().map(|w| w.id).collect::<Vec<_>>() }
    };
    assert_eq!(q("owner:me status:running").await, vec![w.id]);
    assert_eq!(q("template:sleeper organization:default").await, vec![w.id]);
    assert_eq!(q("owner:owner name:w").await, vec![w.id]);
    assert!(q("status:stopped").await.is_empty());
    assert!(q("template:other").await.is_empty());
    let e = expect_status(owner.workspaces("colour:red").await, 400);
    assert_eq!(e.body().unwrap().validations[0].field, "q");

    let stop = owner.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    assert_eq!(stop.build_number, 2);
    assert_eq!(stop.parameters, w.latest_build.parameters);
    assert_eq!(finished(&owner, stop.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    eventually("the sleeper to be gone", || async { (sleepers(uid) == 0).then_some(()) }).await;
    assert_eq!(q("status:stopped").await, vec![w.id]);

    // Start again, then delete: the directory goes and the name is free again.
    let start = owner.create_build(w.id, sdk::WorkspaceTransition::Start).await.unwrap();
    finished(&owner, start.id).await;
    assert_eq!(sleepers(uid), 1);
    let del = owner.create_build(w.id, sdk::WorkspaceTransition::Delete).await.unwrap();
    assert_eq!(finished(&owner, del.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    assert!(!dir.exists());
    eventually("the second sleeper to be gone", || async { (sleepers(uid) == 0).then_some(()) }).await;
    assert_eq!(owner.workspace(w.id).await.unwrap().status, sdk::WorkspaceStatus::Deleted);
    assert!(q("").await.is_empty());
    assert_eq!(q("status:deleted").await, vec![w.id]);
    expect_status(owner.create_build(w.id, sdk::WorkspaceTransition::Start).await, 409);
    owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[("count", "1")])).await.unwrap();

    // Each step left an audit entry.
    let audit = owner.audit_logs(100, 0).await.unwrap().audit_logs;
    let kinds: Vec<(String, String)> = audit.iter().map(|a| (a.resource_type.clone(), a.action.clone())).collect();
    for want in [("template", "create"), ("workspace", "create"), ("workspace_build", "stop"), ("workspace_build", "delete")] {
        assert!(kinds.contains(&(want.0.into(), want.1.into())), "missing {want:?} in {kinds:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_input_and_nonsensical_transitions() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let t = template(
        &owner,
        "default",
        "typed",
        "true",
        vec![
            param("count", sdk::TemplateParameterType::Number, None, true),
            param("debug", sdk::TemplateParameterType::Bool, Some("false"), false),
        ],
    )
    .await;

    // Unknown template.
    expect_status(owner.create_workspace("default", "me", &new_workspace(Uuid::now_v7(), "ws", &[("count", "1")])).await, 404);
    expect_status(owner.template(Uuid::now_v7()).await, 404);
    // Missing required parameter, wrong types: 400 listing each field.
    let e = expect_status(owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[])).await, 400);
    let v = &e.body().unwrap().validations;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].field, "rich_parameter_values.count");
    assert_eq!(v[0].detail, "Parameter \"count\" is required.");
    let e = expect_status(
        owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[("count", "many"), ("debug", "maybe")])).await,
        400,
    );
    let fields: Vec<&str> = e.body().unwrap().validations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["rich_parameter_values.count", "rich_parameter_values.debug"]);
    let e = expect_status(owner.create_workspace("default", "me", &new_workspace(t.id, "bad name!", &[("count", "1")])).await, 400);
    assert_eq!(e.body().unwrap().validations[0].field, "name");
    // Bad template definitions.
    let bad = sdk::CreateTemplateRequest {
        name: "bad".into(),
        display_name: None,
        description: None,
        startup_script: None,
        parameters: Some(vec![param("n", sdk::TemplateParameterType::Number, Some("ten"), false)]),
        network: None,
        kind: None,
    };
    let e = expect_status(owner.create_template("default", &bad).await, 400);
    assert_eq!(e.body().unwrap().validations[0].field, "parameters[0].default");
    expect_status(owner.create_template("default", &sdk::CreateTemplateRequest { name: "typed".into(), parameters: None, ..bad }).await, 409);

    // Duplicate name for the same owner.
    let w = owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[("count", "1")])).await.unwrap();
    let e = expect_status(owner.create_workspace("default", "me", &new_workspace(t.id, "WS", &[("count", "2")])).await, 409);
    assert!(e.message().unwrap().contains("already exists"), "{e}");
    finished(&owner, w.latest_build.id).await;
    // Starting a running workspace.
    let e = expect_status(owner.create_build(w.id, sdk::WorkspaceTransition::Start).await, 409);
    assert!(e.is(&ClientError::WorkspaceAlreadyRunning), "{}", e);
    // A template in use cannot be deleted; a deprecated one cannot be used.
    expect_status(owner.delete_template(t.id).await, 409);
    let dep = owner
        .update_template(t.id, &sdk::UpdateTemplateRequest { deprecated: Some(true), ..Default::default() })
        .await
        .unwrap();
    assert!(dep.deprecated);
    expect_status(owner.create_workspace("default", "me", &new_workspace(t.id, "other", &[("count", "1")])).await, 400);

    // A build while another one runs.
    let slow = template(&owner, "default", "slow", "echo begun; sleep 300", vec![]).await;
    let w2 = owner.create_workspace("default", "me", &new_workspace(slow.id, "slow", &[])).await.unwrap();
    eventually("the slow build to run", || async {
        let b = owner.workspace_build(w2.latest_build.id).await.unwrap();
        (b.job.status == sdk::ProvisionerJobStatus::Running).then_some(())
    })
    .await;
    assert_eq!(owner.workspace(w2.id).await.unwrap().status, sdk::WorkspaceStatus::Starting);
    let e = expect_status(owner.create_build(w2.id, sdk::WorkspaceTransition::Stop).await, 409);
    assert!(e.message().unwrap().contains("still running"), "{e}");
    expect_status(owner.create_build(w2.id, sdk::WorkspaceTransition::Delete).await, 409);
    s.stop().await;
}

#[tokio::test]
async fn a_restart_leaves_no_build_stuck_in_running() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let slow = template(&owner, "default", "slow", "echo begun; sleep 300", vec![]).await;
    let quick = template(&owner, "default", "quick", "echo done", vec![]).await;

    // A build in flight when the server shuts down is failed by it.
    let w1 = owner.create_workspace("default", "me", &new_workspace(slow.id, "one", &[])).await.unwrap();
    eventually("the slow build to run", || async {
        let logs = owner.build_logs(w1.latest_build.id, 0).await.unwrap();
        logs.iter().any(|l| l.output == "begun").then_some(())
    })
    .await;
    // A build the previous process claimed and then died with: simulated in the database.
    let w2 = owner.create_workspace("default", "me", &new_workspace(quick.id, "two", &[])).await.unwrap();
    finished(&owner, w2.latest_build.id).await;
    let database_url = s.database_url.clone();
    s.stop().await;

    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&database_url).unwrap().connect().await.unwrap();
    sqlx::query("UPDATE workspace_builds SET status = 'running', completed_at = NULL WHERE id = $1")
        .bind(w2.latest_build.id)
        .execute(&mut conn)
        .await
        .unwrap();

    let s2 = TestServer::start_on(&database_url).await;
    let owner = s2.client.logged_in("owner@example.com", common::PASSWORD).await.unwrap();
    let b1 = owner.workspace_build(w1.latest_build.id).await.unwrap();
    assert_eq!(b1.job.status, sdk::ProvisionerJobStatus::Failed);
    assert_eq!(b1.job.error.as_deref(), Some("The server shut down while this build was running."));
    let b2 = owner.workspace_build(w2.latest_build.id).await.unwrap();
    assert_eq!(b2.job.status, sdk::ProvisionerJobStatus::Failed);
    assert_eq!(b2.job.error.as_deref(), Some("The server restarted while this build was running."));
    let stuck: i64 = sqlx::query_scalar("SELECT count(*) FROM workspace_builds WHERE status = 'running'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stuck, 0);
    assert_eq!(owner.workspace(w2.id).await.unwrap().status, sdk::WorkspaceStatus::Failed);

    // A failed workspace starts again on the new server, and its agent answers.
    let again = owner.create_build(w2.id, sdk::WorkspaceTransition::Start).await.unwrap();
    assert_eq!(finished(&owner, again.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    assert_eq!(owner.execute(w2.id, &exec("echo ok")).await.unwrap().output, "ok\n");
    s2.stop().await;
}

/// Runs the `agentry` binary as a CLI client of `s`, returning (stdout, stderr); panics on
/// failure.
async fn cli(s: &TestServer, token: &str, args: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_URL", &s.url)
        .env("AGENTRY_SESSION_TOKEN", token)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "agentry {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

#[tokio::test]
async fn the_cli_manages_templates_and_workspaces() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let token = owner.token().unwrap().to_string();
    let script = "echo cli-$AGENTRY_PARAM_WHO";
    let (out, _) = cli(&s, &token, &["templates", "create", "base", "--startup-script", script, "--param", "who:string=x", "-o", "json"]).await;
    let t: sdk::Template = serde_json::from_str(&out).unwrap();
    assert_eq!(t.parameters[0].default.as_deref(), Some("x"));
    let (out, _) = cli(&s, &token, &["templates", "list"]).await;
    assert!(out.starts_with("ID") && out.contains("base") && out.contains("who:string"), "{out}");
    let (out, _) = cli(&s, &token, &["templates", "edit", "base", "--description", "edited", "-o", "json"]).await;
    assert_eq!(serde_json::from_str::<sdk::Template>(&out).unwrap().description, "edited");

    let (out, err) = cli(&s, &token, &["workspaces", "create", "ws", "--template", "base", "--param", "who=cli", "-o", "json"]).await;
    let w: sdk::Workspace = serde_json::from_str(&out).unwrap();
    assert_eq!(w.status, sdk::WorkspaceStatus::Running);
    assert!(err.contains("cli-cli"), "{err}");
    let (out, _) = cli(&s, &token, &["workspaces", "list", "-o", "json"]).await;
    assert_eq!(serde_json::from_str::<Vec<sdk::Workspace>>(&out).unwrap().len(), 1);
    let (out, _) = cli(&s, &token, &["workspaces", "logs", "ws"]).await;
    assert!(out.lines().any(|l| l == "cli-cli"), "{out}");

    // A new script is a new template version; the workspace shows it is behind until updated.
    cli(&s, &token, &["templates", "edit", "base", "--startup-script", "echo cli-v2-$AGENTRY_PARAM_WHO"]).await;
    let (out, _) = cli(&s, &token, &["workspaces", "list"]).await;
    let (header, line) = (out.lines().next().unwrap(), out.lines().nth(1).unwrap());
    assert!(header.ends_with("OUTDATED  AGENT") && line.contains("  true  "), "{out}");
    // The agent's column: connected, with its version and replica.
    assert!(line.trim_end().contains(&format!("connected ({}, replica ", env!("CARGO_PKG_VERSION"))), "{out}");
    let (out, err) = cli(&s, &token, &["workspaces", "update", "ws", "-o", "json"]).await;
    let updated: sdk::Workspace = serde_json::from_str(&out).unwrap();
    assert_eq!((updated.status, updated.outdated), (sdk::WorkspaceStatus::Running, false));
    assert!(err.contains("cli-v2-cli"), "{err}");
    let (out, _) = cli(&s, &token, &["templates", "versions", "base", "-o", "json"]).await;
    let versions: Vec<sdk::TemplateVersion> = serde_json::from_str(&out).unwrap();
    assert_eq!(versions.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["v2", "v1"]);
    assert_eq!(versions[0].id, updated.template_version_id);
    let (out, _) = cli(&s, &token, &["templates", "create", "offline", "--network", "none", "-o", "json"]).await;
    assert_eq!(serde_json::from_str::<sdk::Template>(&out).unwrap().network, sdk::NetworkMode::None);
    let (out, _) = cli(&s, &token, &["workspaces", "stop", "ws", "-o", "json"]).await;
    assert_eq!(serde_json::from_str::<sdk::Workspace>(&out).unwrap().status, sdk::WorkspaceStatus::Stopped);
    let (out, _) = cli(&s, &token, &["workspaces", "delete", "owner/ws"]).await;
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(owner.workspace(w.id).await.unwrap().status, sdk::WorkspaceStatus::Deleted);
    s.stop().await;
}

/// Every line of a build's log, joined.
async fn log_text(c: &Client, build: Uuid) -> String {
    c.build_logs(build, 0).await.unwrap().into_iter().map(|l| l.output).collect::<Vec<_>>().join("\n")
}

fn update_to(version: Uuid) -> sdk::CreateWorkspaceBuildRequest {
    sdk::CreateWorkspaceBuildRequest {
        transition: sdk::WorkspaceTransition::Start,
        template_version_id: Some(version),
        rich_parameter_values: Vec::new(),
    }
}

/// Issue 10: an organization admin (no `ssh` on members' workspaces) edits the template's
/// script to print a member's secret and restarts the member's workspace. The restart runs the
/// version the workspace was built from; only the owner's explicit update runs the edit.
#[tokio::test]
async fn a_template_edit_does_not_run_in_a_members_workspace_until_its_owner_updates() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let (admin, _) = s.user(&owner, "admin-a", &[a.id]).await;
    owner.update_member_roles("org-a", "admin-a", &["organization-admin"]).await.unwrap();
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    let t = template(&admin, "org-a", "base", "echo pinned-script-ran", vec![]).await;
    let v1 = t.active_version_id;

    let w = alice.create_workspace("org-a", "me", &new_workspace(t.id, "mine", &[])).await.unwrap();
    assert_eq!((w.template_version_id, w.latest_build.template_version_id, w.outdated), (v1, v1, false));
    finished(&alice, w.latest_build.id).await;
    alice.execute(w.id, &exec("echo alice-secret-4711 > secret.txt")).await.unwrap();

    // The admin rewrites the script: a new active version; alice's workspace is now behind.
    let edited = admin
        .update_template(t.id, &sdk::UpdateTemplateRequest { startup_script: Some("cat secret.txt".into()), ..Default::default() })
        .await
        .unwrap();
    let v2 = edited.active_version_id;
    assert_ne!(v2, v1);
    let behind = alice.workspace(w.id).await.unwrap();
    assert_eq!((behind.template_version_id, behind.template_active_version_id, behind.outdated), (v1, v2, true));

    // Stop and start by the admin: the start runs version 1, the secret stays out of the log.
    let stop = admin.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    finished(&admin, stop.id).await;
    let start = admin.create_build(w.id, sdk::WorkspaceTransition::Start).await.unwrap();
    assert_eq!(start.template_version_id, v1);
    assert_eq!(finished(&admin, start.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    let log = log_text(&admin, start.id).await;
    assert!(log.contains("pinned-script-ran"), "{log}");
    assert!(!log.contains("alice-secret-4711"), "the edited script ran in alice's workspace:\n{log}");
    assert!(alice.workspace(w.id).await.unwrap().outdated);

    // Nor may the admin update it: that needs ssh.
    let stop = admin.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    finished(&admin, stop.id).await;
    let e = expect_status(admin.create_build_with(w.id, &update_to(v2)).await, 403);
    assert!(e.is(&ClientError::Forbidden), "{}", e);
    // Nor change the parameter values the script sees.
    let values = vec![sdk::WorkspaceBuildParameter { name: "path".into(), value: "x".into() }];
    let with_values = sdk::CreateWorkspaceBuildRequest { template_version_id: None, rich_parameter_values: values, ..update_to(v1) };
    expect_status(admin.create_build_with(w.id, &with_values).await, 403);
    // Naming the version the workspace already has is no update; the admin may start with it.
    let start = admin.create_build_with(w.id, &update_to(v1)).await.unwrap();
    assert_eq!(start.template_version_id, v1);
    finished(&admin, start.id).await;
    let stop = admin.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    finished(&admin, stop.id).await;

    // The owner's explicit update runs the new version and pins the workspace to it.
    let update = alice.create_build_with(w.id, &update_to(v2)).await.unwrap();
    assert_eq!(update.template_version_id, v2);
    assert_eq!(finished(&alice, update.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    assert!(log_text(&alice, update.id).await.contains("alice-secret-4711"));
    let current = alice.workspace(w.id).await.unwrap();
    assert_eq!((current.template_version_id, current.outdated), (v2, false));
    s.stop().await;
}

#[tokio::test]
async fn an_update_names_a_version_of_the_workspaces_own_template() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    let t = template(&owner, "org-a", "base", "echo region=$AGENTRY_PARAM_REGION", vec![
        param("region", sdk::TemplateParameterType::String, Some("eu"), false),
    ])
    .await;
    let other = template(&owner, "org-a", "other", "true", vec![]).await;
    let w = alice.create_workspace("org-a", "me", &new_workspace(t.id, "mine", &[("region", "us")])).await.unwrap();
    finished(&alice, w.latest_build.id).await;
    let stop = alice.create_build(w.id, sdk::WorkspaceTransition::Stop).await.unwrap();
    finished(&alice, stop.id).await;

    // Another template's version, or no version at all: 400 naming the field.
    for bad in [other.active_version_id, Uuid::now_v7()] {
        let e = expect_status(alice.create_build_with(w.id, &update_to(bad)).await, 400);
        assert!(e.is(&ClientError::TemplateVersionMismatch), "{}", e);
        assert_eq!(e.body().unwrap().validations[0].field, "template_version_id");
    }

    // The next version needs a new parameter: the update must give it; the old value carries.
    let mut defs = t.parameters.clone();
    defs.push(param("size", sdk::TemplateParameterType::Number, None, true));
    let v2 = owner
        .update_template(t.id, &sdk::UpdateTemplateRequest {
            startup_script: Some("echo region=$AGENTRY_PARAM_REGION size=$AGENTRY_PARAM_SIZE".into()),
            parameters: Some(defs),
            ..Default::default()
        })
        .await
        .unwrap()
        .active_version_id;
    // Only a start moves a workspace to another version.
    let e = expect_status(
        alice
            .create_build_with(w.id, &sdk::CreateWorkspaceBuildRequest { transition: sdk::WorkspaceTransition::Delete, ..update_to(v2) })
            .await,
        400,
    );
    assert_eq!(e.body().unwrap().validations[0].field, "template_version_id");
    let e = expect_status(alice.create_build_with(w.id, &update_to(v2)).await, 400);
    assert_eq!(e.body().unwrap().validations[0].field, "rich_parameter_values.size");
    let update = alice
        .create_build_with(w.id, &sdk::CreateWorkspaceBuildRequest {
            rich_parameter_values: vec![sdk::WorkspaceBuildParameter { name: "size".into(), value: "3".into() }],
            ..update_to(v2)
        })
        .await
        .unwrap();
    assert_eq!(finished(&alice, update.id).await.job.status, sdk::ProvisionerJobStatus::Succeeded);
    assert!(log_text(&alice, update.id).await.contains("region=us size=3"));
    // A member of another organization learns nothing.
    let b = s.org(&owner, "org-b").await;
    let (bob, _) = s.user(&owner, "bob", &[b.id]).await;
    expect_status(bob.create_build_with(w.id, &update_to(v2)).await, 404);
    s.stop().await;
}

#[tokio::test]
async fn only_content_edits_make_template_versions() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let a = s.org(&owner, "org-a").await;
    let (alice, _) = s.user(&owner, "alice", &[a.id]).await;
    let req = sdk::CreateTemplateRequest {
        name: "offline".into(),
        display_name: None,
        description: None,
        startup_script: Some("echo one".into()),
        parameters: None,
        network: Some(sdk::NetworkMode::None),
        kind: None,
    };
    let t = owner.create_template("org-a", &req).await.unwrap();
    assert_eq!(t.network, sdk::NetworkMode::None);
    let vs = alice.template_versions(t.id).await.unwrap();
    assert_eq!(vs.len(), 1);
    assert_eq!((vs[0].id, vs[0].name.as_str(), vs[0].network), (t.active_version_id, "v1", sdk::NetworkMode::None));
    assert_eq!(vs[0].startup_script, "echo one");
    // The default is full.
    assert_eq!(template(&owner, "org-a", "online", "true", vec![]).await.network, sdk::NetworkMode::Full);

    // Renaming, describing, deprecating, or "changing" the script to itself: no version.
    let same = owner
        .update_template(t.id, &sdk::UpdateTemplateRequest {
            name: Some("offline-2".into()),
            description: Some("no network".into()),
            startup_script: Some("echo one".into()),
            network: Some(sdk::NetworkMode::None),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((same.name.as_str(), same.active_version_id), ("offline-2", t.active_version_id));
    assert_eq!(alice.template_versions(t.id).await.unwrap().len(), 1);

    // The network, then the parameters: a version each, newest first.
    let v2 = owner
        .update_template(t.id, &sdk::UpdateTemplateRequest { network: Some(sdk::NetworkMode::Full), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(v2.network, sdk::NetworkMode::Full);
    let v3 = owner
        .update_template(t.id, &sdk::UpdateTemplateRequest {
            parameters: Some(vec![param("x", sdk::TemplateParameterType::Bool, Some("true"), false)]),
            ..Default::default()
        })
        .await
        .unwrap();
    let vs = alice.template_versions(t.id).await.unwrap();
    let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["v3", "v2", "v1"]);
    assert_eq!((vs[0].id, vs[1].id, vs[2].id), (v3.active_version_id, v2.active_version_id, t.active_version_id));
    assert_eq!((vs[2].network, vs[1].network, vs[2].startup_script.as_str()), (sdk::NetworkMode::None, sdk::NetworkMode::Full, "echo one"));
    assert_eq!(vs[0].parameters.len(), 1);
    assert!(vs[1].parameters.is_empty());

    // Network values other than full and none are refused, on create and on edit.
    let raw = |method: reqwest::Method, path: String, body: serde_json::Value| {
        let owner = owner.clone();
        async move { owner.send::<serde_json::Value>(owner.request(method, &path).json(&body)).await }
    };
    expect_status(
        raw(reqwest::Method::POST, "/api/v2/organizations/org-a/templates".into(), serde_json::json!({"name": "x", "network": "host"})).await,
        400,
    );
    expect_status(raw(reqwest::Method::PATCH, format!("/api/v2/templates/{}", t.id), serde_json::json!({"network": "open"})).await, 400);
    assert_eq!(owner.template_versions(t.id).await.unwrap().len(), 3);

    // Versions are read by those who read the template.
    let b = s.org(&owner, "org-b").await;
    let (bob, _) = s.user(&owner, "bob", &[b.id]).await;
    expect_status(bob.template_versions(t.id).await, 404);
    s.stop().await;
}

/// The startup script runs through the workspace's agent process inside the sandbox: a failing
/// script fails the build with its exit code and output, and leaves nothing running; the
/// parameters never replace the shell's own variables.
#[tokio::test]
async fn a_failing_startup_script_fails_the_build_and_leaves_no_agent() {
    let s = TestServer::start().await;
    let (owner, _) = s.owner().await;
    let script = "test \"$PATH\" != not-the-PATH && echo path-intact\nsleep 300 &\necho about to fail; exit 3";
    let t = template(&owner, "default", "failing", script, vec![param("path", sdk::TemplateParameterType::String, Some("not-the-PATH"), false)]).await;
    let w = owner.create_workspace("default", "me", &new_workspace(t.id, "ws", &[])).await.unwrap();
    let b = finished(&owner, w.latest_build.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Failed);
    assert_eq!(b.job.error.as_deref(), Some("the startup script exited with code 3"));
    let logs: Vec<String> = owner.build_logs(b.id, 0).await.unwrap().into_iter().map(|l| l.output).collect();
    assert!(logs.iter().any(|l| l == "path-intact") && logs.iter().any(|l| l == "about to fail"), "{logs:?}");
    let uid = dir_owner(&s.data_dir.path().join("workspaces").join(w.id.to_string()));
    eventually("the script's background process to be gone", || async { (sleepers(uid) == 0).then_some(()) }).await;
    let agent = owner.workspace(w.id).await.unwrap().agent.unwrap();
    assert_eq!(agent.status, "disconnected", "{agent:?}");
    expect_status(owner.execute(w.id, &exec("true")).await, 409);
    s.stop().await;
}
