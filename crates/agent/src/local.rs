//! [`LocalAgent`]: the workspace agent for a directory on this host.
//!
//! It glues the pieces together: `paths` confines, `files` and `edit` do file work on the
//! blocking thread pool, `process` runs commands. Beyond the [`WorkspaceAgent`] operations it
//! offers what the local provisioner needs: running the startup script with its output streamed
//! line by line, and ending every process on stop.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::paths::Confinement;
use crate::process::{ProcessTable, Spawn};
use crate::sandbox::{Identity, SandboxSpec, WORKSPACE_MOUNT, WORKSPACE_PATH, WORKSPACE_USER};
use crate::{
    AgentError, EditFilesResponse, ExecuteRequest, ExecuteResponse, FileEdit, ProcessInfo,
    ProcessOutput, ReadFileRequest, ReadFileResponse, Signal, WorkspaceAgent, WriteFileResponse,
    edit, files,
};

/// How long [`LocalAgent::shutdown`] waits after SIGTERM before sending SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What `process_list` shows for the startup script.
const STARTUP_SCRIPT_LABEL: &str = "startup script";

/// The workspace agent for one directory on this host. Cheap to share behind an `Arc`.
///
/// Dropping the last handle kills (SIGKILL, without waiting) any process group still running;
/// call [`LocalAgent::shutdown`] for the orderly SIGTERM-then-SIGKILL stop.
pub struct LocalAgent {
    confinement: Confinement,
    processes: ProcessTable,
    shutdown_grace: Duration,
    sandbox: Option<SandboxSpec>,
}

