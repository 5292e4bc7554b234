use agentry_rbac::Denial;
use agentry_types::ClientError;

/// Errors of the storage layer. The API maps each to a status; `Database` and `Migration`
/// text is logged, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or the actor may not read it (deliberately the same).
    #[error("not found")]
    NotFound,
    /// The actor may read the object but not perform this action on it.
    #[error("forbidden: {0}")]
    Forbidden(Denial),
    /// A refusal the client is told about: a conflict, invalid input, a limit. Its code,
    /// status and message come from the catalogue (`agentry_types::ClientError`).
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The live-event transport (`--pubsub`) could not be reached at startup.
    #[error("pub/sub transport: {0}")]
    PubSub(String),
}

/// The name of the unique index a write violated, if that is what failed.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => db.constraint(),
        _ => None,
    }
}
