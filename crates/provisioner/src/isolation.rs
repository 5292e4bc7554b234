//! How workspaces are isolated from the server and from each other, decided once at start.

use std::path::PathBuf;

use agentry_agent::find_bwrap;

/// The isolation the local provisioner gives workspaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Every workspace process runs in a bubblewrap sandbox (the default).
    Sandbox { bwrap: PathBuf },
    /// The sandbox cannot be set up on this host and the operator did not opt out of it: every
    /// attempt to create or start a workspace fails with `reason`, and nothing runs.
    Unavailable { reason: String },
    /// The operator passed `--unsafe-unsandboxed-workspaces`: workspace processes run on the
    /// host as the server's own user. Only for a single trusted team.
    Unsandboxed,
}

impl Isolation {
    /// Finds and tries bubblewrap on the server's `PATH`, unless the operator chose to run
    /// workspaces unsandboxed.
    pub async fn detect(unsafe_unsandboxed: bool) -> Isolation {
        if unsafe_unsandboxed {
            return Isolation::Unsandboxed;
        }
        let path = std::env::var("PATH").unwrap_or_default();
        match find_bwrap(&path).await {
            Ok(bwrap) => Isolation::Sandbox { bwrap },
            // What is missing; the catalogue's `WorkspaceIsolationUnavailable` says what to do.
            Err(reason) => Isolation::Unavailable { reason },
        }
    }

    /// The name `buildinfo` shows: `sandbox`, `unavailable` or `unsandboxed`.
    pub fn label(&self) -> &'static str {
        match self {
            Isolation::Sandbox { .. } => "sandbox",
            Isolation::Unavailable { .. } => "unavailable",
            Isolation::Unsandboxed => "unsandboxed",
        }
    }

    /// `Err` with the message for users when workspaces cannot run.
    pub fn ready(&self) -> Result<(), String> {
        match self {
            Isolation::Unavailable { reason } => Err(reason.clone()),
            _ => Ok(()),
        }
    }
}
