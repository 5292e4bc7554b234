use agentry_rbac::Denial;

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
    /// A uniqueness or state conflict, with a client-facing message.
    #[error("{0}")]
    Conflict(String),
    /// Input that is well-formed but not acceptable, with a client-facing message.
    #[error("{message}")]
    Invalid { message: String, field: Option<String> },
    /// The chat's queue already holds the maximum number of messages.
    #[error("message queue is full")]
    QueueFull,
    /// A chat message id that is not in this chat (or was deleted by an edit).
    #[error("chat message not found")]
    MessageNotFound,
    /// A queued message id that is not in this chat's queue.
    #[error("queued message not found")]
    QueuedNotFound,
    /// A template version that is not a version of the workspace's template (or no version).
    #[error("template version of another template")]
    TemplateVersionMismatch,
    /// The owner's spend in the current period reached the limit.
    #[error("usage limit exceeded")]
    UsageLimit { spent_micros: i64, limit_micros: i64, resets_at: chrono::DateTime<chrono::Utc> },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl StoreError {
    pub fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::Invalid { message: message.into(), field: None }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> StoreError {
        StoreError::Invalid { message: message.into(), field: Some(field.to_string()) }
    }
}

/// The name of the unique index a write violated, if that is what failed.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => db.constraint(),
        _ => None,
    }
}
