//! A private PostgreSQL for `agentry server`, so a first run needs no database set up.
//!
//! When the server gets no `--postgres-url`, [`EmbeddedPostgres::start`] runs the PostgreSQL
//! server binaries already installed on the machine (see [`Options::bin_dir`] for how they are
//! found) on a cluster kept in `<data dir>/postgres`: `initdb` on first start, the same cluster on
//! every later start, so data persists across restarts. The postmaster is a child process of the
//! server and stops with it.
//!
//! **Invariant:** the database listens on a unix socket only (`listen_addresses=''`), in a 0700
//! directory owned by the account that runs it, so other accounts cannot even reach it.
//!
//! **Invariant:** no connection gets in without the password. A process running as agentry's
//! account or the database's (a workspace command, for one) can reach the socket, so every
//! `pg_hba.conf` line is `scram-sha-256`, checked at every start by a connection that tries
//! without it (see the `auth` module). The password lives in one 0600 file owned by the account
//! that runs agentry and in agentry's memory; no child process gets it in its command line or
//! environment, and the plaintext is never sent in a statement. A cluster initialised with
//! `trust` by an older agentry is switched over on its first start.
//!
//! **Invariant:** nothing is downloaded. If no server binaries are installed, start fails with a
//! message naming the package to install.
//!
//! What this crate refuses to do: run migrations or know agentry's schema (the storage crate
//! does), expose TCP, or manage an external database.
//!
//! Layout of `<data dir>/postgres`:
//! - `data/` — the cluster. It only ever appears complete: `initdb` writes `data.initdb/`, which
//!   is renamed into place on success, so a crash during the first start just retries `initdb`.
//! - `run/` — the socket directory.
//! - `password` — the database password (one line, 0600, owned by the account that runs
//!   agentry: root when agentry is root, which then reads it through the 0700 directory). Created
//!   atomically on the first start; losing it means resetting the role's password (the
//!   [`PgEmbedError::PasswordRejected`] message says how).
//! - `initdb.pwfile` — the copy of the password `initdb` reads, only while it runs.
//! - `postgres.log` — the postmaster's stderr, appended across restarts.
//! - `agentry.lock` — held (`flock`) by the running [`EmbeddedPostgres`], so two servers on one
//!   data directory fail fast instead of racing `initdb`.

mod account;
mod auth;
mod binaries;
mod error;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use account::Account;
use auth::Password;
pub use error::PgEmbedError;

/// The database role agentry connects as; the cluster's bootstrap superuser.
pub const USER: &str = "agentry";
/// The database agentry's tables live in; created on first start.
pub const DATABASE: &str = "agentry";
/// The system user that runs PostgreSQL when agentry runs as root.
pub const DEFAULT_RUN_AS: &str = "postgres";

/// The port only names the socket file (`.s.PGSQL.5432`); there is no TCP listener. It is fixed
/// and passed to both sides, so a stray `PGPORT` in the environment cannot split them.
const PORT: u16 = 5432;
/// `sun_path` holds 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX: usize = 107;
/// How long a fresh postmaster may take to accept connections. It does not run out while the
/// server answers "starting up" (crash recovery), which can legitimately take longer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown (abort sessions, write a checkpoint) may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Past this size, `postgres.log` is moved to `postgres.log.1` at start. It holds startup,
/// shutdown and error lines only, so this is a guard against surprises, not routine rotation.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
const LOG_TAIL_LINES: usize = 20;
/// How long a reloaded `pg_hba.conf` may take to refuse a connection without the password.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the embedded database.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server's data directory; the cluster lives in `<data_dir>/postgres`. Created if
    /// missing. As root, every ancestor must be traversable by [`Options::run_as`].
    pub data_dir: PathBuf,
    /// The directory holding `initdb` and `postgres` (`--postgres-bin-dir`). When `None`: for an
    /// existing cluster the packaged binaries of its own major version, then
    /// `pg_config --bindir`, then the highest-numbered `/usr/lib/postgresql/*/bin`.
    pub bin_dir: Option<PathBuf>,
    /// The system user that runs the database when agentry runs as root; default
    /// [`DEFAULT_RUN_AS`]. Ignored when not root: the database then runs as the current user.
    pub run_as: Option<String>,
}