impl LocalAgent {
    /// An agent confined to `root` whose processes run unsandboxed on the host, as the server's
    /// own user. Only for trusted directories (tests, or an operator who asked for unsandboxed
    /// workspaces). The directory need not exist yet; operations fail with a clear error until
    /// it does.
    pub fn new(root: PathBuf) -> Self {
        LocalAgent {
            confinement: Confinement::new(root),
            processes: ProcessTable::new(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            sandbox: None,
        }
    }

    /// An agent whose every process runs in `sandbox` with `root` as its workspace (seen inside
    /// as [`WORKSPACE_MOUNT`]). The file tools accept paths under [`WORKSPACE_MOUNT`] as well,
    /// and what they create belongs to the workspace's user. Call [`SandboxSpec::prepare`] first.
    pub fn sandboxed(root: PathBuf, sandbox: SandboxSpec) -> Self {
        let owner = match sandbox.identity {
            Identity::Uid { uid, gid } => Some((uid, gid)),
            Identity::ServerUser => None,
        };
        LocalAgent {
            confinement: Confinement::new(root).with_alias(PathBuf::from(WORKSPACE_MOUNT)).with_owner(owner),
            processes: ProcessTable::new(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            sandbox: Some(sandbox),
        }
    }

    /// Whether this agent's processes run in a sandbox.
    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The allow-listed environment every process starts with, before the caller's own
    /// variables; nothing of the server's environment is inherited.
    fn base_env(&self, root: &Path) -> Vec<(String, String)> {
        let home = match self.sandbox {
            Some(_) => WORKSPACE_MOUNT.to_string(),
            None => root.to_string_lossy().into_owned(),
        };
        vec![
            ("PATH".to_string(), WORKSPACE_PATH.to_string()),
            ("HOME".to_string(), home),
            ("USER".to_string(), WORKSPACE_USER.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ]
    }

    /// The sandbox and the directory `cwd` (a real path inside the workspace) is inside it.
    fn sandbox_for(&self, root: &Path, cwd: &Path) -> Option<(&SandboxSpec, PathBuf)> {
        let sandbox = self.sandbox.as_ref()?;
        let relative = cwd.strip_prefix(root).unwrap_or(Path::new(""));
        Some((sandbox, Path::new(WORKSPACE_MOUNT).join(relative)))
    }

    /// Sets how long [`shutdown`](Self::shutdown) waits between SIGTERM and SIGKILL.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The workspace root as configured.
    pub fn root(&self) -> &Path {
        self.confinement.root()
    }

    /// Runs a startup script in the workspace root with `env` added to the environment, calling
    /// `on_line` with each line of its output (standard output and error interleaved) as it is
    /// written. Returns the script's exit code (`128 + n` if signal `n` ended it) once the
    /// script's shell exits.
    ///
    /// Processes the script leaves running (`server &`) keep running in the script's process
    /// group, which the agent tracks: it appears in `process_list` as "startup script", its
    /// later output is kept (not streamed), and [`shutdown`](Self::shutdown) ends it.
    pub async fn run_script<F>(
        &self,
        script: &str,
        env: &[(String, String)],
        mut on_line: F,
    ) -> Result<i32, AgentError>
    where
        F: FnMut(String) + Send,
    {
        let root = self.confinement.canonical_root()?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut full_env = self.base_env(&root);
        full_env.extend_from_slice(env);
        let tracked = self.processes.spawn(Spawn {
            script,
            label: STARTUP_SCRIPT_LABEL.to_string(),
            cwd: &root,
            env: &full_env,
            listed: true,
            lines: Some(tx),
            sandbox: self.sandbox_for(&root, &root),
        })?;
        // The sender is dropped when the shell exits, after its last line.
        while let Some(line) = rx.recv().await {
            on_line(line);
        }
        tracked.wait_exit(Duration::MAX).await.ok_or_else(|| {
            AgentError::io(
                "running the startup script",
                std::io::Error::other("no exit status"),
            )
        })
    }

    /// Ends every process this agent started — startup script, commands, and everything they
    /// left in the background: SIGTERM to each process group, SIGKILL to those still running
    /// after the grace period. When it returns, none of them is running. From the moment it is
    /// called the agent refuses to start processes; file operations keep working.
    pub async fn shutdown(&self) {
        self.processes.shutdown(self.shutdown_grace).await;
    }

    /// Runs a blocking file operation on Tokio's blocking pool with a copy of the confinement.
    async fn blocking<T, F>(&self, op: F) -> Result<T, AgentError>
    where
        T: Send + 'static,
        F: FnOnce(&Confinement) -> Result<T, AgentError> + Send + 'static,
    {
        let confinement = self.confinement.clone();
        match tokio::task::spawn_blocking(move || op(&confinement)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(AgentError::io("file operation", std::io::Error::other(e))),
        }
    }

    /// [`blocking`](Self::blocking) for the file tools: in a sandbox run by root, the operation
    /// runs with the workspace user's file-system identity, so the kernel checks every access
    /// as that user. Even if a process in the workspace swaps a directory for a symbolic link
    /// between the confinement's check and the use, the tool can reach nothing the workspace
    /// user could not reach itself.
    async fn file_op<T, F>(&self, op: F) -> Result<T, AgentError>
    where
        T: Send + 'static,
        F: FnOnce(&Confinement) -> Result<T, AgentError> + Send + 'static,
    {
        self.blocking(move |c| match c.owner() {
            None => op(c),
            Some((uid, gid)) => {
                // Opened with the server's identity, which may walk the path to the root; the
                // user then reaches it through the descriptor.
                let root = c.canonical_root()?;
                let dir = std::fs::File::open(&root)
                    .map_err(|e| AgentError::io("the workspace directory is not accessible", e))?;
                let pinned = c.pinned_at(PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())));
                let _identity = FsIdentity::assume(uid, gid)?;
                op(&pinned)
            }
        })
        .await
    }
}

/// The calling thread's file-system uid and gid, switched for as long as this lives. Linux
/// keeps these per thread, so other threads of the server keep its identity.
struct FsIdentity {
    uid: u32,
    gid: u32,
}

impl FsIdentity {
    fn assume(uid: u32, gid: u32) -> Result<FsIdentity, AgentError> {
        // SAFETY: setfsuid/setfsgid have no memory-safety preconditions; they return the
        // previous id and change only this thread's file-system identity.
        let (old_gid, old_uid) = unsafe { (libc::setfsgid(gid), libc::setfsuid(uid)) };
        let saved = FsIdentity { uid: old_uid as u32, gid: old_gid as u32 };
        // They report no errors; asking again (an invalid id changes nothing) tells whether
        // the switch took.
        // SAFETY: as above.
        let now = unsafe { (libc::setfsuid(u32::MAX), libc::setfsgid(u32::MAX)) };
        if now != (uid as libc::c_int, gid as libc::c_int) {
            drop(saved);
            return Err(AgentError::io(
                "switching to the workspace user for a file operation",
                std::io::Error::from_raw_os_error(libc::EPERM),
            ));
        }
        Ok(saved)
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        // SAFETY: as in `assume`.
        unsafe {
            libc::setfsuid(self.uid);
            libc::setfsgid(self.gid);
        }
    }
}

#[async_trait]
impl WorkspaceAgent for LocalAgent {
    async fn read_file(&self, req: ReadFileRequest) -> Result<ReadFileResponse, AgentError> {
        self.file_op(move |c| files::read_file(c, &req)).await
    }

