//! The local provisioner: a workspace is the directory `<root>/<workspace id>` on this host.
//!
//! `start` creates the directory and runs the template's startup script there through a fresh
//! `LocalAgent` (`LocalAgent::run_script`, each output line going to the build log), then keeps
//! that agent in a registry keyed by workspace id; `stop` takes it out and calls
//! `LocalAgent::shutdown`, which ends every process group the workspace started; `delete`
//! stops and removes the directory.
//!
//! The startup script sees the parameters as `AGENTRY_PARAM_<NAME>` (the name upper-cased),
//! plus `AGENTRY_WORKSPACE_ID`, `AGENTRY_WORKSPACE_NAME` and `AGENTRY_WORKSPACE_OWNER`. Plain
//! names (`$region`) are deliberately not set: a parameter called `path` or `home` would
//! silently replace the shell's own variable.
//!
//! Isolation ([`Isolation`]): with the sandbox, the directory is `0700` and owned by the
//! workspace's uid, the agent is `LocalAgent::sandboxed`, and the sandbox's own files (private
//! `/tmp`, `passwd`) live in `<root>/.sandbox/<workspace id>`, which the workspace never sees.
//! When the sandbox is unavailable every start fails before anything runs.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_agent::{DEFAULT_SHUTDOWN_GRACE, Identity, LocalAgent, Network, SandboxSpec, WorkspaceAgent, is_root};
use async_trait::async_trait;
use uuid::Uuid;

use agentry_store::templates::NetworkMode;

use crate::{BuildSpec, Isolation, Logs, ProvisionError, Provisioner, ResumeSpec};

/// The folder under the workspaces root that holds each sandbox's own files.
const SANDBOX_STATE: &str = ".sandbox";

pub struct LocalProvisioner {
    root: PathBuf,
    isolation: Isolation,
    agents: Mutex<HashMap<Uuid, Arc<LocalAgent>>>,
    shutdown_grace: Duration,
}

/// The environment a startup script gets.
pub(crate) fn script_env(build: &BuildSpec) -> Vec<(String, String)> {
    let mut env = vec![
        ("AGENTRY_WORKSPACE_ID".to_string(), build.workspace_id.to_string()),
        ("AGENTRY_WORKSPACE_NAME".to_string(), build.workspace_name.clone()),
        ("AGENTRY_WORKSPACE_OWNER".to_string(), build.owner_name.clone()),
    ];
    for (name, value) in &build.parameters {
        env.push((format!("AGENTRY_PARAM_{}", name.to_ascii_uppercase()), value.clone()));
    }
    env
}

impl LocalProvisioner {
    /// Workspaces live under `root` (the server uses `<data dir>/workspaces`), isolated as
    /// `isolation` says.
    pub fn new(root: PathBuf, isolation: Isolation) -> LocalProvisioner {
        LocalProvisioner { root, isolation, agents: Mutex::new(HashMap::new()), shutdown_grace: DEFAULT_SHUTDOWN_GRACE }
    }

    /// How long `stop` waits between SIGTERM and SIGKILL.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> LocalProvisioner {
        self.shutdown_grace = grace;
        self
    }

    pub fn workspace_dir(&self, workspace_id: Uuid) -> PathBuf {
        self.root.join(workspace_id.to_string())
    }

    fn take(&self, workspace_id: Uuid) -> Option<Arc<LocalAgent>> {
        self.agents.lock().expect("agent registry lock").remove(&workspace_id)
    }

    fn state_dir(&self, workspace_id: Uuid) -> PathBuf {
        self.root.join(SANDBOX_STATE).join(workspace_id.to_string())
    }

    /// A fresh agent for the workspace, with its directory (and sandbox files) made ready for
    /// it: owned by the workspace's uid and closed to everyone else.
    async fn new_agent(&self, workspace_id: Uuid, uid: u32, network: NetworkMode) -> Result<Arc<LocalAgent>, ProvisionError> {
        let dir = self.workspace_dir(workspace_id);
        let agent = match &self.isolation {
            Isolation::Unavailable { reason } => return Err(ProvisionError::SandboxUnavailable(reason.clone())),
            Isolation::Unsandboxed => LocalAgent::new(dir),
            Isolation::Sandbox { bwrap } => {
                let identity = if is_root() { Identity::Uid { uid, gid: uid } } else { Identity::ServerUser };
                let spec = SandboxSpec {
                    bwrap: bwrap.clone(),
                    identity,
                    network: match network {
                        NetworkMode::Full => Network::Full,
                        NetworkMode::None => Network::None,
                    },
                    state_dir: self.state_dir(workspace_id),
                };
                let owner = matches!(identity, Identity::Uid { .. }).then_some(uid);
                let prepared = spec.clone();
                let ws_dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    if let Some(uid) = owner {
                        give_tree(&ws_dir, uid)?;
                    }
                    std::fs::set_permissions(&ws_dir, std::fs::Permissions::from_mode(0o700))?;
                    prepared.prepare()
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(|source| ProvisionError::Io { context: "preparing the workspace sandbox".into(), source })?;
                LocalAgent::sandboxed(dir, spec)
            }
        };
        Ok(Arc::new(agent.with_shutdown_grace(self.shutdown_grace)))
    }

    async fn stop_agent(&self, workspace_id: Uuid, logs: &Logs) {
        match self.take(workspace_id) {
            Some(agent) => {
                logs.info("Stopping every process the workspace started.");
                agent.shutdown().await;
                logs.info("All workspace processes have ended.");
            }
            None => logs.info("No workspace agent is running; nothing to stop."),
        }
    }
}

