//! The local provisioner: a workspace is the directory `<root>/<workspace id>` on this host,
//! served by an `agentry agent` process that this server starts for it.
//!
//! `start` prepares the directory, starts the agent — inside the bubblewrap sandbox, as the
//! workspace's own uid, as the sandbox's only process — and waits for it to dial in to this
//! server through the agent socket (bound into the sandbox at `AGENT_SOCKET`, so it works with
//! `network: none` too). The startup script then runs through that connection
//! (`Op::RunScript`, each output line going to the build log). Everything the workspace runs
//! is a child of the agent, so it is inside the sandbox by construction, and when the agent
//! exits its PID namespace ends and takes every remaining process with it. `stop` asks the
//! agent to end its processes (`Op::Shutdown`: SIGTERM, then SIGKILL after a grace period),
//! then ends the sandbox; `delete` stops and removes the directory.
//!
//! The startup script sees the parameters as `AGENTRY_PARAM_<NAME>` (the name upper-cased),
//! plus `AGENTRY_WORKSPACE_ID`, `AGENTRY_WORKSPACE_NAME` and `AGENTRY_WORKSPACE_OWNER`. Plain
//! names (`$region`) are deliberately not set: a parameter called `path` or `home` would
//! silently replace the shell's own variable.
//!
//! Isolation ([`Isolation`]): with the sandbox, the directory is `0700` and owned by the
//! workspace's uid, and the sandbox's own files (private `/tmp`, `passwd`) live in
//! `<root>/.sandbox/<workspace id>`, which the workspace never sees. When the sandbox is
//! unavailable every start fails before anything runs.

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_agent::protocol::Op;
use agentry_agent::{
    AGENT_SOCKET, Identity, Network, SandboxSpec, WORKSPACE_MOUNT, WORKSPACE_PATH, WORKSPACE_USER, is_root,
};
use async_trait::async_trait;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use uuid::Uuid;

use agentry_store::templates::NetworkMode;

use crate::agents::{AgentConn, Agents};
use crate::{BuildSpec, Isolation, Logs, ProvisionError, Provisioner, ResumeSpec};

/// The folder under the workspaces root that holds each sandbox's own files.
const SANDBOX_STATE: &str = ".sandbox";

/// How long a freshly started agent may take to dial in.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop` waits for the agent to end the workspace's processes before ending the
/// sandbox itself.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the agent's own error output kept for a failure message.
const STDERR_TAIL: usize = 20;

pub struct LocalProvisioner {
    root: PathBuf,
    isolation: Isolation,
    agents: Arc<Agents>,
    /// The `agentry` executable that runs as the agent.
    agent_binary: PathBuf,
    /// The server's agent socket on this host.
    socket: PathBuf,
    procs: Mutex<HashMap<Uuid, Child>>,
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
    /// `isolation` says; their agents are `agent_binary agent` processes that dial in through
    /// the unix socket `socket`, which this server serves.
    pub fn new(root: PathBuf, isolation: Isolation, agents: Arc<Agents>, agent_binary: PathBuf, socket: PathBuf) -> LocalProvisioner {
        LocalProvisioner { root, isolation, agents, agent_binary, socket, procs: Mutex::new(HashMap::new()) }
    }

    pub fn workspace_dir(&self, workspace_id: Uuid) -> PathBuf {
        self.root.join(workspace_id.to_string())
    }

    fn state_dir(&self, workspace_id: Uuid) -> PathBuf {
        self.root.join(SANDBOX_STATE).join(workspace_id.to_string())
    }

    /// Where the agent socket of a server with data directory `data_dir` lives (outside the
    /// workspaces folder, which holds only workspaces).
    pub fn socket_path(data_dir: &Path) -> PathBuf {
        data_dir.join("run").join("agent.sock")
    }

