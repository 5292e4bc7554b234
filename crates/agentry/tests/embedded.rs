//! `agentry server` with no database flag: it starts its own PostgreSQL in the data directory,
//! keeps the data across restarts and stops the database when it exits.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use common::{PASSWORD, ServerProcess};

fn start_server(data_dir: &Path) -> (ServerProcess, String) {
    common::spawn_agentry(None, data_dir)
}

fn stop_server(child: ServerProcess) {
    common::stop_server_process(child)
}

fn postmaster_running(data_dir: &Path) -> bool {
    data_dir.join("postgres/data/postmaster.pid").exists()
}

#[tokio::test]
async fn embedded_database_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // As root the database runs as the `postgres` user, which must reach the data directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");

    let (child, url) = start_server(&data);
    let client = Client::new(&url).unwrap();
    client
        .create_first_user(&sdk::CreateFirstUserRequest {
            email: "owner@example.com".into(),
            username: "owner".into(),
            password: PASSWORD.into(),
            name: None,
        })
        .await
        .unwrap();
    client.logged_in("owner@example.com", PASSWORD).await.unwrap();
    assert!(postmaster_running(&data));
    stop_server(child);
    assert!(!postmaster_running(&data), "the embedded database outlived the server");

    let (child, url) = start_server(&data);
    let client = Client::new(&url).unwrap();
    assert!(client.has_first_user().await.unwrap());
    let owner = client.logged_in("owner@example.com", PASSWORD).await.unwrap();
    assert_eq!(owner.me().await.unwrap().username, "owner");
    stop_server(child);
}

#[test]
fn missing_postgres_binaries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(["server", "--http-address", "127.0.0.1:0", "--postgres-bin-dir", "/nonexistent", "--data-dir"])
        .arg(dir.path())
        .env_remove("AGENTRY_POSTGRES_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgresql"), "{err}");
}
