//! The processes the agent starts: spawning, capturing output, tracking, signalling, ending.
//!
//! Every command runs as `sh -c` in a new process group (the shell is the group leader), so
//! a signal to the group reaches whatever the command started, including its `&` children.
//! Standard output and standard error are one pipe, so the captured text is interleaved exactly
//! as it was written. One task per process ([`drive`]) reads that pipe and reaps the shell.
//!
//! Two moments matter and are tracked separately:
//! - *exit*: the shell has exited and everything it wrote is in the buffer. Commands "finish"
//!   here; a foreground `execute` returns and `run_script` reports its exit code.
//! - *pipe closed*: no process holds the pipe's write end any more, which means the children
//!   the shell left behind (`server &`) are gone too. Until then the pipe keeps being read, so
//!   those children never block on a full pipe or die of SIGPIPE, and the group stays in the
//!   table so [`ProcessTable::shutdown`] can end it.
//!
//! Entries are *listed* (visible to `process_list`, `process_output`, `process_signal`) when the
//! caller was given their id: background commands, timed-out commands and the startup script.
//! A foreground command that finished is unlisted and leaves the table once its pipe closes.
//!
//! "Alive" means running, not merely present: a killed child of a parent that does not reap
//! (PID 1 in some containers) stays a zombie, so liveness checks read process states from
//! `/proc` instead of trusting `kill(pid, 0)`.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::sandbox::{self, SandboxSpec};
use crate::{AgentError, OUTPUT_CAP, ProcessInfo, ProcessOutput, Signal};

/// Environment every command gets, so tools that would wait for a terminal or an editor do not.
/// Nothing else of the server's environment reaches a command: the caller's allow-list follows.
const NON_INTERACTIVE_ENV: [(&str, &str); 4] = [
    ("TERM", "dumb"),
    ("PAGER", "cat"),
    ("GIT_EDITOR", "true"),
    ("NO_COLOR", "1"),
];

/// Bytes kept from the start of a process's output; the rest of the cap goes to its end.
const HEAD_BYTES: usize = 8 * 1024;
/// Room left in the cap for the "bytes omitted" marker.
const MARKER_RESERVE: usize = 128;
const TAIL_BYTES: usize = OUTPUT_CAP - HEAD_BYTES - MARKER_RESERVE;

/// How often `shutdown` checks whether the process groups are gone.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);
/// How long `shutdown` waits for SIGKILLed groups to disappear before giving up on them (a
/// process in uninterruptible sleep dies only when its I/O completes).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What to run.
pub(crate) struct Spawn<'a> {
    /// Script for `sh -c`.
    pub script: &'a str,
    /// What `process_list` shows as the command.
    pub label: String,
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    /// Give the caller an id for it at once.
    pub listed: bool,
    /// Receives each complete output line until the shell exits; dropped then.
    pub lines: Option<mpsc::UnboundedSender<String>>,
    /// Run inside this sandbox, in this directory as the sandbox sees it; `None` runs a plain
    /// shell on the host (only when the operator asked for unsandboxed workspaces).
    pub sandbox: Option<(&'a SandboxSpec, PathBuf)>,
}

/// The processes one agent started.
pub(crate) struct ProcessTable {
    shared: Arc<Shared>,
}

struct Shared {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    procs: Vec<Arc<Tracked>>,
    next_id: u64,
    shutting_down: bool,
}

/// One started shell and its process group.
pub(crate) struct Tracked {
    pub id: String,
    pub label: String,
    /// Process group id, which is the shell's pid.
    pub pgid: libc::pid_t,
    pub started_at: u64,
    output: Mutex<OutputBuffer>,
    /// `Some(code)` once the shell exited and its output is fully buffered.
    exit: watch::Sender<Option<i32>>,
    pipe_closed: AtomicBool,
    listed: AtomicBool,
}

impl Tracked {
    pub(crate) fn exit_code(&self) -> Option<i32> {
        *self.exit.borrow()
    }

    /// Waits up to `wait` for the shell to exit; returns its exit code if it did.
    pub(crate) async fn wait_exit(&self, wait: Duration) -> Option<i32> {
        let mut rx = self.exit.subscribe();
        // The sender lives in `self`, so `wait_for` can only end by the predicate holding.
        let _ = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        self.exit_code()
    }

    /// The output so far, capped, and whether anything was left out.
    pub(crate) fn output(&self) -> (String, bool) {
        lock(&self.output).render()
    }

