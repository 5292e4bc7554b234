//! Provisioners bring workspaces up and down; the [`BuildRunner`] executes workspace builds
//! with one.
//!
//! [`Provisioner`] is the interface: `start`, `stop` and `delete` a workspace. It knows nothing
//! about the database. [`LocalProvisioner`] is the built-in one: a workspace is a directory
//! under the server's data directory, served by an `agentry agent` process that runs in a
//! bubblewrap sandbox as the workspace's own uid ([`Isolation`]) and dials in to this server.
//! Agents are found through [`Agents`] (the `agents` module), wherever they are connected.
//!
//! The runner is the only place builds change state: it claims pending builds from the store
//! (`pending → running`), runs the provisioner, streams log lines into the build's logs and
//! finishes the build (`succeeded | failed`). [`Provisioning`] is the handle the API holds: it
//! wakes the runner when a build is queued, tells log followers when a build changed, and finds
//! a workspace's agent.
//!
//! **Invariant:** no build stays `running` across a server restart. On start-up
//! [`BuildRunner::recover`] fails every build left `running` (its process is gone) and runs
//! builds left `pending` like any other (they never started, so running them is safe). On a
//! graceful shutdown the runner fails its in-flight builds itself. This assumes one server
//! runs builds for a database, which the local provisioner needs anyway: a workspace directory
//! lives on the host that built it.

pub mod agents;
mod external;
mod isolation;
mod local;
mod runner;

use agentry_agent::AgentError;
use agentry_store::templates::NetworkMode;
use agentry_store::workspaces::LogStream;
use async_trait::async_trait;
use tokio::sync::mpsc;
use uuid::Uuid;

pub use agents::{Agents, SocketGuard, SocketKind};
pub use external::{EXTERNAL_CONNECT_TIMEOUT, ExternalProvisioner};
pub use isolation::Isolation;
pub use local::LocalProvisioner;
pub use runner::{BuildRunner, Provisioning};

/// What a provisioner needs to know about a build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub build_id: Uuid,
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub owner_name: String,
    /// The startup script of the template version the build runs (only `start` uses it).
    pub startup_script: String,
    /// Resolved parameter values, `(name, value)`.
    pub parameters: Vec<(String, String)>,
    /// What the workspace's processes may reach, from the same template version.
    pub network: NetworkMode,
    /// The host uid the workspace's processes run as.
    pub sandbox_uid: u32,
    /// A fresh agent token for this build (only `start` has one).
    pub agent_token: String,
}

/// What a provisioner needs to bring a running workspace's agent back after a restart.
#[derive(Debug, Clone)]
pub struct ResumeSpec {
    pub workspace_id: Uuid,
    pub sandbox_uid: u32,
    pub network: NetworkMode,
    /// A fresh agent token for the resumed agent.
    pub agent_token: String,
}

/// One line for the build log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub output: String,
}

/// Where a provisioner writes its build log. Sending never blocks; the runner stores lines in
/// batches.
#[derive(Clone)]
pub struct Logs(mpsc::UnboundedSender<LogLine>);

impl Logs {
    pub fn new(tx: mpsc::UnboundedSender<LogLine>) -> Logs {
        Logs(tx)
    }

    /// A message from the provisioner itself.
    pub fn info(&self, output: impl Into<String>) {
        let _ = self.0.send(LogLine { stream: LogStream::Provisioner, output: output.into() });
    }

    /// A line of the startup script's output.
    pub fn script(&self, output: String) {
        let _ = self.0.send(LogLine { stream: LogStream::Script, output });
    }
}

/// Why a build failed; the text becomes the build's `error`.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{}", agentry_types::errors::BuildFailure::ScriptFailed { code: *code })]
    ScriptFailed { code: i32 },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Agent(#[from] AgentError),
    /// Workspaces cannot be sandboxed on this host and the operator did not allow them
    /// unsandboxed; nothing was run.
    #[error("{}", sandbox_unavailable(.0))]
    SandboxUnavailable(String),
}

/// What a refused start says: the catalogue's text around what is missing.
fn sandbox_unavailable(reason: &str) -> String {
    agentry_types::ClientError::WorkspaceIsolationUnavailable { reason: reason.to_string() }.message()
}

/// Brings workspaces up and down. Calls for one workspace never overlap: the store allows one
/// unfinished build per workspace.
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Prepares the workspace, runs the startup script and brings up its agent.
    async fn start(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError>;

    /// Ends every process the workspace started and takes its agent down.
    async fn stop(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError>;

    /// Stops the workspace and removes everything it had.
    async fn delete(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError>;

    /// After a server restart, reconnects to a workspace whose last build was a successful
    /// start, so its agent is available again.
    async fn resume(&self, workspace: &ResumeSpec) -> Result<(), ProvisionError>;

    /// How this provisioner isolates workspaces. With [`Isolation::Unavailable`] every start
    /// fails, and the API refuses to create or start workspaces with its message.
    fn isolation(&self) -> &Isolation;

    /// Server shutdown: ends every workspace's processes.
    async fn shutdown(&self);
}