    async fn write_file(&self, path: &str, content: &str) -> Result<WriteFileResponse, AgentError> {
        let (path, content) = (path.to_string(), content.to_string());
        self.file_op(move |c| files::write_file(c, &path, &content))
            .await
    }

    async fn edit_files(&self, edits: Vec<FileEdit>) -> Result<EditFilesResponse, AgentError> {
        self.file_op(move |c| edit::edit_files(c, &edits)).await
    }

    async fn execute(&self, req: ExecuteRequest) -> Result<ExecuteResponse, AgentError> {
        let workdir = req.workdir.clone();
        let cwd = self
            .blocking(move |c| match workdir {
                None => c.canonical_root(),
                Some(dir) => {
                    let resolved = c.resolve(&dir)?;
                    match std::fs::metadata(&resolved) {
                        Ok(meta) if meta.is_dir() => Ok(resolved),
                        Ok(_) => Err(AgentError::NotADirectory { path: dir }),
                        Err(_) => Err(AgentError::NotFound { path: dir }),
                    }
                }
            })
            .await?;

        let root = self.confinement.canonical_root()?;
        let mut env = self.base_env(&root);
        env.extend_from_slice(&req.env);
        let started = Instant::now();
        let tracked = self.processes.spawn(Spawn {
            script: &req.command,
            label: req.command.clone(),
            cwd: &cwd,
            env: &env,
            listed: req.run_in_background,
            lines: None,
            sandbox: self.sandbox_for(&root, &cwd),
        })?;
        if req.run_in_background {
            return Ok(ExecuteResponse {
                exit_code: None,
                output: String::new(),
                truncated: false,
                duration_ms: 0,
                timed_out: false,
                background_process_id: Some(tracked.id.clone()),
            });
        }

        let exit_code = tracked.wait_exit(req.timeout).await;
        let timed_out = exit_code.is_none();
        if timed_out {
            self.processes.list(&tracked);
        }
        let (output, truncated) = tracked.output();
        Ok(ExecuteResponse {
            exit_code,
            output,
            truncated,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            timed_out,
            background_process_id: timed_out.then(|| tracked.id.clone()),
        })
    }

    async fn process_output(&self, id: &str, wait: Duration) -> Result<ProcessOutput, AgentError> {
        let tracked = self.processes.get(id)?;
        tracked.wait_exit(wait).await;
        Ok(tracked.snapshot())
    }

    async fn process_list(&self) -> Result<Vec<ProcessInfo>, AgentError> {
        Ok(self.processes.list_info())
    }

    async fn process_signal(&self, id: &str, signal: Signal) -> Result<(), AgentError> {
        self.processes.signal(id, signal)
    }

    async fn read_bytes(&self, path: &str, offset: u64, length: u64) -> Result<crate::ReadBytesResponse, AgentError> {
        use base64::Engine;
        let path = path.to_string();
        let (bytes, size, eof) = self.file_op(move |c| files::read_bytes(c, &path, offset, length)).await?;
        Ok(crate::ReadBytesResponse { data: base64::engine::general_purpose::STANDARD.encode(bytes), size, eof })
    }

    async fn list_dir(&self, path: &str) -> Result<Vec<crate::protocol::DirEntry>, AgentError> {
        let path = path.to_string();
        self.file_op(move |c| files::list_dir(c, &path)).await
    }
}
