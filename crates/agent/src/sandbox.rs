//! The workspace sandbox: every process a sandboxed agent starts runs inside bubblewrap.
//!
//! Why bubblewrap (`bwrap`): it is the small, audited setuid-free sandbox behind Flatpak, built on
//! the same kernel namespaces containers use, and it needs no daemon. A sandboxed command sees:
//! read-only system directories (`/usr`, `/etc` and the `/bin`-style links), its workspace
//! directory at [`WORKSPACE_MOUNT`] (read-write, its home and working directory), a private
//! `/tmp` that belongs to the workspace, its own `/proc` (a new PID namespace, so no server or
//! PostgreSQL process is visible) and a minimal `/dev`. Nothing else of the host's file system
//! exists inside: not the server's data directory, not the database socket, not other
//! workspaces, not `/root` or any home directory.
//!
//! Identity: when the server runs as root, the command drops to the workspace's own uid and gid
//! inside the sandbox (`setpriv`, with every capability and the bounding set cleared and
//! `no_new_privs` set), so files it creates are owned by that uid on the host and it cannot
//! touch another workspace's files even by a path it guessed. A server that is not root cannot
//! switch uids; its sandboxes run in a user namespace under the server's own uid (the mounts
//! still hide everything above), which [`Identity::ServerUser`] names so the operator is told.
//!
//! Environment: exactly the allow-list the caller passes, set with `env -i` after the switch to
//! the workspace user; nothing of the server's own environment (provider keys, `AGENTRY_*`
//! settings, database URLs) is inherited, and bwrap itself runs with none.
//!
//! Exit versus background work: bwrap's PID namespace ends when its first process exits, which
//! would kill whatever a startup script left running (`server &`). So the first process is a
//! small shell ([`WAITER`]) that runs the command, reports its exit code on a status pipe (file
//! descriptor 3), closes its output, and then stays until no other process is left in the
//! namespace. The agent treats the status pipe's code as the command's exit and the output pipe's
//! end as "everything it started is gone", exactly as for an unsandboxed shell.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Where the workspace directory appears inside the sandbox.
pub const WORKSPACE_MOUNT: &str = "/workspace";

/// `PATH` inside a workspace.
pub const WORKSPACE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the agent binary appears inside a sandbox that runs the workspace agent.
pub const AGENT_BINARY: &str = "/.agentry/agentry";

/// Where the server's agent socket appears inside such a sandbox.
pub const AGENT_SOCKET: &str = "/run/agentry/agent.sock";

/// The user name a sandboxed workspace process has (in `USER` and the sandbox's `/etc/passwd`).
pub const WORKSPACE_USER: &str = "workspace";

/// The file descriptor on which [`WAITER`] reports the command's exit code.
pub(crate) const STATUS_FD: libc::c_int = 3;

/// The sandbox's first process. `$1` is the command. The command runs without the status pipe
/// (`3>&-`) so nothing it starts can hold that pipe open. After the code is reported the waiter
/// lets go of the output pipe too, then polls its own `/proc` with a shell glob (no child
/// process) until only PID 1 (bwrap) and itself are left.
const WAITER: &str = r#"sh -c "$1" 3>&-
code=$?
echo "$code" >&3
exec 3>&- >/dev/null 2>&1 </dev/null
while :; do
  set -- /proc/[0-9]*
  [ "$#" -le 2 ] && exit "$code"
  sleep 0.2
done"#;

/// Outbound network policy of a sandboxed workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The host's network: package installs and `git clone` work. The workspace can reach the
    /// server's HTTP port like any other client (it still needs a token).
    Full,
    /// An empty network namespace: only its own loopback.
    None,
}

/// Who a sandboxed process is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The server is root: drop to this uid and gid (one per workspace).
    Uid { uid: u32, gid: u32 },
    /// The server is not root and cannot switch users: the sandbox runs in a user namespace
    /// under the server's own uid.
    ServerUser,
}

/// Everything needed to run one workspace's processes sandboxed.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// The `bwrap` executable (see [`find_bwrap`]).
    pub bwrap: PathBuf,
    pub identity: Identity,
    pub network: Network,
    /// A directory private to this workspace that the sandbox machinery owns: `tmp/` (bound on
    /// `/tmp`), and `passwd`/`group` files that name the workspace user. Outside the workspace
    /// directory on purpose, so the workspace cannot replace them.
    pub state_dir: PathBuf,
}

