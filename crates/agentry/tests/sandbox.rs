//! The workspace sandbox, tried as an attacker would: the real `agentry` binary in its default
//! embedded mode (run as root, as in most containers), a plain member of an organization and
//! `POST /workspaces/{id}/execute`. Every check here is a step of an attack that worked before
//! workspaces were sandboxed: reading the server's environment, its data directory or database,
//! another organization's workspace, or being root on the host.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use common::{PASSWORD, expect_status};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);
const CANARY_KEY: &str = "sk-canary-4f1d7a0c-never-in-a-workspace";
const CANARY_SETTING: &str = "canary-setting-9b2e";

async fn finished(c: &Client, build: Uuid) -> sdk::WorkspaceBuild {
    tokio::time::timeout(DEADLINE, c.wait_for_build(build, |_| {})).await.expect("build did not finish").unwrap()
}

fn exec(command: &str) -> sdk::WorkspaceExecuteRequest {
    sdk::WorkspaceExecuteRequest { command: command.into(), workdir: None, timeout_ms: Some(30_000), run_in_background: false }
}

async fn run(c: &Client, ws: Uuid, command: &str) -> (Option<i32>, String) {
    let r = c.execute(ws, &exec(command)).await.unwrap();
    (r.exit_code, r.output)
}


async fn member(owner: &Client, url: &str, name: &str, org: Uuid) -> Client {
    let email = format!("{name}@example.com");
    owner
        .create_user(&sdk::CreateUserRequest {
            email: email.clone(),
            username: name.into(),
            password: PASSWORD.into(),
            name: None,
            organization_ids: Some(vec![org]),
        })
        .await
        .unwrap();
    Client::new(url).unwrap().logged_in(&email, PASSWORD).await.unwrap()
}

async fn workspace(owner: &Client, user: &Client, org: &sdk::Organization, name: &str) -> sdk::Workspace {
    workspace_with(owner, user, org, name, sdk::NetworkMode::Full).await
}

async fn workspace_with(
    owner: &Client,
    user: &Client,
    org: &sdk::Organization,
    name: &str,
    network: sdk::NetworkMode,
) -> sdk::Workspace {
    let t = owner
        .create_template(&org.id.to_string(), &sdk::CreateTemplateRequest {
            name: format!("{name}-tpl"),
            display_name: None,
            description: None,
            startup_script: Some("echo started".into()),
            parameters: None,
            network: Some(network),
            kind: None,
        })
        .await
        .unwrap();
    let req = sdk::CreateWorkspaceRequest { template_id: t.id, name: name.into(), rich_parameter_values: vec![] };
    let w = user.create_workspace(&org.id.to_string(), "me", &req).await.unwrap();
    let b = finished(user, w.latest_build.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", b.job.error);
    w
}

#[tokio::test]
async fn a_plain_member_cannot_reach_the_server_its_database_or_another_workspace() {
    let dir = tempfile::tempdir().unwrap();
    // As root the embedded database runs as `postgres`, which must reach the data directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let (_server, url) = common::spawn_agentry_env(
        None,
        &data,
        &[],
        &[("OPENAI_API_KEY", CANARY_KEY), ("AGENTRY_CANARY_SETTING", CANARY_SETTING)],
    );
    let owner = common::first_owner(&url).await;
    assert_eq!(owner.buildinfo().await.unwrap().workspace_isolation, "sandbox");
    let a = owner.create_organization(&sdk::CreateOrganizationRequest { name: "org-a".into(), display_name: None, description: None }).await.unwrap();
    let b = owner.create_organization(&sdk::CreateOrganizationRequest { name: "org-b".into(), display_name: None, description: None }).await.unwrap();
    // Plain members: no agents-access, no admin role.
    let alice = member(&owner, &url, "alice", a.id).await;
    let bob = member(&owner, &url, "bob", b.id).await;
    let wa = workspace(&owner, &alice, &a, "alice-ws").await;
    let wb = workspace(&owner, &bob, &b, "bob-ws").await;
    let (code, _) = run(&bob, wb.id, "echo bobs-secret > secret.txt").await;
    assert_eq!(code, Some(0));
    let workspaces = data.join("workspaces");
    let bob_secret = workspaces.join(wb.id.to_string()).join("secret.txt");

    // Not the server's identity: not root, not the server's uid.
    let (_, out) = run(&alice, wa.id, "id -u").await;
    let uid: u32 = out.trim().parse().unwrap();
    assert_ne!(uid, 0);
    assert_ne!(uid, std::fs::metadata("/proc/self").unwrap().uid());

    // Not the server's environment.
    let (_, env) = run(&alice, wa.id, "env").await;
    assert!(!env.contains(CANARY_KEY) && !env.contains(CANARY_SETTING), "{env}");
    assert!(!env.lines().any(|l| l.starts_with("AGENTRY_") || l.starts_with("OPENAI")), "{env}");

    // Not the server's files, its database or its processes.
    for path in [data.display().to_string(), data.join("postgres").display().to_string(), "/root".into()] {
        let (code, out) = run(&alice, wa.id, &format!("ls {path}")).await;
        assert_ne!(code, Some(0), "ls {path}: {out}");
    }
    let socket_dir = data.join("postgres/run");
    assert!(socket_dir.exists(), "the embedded database's socket directory moved; update this test");
    let (code, out) =
        run(&alice, wa.id, &format!("psql -h {} -U postgres -c 'select 1' postgres", socket_dir.display())).await;
    assert_ne!(code, Some(0), "psql reached the embedded database: {out}");
    assert!(!out.contains("not found"), "psql itself must run for this check to mean anything: {out}");
    let (_, out) = run(&alice, wa.id, "cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '").await;
    assert!(!out.contains("postgres") && !out.contains("agentry server") && !out.contains("--data-dir"), "{out}");

    // Not another organization's workspace: by absolute path, by `..`, by a planted link.
    let attempts = format!(
        "cat {s}; cat ../{id}/secret.txt; ln -s {s} stolen; cat stolen; echo x >> {s}",
        s = bob_secret.display(),
        id = wb.id
    );
    let (_, out) = run(&alice, wa.id, &attempts).await;
    assert!(!out.contains("bobs-secret"), "{out}");
    assert_eq!(std::fs::read_to_string(&bob_secret).unwrap(), "bobs-secret\n");

    // On the host, each workspace's files belong to its own uid, and its directory is closed.
    let (code, _) = run(&alice, wa.id, "echo mine > mine.txt").await;
    assert_eq!(code, Some(0));
    let alice_dir = workspaces.join(wa.id.to_string());
    assert_eq!(std::fs::metadata(alice_dir.join("mine.txt")).unwrap().uid(), uid);
    let meta = std::fs::metadata(&alice_dir).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (uid, 0o700));
    let bob_uid = std::fs::metadata(workspaces.join(wb.id.to_string())).unwrap().uid();
    assert_ne!(bob_uid, uid, "two workspaces share a uid");
    assert_eq!(std::fs::metadata(&bob_secret).unwrap().uid(), bob_uid);

    // With the full network a workspace reaches the server's HTTP port like any client (and
    // still needs a token there); with `network: "none"` it reaches nothing.
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let probe = format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}' && echo reached");
    let (_, out) = run(&alice, wa.id, &probe).await;
    assert!(out.contains("reached"), "{out}");
    let offline = workspace_with(&owner, &alice, &a, "offline", sdk::NetworkMode::None).await;
    let (code, out) = run(&alice, offline.id, &probe).await;
    assert!(code != Some(0) && !out.contains("reached"), "{out}");
}