    pub(crate) fn snapshot(&self) -> ProcessOutput {
        let (output, truncated) = self.output();
        let exit_code = self.exit_code();
        ProcessOutput {
            id: self.id.clone(),
            command: self.label.clone(),
            running: exit_code.is_none(),
            exit_code,
            output,
            truncated,
        }
    }

    fn info(&self) -> ProcessInfo {
        let exit_code = self.exit_code();
        ProcessInfo {
            id: self.id.clone(),
            command: self.label.clone(),
            running: exit_code.is_none(),
            exit_code,
            started_at: self.started_at,
        }
    }

    /// Records output, and streams it as lines while someone listens.
    fn take(
        &self,
        data: &[u8],
        splitter: &mut LineSplitter,
        lines: Option<&mpsc::UnboundedSender<String>>,
    ) {
        lock(&self.output).push(data);
        if let Some(tx) = lines {
            for line in splitter.push(data) {
                let _ = tx.send(line);
            }
        }
    }

    /// Whether a signal to the group could still reach something.
    fn may_have_members(&self) -> bool {
        !(self.exit_code().is_some() && self.pipe_closed.load(Ordering::Acquire))
    }
}

impl ProcessTable {
    pub(crate) fn new() -> Self {
        ProcessTable {
            shared: Arc::new(Shared {
                entries: Mutex::new(Entries::default()),
            }),
        }
    }

    /// Starts a process and its reader task. Must be called within a Tokio runtime.
    pub(crate) fn spawn(&self, spec: Spawn<'_>) -> Result<Arc<Tracked>, AgentError> {
        // The table stays locked from the shutdown check to the insertion, so a concurrent
        // `shutdown` either sees this process or refuses it; none slips past.
        let mut entries = lock(&self.shared.entries);
        if entries.shutting_down {
            return Err(AgentError::ShuttingDown);
        }

        let spawn_err = |e: io::Error| AgentError::io("starting the command", e);
        let (reader, writer) = io::pipe().map_err(spawn_err)?;
        let writer_err = writer.try_clone().map_err(spawn_err)?;
        let env: Vec<(String, String)> = NON_INTERACTIVE_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(spec.env.iter().cloned())
            .collect();
        let (mut command, status) = match &spec.sandbox {
            Some((sandbox, cwd_inside)) => {
                let (status_r, status_w) = io::pipe().map_err(spawn_err)?;
                let mut command = sandbox.command(spec.cwd, cwd_inside, spec.script, &env);
                sandbox::pass_status_fd(&mut command, status_w.as_raw_fd());
                (command, Some((status_r, status_w)))
            }
            None => {
                let mut command = Command::new("sh");
                command.arg("-c").arg(spec.script).current_dir(spec.cwd).env_clear();
                command.envs(env.iter().filter(|(k, _)| sandbox::is_env_name(k)).cloned());
                (command, None)
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer_err))
            .process_group(0)
            .kill_on_drop(false);
        let child = command.spawn().map_err(spawn_err)?;
        // Dropping the command closes our copies of the write ends; otherwise the pipes would
        // never report end-of-file.
        drop(command);
        let status = match status {
            Some((status_r, status_w)) => {
                drop(status_w);
                Some(pipe::Receiver::from_owned_fd(status_r.into()).map_err(spawn_err)?)
            }
            None => None,
        };
        let pipe = pipe::Receiver::from_owned_fd(reader.into()).map_err(spawn_err)?;
        let pgid = child
            .id()
            .and_then(|pid| libc::pid_t::try_from(pid).ok())
            .ok_or_else(|| spawn_err(io::Error::other("the shell has no process id")))?;

        entries.next_id += 1;
        let tracked = Arc::new(Tracked {
            id: format!("proc-{}", entries.next_id),
            label: spec.label,
            pgid,
            started_at: unix_millis(),
            output: Mutex::new(OutputBuffer::default()),
            exit: watch::Sender::new(None),
            pipe_closed: AtomicBool::new(false),
            listed: AtomicBool::new(spec.listed),
        });
        entries.procs.push(Arc::clone(&tracked));
        drop(entries);

        tokio::spawn(drive(
            Arc::clone(&tracked),
            child,
            pipe,
            status,
            spec.lines,
            Arc::downgrade(&self.shared),
        ));
        Ok(tracked)
    }

