//! The external provisioner: the workspace lives wherever its user runs `agentry agent` (a
//! laptop, a VM, a container elsewhere). The server starts nothing; a `start` build waits for
//! the agent to dial in to any replica, and the workspace is running from then on. The command
//! to run is shown by `GET /api/v2/workspaces/{id}/external-agent` (`agentry workspaces
//! agent-command`), which mints an agent token for the build each time.
//!
//! `stop` and `delete` ask the agent to end its processes (`Op::Shutdown`, relayed to the
//! replica holding its connection); the stop build has already revoked its tokens, so the
//! agent cannot come back.

use std::sync::Arc;
use std::time::Duration;

use agentry_agent::protocol::Op;
use async_trait::async_trait;

use crate::agents::Agents;
use crate::{BuildSpec, Isolation, Logs, ProvisionError, Provisioner, ResumeSpec};

/// How long a `start` waits for the agent before the build fails.
pub const EXTERNAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const POLL: Duration = Duration::from_millis(500);

pub struct ExternalProvisioner {
    agents: Arc<Agents>,
    isolation: Isolation,
}

impl ExternalProvisioner {
    pub fn new(agents: Arc<Agents>) -> ExternalProvisioner {
        // External agents run outside this server; nothing here needs a sandbox.
        ExternalProvisioner { agents, isolation: Isolation::Unsandboxed }
    }

    async fn stop_agent(&self, build: &BuildSpec, logs: &Logs) {
        match self.agents.call(build.workspace_id, Op::Shutdown).await {
            Ok(_) => logs.info("The workspace agent ended every process it started and exits."),
            Err(e) => logs.info(format!("The workspace agent could not be asked to stop ({e}); its token is revoked.")),
        }
        self.agents.drop_local(build.workspace_id);
    }
}

#[async_trait]
impl Provisioner for ExternalProvisioner {
    async fn start(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        logs.info(format!(
            "This is an external workspace: it runs wherever you start its agent. Show the exact command \
             with `agentry workspaces agent-command {}/{}` (or GET /api/v2/workspaces/{}/external-agent) and run \
             it in the directory the workspace should use. Waiting for the agent to connect.",
            build.owner_name, build.workspace_name, build.workspace_id
        ));
        let deadline = tokio::time::Instant::now() + EXTERNAL_CONNECT_TIMEOUT;
        loop {
            if let Some(version) = self.agents.connected_version(build.workspace_id).await {
                logs.info(format!("The workspace agent (version {version}) connected."));
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ProvisionError::Io {
                    context: "waiting for the external workspace agent".into(),
                    source: std::io::Error::other(format!(
                        "no agent connected within {} minutes; run the command shown, then start the workspace again",
                        EXTERNAL_CONNECT_TIMEOUT.as_secs() / 60
                    )),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn stop(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        self.stop_agent(build, logs).await;
        Ok(())
    }

    async fn delete(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        self.stop_agent(build, logs).await;
        logs.info("The workspace's files stay wherever its agent ran; remove them there.");
        Ok(())
    }

    async fn resume(&self, _workspace: &ResumeSpec) -> Result<(), ProvisionError> {
        // The agent reconnects by itself.
        Ok(())
    }

    fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    async fn shutdown(&self) {}
}
