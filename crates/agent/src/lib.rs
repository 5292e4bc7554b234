//! agentry's workspace agent: the file and process operations the chat tools perform inside one
//! workspace directory.
//!
//! [`WorkspaceAgent`] is the interface the chat daemon and the API call (`read_file`,
//! `write_file`, `edit_files`, `execute`, `process_output`, `process_list`, `process_signal`,
//! `list_dir`, `read_bytes`). It says nothing about where the workspace is. [`LocalAgent`] is the
//! implementation for a directory on the agent's own host; the agent process ([`remote`],
//! `agentry agent`) serves one over the wire [`protocol`], and the server reaches it through
//! [`protocol::OpClient`], directly or relayed through another replica.
//!
//! **Invariant:** every path an operation touches — file paths and a command's `workdir` — is
//! resolved by `paths::Confinement`, which refuses anything that resolves outside the workspace
//! root, through `..` or through symbolic links. Confinement keeps the file tools honest.
//!
//! **Invariant:** a sandboxed agent ([`LocalAgent::sandboxed`]) starts every process — startup
//! script, commands, background processes — inside bubblewrap as the workspace's own user, with
//! a cleared environment (see `sandbox`). Only an operator's explicit
//! `--unsafe-unsandboxed-workspaces` makes the server use [`LocalAgent::new`] for workspaces.
//!
//! **Invariant:** every process the agent starts runs in its own process group and stays in the
//! agent's table until no process of that group holds its output pipe, so
//! [`LocalAgent::shutdown`] can end everything it started, including what commands left
//! running in the background.
//!
//! Error messages ([`AgentError`]) are written for the model that called the tool: they name
//! the path or id it gave and say what to do instead.

mod edit;
mod error;
mod files;
mod local;
mod paths;
mod process;
pub mod protocol;
pub mod remote;
mod sandbox;
mod types;

use async_trait::async_trait;
use std::time::Duration;

pub use error::AgentError;
pub use local::{DEFAULT_SHUTDOWN_GRACE, LocalAgent};
pub use sandbox::{
    AGENT_BINARY, AGENT_SOCKET, Identity, Network, SandboxSpec, WORKSPACE_MOUNT, WORKSPACE_PATH, WORKSPACE_USER, find_bwrap,
    is_root,
};
pub use types::{
    DEFAULT_READ_LIMIT, EditFilesResponse, FILE_READ_CAP, ExecuteRequest, ExecuteResponse, FileDiff, FileEdit,
    OUTPUT_CAP, ProcessInfo, ProcessOutput, ReadBytesResponse, ReadFileRequest, ReadFileResponse, Signal,
    WriteFileResponse,
};

/// File and process operations inside one workspace.
#[async_trait]
pub trait WorkspaceAgent: Send + Sync {
    /// Reads a text file as numbered lines, `limit` lines (default [`DEFAULT_READ_LIMIT`])
    /// from the 1-based line `offset`.
    async fn read_file(&self, req: ReadFileRequest) -> Result<ReadFileResponse, AgentError>;

    /// Writes a whole file, creating it and its parent directories as needed.
    async fn write_file(&self, path: &str, content: &str) -> Result<WriteFileResponse, AgentError>;

    /// Applies search-and-replace edits, all or none: if any edit fails, no file changes.
    /// Several edits on one file apply in order, each to the result of the previous.
    async fn edit_files(&self, edits: Vec<FileEdit>) -> Result<EditFilesResponse, AgentError>;

    /// Runs a shell command. If it outlives its timeout, or `run_in_background` is set, it keeps
    /// running and the response carries its `background_process_id`.
    async fn execute(&self, req: ExecuteRequest) -> Result<ExecuteResponse, AgentError>;

    /// A tracked process's state and output, after waiting up to `wait` for it to exit
    /// (`Duration::ZERO` takes a snapshot).
    async fn process_output(&self, id: &str, wait: Duration) -> Result<ProcessOutput, AgentError>;

    /// The processes the caller has ids for, oldest first.
    async fn process_list(&self) -> Result<Vec<ProcessInfo>, AgentError>;

    /// Sends a signal to a tracked process's whole process group.
    async fn process_signal(&self, id: &str, signal: Signal) -> Result<(), AgentError>;

    /// The entries of a directory (relative to the workspace root; `""` is the root).
    async fn list_dir(&self, path: &str) -> Result<Vec<protocol::DirEntry>, AgentError>;

    /// Up to `length` bytes (at most 4 MiB) of any regular file from byte `offset`.
    async fn read_bytes(&self, path: &str, offset: u64, length: u64) -> Result<ReadBytesResponse, AgentError>;
}