    /// Makes a running process visible under its id (a command that outlived its timeout).
    pub(crate) fn list(&self, tracked: &Arc<Tracked>) {
        let mut entries = lock(&self.shared.entries);
        tracked.listed.store(true, Ordering::Release);
        // The reader task may have removed it in the instant since the caller looked.
        if !entries.procs.iter().any(|p| Arc::ptr_eq(p, tracked)) {
            entries.procs.push(Arc::clone(tracked));
        }
    }

    pub(crate) fn get(&self, id: &str) -> Result<Arc<Tracked>, AgentError> {
        lock(&self.shared.entries)
            .procs
            .iter()
            .find(|p| p.id == id && p.listed.load(Ordering::Acquire))
            .cloned()
            .ok_or_else(|| AgentError::UnknownProcess { id: id.to_string() })
    }

    pub(crate) fn list_info(&self) -> Vec<ProcessInfo> {
        lock(&self.shared.entries)
            .procs
            .iter()
            .filter(|p| p.listed.load(Ordering::Acquire))
            .map(|p| p.info())
            .collect()
    }

    /// Sends `signal` to the process group of `id`. A group that is already gone is not an
    /// error: the model asked for the process to stop, and it has.
    pub(crate) fn signal(&self, id: &str, signal: Signal) -> Result<(), AgentError> {
        let tracked = self.get(id)?;
        if !tracked.may_have_members() {
            return Ok(());
        }
        match signal_group(tracked.pgid, signal.as_raw()) {
            Ok(()) => Ok(()),
            Err(e) => Err(AgentError::io(format!("signalling process {id}"), e)),
        }
    }

    /// Ends every process group this table started: SIGTERM, then SIGKILL for groups still
    /// running after `grace`. Refuses new processes from the moment it is called. Returns once
    /// no process of any group is running (or, for processes that ignore even SIGKILL because
    /// they are stuck in the kernel, after a further [`KILL_WAIT`]).
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let groups: Vec<libc::pid_t> = {
            let mut entries = lock(&self.shared.entries);
            entries.shutting_down = true;
            entries
                .procs
                .iter()
                .filter(|p| p.may_have_members())
                .map(|p| p.pgid)
                .collect()
        };
        for &pgid in &groups {
            let _ = signal_group(pgid, libc::SIGTERM);
        }
        let remaining = wait_groups_gone(groups, grace).await;
        for &pgid in &remaining {
            let _ = signal_group(pgid, libc::SIGKILL);
        }
        wait_groups_gone(remaining, KILL_WAIT).await;
    }
}

impl Drop for Shared {
    /// The last handle to the agent went away without `shutdown`: kill what is left rather
    /// than leak processes nobody can reach any more. There is no waiting here; `shutdown` is
    /// the orderly path.
    fn drop(&mut self) {
        let entries = self.entries.get_mut().unwrap_or_else(|e| e.into_inner());
        for p in entries.procs.iter().filter(|p| p.may_have_members()) {
            let _ = signal_group(p.pgid, libc::SIGKILL);
        }
    }
}