impl SandboxSpec {
    /// Creates the state directory's contents: a private `/tmp` owned by the workspace user, and
    /// `/etc/passwd` and `/etc/group` with an entry for that user (tools such as git and ssh look
    /// the current user up). Idempotent.
    pub fn prepare(&self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.state_dir)?;
        std::fs::set_permissions(&self.state_dir, std::fs::Permissions::from_mode(0o711))?;
        let tmp = self.state_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
        if let Identity::Uid { uid, gid } = self.identity {
            std::os::unix::fs::lchown(&tmp, Some(uid), Some(gid))?;
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
            let user_line = format!(
                "{WORKSPACE_USER}:x:{uid}:{gid}:agentry workspace:{WORKSPACE_MOUNT}:/bin/sh\n"
            );
            let group_line = format!("{WORKSPACE_USER}:x:{gid}:\n");
            write_public(&self.state_dir.join("passwd"), &with_line(&passwd, &user_line))?;
            write_public(&self.state_dir.join("group"), &with_line(&group, &group_line))?;
        }
        Ok(())
    }

    /// The command that runs `script` with `sh -c` in the sandbox, in `cwd_inside` (a path under
    /// [`WORKSPACE_MOUNT`]), with exactly the environment `env`. The caller sets standard streams
    /// and process group, and must pass the status pipe's write end as [`STATUS_FD`]
    /// (see [`pass_status_fd`]).
    ///
    /// bwrap and setpriv run as root with an empty environment: variables such as `LD_PRELOAD`
    /// from a request must never reach a privileged program. `env -i` sets the command's
    /// variables only after setpriv has dropped to the workspace user.
    pub(crate) fn command(
        &self,
        root: &Path,
        cwd_inside: &Path,
        script: &str,
        env: &[(String, String)],
    ) -> Command {
        let mut c = Command::new(&self.bwrap);
        c.env_clear();
        c.args(self.bwrap_args(root, cwd_inside, &[]));
        self.drop_to_user(&mut c);
        c.args(["env", "-i", "--"]);
        c.args(env.iter().filter(|(k, _)| is_env_name(k)).map(|(k, v)| format!("{k}={v}")));
        c.args(["sh", "-c", WAITER, "agentry-sandbox", script]);
        c.stdin(Stdio::null());
        c
    }

    /// The command that runs the workspace agent (`agentry agent`) as the sandbox's only
    /// process: `binary` is bound read-only at [`AGENT_BINARY`], the server's agent socket at
    /// [`AGENT_SOCKET`], and the agent starts in [`WORKSPACE_MOUNT`] as the workspace user with
    /// exactly `env`. Everything the workspace runs is the agent's child, so it is inside the
    /// sandbox by construction; when the agent exits, the PID namespace and all of it end.
    pub fn agent_command(&self, root: &Path, binary: &Path, socket: &Path, env: &[(String, String)]) -> Command {
        // bwrap would create the mount points' parents readable by root only.
        let dir = |path: &str| ["--perms", "0755", "--dir", path].map(str::to_string);
        let binds = [
            dir("/.agentry").as_slice(),
            dir("/run").as_slice(),
            dir("/run/agentry").as_slice(),
        ]
        .concat();
        let binds = [
            binds,
            vec![
            "--ro-bind".to_string(),
            binary.to_string_lossy().into_owned(),
            AGENT_BINARY.to_string(),
            "--bind".to_string(),
            socket.to_string_lossy().into_owned(),
            AGENT_SOCKET.to_string(),
            ],
        ]
        .concat();
        let mut c = Command::new(&self.bwrap);
        c.env_clear();
        c.args(self.bwrap_args(root, Path::new(WORKSPACE_MOUNT), &binds));
        self.drop_to_user(&mut c);
        c.args(["env", "-i", "--"]);
        c.args(env.iter().filter(|(k, _)| is_env_name(k)).map(|(k, v)| format!("{k}={v}")));
        c.args([AGENT_BINARY, "agent"]);
        c.stdin(Stdio::null());
        c
    }

    /// With a uid of its own, setpriv drops to it (no capabilities, no new privileges) before
    /// anything of the workspace runs.
    fn drop_to_user(&self, c: &mut Command) {
        if let Identity::Uid { uid, gid } = self.identity {
            c.arg("setpriv")
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .args(["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
                .args(["--no-new-privs", "--"]);
        }
    }

    /// bwrap's options, up to and including the `--` before the command.
    fn bwrap_args(&self, root: &Path, cwd_inside: &Path, extra: &[String]) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(|s| s.to_string()));
        push(&["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]);
        push(&["--unshare-cgroup-try", "--hostname", "workspace"]);
        if self.network == Network::None {
            push(&["--unshare-net"]);
        }
        match self.identity {
            // Root keeps its capabilities inside so that setpriv can switch users; setpriv then
            // drops every one of them before the command runs.
            Identity::Uid { .. } => {}
            Identity::ServerUser => push(&["--unshare-user", "--cap-drop", "ALL"]),
        }
        push(&["--ro-bind", "/usr", "/usr"]);
        for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(dir) {
                        push(&["--symlink", &target.to_string_lossy(), dir]);
                    }
                }
                Ok(m) if m.is_dir() => push(&["--ro-bind", dir, dir]),
                _ => {}
            }
        }
        push(&["--ro-bind", "/etc", "/etc"]);
        let passwd = self.state_dir.join("passwd");
        let group = self.state_dir.join("group");
        if passwd.exists() && group.exists() {
            push(&["--ro-bind", &passwd.to_string_lossy(), "/etc/passwd"]);
            push(&["--ro-bind", &group.to_string_lossy(), "/etc/group"]);
        }
        push(&["--proc", "/proc", "--dev", "/dev"]);
        push(&["--bind", &self.state_dir.join("tmp").to_string_lossy(), "/tmp"]);
        push(&["--dir", "/var", "--symlink", "/tmp", "/var/tmp"]);
        push(&["--bind", &root.to_string_lossy(), WORKSPACE_MOUNT]);
        a.extend(extra.iter().cloned());
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(|s| s.to_string()));
        push(&["--chdir", &cwd_inside.to_string_lossy()]);
        push(&["--"]);
        a
    }
}

