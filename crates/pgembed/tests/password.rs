//! The database admits no connection without the password in `<data dir>/postgres/password`:
//! not on a fresh cluster, not on one an older agentry initialised with `trust`, and the
//! password reaches no child process's command line or environment.
//!
//! Real `initdb`/`postgres` from the machine's installation, as in `embedded.rs`; as root the
//! database runs as the `postgres` system user.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agentry_pgembed::{EmbeddedPostgres, Options, PgEmbedError};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

const NOTE: &str = "written while the cluster trusted every local connection";

fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pgembed-")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .expect("create a temporary data directory")
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The uid and gid the database runs as: `postgres` as root, ourselves otherwise.
fn db_account() -> (u32, u32) {
    if euid() != 0 {
        // SAFETY: getegid has no preconditions.
        return (euid(), unsafe { libc::getegid() });
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: the test reads the entry right away; nothing else in this process calls getpw*.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "the postgres system user exists");
    // SAFETY: checked non-null above.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// The highest `/usr/lib/postgresql/<major>/bin`, where the crate finds its binaries too.
fn installed_bin_dir() -> PathBuf {
    let mut dirs: Vec<(u64, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed")
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    dirs.sort();
    dirs.pop().expect("a PostgreSQL major version").1
}

/// What anyone who can reach the socket would try: the bootstrap superuser, any password.
fn over_the_socket(socket_dir: &Path, password: Option<&str>) -> PgConnectOptions {
    let opts = PgConnectOptions::new_without_pgpass()
        .socket(socket_dir)
        .port(5432)
        .username("agentry")
        .database("postgres")
        .ssl_mode(PgSslMode::Disable);
    match password {
        Some(p) => opts.password(p),
        None => opts,
    }
}

#[track_caller]
fn assert_refused(result: Result<PgConnection, sqlx::Error>, what: &str) {
    match result {
        Ok(_) => panic!("{what}: the connection was accepted"),
        Err(sqlx::Error::Database(e)) => {
            assert_eq!(e.code().as_deref(), Some("28P01"), "{what}: {e}");
        }
        Err(other) => panic!("{what}: expected an authentication failure, got {other}"),
    }
}

fn password_in(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("read the password file");
    text.trim_end().to_owned()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `<data_dir>/postgres` the way agentry did before database passwords: `initdb -A trust`
/// with the same flags, as the database account, then a table with one row in the `postgres`
/// database (written in single-user mode, so no server or socket is involved). Statement
/// logging is turned on, so a password in a statement would land in `postgres.log`.
fn trust_cluster(data_dir: &Path) {
    let (uid, gid) = db_account();
    let root = data_dir.join("postgres");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let cluster = root.join("data");
    let bin = installed_bin_dir();
    let as_db = |program: &str| {
        let mut cmd = Command::new(bin.join(program));
        cmd.env_clear()
            .env("LC_ALL", "C")
            .current_dir(&root)
            .uid(uid)
            .gid(gid);
        cmd
    };
    run(
        as_db("initdb").arg("-D").arg(&cluster).args([
            "-U",
            "agentry",
            "-E",
            "UTF8",
            "--no-locale",
            "-A",
            "trust",
            "-N",
        ]),
        "initdb -A trust",
    );
    let hba = std::fs::read_to_string(cluster.join("pg_hba.conf")).unwrap();
    assert!(has_trust_line(&hba), "the old way trusted: {hba}");

    let conf = cluster.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\nlog_statement = 'all'\n");
    std::fs::write(&conf, text).unwrap();

    let mut single = as_db("postgres")
        .arg("--single")
        .arg("-D")
        .arg(&cluster)
        .arg("postgres")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("postgres --single");
    {
        use std::io::Write;
        let mut stdin = single.stdin.take().unwrap();
        writeln!(stdin, "CREATE TABLE notes (body text NOT NULL)").unwrap();
        writeln!(stdin, "INSERT INTO notes VALUES ('{NOTE}')").unwrap();
    }
    let out = single.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "single-user mode: {stderr}"
    );
}

fn has_trust_line(hba: &str) -> bool {
    hba.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .any(|l| l.split_whitespace().any(|token| token == "trust"))
}

async fn notes(pg: &EmbeddedPostgres) -> Vec<String> {
    let mut conn = PgConnection::connect_with(&pg.connect_options().database("postgres"))
        .await
        .expect("connect with the password");
    let rows = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&mut conn)
        .await
        .expect("select from notes");
    conn.close().await.expect("close");
    rows
}

/// Every rule the server has loaded, as (type, auth method).
async fn loaded_rules(pg: &EmbeddedPostgres) -> Vec<(String, String)> {
    let mut conn = PgConnection::connect_with(&pg.connect_options())
        .await
        .expect("connect with the password");
    let rules =
        sqlx::query_as("SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL")
            .fetch_all(&mut conn)
            .await
            .expect("pg_hba_file_rules");
    conn.close().await.expect("close");
    rules
}

#[tokio::test]
async fn a_fresh_cluster_admits_only_the_password_in_its_file() {
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("start");

    let file = pg.password_file().to_path_buf();
    assert_eq!(file, pg.cluster_dir().parent().unwrap().join("password"));
    let meta = std::fs::metadata(&file).expect("the password file exists");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), euid(), "owned by the account that runs agentry");
    let password = password_in(&file);
    assert_eq!(password.len(), 64, "256 random bits in hex");
    assert!(
        !dir.path().join("postgres/initdb.pwfile").exists(),
        "initdb's copy of the password is gone"
    );

    let socket = pg.socket_dir();
    assert_refused(
        PgConnection::connect_with(&over_the_socket(socket, None)).await,
        "no password",
    );
    assert_refused(
        PgConnection::connect_with(&over_the_socket(socket, Some("wrong"))).await,
        "a wrong password",
    );
    // The attack this closes: psql from a local shell, as the OS user that owns the socket
    // (or root), with no password to give.
    let psql = Command::new(pg.bin_dir().join("psql"))
        .args(["-w", "-h"])
        .arg(socket)
        .args(["-U", "agentry", "-d", "agentry", "-c", "SELECT 1"])
        .env_clear()
        .output()
        .expect("psql");
    assert!(!psql.status.success(), "psql without a password got in");
    let stderr = String::from_utf8_lossy(&psql.stderr);
    assert!(stderr.contains("password"), "{stderr}");

    let mut conn = PgConnection::connect_with(&over_the_socket(socket, Some(&password)))
        .await
        .expect("the file's password is accepted");
    let (stored, encryption): (String, String) = sqlx::query_as(
        "SELECT rolpassword, current_setting('password_encryption') FROM pg_authid \
         WHERE rolname = 'agentry'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the role's password");
    assert!(stored.starts_with("SCRAM-SHA-256$"), "{stored}");
    assert_eq!(encryption, "scram-sha-256");
    conn.close().await.expect("close");

    let rules = loaded_rules(&pg).await;
    assert!(rules.iter().any(|(kind, _)| kind == "local"), "{rules:?}");
    assert!(rules.iter().any(|(kind, _)| kind == "host"), "{rules:?}");
    assert!(
        rules.iter().all(|(_, method)| method == "scram-sha-256"),
        "{rules:?}"
    );
    pg.stop().await.expect("stop");
}

