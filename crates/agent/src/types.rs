//! Requests and responses of [`WorkspaceAgent`](crate::WorkspaceAgent).
//!
//! They derive `Serialize`/`Deserialize` because the chat daemon returns responses to the model
//! as JSON tool results, and a remote agent will carry both over the wire. Durations travel as
//! integer milliseconds (`timeout_ms`), which is what a JSON reader expects.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Lines `read_file` returns when the request has no `limit`.
pub const DEFAULT_READ_LIMIT: u64 = 2000;

/// The most bytes `read_file` reads from one file (it says when it stopped there) and the
/// largest file `edit_files` changes. Keeps a huge or sparse file from filling the server's
/// memory.
pub const FILE_READ_CAP: u64 = 1024 * 1024;

/// The most output, in bytes, a command's result carries back to the caller.
pub const OUTPUT_CAP: usize = 32 * 1024;

/// Read a text file, with line numbers and paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFileRequest {
    pub path: String,
    /// First line to return, 1-based. `None` (or 0) starts at the first line.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Most lines to return; `None` means [`DEFAULT_READ_LIMIT`].
    #[serde(default)]
    pub limit: Option<u64>,
}

impl ReadFileRequest {
    /// The whole file (up to the default limit).
    pub fn new(path: impl Into<String>) -> Self {
        ReadFileRequest {
            path: path.into(),
            offset: None,
            limit: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFileResponse {
    /// The requested lines in `cat -n` format: the line number right-aligned in six columns, a
    /// tab, then the line. Every line ends with `\n`.
    pub content: String,
    /// Lines in the whole file.
    pub total_lines: u64,
    /// True when the file has lines after the returned ones, or a returned line was cut
    /// because it was very long.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFileResponse {
    pub bytes_written: u64,
    /// True when the file did not exist before.
    pub created: bool,
}

/// One search-and-replace in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEdit {
    pub path: String,
    pub old_text: String,
    pub new_text: String,
    /// Replace every occurrence instead of requiring exactly one.
    #[serde(default)]
    pub replace_all: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditFilesResponse {
    /// One entry per edited file, in the order the files first appear in the request.
    pub files: Vec<FileDiff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    /// The path as the request spelled it.
    pub path: String,
    /// Unified diff (three lines of context) from the old content to the new.
    pub diff: String,
    /// Occurrences replaced, summed over this file's edits.
    pub replacements: u64,
}

/// Run a shell command in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// Passed to `sh -c`.
    pub command: String,
    /// Directory to run in; relative to the workspace root. `None` is the root.
    #[serde(default)]
    pub workdir: Option<String>,
    /// How long to wait before handing the command over to the background.
    #[serde(rename = "timeout_ms", with = "duration_ms")]
    pub timeout: Duration,
    /// Return at once with a process id instead of waiting.
    #[serde(default)]
    pub run_in_background: bool,
    /// Extra environment variables; they override the agent's defaults.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

impl ExecuteRequest {
    /// A foreground command in the workspace root with the given timeout.
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        ExecuteRequest {
            command: command.into(),
            workdir: None,
            timeout,
            run_in_background: false,
            env: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteResponse {
    /// The shell's exit code; `128 + n` when signal `n` ended it; `None` while it still runs.
    pub exit_code: Option<i32>,
    /// Standard output and standard error, interleaved as written, capped at [`OUTPUT_CAP`].
    pub output: String,
    /// True when output was left out to respect the cap.
    pub truncated: bool,
    pub duration_ms: u64,
    /// True when the timeout passed; the command keeps running as `background_process_id`.
    pub timed_out: bool,
    /// Set when the command runs on in the background (by request or after the timeout).
    pub background_process_id: Option<String>,
}

/// A tracked process's state and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessOutput {
    pub id: String,
    pub command: String,
    pub running: bool,
    /// As in [`ExecuteResponse::exit_code`].
    pub exit_code: Option<i32>,
    /// Everything the process wrote so far, or when that exceeds [`OUTPUT_CAP`], its beginning
    /// and its most recent output with a marker in between.
    pub output: String,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub id: String,
    pub command: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    /// Unix time in milliseconds.
    pub started_at: u64,
}

/// The signals `process_signal` can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGTERM: ask the process group to exit.
    Terminate,
    /// SIGKILL: end it now.
    Kill,
}

impl Signal {
    pub(crate) fn as_raw(self) -> libc::c_int {
        match self {
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A slice of a file's bytes (`read_bytes`), base64 in `data` so it travels as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBytesResponse {
    /// Standard base64 of the bytes read.
    pub data: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The bytes reach the end of the file.
    pub eof: bool,
}