impl Options {
    pub fn new(data_dir: impl Into<PathBuf>) -> Options {
        Options {
            data_dir: data_dir.into(),
            bin_dir: None,
            run_as: None,
        }
    }
}

/// A running PostgreSQL child process. Call [`EmbeddedPostgres::stop`] to shut it down and wait
/// for it; dropping the handle only asks it to stop.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    /// `None` once `stop` has taken it.
    child: Option<Child>,
    pid: u32,
    layout: Layout,
    bin_dir: PathBuf,
    password: Password,
    /// Holds the `flock` on `agentry.lock` for as long as this handle lives.
    _lock: File,
}

#[derive(Debug)]
struct Layout {
    root: PathBuf,
    cluster: PathBuf,
    staging: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    lock: PathBuf,
    /// The database password, owned by the account that runs agentry (see [`auth`]).
    password: PathBuf,
    /// The copy of the password `initdb --pwfile` reads, owned by the account that runs it;
    /// it exists only while `initdb` runs.
    initdb_pwfile: PathBuf,
    /// The postmaster is told to read exactly this file (`-c hba_file=`), so the file agentry
    /// checks is the one in force.
    hba: PathBuf,
}

impl Layout {
    fn new(root: PathBuf) -> Layout {
        Layout {
            cluster: root.join("data"),
            staging: root.join("data.initdb"),
            socket_dir: root.join("run"),
            log: root.join("postgres.log"),
            lock: root.join("agentry.lock"),
            password: root.join(auth::PASSWORD_FILE),
            initdb_pwfile: root.join("initdb.pwfile"),
            hba: root.join("data/pg_hba.conf"),
            root,
        }
    }
}