    /// Starts the workspace's agent and waits for it to connect.
    async fn launch(&self, workspace_id: Uuid, uid: u32, network: NetworkMode, token: &str) -> Result<Arc<AgentConn>, ProvisionError> {
        let dir = self.workspace_dir(workspace_id);
        let env = |home: &str, url: String| {
            vec![
                ("PATH".to_string(), WORKSPACE_PATH.to_string()),
                ("HOME".to_string(), home.to_string()),
                ("USER".to_string(), WORKSPACE_USER.to_string()),
                ("LANG".to_string(), "C.UTF-8".to_string()),
                ("AGENTRY_AGENT_URL".to_string(), url),
                ("AGENTRY_AGENT_TOKEN".to_string(), token.to_string()),
            ]
        };
        let mut cmd = match &self.isolation {
            Isolation::Unavailable { reason } => return Err(ProvisionError::SandboxUnavailable(reason.clone())),
            Isolation::Unsandboxed => {
                let mut c = Command::new(&self.agent_binary);
                c.arg("agent").current_dir(&dir).env_clear();
                c.envs(env(&dir.to_string_lossy(), format!("unix:{}", self.socket.display())));
                c
            }
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
                spec.agent_command(&dir, &self.agent_binary, &self.socket, &env(WORKSPACE_MOUNT, format!("unix:{AGENT_SOCKET}")))
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|source| ProvisionError::Io { context: "starting the workspace agent".into(), source })?;
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(workspace = %workspace_id, "agent: {line}");
                    let mut t = tail.lock().expect("tail lock");
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let failed = |what: String, tail: &Mutex<VecDeque<String>>| {
            let said: Vec<String> = tail.lock().expect("tail lock").iter().cloned().collect();
            ProvisionError::Io {
                context: format!("the workspace agent {what}"),
                source: std::io::Error::other(if said.is_empty() { "no output".to_string() } else { said.join(" | ") }),
            }
        };
        let conn = tokio::select! {
            conn = self.agents.wait_local(workspace_id, CONNECT_TIMEOUT) => conn,
            status = child.wait() => {
                // Let the reader take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                return Err(failed(format!("exited before connecting ({status})"), &tail));
            }
        };
        let Some(conn) = conn else {
            let _ = child.start_kill();
            return Err(failed(format!("did not connect within {} s", CONNECT_TIMEOUT.as_secs()), &tail));
        };
        self.procs.lock().expect("procs lock").insert(workspace_id, child);
        Ok(conn)
    }

    /// Ends the workspace's agent and everything it started.
    async fn stop_agent(&self, workspace_id: Uuid, logs: &Logs) {
        let child = self.procs.lock().expect("procs lock").remove(&workspace_id);
        let conn = self.agents.local(workspace_id);
        if child.is_none() && conn.is_none() {
            // Started by another replica: its agent is there, reachable through the relay.
            match tokio::time::timeout(SHUTDOWN_TIMEOUT, self.agents.call(workspace_id, Op::Shutdown)).await {
                Ok(Ok(_)) => logs.info("The workspace agent on another server ended every process it started."),
                _ => logs.info("No workspace agent is running; nothing to stop."),
            }
            return;
        }
        logs.info("Stopping every process the workspace started.");
        if let Some(conn) = conn {
            match tokio::time::timeout(SHUTDOWN_TIMEOUT, conn.call_streaming(Op::Shutdown, None)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(workspace = %workspace_id, error = %e, "the agent did not shut down cleanly"),
                Err(_) => tracing::warn!(workspace = %workspace_id, "the agent did not shut down in time"),
            }
        }
        self.agents.drop_local(workspace_id);
        if let Some(mut child) = child
            && tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err()
        {
            // Ending the sandbox ends its PID namespace, and every process in it.
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        logs.info("All workspace processes have ended.");
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
        // A failed earlier start may have left an agent behind.
        if self.procs.lock().expect("procs lock").contains_key(&build.workspace_id) {
            self.stop_agent(build.workspace_id, logs).await;
        }
        match self.isolation {
            Isolation::Unsandboxed => {
                logs.info("WARNING: this server runs workspaces without a sandbox (--unsafe-unsandboxed-workspaces).")
            }
            _ => logs.info("Workspace processes run in a bubblewrap sandbox."),
        }
        logs.info("Starting the workspace agent.");
        let conn = self.launch(build.workspace_id, build.sandbox_uid, build.network, &build.agent_token).await?;
        logs.info(format!("The workspace agent (version {}) connected.", conn.version));
        if build.startup_script.trim().is_empty() {
            logs.info("The template has no startup script.");
        } else {
            logs.info("Running the startup script.");
            let (tx, mut rx) = mpsc::unbounded_channel();
            let op = Op::RunScript { script: build.startup_script.clone(), env: script_env(build) };
            let (result, ()) = tokio::join!(conn.call_streaming(op, Some(tx)), async {
                while let Some(line) = rx.recv().await {
                    logs.script(line);
                }
            });
            let code = result.and_then(|v| {
                serde_json::from_value::<i32>(v).map_err(|e| agentry_agent::AgentError::Remote { message: e.to_string() })
            });
            match code {
                Ok(0) => logs.info("The startup script finished."),
                Ok(code) => {
                    self.stop_agent(build.workspace_id, logs).await;
                    return Err(ProvisionError::ScriptFailed { code });
                }
                Err(e) => {
                    self.stop_agent(build.workspace_id, logs).await;
                    return Err(e.into());
                }
            }
        }
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
        if self.agents.local(workspace_id).is_some() {
            return Ok(());
        }
        self.launch(workspace_id, workspace.sandbox_uid, workspace.network, &workspace.agent_token).await?;
        Ok(())
    }

    fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    async fn shutdown(&self) {
        let ids: Vec<Uuid> = self.procs.lock().expect("procs lock").keys().copied().collect();
        let (tx, _rx) = mpsc::unbounded_channel();
        let logs = Logs::new(tx);
        futures::future::join_all(ids.into_iter().map(|id| self.stop_agent(id, &logs))).await;
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