#[async_trait]
impl Provisioner for LocalProvisioner {
    async fn start(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        // Fail closed before anything is created or run.
        self.isolation.ready().map_err(ProvisionError::SandboxUnavailable)?;
        let dir = self.workspace_dir(build.workspace_id);
        tokio::fs::create_dir_all(&dir).await.map_err(|source| ProvisionError::Io {
            context: "creating the workspace directory".into(),
            source,
        })?;
        // A failed earlier start may have left processes behind.
        if let Some(old) = self.take(build.workspace_id) {
            old.shutdown().await;
        }
        let agent = self.new_agent(build.workspace_id, build.sandbox_uid, build.network).await?;
        if agent.is_sandboxed() {
            logs.info("Workspace processes run in a bubblewrap sandbox.");
        } else {
            logs.info("WARNING: this server runs workspaces without a sandbox (--unsafe-unsandboxed-workspaces).");
        }
        if build.startup_script.trim().is_empty() {
            logs.info("The template has no startup script.");
        } else {
            logs.info("Running the startup script.");
            let code = agent.run_script(&build.startup_script, &script_env(build), |line| logs.script(line)).await;
            match code {
                Ok(0) => logs.info("The startup script finished."),
                Ok(code) => {
                    agent.shutdown().await;
                    return Err(ProvisionError::ScriptFailed { code });
                }
                Err(e) => {
                    agent.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        self.agents.lock().expect("agent registry lock").insert(build.workspace_id, agent);
        logs.info("The workspace agent is ready.");
        Ok(())
    }

    async fn stop(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        self.stop_agent(build.workspace_id, logs).await;
        // The private /tmp goes with the processes, as on a machine that shuts down.
        remove_dir_if_present(&self.state_dir(build.workspace_id)).await.map_err(|source| ProvisionError::Io {
            context: "removing the workspace's temporary files".into(),
            source,
        })?;
        Ok(())
    }

    async fn delete(&self, build: &BuildSpec, logs: &Logs) -> Result<(), ProvisionError> {
        self.stop_agent(build.workspace_id, logs).await;
        let _ = remove_dir_if_present(&self.state_dir(build.workspace_id)).await;
        let dir = self.workspace_dir(build.workspace_id);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => logs.info("Removed the workspace directory."),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => logs.info("The workspace directory was already gone."),
            Err(source) => {
                return Err(ProvisionError::Io { context: "removing the workspace directory".into(), source });
            }
        }
        Ok(())
    }

    /// The processes of the previous server process are gone; the files remain, so a fresh
    /// agent over the directory serves file operations and commands again.
    async fn resume(&self, workspace: &ResumeSpec) -> Result<(), ProvisionError> {
        let workspace_id = workspace.workspace_id;
        let dir = self.workspace_dir(workspace_id);
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(ProvisionError::Io {
                context: format!("resuming workspace {workspace_id}"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "its directory is missing"),
            });
        }
        let agent = self.new_agent(workspace_id, workspace.sandbox_uid, workspace.network).await?;
        self.agents.lock().expect("agent registry lock").entry(workspace_id).or_insert(agent);
        Ok(())
    }

    fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    fn agent(&self, workspace_id: Uuid) -> Option<Arc<dyn WorkspaceAgent>> {
        let agents = self.agents.lock().expect("agent registry lock");
        agents.get(&workspace_id).map(|a| a.clone() as Arc<dyn WorkspaceAgent>)
    }

    async fn shutdown(&self) {
        let agents: Vec<Arc<LocalAgent>> = self.agents.lock().expect("agent registry lock").drain().map(|(_, a)| a).collect();
        for a in agents {
            a.shutdown().await;
        }
    }
}

/// Gives `dir` and everything under it to `uid` (links themselves, never their targets). Only
/// walks the tree when the directory is not already the workspace user's: a workspace created
/// before sandboxing has root's files in it.
fn give_tree(dir: &Path, uid: u32) -> std::io::Result<()> {
    if std::fs::symlink_metadata(dir)?.uid() == uid {
        return Ok(());
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid))?;
    }
    Ok(())
}

async fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