/// Reads a process's output and reaps its shell; see the module docs for the two moments.
///
/// A sandboxed command reports its exit on `status` (see `sandbox`): the process we spawned
/// (bwrap) lives on until the command's background children are gone, so its own exit is only
/// the fallback for a sandbox that died without reporting (it could not start, or was killed).
async fn drive(
    tracked: Arc<Tracked>,
    mut child: Child,
    mut pipe: pipe::Receiver,
    mut status: Option<pipe::Receiver>,
    mut lines: Option<mpsc::UnboundedSender<String>>,
    table: Weak<Shared>,
) {
    enum Event {
        Read(io::Result<usize>),
        Reaped(io::Result<ExitStatus>),
        Status(Option<i32>),
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut status_buf = Vec::new();
    let mut splitter = LineSplitter::default();
    let mut exited = false;
    let mut reaped = false;
    let mut eof = false;
    while !(exited && eof && reaped) {
        // Unbiased on purpose: a child that writes without pause must not keep the exit from
        // being noticed.
        let event = tokio::select! {
            read = pipe.read(&mut buf), if !eof => Event::Read(read),
            reaped = child.wait(), if !reaped => Event::Reaped(reaped),
            code = read_status(status.as_mut(), &mut status_buf), if status.is_some() && !exited => {
                Event::Status(code)
            }
        };
        let code = match event {
            Event::Read(Ok(0)) | Event::Read(Err(_)) => {
                eof = true;
                None
            }
            Event::Read(Ok(n)) => {
                tracked.take(&buf[..n], &mut splitter, lines.as_ref());
                None
            }
            Event::Reaped(result) => {
                reaped = true;
                // Without a status pipe the shell's own exit is the command's exit; with one,
                // a sandbox that ended without reporting reports through its exit status.
                if let Some(mut pending) = status.take() {
                    let reported = read_status(Some(&mut pending), &mut status_buf).await;
                    Some(reported.unwrap_or_else(|| exit_code(result)))
                } else {
                    Some(exit_code(result))
                }
            }
            Event::Status(code) => {
                status = None;
                // No code on the pipe: wait for the sandbox's own exit status instead.
                code
            }
        };
        if let (Some(code), false) = (code, exited) {
            // Whatever the command wrote is in the pipe by now; take it before announcing the
            // exit so that "exited" implies "all of its output is buffered".
            eof |= read_pending(pipe.as_raw_fd(), &mut buf, |data| {
                tracked.take(data, &mut splitter, lines.as_ref())
            });
            if let (Some(last), Some(tx)) = (splitter.finish(), lines.as_ref()) {
                let _ = tx.send(last);
            }
            exited = true;
            tracked.exit.send_replace(Some(code));
            // Line streaming ends with the shell: later output from its background children
            // is only buffered.
            lines = None;
        }
    }
    tracked.pipe_closed.store(true, Ordering::Release);
    if let Some(shared) = table.upgrade() {
        let mut entries = lock(&shared.entries);
        if !tracked.listed.load(Ordering::Acquire) {
            entries.procs.retain(|p| !Arc::ptr_eq(p, &tracked));
        }
    }
}

/// Reads the sandbox's status pipe to its end and parses the exit code written there; `None`
/// when the pipe closed without one.
async fn read_status(status: Option<&mut pipe::Receiver>, acc: &mut Vec<u8>) -> Option<i32> {
    let status = status?;
    let mut chunk = [0u8; 64];
    loop {
        match status.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                acc.extend_from_slice(&chunk[..n]);
                if acc.contains(&b'\n') || acc.len() > 32 {
                    break;
                }
            }
        }
    }
    std::str::from_utf8(acc).ok()?.trim().parse().ok()
}

/// Reads the bytes the pipe holds at this moment, and no more: a background child writing
/// without pause cannot keep this from returning. Reads the descriptor directly because Tokio's
/// cached readiness may not yet know about data that arrived with the exit. Returns true at
/// end-of-file.
fn read_pending(fd: RawFd, buf: &mut [u8], mut take: impl FnMut(&[u8])) -> bool {
    let mut available: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer, which points to one.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut available) } != 0 {
        return false;
    }
    let mut left = usize::try_from(available).unwrap_or(0);
    while left > 0 {
        let want = left.min(buf.len());
        // SAFETY: `buf` is valid for `want` bytes; the descriptor is non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), want) };
        match usize::try_from(n) {
            Ok(0) => return true,
            Ok(n) => {
                take(&buf[..n]);
                left = left.saturating_sub(n);
            }
            // EAGAIN or EINTR: what is left will come through the normal reads.
            Err(_) => return false,
        }
    }
    false
}