impl EmbeddedPostgres {
    /// Starts PostgreSQL on `<data_dir>/postgres`, initializing the cluster and creating the
    /// [`DATABASE`] on first start, and returns once it accepts connections.
    pub async fn start(opts: Options) -> Result<EmbeddedPostgres, PgEmbedError> {
        let account = Account::resolve(opts.run_as.as_deref().unwrap_or(DEFAULT_RUN_AS))?;

        // Binaries are looked up before anything is written, so a machine without PostgreSQL
        // is told so without being left with half a data directory.
        let cluster_major = std::fs::read_to_string(opts.data_dir.join("postgres/data/PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let bin_dir = binaries::find(opts.bin_dir.as_deref(), cluster_major.as_deref()).await?;

        std::fs::create_dir_all(&opts.data_dir)
            .map_err(PgEmbedError::io("create", &opts.data_dir))?;
        // Absolute paths for the children, which do not share our working directory.
        let data_dir = std::fs::canonicalize(&opts.data_dir)
            .map_err(PgEmbedError::io("resolve", &opts.data_dir))?;
        let layout = Layout::new(data_dir.join("postgres"));

        let socket = layout.socket_dir.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > SOCKET_PATH_MAX {
            return Err(PgEmbedError::SocketPathTooLong {
                path: socket,
                max: SOCKET_PATH_MAX,
            });
        }
        account.check_traversable(&data_dir)?;

        std::fs::create_dir_all(&layout.root).map_err(PgEmbedError::io("create", &layout.root))?;
        account.own_private_dir(&layout.root)?;
        let lock = lock_exclusive(&layout.lock)?;
        std::fs::create_dir_all(&layout.socket_dir)
            .map_err(PgEmbedError::io("create", &layout.socket_dir))?;
        account.own_private_dir(&layout.socket_dir)?;

        // Left behind only if a start crashed while initdb ran.
        auth::remove_if_present(&layout.initdb_pwfile)?;
        // Also created for a cluster that predates passwords: `require_password` then sets it.
        let password = auth::read_or_create(&layout.password)?;

        if !layout.cluster.join("PG_VERSION").is_file() {
            initdb(&bin_dir, &layout, &account, &password).await?;
        }

        let (child, mut conn) = run_until_ready(&bin_dir, &layout, &account, &password).await?;
        let pid = child.id().unwrap_or_default();
        let pg = EmbeddedPostgres {
            child: Some(child),
            pid,
            layout,
            bin_dir,
            password,
            _lock: lock,
        };
        tracing::info!(pid, socket_dir = %pg.layout.socket_dir.display(), "embedded PostgreSQL is ready");

        // Both checked on every start rather than only after initdb: a cluster made by an older
        // agentry trusts every local connection, and a crash between initdb and CREATE DATABASE
        // would otherwise leave a cluster that never gets its database.
        let checked = async {
            require_password(&mut conn, &pg.layout, &account, &pg.password).await?;
            ensure_database(conn).await
        };
        if let Err(err) = checked.await {
            if let Err(stop_err) = pg.stop().await {
                tracing::warn!(error = %stop_err, "could not stop PostgreSQL after a failed start");
            }
            return Err(err);
        }
        Ok(pg)
    }

    /// How to connect: over the unix socket, as [`USER`], with the password, to [`DATABASE`].
    ///
    /// The options hold the password: use them in this process, and never print them (their
    /// `Debug` shows it) or turn them into a URL for another process.
    pub fn connect_options(&self) -> PgConnectOptions {
        socket_options(&self.layout)
            .password(self.password.expose())
            .database(DATABASE)
    }

    /// The file holding the database password (`<data_dir>/postgres/password`, mode 0600,
    /// owned by the account that runs agentry).
    pub fn password_file(&self) -> &Path {
        &self.layout.password
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.layout.socket_dir
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The cluster directory (`<data_dir>/postgres/data`).
    pub fn cluster_dir(&self) -> &Path {
        &self.layout.cluster
    }

    /// The postmaster's log file.
    pub fn log_path(&self) -> &Path {
        &self.layout.log
    }

    /// The directory the `postgres` binary was run from.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Fast shutdown: SIGINT (open sessions are aborted, a checkpoint is written), then waits
    /// for the postmaster to exit; after [`STOP_TIMEOUT`] it is killed.
    pub async fn stop(mut self) -> Result<(), PgEmbedError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        shutdown(&mut child, &self.layout.log).await
    }
}

impl Drop for EmbeddedPostgres {
    /// Best effort for handles that were never stopped (an early return, a panicking test): ask
    /// the postmaster for a fast shutdown without waiting, so it does not outlive us.
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && matches!(child.try_wait(), Ok(None))
            && let Some(pid) = child.id()
        {
            send_signal(pid, libc::SIGINT);
        }
    }
}

fn lock_exclusive(path: &Path) -> Result<File, PgEmbedError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(account::NOFOLLOW)
        .open(path)
        .map_err(PgEmbedError::io("open", path))?;
    // SAFETY: `file` owns a valid descriptor for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            PgEmbedError::Locked {
                path: path.to_path_buf(),
            }
        } else {
            PgEmbedError::Io {
                action: "lock",
                path: path.to_path_buf(),
                source: err,
            }
        });
    }
    Ok(file)
}

/// Over our socket as [`USER`], with no password and no database chosen yet.
///
/// `new_without_pgpass` still reads PG* variables (`PGPASSWORD` among them); every one that
/// could point elsewhere is overridden by the callers or here.
fn socket_options(layout: &Layout) -> PgConnectOptions {
    PgConnectOptions::new_without_pgpass()
        .socket(&layout.socket_dir)
        .port(PORT)
        .username(USER)
        .ssl_mode(PgSslMode::Disable)
}

