//! The one error type every agent operation returns.
//!
//! The `Display` text of each variant is shown verbatim to a language model as a tool error, so
//! each message says what went wrong in the model's own terms (the path or process id it passed)
//! and what to do next. Messages never include the workspace's absolute location on the host:
//! the model works with the paths it gave.

use std::io;

/// A failed workspace operation.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The path, after resolving `..` and symbolic links, is not inside the workspace.
    #[error(
        "path {path:?} resolves outside the workspace; only files inside the workspace directory \
         can be used (relative paths are resolved against the workspace root)"
    )]
    PathOutsideWorkspace { path: String },

    /// Nothing exists at the path.
    #[error("{path:?} does not exist in the workspace")]
    NotFound { path: String },

    /// A file operation was given a directory.
    #[error("{path:?} is a directory, not a file")]
    IsADirectory { path: String },

    /// A FIFO, socket, device or symbolic link where a regular file was expected.
    #[error("{path:?} is not a regular file (it is a FIFO, socket, device or link); the file tools only read regular files")]
    NotARegularFile { path: String },

    /// A directory was expected (the `workdir` of a command) but the path is something else.
    #[error("{path:?} is not a directory")]
    NotADirectory { path: String },

    /// `read_file` refuses files that look binary instead of printing mojibake.
    #[error("{path:?} looks like a binary file (it contains NUL bytes); read_file only shows text")]
    BinaryFile { path: String },

    /// An edit's `old_text` does not occur in the file (after the file's earlier edits).
    #[error(
        "edit {edit} on {path:?}: old_text was not found: {old_text_preview:?}. Read the file \
         again and copy old_text exactly, including whitespace and indentation. No file was \
         changed."
    )]
    EditNotFound {
        edit: usize,
        path: String,
        old_text_preview: String,
    },

    /// An edit's `old_text` occurs several times and `replace_all` was not set.
    #[error(
        "edit {edit} on {path:?}: old_text occurs {count} times; include more surrounding lines \
         to make it unique, or set replace_all to replace every occurrence. No file was changed."
    )]
    EditAmbiguous {
        edit: usize,
        path: String,
        count: usize,
    },

    /// The process id is not one this agent is tracking.
    #[error("no process with id {id:?}; use process_list to see the processes the agent tracks")]
    UnknownProcess { id: String },

    /// The request itself is malformed (an empty path, an offset past the end of a file, ...).
    #[error("{message}")]
    InvalidRequest { message: String },

    /// `shutdown` has begun; the agent starts no new processes.
    #[error("the workspace agent is shutting down and no longer starts processes")]
    ShuttingDown,

    /// An error the agent process reported for an operation; the text is the agent's own
    /// message (one of the other variants, rendered there).
    #[error("{message}")]
    Remote { message: String },

    /// The workspace's agent cannot be reached right now (its connection dropped, or the
    /// replica holding it went away). Retryable: the agent reconnects on its own.
    #[error(
        "workspace agent disconnected: {detail}. The agent reconnects by itself; retry in a few \
         seconds (if this persists, check that the workspace is running)"
    )]
    Disconnected { detail: String },

    /// An operating-system error that is none of the above.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        AgentError::Io {
            context: context.into(),
            source,
        }
    }

    /// The agent is unreachable for `detail`; see [`AgentError::Disconnected`].
    pub fn disconnected(detail: impl Into<String>) -> Self {
        AgentError::Disconnected { detail: detail.into() }
    }

    /// Whether retrying the same operation later may succeed (the agent was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, AgentError::Disconnected { .. })
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        AgentError::InvalidRequest {
            message: message.into(),
        }
    }
}