/// The shell convention: the exit code, or 128 + the signal that ended it.
fn exit_code(status: io::Result<ExitStatus>) -> i32 {
    match status {
        Ok(status) => status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: killpg has no memory-safety preconditions; a stale or wrong group id only
    // yields an error code.
    if unsafe { libc::killpg(pgid, signal) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Polls until none of `groups` has a running process or `limit` passes; returns the groups
/// still running.
async fn wait_groups_gone(mut groups: Vec<libc::pid_t>, limit: Duration) -> Vec<libc::pid_t> {
    let deadline = Instant::now() + limit;
    loop {
        groups.retain(|&pgid| group_running(pgid));
        if groups.is_empty() || Instant::now() >= deadline {
            return groups;
        }
        tokio::time::sleep(SHUTDOWN_POLL).await;
    }
}

/// Whether any process of group `pgid` is running (zombies do not count).
pub(crate) fn group_running(pgid: libc::pid_t) -> bool {
    // SAFETY: as in `signal_group`; signal 0 only checks for existence.
    if unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        // Without /proc a zombie is indistinguishable from a live process; assume the worst.
        return true;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| parse_stat(&stat))
        .any(|(state, group)| group == pgid && state != 'Z' && state != 'X')
}

/// State and process group from a `/proc/<pid>/stat` line. The command name in parentheses
/// may itself contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(char, libc::pid_t)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent, so a panic elsewhere is no reason to stop serving the others.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process's output in bounded memory: the first [`HEAD_BYTES`] and the latest
/// [`TAIL_BYTES`], which together fit the caller's cap. A build's first error and a server's
/// latest log lines both survive.
#[derive(Default)]
struct OutputBuffer {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl OutputBuffer {
    fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < HEAD_BYTES {
            let n = data.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.len() >= TAIL_BYTES {
            self.tail.clear();
            self.tail.extend(&data[data.len() - TAIL_BYTES..]);
        } else {
            let overflow = (self.tail.len() + data.len()).saturating_sub(TAIL_BYTES);
            self.tail.drain(..overflow);
            self.tail.extend(data);
        }
    }

    fn render(&self) -> (String, bool) {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut tail: Vec<u8> = self.tail.iter().copied().collect();
        let truncated = kept < self.total;
        let mut text = if truncated {
            // The tail may start inside a multi-byte character; skip its continuation bytes.
            let skip = tail
                .iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count();
            tail.drain(..skip);
            format!(
                "{}\n\n[... {} bytes of output omitted ...]\n\n{}",
                String::from_utf8_lossy(&self.head),
                self.total - kept,
                String::from_utf8_lossy(&tail)
            )
        } else {
            // Head and tail are contiguous, so they decode as one.
            let mut all = self.head.clone();
            all.append(&mut tail);
            String::from_utf8_lossy(&all).into_owned()
        };
        // Replacement characters for invalid bytes take more room than the bytes did.
        if text.len() > OUTPUT_CAP {
            let mut cut = OUTPUT_CAP;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            return (text, true);
        }
        (text, truncated)
    }
}

/// Splits a byte stream into lines for `run_script`'s callback.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in data {
            if b == b'\n' {
                lines.push(Self::decode(&std::mem::take(&mut self.partial)));
            } else {
                self.partial.push(b);
            }
        }
        lines
    }

    /// The last line if the stream did not end with a newline.
    fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| Self::decode(&std::mem::take(&mut self.partial)))
    }

    fn decode(line: &[u8]) -> String {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        String::from_utf8_lossy(line).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut b = OutputBuffer::default();
        b.push(b"hello ");
        b.push(b"world");
        assert_eq!(b.render(), ("hello world".to_string(), false));
    }

    #[test]
    fn large_output_keeps_head_and_tail_within_the_cap() {
        let mut b = OutputBuffer::default();
        b.push(b"START\n");
        for i in 0..10_000 {
            b.push(format!("line {i}\n").as_bytes());
        }
        b.push(b"END\n");
        let (text, truncated) = b.render();
        assert!(truncated);
        assert!(text.len() <= OUTPUT_CAP);
        assert!(text.starts_with("START\nline 0\n"));
        assert!(text.ends_with("line 9999\nEND\n"));
        assert!(text.contains("bytes of output omitted"));
    }

    #[test]
    fn output_just_under_the_kept_size_is_not_truncated() {
        let mut b = OutputBuffer::default();
        let data = vec![b'x'; HEAD_BYTES + TAIL_BYTES];
        b.push(&data);
        let (text, truncated) = b.render();
        assert!(!truncated);
        assert_eq!(text.len(), data.len());
        b.push(b"y");
        let (text, truncated) = b.render();
        assert!(truncated);
        assert!(text.ends_with('y'));
    }

    #[test]
    fn multibyte_characters_at_the_cut_do_not_garble_the_tail() {
        let mut b = OutputBuffer::default();
        for _ in 0..20_000 {
            b.push("é".as_bytes());
        }
        let (text, truncated) = b.render();
        assert!(truncated);
        assert!(text.len() <= OUTPUT_CAP);
        let tail = text.rsplit("omitted ...]\n\n").next().unwrap();
        assert!(tail.chars().all(|c| c == 'é'), "{:?}", &tail[..10]);
    }

    #[test]
    fn lines_split_across_chunks() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"one\r\ntw"), vec!["one"]);
        assert_eq!(s.push(b"o\nthree"), vec!["two"]);
        assert_eq!(s.finish().as_deref(), Some("three"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "1234 (my (weird) cmd) S 1 1234 1234 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 1234)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(Ok(ExitStatus::from_raw(3 << 8))), 3);
        assert_eq!(
            exit_code(Ok(ExitStatus::from_raw(libc::SIGKILL))),
            128 + libc::SIGKILL
        );
    }
}
