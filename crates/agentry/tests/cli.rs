//! The CLI against a real server: login (creating the first user), users, orgs and members,
//! in table and JSON output.

mod common;

use agentry_sdk::ClientError;

use std::path::Path;
use std::process::Command;

use agentry_client::agentry_sdk as sdk;
use common::{PASSWORD, TestServer};

fn agentry(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env("AGENTRY_CONFIG_DIR", config)
        .env_remove("AGENTRY_URL")
        .env_remove("AGENTRY_SESSION_TOKEN")
        .output()
        .expect("run agentry");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(config: &Path, args: &[&str]) -> String {
    let (success, stdout, stderr) = agentry(config, args);
    assert!(success, "agentry {args:?} failed: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_manages_users_orgs_and_members() {
    let s = TestServer::start().await;
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();

    let (success, _, stderr) = agentry(cfg, &["orgs", "list"]);
    assert!(!success && stderr.contains("not logged in"), "{stderr}");

    ok(cfg, &["login", &s.url, "--email", "owner@example.com", "--password", PASSWORD, "--username", "owner"]);
    let session = std::fs::read_to_string(cfg.join("session.json")).unwrap();
    assert!(session.contains(&s.url));

    let org: sdk::Organization = serde_json::from_str(&ok(cfg, &["orgs", "create", "team", "--output", "json"])).unwrap();
    assert_eq!(org.name, "team");
    let table = ok(cfg, &["orgs", "list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.lines().any(|l| l.contains("team")) && table.lines().any(|l| l.contains("default")), "{table}");

    let user: sdk::User = serde_json::from_str(&ok(
        cfg,
        &["users", "create", "--email", "bob@example.com", "--username", "bob", "--password", PASSWORD, "--org", "team", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(user.organization_ids, vec![org.id]);
    assert!(ok(cfg, &["users", "list"]).lines().any(|l| l.contains("bob@example.com")));
    // The server answers Coder's `{users, count}`; the CLI pages through it and prints the users.
    let found: Vec<sdk::User> =
        serde_json::from_str(&ok(cfg, &["users", "list", "--search", "BOB", "-o", "json"])).unwrap();
    assert_eq!(found.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["bob"]);
    let (success, _, stderr) = agentry(cfg, &["users", "list", "--search", "color:blue"]);
    assert!(!success && stderr.contains(&ClientError::InvalidUserQuery.message()), "{stderr}");

    ok(cfg, &["members", "add", "bob"]);
    let member: sdk::OrganizationMember =
        serde_json::from_str(&ok(cfg, &["members", "roles", "bob", "agents-access", "--org", "team", "-o", "json"])).unwrap();
    assert_eq!(member.roles[0].name, "agents-access");
    let members: Vec<sdk::OrganizationMember> =
        serde_json::from_str(&ok(cfg, &["members", "list", "--org", "team", "-o", "json"])).unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(names, vec!["bob", "owner"]);
    ok(cfg, &["members", "remove", "bob", "--org", "team"]);

    // A second user's session: refused actions exit non-zero with the server's message.
    let bob_cfg = tempfile::tempdir().unwrap();
    ok(bob_cfg.path(), &["login", &s.url, "--email", "bob@example.com", "--password", PASSWORD]);
    let (success, _, stderr) = agentry(bob_cfg.path(), &["orgs", "create", "mine"]);
    assert!(!success && stderr.contains("403") && stderr.contains(&ClientError::Forbidden.message()), "{stderr}");

    ok(cfg, &["logout"]);
    assert!(!cfg.join("session.json").exists());
    s.stop().await;
}
