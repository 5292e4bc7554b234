//! `agentry server` with no database flag: it starts its own PostgreSQL in the data directory,
//! keeps the data across restarts and stops the database when it exits.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use agentry_client::Client;
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
    common::first_owner(&url).await;
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

/// The attack this closes: a process on the machine (a workspace command, say) connecting to
/// the embedded database's socket as its superuser and granting itself the site owner role.
/// Without the password in the 0600 file it is turned away, and the password is in neither
/// the server's nor the postmaster's command line or environment, where such a process could
/// read it from `/proc`.
#[tokio::test]
async fn the_embedded_database_refuses_a_local_connection_without_the_password() {
    use sqlx::Connection;
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let (child, url) = start_server(&data);
    Client::new(&url).unwrap().has_first_user().await.unwrap();

    let file = data.join("postgres/password");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim_end().to_owned();
    assert!(!password.is_empty());

    let as_superuser = |password: Option<&str>| {
        let opts = sqlx::postgres::PgConnectOptions::new_without_pgpass()
            .socket(data.join("postgres/run"))
            .port(5432)
            .username("agentry")
            .database("agentry");
        match password {
            Some(p) => opts.password(p),
            None => opts,
        }
    };
    for attempt in [None, Some("guess")] {
        match sqlx::PgConnection::connect_with(&as_superuser(attempt)).await {
            Err(sqlx::Error::Database(e)) => assert_eq!(e.code().as_deref(), Some("28P01"), "{e}"),
            Err(other) => panic!("{attempt:?}: expected an authentication failure, got {other}"),
            Ok(_) => panic!("{attempt:?}: the embedded database took a connection without the password"),
        }
    }
    sqlx::PgConnection::connect_with(&as_superuser(Some(&password)))
        .await
        .expect("the file's password is the database's")
        .close()
        .await
        .unwrap();

    let postmaster = std::fs::read_to_string(data.join("postgres/data/postmaster.pid")).unwrap();
    let postmaster = postmaster.lines().next().unwrap().trim().to_owned();
    for pid in [child.pid().to_string(), postmaster] {
        for part in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{part}")).unwrap();
            assert!(!bytes.is_empty(), "/proc/{pid}/{part} is readable");
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&password),
                "/proc/{pid}/{part} holds the database password"
            );
        }
    }
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