/// Makes `fd` the child's [`STATUS_FD`] (without close-on-exec) just before `exec`.
pub(crate) fn pass_status_fd(command: &mut Command, fd: std::os::fd::RawFd) {
    // SAFETY: the closure runs in the forked child before exec and calls only dup2 and fcntl,
    // which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if fd == STATUS_FD {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, STATUS_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Finds `bwrap` on `path` (a `PATH`-style list) and checks that it can build a sandbox here,
/// by running `true` in one with the options workspaces use. The error says what is missing and
/// how to fix it.
pub async fn find_bwrap(path: &str) -> Result<PathBuf, String> {
    let found = std::env::split_paths(path)
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| is_executable(candidate));
    let Some(bwrap) = found else {
        return Err(
            "workspaces run in a bubblewrap sandbox, but `bwrap` was not found on PATH; install \
             it (Debian/Ubuntu: `apt-get install bubblewrap`) and restart the server"
                .to_string(),
        );
    };
    let scratch = std::env::temp_dir().join(format!("agentry-sandbox-probe-{}", std::process::id()));
    let spec = SandboxSpec {
        bwrap: bwrap.clone(),
        identity: if is_root() { Identity::Uid { uid: 65534, gid: 65534 } } else { Identity::ServerUser },
        network: Network::None,
        state_dir: scratch.join("state"),
    };
    let probe = async {
        let root = scratch.join("root");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        spec.prepare().map_err(|e| e.to_string())?;
        let (status_r, status_w) = io::pipe().map_err(|e| e.to_string())?;
        let env = [("PATH".to_string(), WORKSPACE_PATH.to_string())];
        let mut c = spec.command(&root, Path::new(WORKSPACE_MOUNT), "true", &env);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        pass_status_fd(&mut c, std::os::fd::AsRawFd::as_raw_fd(&status_w));
        let out = c.output().await.map_err(|e| format!("could not run {}: {e}", bwrap.display()))?;
        drop((status_r, status_w));
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} cannot create a sandbox on this host (are user namespaces disabled?): {}",
                bwrap.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let result = probe.await;
    let _ = std::fs::remove_dir_all(&scratch);
    result.map(|()| bwrap)
}

/// Whether this process runs as root (and can give each workspace its own uid).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `name` is a portable environment variable name (letters, digits, `_`; not starting
/// with a digit). Anything else could be read by `env` as an option or split at `=`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn with_line(existing: &str, line: &str) -> String {
    let mut s = existing.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(line);
    s
}

/// Writes a root-owned, world-readable file by rename, so a reader never sees half of it.
fn write_public(path: &Path, content: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(tmp, path)
}