/// A command for a PostgreSQL binary, run as `account` from the cluster root.
///
/// The environment is cleared: the server's own `PGDATA`, `PGPORT`, `PGOPTIONS` or an
/// uninstalled `LANG` would otherwise change what `initdb` and `postgres` do. `LC_ALL=C` matches
/// the cluster's `--no-locale`. Nothing secret is added: the children learn the database
/// password only from files (see [`auth`]).
fn pg_command(program: &Path, account: &Account, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if account.switch {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Creates the cluster in the staging directory, then renames it into place.
///
/// `--no-locale -E UTF8`: C collation with UTF-8 text. Its sort order never changes with a glibc
/// upgrade (which silently corrupts indexes under libc locales), and it needs no installed
/// locale. `-A scram-sha-256 --pwfile`: the superuser gets the password from the start, and no
/// line of the generated `pg_hba.conf` trusts anyone (it is replaced by [`auth::PG_HBA`] before
/// the rename anyway). `-N` skips fsync, which makes the first start seconds faster; a power cut
/// in that window leaves at worst an empty cluster to delete.
///
/// `initdb` runs as `account`, which cannot read agentry's own password file when agentry is
/// root, so it gets a copy owned by `account` inside the 0700 cluster root, removed as soon as
/// `initdb` exits (and at the next start, should agentry die meanwhile).
async fn initdb(
    bin_dir: &Path,
    layout: &Layout,
    account: &Account,
    password: &Password,
) -> Result<(), PgEmbedError> {
    if layout.staging.exists() {
        std::fs::remove_dir_all(&layout.staging).map_err(PgEmbedError::io(
            "remove the unfinished cluster",
            &layout.staging,
        ))?;
    }
    tracing::info!(cluster = %layout.cluster.display(), "initializing the embedded PostgreSQL cluster");
    let program = bin_dir.join("initdb");
    auth::write_private(
        &layout.initdb_pwfile,
        &format!("{}\n", password.expose()),
        Some(account),
    )?;
    let output = pg_command(&program, account, &layout.root)
        .arg("-D")
        .arg(&layout.staging)
        .args(["-U", USER, "-E", "UTF8", "--no-locale", "-N"])
        .args(["--auth", "scram-sha-256"])
        .arg(format!("--pwfile={}", layout.initdb_pwfile.display()))
        .output()
        .await;
    auth::remove_if_present(&layout.initdb_pwfile)?;
    let output = output.map_err(|source| PgEmbedError::Spawn {
        program: program.clone(),
        source,
    })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(PgEmbedError::Initdb {
            status: output.status,
            output: text.trim().to_owned(),
        });
    }
    auth::write_private(
        &layout.staging.join("pg_hba.conf"),
        auth::PG_HBA,
        Some(account),
    )?;
    std::fs::rename(&layout.staging, &layout.cluster).map_err(PgEmbedError::io(
        "move the new cluster into place at",
        &layout.cluster,
    ))
}

fn spawn_postmaster(
    bin_dir: &Path,
    layout: &Layout,
    account: &Account,
    log: &File,
) -> Result<Child, PgEmbedError> {
    let program = bin_dir.join("postgres");
    let log_out = log
        .try_clone()
        .map_err(PgEmbedError::io("reopen", &layout.log))?;
    let log_err = log
        .try_clone()
        .map_err(PgEmbedError::io("reopen", &layout.log))?;
    let mut cmd = pg_command(&program, account, &layout.root);
    cmd.arg("-D")
        .arg(&layout.cluster)
        .arg("-k")
        .arg(&layout.socket_dir)
        .args(["-c", "listen_addresses="])
        .args(["-c", &format!("port={PORT}")])
        .args(["-c", "unix_socket_permissions=0700"])
        .arg("-c")
        .arg(format!("hba_file={}", layout.hba.display()))
        .args(["-c", "password_encryption=scram-sha-256"])
        .args(["-c", "max_connections=200"])
        .stdout(log_out)
        .stderr(log_err)
        // Its own process group, so a Ctrl-C in the terminal reaches only agentry, which then
        // drains its work and stops the database last, instead of the database dying first.
        .process_group(0);
    die_with_parent(&mut cmd);
    cmd.spawn()
        .map_err(|source| PgEmbedError::Spawn { program, source })
}

/// Asks the kernel to send the postmaster SIGINT (fast shutdown) when agentry dies, even by
/// SIGKILL, so no orphaned postmaster keeps holding the data directory.
///
/// The signal fires when the *thread* that spawned the child exits. `start` runs on a runtime
/// thread (or the thread of a `#[tokio::test]`), which lives as long as the server or the test,
/// which is exactly the lifetime wanted.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, getppid); it allocates nothing, including in its error paths. It runs after std
    // has switched uid/gid, so the credential change cannot reset the death signal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Why one postmaster attempt did not become ready.
enum Attempt {
    Ready(PgConnection),
    /// Up, but the password was refused.
    Rejected,
    Exited(std::process::ExitStatus),
    TimedOut,
}

/// Starts the postmaster and waits until it accepts connections; returns it with a connection
/// to the `postgres` maintenance database.
///
/// A postmaster that exits because the previous one is not quite gone is started again until the
/// deadline: after a SIGKILL its former children may still be attached to the shared memory
/// ("pre-existing shared memory block … is still in use") for a moment, and after a dropped
/// handle the old postmaster may still be shutting down ("lock file … already exists"). A stale
/// `postmaster.pid` whose process is dead is handled by PostgreSQL itself.
async fn run_until_ready(
    bin_dir: &Path,
    layout: &Layout,
    account: &Account,
    password: &Password,
) -> Result<(Child, PgConnection), PgEmbedError> {
    let log = open_log(layout, account)?;
    // With the password even on a cluster that still trusts: `trust` ignores it.
    let probe = socket_options(layout)
        .password(password.expose())
        .database("postgres");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut child = spawn_postmaster(bin_dir, layout, account, &log)?;
        match wait_ready(&mut child, &probe, deadline).await? {
            Attempt::Ready(conn) => return Ok((child, conn)),
            Attempt::Rejected => {
                if let Err(err) = shutdown(&mut child, &layout.log).await {
                    tracing::warn!(error = %err, "could not stop PostgreSQL after it refused the password");
                }
                return Err(PgEmbedError::PasswordRejected {
                    file: layout.password.clone(),
                    hba: layout.hba.clone(),
                });
            }
            Attempt::Exited(status) => {
                let tail = log_tail(&layout.log, offset);
                let previous_still_there =
                    tail.contains("is still in use") || tail.contains("already exists");
                if previous_still_there && Instant::now() < deadline {
                    tracing::debug!("the previous postmaster is still going away; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                return Err(PgEmbedError::ExitedEarly {
                    status,
                    log: layout.log.clone(),
                    tail,
                });
            }
            Attempt::TimedOut => {
                if let Err(err) = shutdown(&mut child, &layout.log).await {
                    tracing::warn!(error = %err, "could not stop a PostgreSQL that failed to start");
                }
                return Err(PgEmbedError::StartTimeout {
                    secs: START_TIMEOUT.as_secs(),
                    log: layout.log.clone(),
                    tail: log_tail(&layout.log, offset),
                });
            }
        }
    }
}

