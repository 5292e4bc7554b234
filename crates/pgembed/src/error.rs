use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Why the embedded PostgreSQL could not be started or stopped.
///
/// The messages are written for the operator who ran `agentry server`: each says what to change
/// (install a package, pick another directory, create a user) where there is something to change.
#[derive(Debug, thiserror::Error)]
pub enum PgEmbedError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found (looked in: {}); install the \
         `postgresql` package (apt-get install postgresql) or pass --postgres-bin-dir",
        display_paths(searched)
    )]
    BinariesNotFound { searched: Vec<PathBuf> },

    #[error(
        "the system user `{user}` (which runs PostgreSQL when agentry runs as root) does not exist; \
         create it (installing the `postgresql` package does) or choose another user"
    )]
    UserNotFound { user: String },

    #[error(
        "{} is not traversable by the system user `{user}`, which runs PostgreSQL; make it \
         traversable (chmod o+x) or choose a data directory that user can reach",
        path.display()
    )]
    NotTraversable { path: PathBuf, user: String },

    #[error(
        "the PostgreSQL socket path {} is longer than {max} bytes, the limit for unix sockets; \
         choose a data directory with a shorter path",
        path.display()
    )]
    SocketPathTooLong { path: PathBuf, max: usize },

    #[error("{} is in use by another process (another agentry server on the same data directory?)", path.display())]
    Locked { path: PathBuf },

    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("could not run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("could not wait for the PostgreSQL process: {0}")]
    Wait(#[source] io::Error),

    #[error("initdb failed ({status}):\n{output}")]
    Initdb { status: ExitStatus, output: String },

    #[error("PostgreSQL exited during startup ({status}); the end of {}:\n{tail}", log.display())]
    ExitedEarly {
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    #[error("PostgreSQL did not accept connections within {secs} s; the end of {}:\n{tail}", log.display())]
    StartTimeout {
        secs: u64,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "the database password file {} must hold one line of printable ASCII without spaces",
        path.display()
    )]
    PasswordFile { path: PathBuf },

    #[error(
        "the embedded PostgreSQL rejected the password in {} (was the file replaced or restored \
         from elsewhere?). To set the database's password from the file: as the user that runs \
         PostgreSQL, put the line `local all all trust` first in {}, then start agentry again; \
         it sets the password and removes the line",
        file.display(),
        hba.display()
    )]
    PasswordRejected { file: PathBuf, hba: PathBuf },

    #[error("could not switch the embedded PostgreSQL to password authentication: {source}")]
    RequirePassword {
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "the embedded PostgreSQL still accepts connections without a password after {} was \
         rewritten and reloaded; refusing to run",
        hba.display()
    )]
    StillTrusting { hba: PathBuf },

    #[error("could not create the `{database}` database: {source}")]
    CreateDatabase {
        database: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl PgEmbedError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| PgEmbedError::Io {
            action,
            path,
            source,
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
