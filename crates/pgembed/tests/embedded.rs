//! Real `initdb`/`postgres` processes from the machine's PostgreSQL installation.
//!
//! When the tests run as root (as in CI containers) the database runs as the `postgres` system
//! user, so that is the path exercised there; the temporary data directories are made 0755 so
//! that user can reach them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use agentry_pgembed::{EmbeddedPostgres, Options, PgEmbedError};
use sqlx::{Connection, PgConnection};

fn data_dir(mode: u32) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pgembed-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempdir()
        .expect("create a temporary data directory")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

async fn connect(pg: &EmbeddedPostgres) -> PgConnection {
    PgConnection::connect_with(&pg.connect_options())
        .await
        .expect("connect over the socket")
}

async fn notes(pg: &EmbeddedPostgres) -> Vec<String> {
    let mut conn = connect(pg).await;
    let rows = sqlx::query_scalar("SELECT body FROM notes ORDER BY id")
        .fetch_all(&mut conn)
        .await;
    conn.close().await.expect("close");
    rows.expect("select from notes")
}

async fn create_note(pg: &EmbeddedPostgres, body: &str) {
    let mut conn = connect(pg).await;
    sqlx::query("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)")
        .execute(&mut conn)
        .await
        .expect("create table");
    sqlx::query("INSERT INTO notes (body) VALUES ($1)")
        .bind(body)
        .execute(&mut conn)
        .await
        .expect("insert");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn data_persists_across_restarts() {
    let dir = data_dir(0o755);
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("first start");

    let mut conn = connect(&pg).await;
    let (user, db, listen): (String, String, String) = sqlx::query_as(
        "SELECT current_user::text, current_database()::text, current_setting('listen_addresses')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("whoami");
    conn.close().await.expect("close");
    assert_eq!((user.as_str(), db.as_str()), ("agentry", "agentry"));
    assert_eq!(listen, "", "no TCP listener");

    // The socket directory is private to the account that runs the database.
    let socket_meta = std::fs::metadata(pg.socket_dir()).expect("socket dir");
    assert_eq!(socket_meta.mode() & 0o777, 0o700);
    if is_root() {
        let cluster_meta = std::fs::metadata(pg.cluster_dir()).expect("cluster dir");
        assert_ne!(
            cluster_meta.uid(),
            0,
            "as root, the cluster belongs to the run-as user"
        );
        assert_eq!(socket_meta.uid(), cluster_meta.uid());
    }

    create_note(&pg, "before restart").await;
    let initialized = std::fs::metadata(pg.cluster_dir().join("PG_VERSION"))
        .and_then(|m| m.modified())
        .expect("PG_VERSION");
    pg.stop().await.expect("stop");
    assert!(
        !pg_socket_exists(&dir.path().join("postgres/run")),
        "a stopped server removes its socket"
    );

    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("second start");
    let again = std::fs::metadata(pg.cluster_dir().join("PG_VERSION"))
        .and_then(|m| m.modified())
        .expect("PG_VERSION");
    assert_eq!(
        initialized, again,
        "the second start reuses the cluster instead of running initdb"
    );
    assert_eq!(notes(&pg).await, ["before restart"]);
    pg.stop().await.expect("stop again");
}

fn pg_socket_exists(run_dir: &Path) -> bool {
    run_dir.join(".s.PGSQL.5432").exists()
}

#[tokio::test]
async fn recovers_after_the_postmaster_is_killed() {
    let dir = data_dir(0o755);
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("first start");
    create_note(&pg, "committed before the crash").await;

    // SAFETY: kill has no memory-safety preconditions; the pid is the handle's live child.
    assert_eq!(
        unsafe { libc::kill(pg.pid() as libc::pid_t, libc::SIGKILL) },
        0
    );
    drop(pg);
    assert!(
        dir.path().join("postgres/data/postmaster.pid").exists(),
        "a killed postmaster leaves its lock file behind"
    );

    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("start after SIGKILL");
    assert_eq!(notes(&pg).await, ["committed before the crash"]);
    create_note(&pg, "after recovery").await;
    assert_eq!(
        notes(&pg).await,
        ["committed before the crash", "after recovery"]
    );
    pg.stop().await.expect("stop");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = data_dir(0o755);
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("start");
    let err = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect_err("second start");
    assert!(matches!(err, PgEmbedError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    pg.stop().await.expect("stop");
}

#[tokio::test]
async fn missing_binaries_name_the_package_and_touch_nothing() {
    let dir = data_dir(0o755);
    let opts = Options {
        bin_dir: Some("/nonexistent/postgresql/bin".into()),
        ..Options::new(dir.path())
    };
    let err = EmbeddedPostgres::start(opts)
        .await
        .expect_err("bogus bin dir");
    assert!(
        matches!(err, PgEmbedError::BinariesNotFound { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("initdb, postgres"), "{message}");
    assert!(message.contains("/nonexistent/postgresql/bin"), "{message}");
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("--postgres-bin-dir"), "{message}");
    assert!(
        !dir.path().join("postgres").exists(),
        "nothing is created without binaries"
    );
}

#[tokio::test]
async fn as_root_an_unknown_run_as_user_is_named() {
    if !is_root() {
        return;
    }
    let dir = data_dir(0o755);
    let opts = Options {
        run_as: Some("agentry-no-such-user".into()),
        ..Options::new(dir.path())
    };
    let err = EmbeddedPostgres::start(opts)
        .await
        .expect_err("unknown user");
    assert!(matches!(err, PgEmbedError::UserNotFound { .. }), "{err}");
    assert!(err.to_string().contains("`agentry-no-such-user`"), "{err}");
}

#[tokio::test]
async fn as_root_an_unreachable_data_dir_is_named() {
    if !is_root() {
        return;
    }
    let dir = data_dir(0o700);
    let err = EmbeddedPostgres::start(Options::new(dir.path().join("server")))
        .await
        .expect_err("0700 root-owned parent");
    match &err {
        PgEmbedError::NotTraversable { path, user } => {
            assert_eq!(path, &std::fs::canonicalize(dir.path()).expect("canonical"));
            assert_eq!(user, "postgres");
        }
        other => panic!("expected NotTraversable, got {other}"),
    }
}

/// The postmaster must not outlive agentry even when agentry dies without running any cleanup
/// (SIGKILL, abort). Here the handle is leaked, so neither `stop` nor `Drop` runs, and the
/// thread that started the database exits; the kernel's parent-death signal must stop it.
#[cfg(target_os = "linux")]
#[test]
fn the_postmaster_stops_when_its_parent_thread_dies() {
    let dir = data_dir(0o755);
    let path = dir.path().to_path_buf();
    let pid = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let pg = runtime
            .block_on(EmbeddedPostgres::start(Options::new(&path)))
            .expect("start");
        let pid = pg.pid();
        std::mem::forget(pg);
        pid
    })
    .join()
    .expect("starter thread");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // A stopped, unreaped child is a zombie ('Z'); the handle that would reap it was leaked.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z')) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "postmaster {pid} still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: pid is our own exited child; reaping it releases the zombie.
    unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    assert!(
        !pg_socket_exists(&dir.path().join("postgres/run")),
        "it shut down cleanly"
    );
}

/// As root, agentry chowns and opens files inside `<data dir>/postgres`, a directory the
/// database account owns. A symlink that account plants there (here: the log pointing at a
/// root-owned file, the socket directory pointing at a root-owned directory) must make the
/// start fail, not hand the target to that account.
#[tokio::test]
async fn as_root_symlinks_planted_by_the_database_account_are_not_followed() {
    if !is_root() {
        return;
    }
    let dir = data_dir(0o755);
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("first start");
    pg.stop().await.expect("stop");
    let root = dir.path().join("postgres");
    let outside = data_dir(0o755);

    let precious = outside.path().join("precious");
    std::fs::write(&precious, "root's\n").unwrap();
    let log = root.join("postgres.log");
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&precious, &log).unwrap();
    let err = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect_err("a symlinked log");
    assert!(err.to_string().contains("postgres.log"), "{err}");
    let meta = std::fs::metadata(&precious).unwrap();
    assert_eq!((meta.uid(), meta.len()), (0, 7), "the target is untouched");
    std::fs::remove_file(&log).unwrap();

    let run = root.join("run");
    std::fs::remove_dir(&run).unwrap();
    std::os::unix::fs::symlink(outside.path(), &run).unwrap();
    let err = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect_err("a symlinked socket directory");
    assert!(err.to_string().contains("run"), "{err}");
    assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    assert_eq!(
        std::fs::metadata(outside.path()).unwrap().mode() & 0o777,
        0o755
    );
}