async fn wait_ready(
    child: &mut Child,
    probe: &PgConnectOptions,
    deadline: Instant,
) -> Result<Attempt, PgEmbedError> {
    loop {
        if let Some(status) = child.try_wait().map_err(PgEmbedError::Wait)? {
            return Ok(Attempt::Exited(status));
        }
        let starting_up =
            match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(probe)).await {
                Ok(Ok(conn)) => return Ok(Attempt::Ready(conn)),
                Ok(Err(err)) if is_auth_failure(&err) => return Ok(Attempt::Rejected),
                // 57P03 cannot_connect_now: alive and recovering; recovery gets all the time it needs.
                Ok(Err(sqlx::Error::Database(e))) => e.code().as_deref() == Some("57P03"),
                // No socket yet, or refused: not up yet.
                Ok(Err(_)) | Err(_) => false,
            };
        if !starting_up && Instant::now() >= deadline {
            return Ok(Attempt::TimedOut);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn open_log(layout: &Layout, account: &Account) -> Result<File, PgEmbedError> {
    if std::fs::metadata(&layout.log).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let old = layout.log.with_extension("log.1");
        std::fs::rename(&layout.log, &old).map_err(PgEmbedError::io("rotate", &layout.log))?;
    }
    let file = File::options()
        .create(true)
        .append(true)
        .custom_flags(account::NOFOLLOW)
        .open(&layout.log)
        .map_err(PgEmbedError::io("open", &layout.log))?;
    account.own(&file, &layout.log)?;
    Ok(file)
}

/// The last lines the log gained since `offset`, for error messages.
fn log_tail(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    let read = File::options()
        .read(true)
        .custom_flags(account::NOFOLLOW)
        .open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            text = String::from_utf8_lossy(&bytes).into_owned();
            Ok(())
        });
    if let Err(err) = read {
        return format!("(could not read the log: {err})");
    }
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "(nothing was logged)".to_owned();
    }
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// 28P01 invalid_password; 28000 invalid_authorization_specification (no `pg_hba.conf` line
/// lets this connection in).
fn is_auth_failure(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("28P01" | "28000")))
}