#[tokio::test]
async fn a_trust_cluster_switches_to_the_password_on_its_first_start() {
    let dir = data_dir();
    trust_cluster(dir.path());
    assert!(!dir.path().join("postgres/password").exists());

    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("first start after the upgrade");
    assert_eq!(notes(&pg).await, [NOTE], "the data is still there");
    let password = password_in(pg.password_file());
    let meta = std::fs::metadata(pg.password_file()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_refused(
        PgConnection::connect_with(&over_the_socket(pg.socket_dir(), None)).await,
        "no password after the switch",
    );
    let hba_path = pg.cluster_dir().join("pg_hba.conf");
    let hba = std::fs::read_to_string(&hba_path).unwrap();
    assert!(!has_trust_line(&hba), "{hba}");
    let hba_meta = std::fs::metadata(&hba_path).unwrap();
    assert_eq!(hba_meta.mode() & 0o777, 0o600);
    assert_eq!(
        hba_meta.uid(),
        db_account().0,
        "still the database account's"
    );
    let rules = loaded_rules(&pg).await;
    assert!(
        rules.iter().all(|(_, method)| method == "scram-sha-256"),
        "{rules:?}"
    );
    pg.stop().await.expect("stop");

    // The old cluster logs every statement; the switch must not have put the password there.
    let log = std::fs::read_to_string(dir.path().join("postgres/postgres.log")).unwrap();
    assert!(log.contains("statement:"), "statement logging was on");
    assert!(!log.contains(&password), "the password is in postgres.log");
    assert!(
        !log.contains("ALTER ROLE"),
        "the password change was logged"
    );

    // Idempotent: the second start finds everything in place and rewrites nothing.
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("second start");
    assert_eq!(notes(&pg).await, [NOTE]);
    assert_eq!(password_in(pg.password_file()), password);
    assert_eq!(
        std::fs::metadata(&hba_path).unwrap().ino(),
        hba_meta.ino(),
        "pg_hba.conf was not rewritten again"
    );
    assert_refused(
        PgConnection::connect_with(&over_the_socket(pg.socket_dir(), None)).await,
        "no password on the second start",
    );
    pg.stop().await.expect("stop again");
}

/// A crash right after the password file was written, before the role got the password, must
/// not lock agentry out: the cluster still trusts, so the next start finishes the switch with
/// the password already in the file.
#[tokio::test]
async fn a_switch_interrupted_before_the_role_had_a_password_completes_next_time() {
    let dir = data_dir();
    trust_cluster(dir.path());
    let file = dir.path().join("postgres/password");
    let chosen = "f00d".repeat(16);
    std::fs::write(&file, format!("{chosen}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("start");
    assert_eq!(password_in(&file), chosen, "the existing file is kept");
    assert_eq!(notes(&pg).await, [NOTE]);
    PgConnection::connect_with(&over_the_socket(pg.socket_dir(), Some(&chosen)))
        .await
        .expect("the file's password works");
    assert_refused(
        PgConnection::connect_with(&over_the_socket(pg.socket_dir(), None)).await,
        "no password",
    );
    pg.stop().await.expect("stop");
}

/// A password file that no longer matches the role (replaced, or restored from another
/// machine) stops the start with a message, and the way out it describes works.
#[tokio::test]
async fn a_replaced_password_file_is_refused_with_a_way_out() {
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("first start");
    let file = pg.password_file().to_path_buf();
    let hba = pg.cluster_dir().join("pg_hba.conf");
    pg.stop().await.expect("stop");

    let replaced = "0123456789abcdef".repeat(4);
    std::fs::write(&file, format!("{replaced}\n")).unwrap();
    let err = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect_err("a password the role does not have");
    assert!(
        matches!(err, PgEmbedError::PasswordRejected { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains(&hba.display().to_string()), "{message}");
    assert!(message.contains("local all all trust"), "{message}");
    assert!(!message.contains(&replaced), "{message}");

    // The way out, as the message tells it.
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("local all all trust\n{text}")).unwrap();
    let pg = EmbeddedPostgres::start(Options::new(dir.path()))
        .await
        .expect("start after restoring trust");
    assert!(!has_trust_line(&std::fs::read_to_string(&hba).unwrap()));
    PgConnection::connect_with(&over_the_socket(pg.socket_dir(), Some(&replaced)))
        .await
        .expect("the file's password is the role's again");
    pg.stop().await.expect("stop");
}

/// Every child the crate spawns, and every process of the running server, is checked for the
/// password in its command line and environment: `initdb` and the postmaster through wrapper
/// scripts that record both before `exec`ing the real binaries, the backends through `/proc`.
#[tokio::test]
async fn no_child_process_gets_the_password() {
    let dir = data_dir();
    let wrappers = data_dir();
    let trace = wrappers.path().join("trace");
    std::fs::write(&trace, "").unwrap();
    // The wrappers run as the database account.
    std::fs::set_permissions(&trace, std::fs::Permissions::from_mode(0o666)).unwrap();
    let real = installed_bin_dir();
    for program in ["initdb", "postgres"] {
        let script = wrappers.path().join(program);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ echo '--- {program}'; printf '%s\\n' \"$@\"; env; }} >> '{}'\n\
                 exec '{}' \"$@\"\n",
                trace.display(),
                real.join(program).display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let opts = Options {
        bin_dir: Some(wrappers.path().to_path_buf()),
        ..Options::new(dir.path())
    };
    let pg = EmbeddedPostgres::start(opts).await.expect("start");
    let password = password_in(pg.password_file());

    let trace = std::fs::read_to_string(&trace).unwrap();
    assert!(
        trace.contains("--- initdb"),
        "initdb went through its wrapper"
    );
    assert!(trace.contains("--pwfile="), "{trace}");
    assert!(
        trace.contains("--- postgres"),
        "the postmaster went through its wrapper"
    );
    assert!(
        !trace.contains(&password),
        "a child got the password: {trace}"
    );

    // The postmaster and the processes it forked (backends, checkpointer, …), while a
    // connection made with the password is open.
    let mut conn = PgConnection::connect_with(&pg.connect_options())
        .await
        .expect("connect");
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let mut pids = vec![pg.pid()];
    pids.extend(children_of(pg.pid()));
    assert!(
        pids.contains(&(backend as u32)),
        "the backend {backend} is among {pids:?}"
    );
    for pid in pids {
        for part in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{part}")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&password),
                "/proc/{pid}/{part} holds the password"
            );
        }
    }
    conn.close().await.expect("close");
    // Nor did agentry put it in its own environment for children to inherit.
    assert!(std::env::vars().all(|(_, v)| !v.contains(&password)));
    pg.stop().await.expect("stop");

    let log = std::fs::read_to_string(dir.path().join("postgres/postgres.log")).unwrap();
    assert!(!log.contains(&password), "the password is in postgres.log");
}

fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The fields after the command name (which may hold spaces): state, ppid, …
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(parent)
        })
        .collect()
}
