//! The wire protocol between a workspace agent process (`agentry agent`) and the server.
//!
//! The agent dials out to the server and opens one WebSocket at [`CONNECT_PATH`], sending its
//! token as `Authorization: Bearer …` and the protocol it speaks in the [`PROTOCOL_HEADER`]
//! request header. The server refuses another protocol before upgrading (HTTP 400 with a message
//! naming both versions), and names its own in the same response header, which the agent checks
//! too. Once upgraded, every message is one JSON text frame:
//!
//! - server → agent: [`ServerFrame::Call`] (an operation with a request id chosen by the server)
//!   and [`ServerFrame::Cancel`] (the caller gave up: the agent drops the operation's task);
//! - agent → server: [`AgentFrame::Ok`] / [`AgentFrame::Err`] (the one answer to a call) and, for
//!   [`Op::RunScript`] only, any number of [`AgentFrame::Line`]s before it.
//!
//! Calls are independent and answered in any order, so one slow command never holds up a file
//! read (the multiplexing). Values are the serde forms of the [`WorkspaceAgent`](crate::WorkspaceAgent)
//! request and response types; errors travel as the text the model is shown.

use serde::{Deserialize, Serialize};

use crate::{ExecuteRequest, FileEdit, ReadFileRequest, Signal};

/// The protocol version this build speaks. Bump it on any change a peer of the previous version
/// would misread.
pub const PROTOCOL_VERSION: u32 = 1;

/// Request header (agent → server) and response header (server → agent) carrying the
/// protocol version.
pub const PROTOCOL_HEADER: &str = "agentry-agent-protocol";

/// Request header carrying the agent's release version (shown in the workspace's status).
pub const VERSION_HEADER: &str = "agentry-agent-version";

/// Where the agent's WebSocket connects, relative to the server's URL.
pub const CONNECT_PATH: &str = "/api/v2/workspaceagents/me/rpc";

/// What a server says when an agent speaks another protocol version.
pub fn version_mismatch(server: u32, agent: &str) -> String {
    format!(
        "workspace agent protocol mismatch: this server speaks version {server}, the agent speaks {agent}; \
         run the `agentry agent` of the same agentry release as the server"
    )
}

/// One workspace operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    ReadFile(ReadFileRequest),
    WriteFile { path: String, content: String },
    EditFiles { edits: Vec<FileEdit> },
    Execute(ExecuteRequest),
    ProcessOutput { id: String, wait_ms: u64 },
    ProcessList,
    ProcessSignal { id: String, signal: Signal },
    ListDir { path: String },
    ReadBytes { path: String, offset: u64, length: u64 },
    /// The startup script: its output lines come as [`AgentFrame::Line`]s, the answer is its
    /// exit code.
    RunScript { script: String, env: Vec<(String, String)> },
    /// Ends every process the agent started; the agent exits after answering.
    Shutdown,
}

impl Op {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::ReadFile(_) => "read_file",
            Op::WriteFile { .. } => "write_file",
            Op::EditFiles { .. } => "edit_files",
            Op::Execute(_) => "execute",
            Op::ProcessOutput { .. } => "process_output",
            Op::ProcessList => "process_list",
            Op::ProcessSignal { .. } => "process_signal",
            Op::ListDir { .. } => "list_dir",
            Op::ReadBytes { .. } => "read_bytes",
            Op::RunScript { .. } => "run_script",
            Op::Shutdown => "shutdown",
        }
    }
}

/// server → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Call { id: u64, op: Op },
    Cancel { id: u64 },
}

/// agent → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentFrame {
    Ok { id: u64, value: serde_json::Value },
    Err { id: u64, message: String },
    Line { id: u64, line: String },
}

impl AgentFrame {
    pub fn id(&self) -> u64 {
        match self {
            AgentFrame::Ok { id, .. } | AgentFrame::Err { id, .. } | AgentFrame::Line { id, .. } => *id,
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    /// Bytes, for regular files.
    pub size: u64,
}


/// Something that carries one [`Op`] to an agent and brings back its answer: a connection on
/// this server, or a relay through the replica that holds one.
#[async_trait::async_trait]
pub trait CallOp: Send + Sync {
    async fn call(&self, op: Op) -> Result<serde_json::Value, crate::AgentError>;
}

/// A [`WorkspaceAgent`](crate::WorkspaceAgent) whose every operation is a protocol call.
pub struct OpClient<T: CallOp>(pub T);

fn decode<T: serde::de::DeserializeOwned>(op: &'static str, v: serde_json::Value) -> Result<T, crate::AgentError> {
    serde_json::from_value(v).map_err(|e| {
        crate::AgentError::Io {
            context: format!("the agent's answer to {op} could not be read"),
            source: std::io::Error::other(e),
        }
    })
}

#[async_trait::async_trait]
impl<T: CallOp> crate::WorkspaceAgent for OpClient<T> {
    async fn read_file(&self, req: ReadFileRequest) -> Result<crate::ReadFileResponse, crate::AgentError> {
        decode("read_file", self.0.call(Op::ReadFile(req)).await?)
    }

    async fn write_file(&self, path: &str, content: &str) -> Result<crate::WriteFileResponse, crate::AgentError> {
        let op = Op::WriteFile { path: path.to_string(), content: content.to_string() };
        decode("write_file", self.0.call(op).await?)
    }

    async fn edit_files(&self, edits: Vec<FileEdit>) -> Result<crate::EditFilesResponse, crate::AgentError> {
        decode("edit_files", self.0.call(Op::EditFiles { edits }).await?)
    }

    async fn execute(&self, req: ExecuteRequest) -> Result<crate::ExecuteResponse, crate::AgentError> {
        decode("execute", self.0.call(Op::Execute(req)).await?)
    }

    async fn process_output(&self, id: &str, wait: std::time::Duration) -> Result<crate::ProcessOutput, crate::AgentError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        decode("process_output", self.0.call(Op::ProcessOutput { id: id.to_string(), wait_ms }).await?)
    }

    async fn process_list(&self) -> Result<Vec<crate::ProcessInfo>, crate::AgentError> {
        decode("process_list", self.0.call(Op::ProcessList).await?)
    }

    async fn process_signal(&self, id: &str, signal: Signal) -> Result<(), crate::AgentError> {
        decode("process_signal", self.0.call(Op::ProcessSignal { id: id.to_string(), signal }).await?)
    }

    async fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, crate::AgentError> {
        decode("list_dir", self.0.call(Op::ListDir { path: path.to_string() }).await?)
    }

    async fn read_bytes(&self, path: &str, offset: u64, length: u64) -> Result<crate::ReadBytesResponse, crate::AgentError> {
        decode("read_bytes", self.0.call(Op::ReadBytes { path: path.to_string(), offset, length }).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_are_legible_json() {
        let call = ServerFrame::Call { id: 7, op: Op::Execute(ExecuteRequest::new("true", Duration::from_secs(2))) };
        let text = serde_json::to_string(&call).unwrap();
        assert!(text.starts_with(r#"{"type":"call","id":7,"op":{"op":"execute","command":"true""#), "{text}");
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).unwrap(), call);
        let list = serde_json::to_string(&ServerFrame::Call { id: 1, op: Op::ProcessList }).unwrap();
        assert_eq!(list, r#"{"type":"call","id":1,"op":{"op":"process_list"}}"#);
        let err = serde_json::to_string(&AgentFrame::Err { id: 3, message: "nope".into() }).unwrap();
        assert_eq!(err, r#"{"type":"err","id":3,"message":"nope"}"#);
    }
}