/// Makes the running server demand the password, and checks that it does.
///
/// When `pg_hba.conf` is not [`auth::PG_HBA`] (a cluster initialised with `trust` by an older
/// agentry, or an edited file), the order is what keeps a crash harmless: the role gets the
/// password first, while the old rules still let agentry in; only then is the file replaced
/// (atomically) and the configuration reloaded. A start interrupted before the replacement
/// finds the old file and does it all again; one interrupted after it finds a role that
/// already has the password.
///
/// The role's password is set from a SCRAM verifier computed here, so the plaintext is in no
/// statement the server could log or keep in `pg_stat_statements`; statement logging is also
/// turned off for the session, since a verifier is nothing to print either.
async fn require_password(
    conn: &mut PgConnection,
    layout: &Layout,
    account: &Account,
    password: &Password,
) -> Result<(), PgEmbedError> {
    let wrap = |source| PgEmbedError::RequirePassword { source };
    let current =
        std::fs::read_to_string(&layout.hba).map_err(PgEmbedError::io("read", &layout.hba))?;
    if current != auth::PG_HBA {
        tracing::warn!(
            hba = %layout.hba.display(),
            "pg_hba.conf is not agentry's (a cluster from before database passwords, or an edited \
             file); setting the password and rewriting it"
        );
        let verifier = password
            .scram_verifier()
            .map_err(PgEmbedError::io("generate a salt for", &layout.password))?;
        // The verifier is base64 and `$:` digits: nothing in it can end the quoted literal.
        debug_assert!(!verifier.contains(['\'', '\\']));
        sqlx::raw_sql("SET log_statement = 'none'; SET log_min_duration_statement = -1")
            .execute(&mut *conn)
            .await
            .map_err(wrap)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {USER} PASSWORD '{verifier}'"
        )))
        .execute(&mut *conn)
        .await
        .map_err(wrap)?;
        auth::write_private(&layout.hba, auth::PG_HBA, Some(account))?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut *conn)
            .await
            .map_err(wrap)?;
    }

    // On every start, the proof that the socket is closed to anyone without the password is a
    // connection that tries without it. It is retried for a while because a reload is
    // asynchronous: a SIGHUP the postmaster handles in its own time.
    let without = socket_options(layout).password("").database("postgres");
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        match PgConnection::connect_with(&without).await {
            Err(err) if is_auth_failure(&err) => return Ok(()),
            Err(err) => return Err(wrap(err)),
            Ok(conn) => {
                let _ = conn.close().await;
                if Instant::now() >= deadline {
                    return Err(PgEmbedError::StillTrusting {
                        hba: layout.hba.clone(),
                    });
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }
}

async fn ensure_database(mut conn: PgConnection) -> Result<(), PgEmbedError> {
    let wrap = |source| PgEmbedError::CreateDatabase {
        database: DATABASE,
        source,
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await
            .map_err(wrap)?;
    if !exists {
        tracing::info!(database = DATABASE, "creating the database");
        // Identifiers cannot be bound parameters, so the name is spelled out; it is DATABASE.
        sqlx::query("CREATE DATABASE agentry")
            .execute(&mut conn)
            .await
            .map_err(wrap)?;
    }
    conn.close().await.map_err(wrap)
}

/// SIGINT, wait up to [`STOP_TIMEOUT`], then SIGKILL.
async fn shutdown(child: &mut Child, log: &Path) -> Result<(), PgEmbedError> {
    let Some(pid) = child.id() else {
        // Already reaped: it exited (or was killed) on its own.
        return Ok(());
    };
    send_signal(pid, libc::SIGINT);
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => {
            let status = status.map_err(PgEmbedError::Wait)?;
            if !status.success() {
                tracing::warn!(%status, log = %log.display(), "PostgreSQL exited abnormally");
            }
            Ok(())
        }
        Err(_) => {
            tracing::warn!(
                pid,
                "PostgreSQL did not stop within {STOP_TIMEOUT:?}; killing it"
            );
            child.kill().await.map_err(PgEmbedError::Wait)
        }
    }
}

fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions. The pid is our unreaped child, so it
    // cannot have been recycled for another process.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}