/// A PATH on which there is no `bwrap`, but everything else the server runs.
fn path_without_bwrap(scratch: &Path) -> String {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // The server itself needs nothing from PATH for an external database; keep a shell only.
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    bin.display().to_string()
}

#[tokio::test]
async fn without_bwrap_nothing_runs_unless_the_operator_says_so() {
    let db = common::fresh_database().await;
    let scratch = tempfile::tempdir().unwrap();
    let path = path_without_bwrap(scratch.path());
    let data = scratch.path().join("data");
    let (server, url) = common::spawn_agentry_env(Some(&db), &data, &[], &[("PATH", &path)]);
    let owner = common::first_owner(&url).await;
    assert_eq!(owner.buildinfo().await.unwrap().workspace_isolation, "unavailable");
    let org = owner.organization("default").await.unwrap();
    let t = owner
        .create_template("default", &sdk::CreateTemplateRequest {
            name: "base".into(),
            display_name: None,
            description: None,
            startup_script: Some("touch ran.txt".into()),
            parameters: None,
            network: None,
            kind: None,
        })
        .await
        .unwrap();
    let req = sdk::CreateWorkspaceRequest { template_id: t.id, name: "ws".into(), rich_parameter_values: vec![] };
    let e = expect_status(owner.create_workspace(&org.id.to_string(), "me", &req).await, 503);
    let msg = e.message().unwrap();
    assert!(msg.contains("bwrap") && msg.contains("apt-get install bubblewrap"), "{msg}");
    assert!(owner.workspaces("").await.unwrap().workspaces.is_empty(), "nothing was created");
    assert!(!data.join("workspaces").exists() || std::fs::read_dir(data.join("workspaces")).unwrap().next().is_none());
    common::stop_server_process(server);

    // The operator's explicit opt-out runs workspaces on the host, and says so.
    let (_server, url) =
        common::spawn_agentry_env(Some(&db), &data, &["--unsafe-unsandboxed-workspaces"], &[("PATH", &path)]);
    let owner = Client::new(&url).unwrap().logged_in("owner@example.com", PASSWORD).await.unwrap();
    assert_eq!(owner.buildinfo().await.unwrap().workspace_isolation, "unsandboxed");
    let w = owner.create_workspace(&org.id.to_string(), "me", &req).await.unwrap();
    let b = finished(&owner, w.latest_build.id).await;
    assert_eq!(b.job.status, sdk::ProvisionerJobStatus::Succeeded, "{:?}", b.job.error);
    let logs = owner.build_logs(b.id, 0).await.unwrap();
    assert!(logs.iter().any(|l| l.output.contains("without a sandbox")), "{logs:?}");
}
