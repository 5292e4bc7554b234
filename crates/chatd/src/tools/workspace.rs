//! File and process tools, run by the bound workspace's agent after checking, as the owner,
//! that the owner may still execute in that workspace (`ssh`).

use std::sync::Arc;
use std::time::Duration;

use agentry_agent::{ExecuteRequest, FileEdit, ReadFileRequest, Signal, WorkspaceAgent};
use agentry_rbac::Action;
use agentry_store::StoreError;
use agentry_store::workspaces::WorkspaceStatus;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolCtx, ToolResult};

const DEFAULT_TIMEOUT: u64 = 10;
const MAX_TIMEOUT: u64 = 4 * 3600;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// Path relative to the workspace root.
    pub path: String,
    /// First line to read (1-based).
    #[serde(default)]
    pub offset: Option<u64>,
    /// How many lines to read.
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileArgs {
    pub path: String,
    /// The whole new content of the file.
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EditArg {
    pub path: String,
    /// Text to find; must match exactly once unless replace_all is set.
    pub old_text: String,
    pub new_text: String,
    #[serde(default)]
    pub replace_all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EditFilesArgs {
    pub edits: Vec<EditArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteArgs {
    /// The command, run with `sh -c`.
    pub command: String,
    /// Seconds to wait before the command is moved to the background (default 10).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Directory to run in, relative to the workspace root.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Start in the background at once and return its process id.
    #[serde(default)]
    pub run_in_background: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProcessOutputArgs {
    pub process_id: String,
    /// Seconds to wait for the process to exit (default 10; 0 takes a snapshot).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProcessListArgs {}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignalArg {
    Terminate,
    Kill,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProcessSignalArgs {
    pub process_id: String,
    pub signal: SignalArg,
}

/// The bound workspace's agent, or the reason the model should act on.
async fn agent(ctx: &ToolCtx) -> Result<Arc<dyn WorkspaceAgent>, String> {
    let Some(id) = ctx.workspace_id() else {
        return Err(if ctx.is_child() {
            "This chat has no workspace, and subagents cannot create one. Report this to the parent agent.".into()
        } else {
            "This chat has no workspace yet. Use list_templates and then create_workspace to create one.".into()
        });
    };
    let w = ctx.store.actor(&ctx.owner()).workspace_for(id, Action::Ssh).await.map_err(|e| match e {
        StoreError::NotFound => "The chat's workspace no longer exists or is not accessible. Use create_workspace.".to_string(),
        StoreError::Forbidden(_) => "The chat owner may not execute in this workspace.".to_string(),
        e => e.to_string(),
    })?;
    if w.deleted {
        return Err("The chat's workspace was deleted. Use create_workspace to create a new one.".into());
    }
    if w.status() != WorkspaceStatus::Running {
        return Err(if ctx.is_child() {
            "The workspace is not running. Report this to the parent agent.".to_string()
        } else {
            "The workspace is not running. Use start_workspace to start it.".to_string()
        });
    }
    ctx.provisioning.agent(id).await.map_err(|e| e.to_string())
}

fn json_of<T: serde::Serialize>(v: T) -> ToolResult {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

pub async fn read_file(ctx: &ToolCtx, a: ReadFileArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    let r = agent
        .read_file(ReadFileRequest { path: a.path, offset: a.offset, limit: a.limit })
        .await
        .map_err(|e| e.to_string())?;
    json_of(r)
}

pub async fn write_file(ctx: &ToolCtx, a: WriteFileArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    json_of(agent.write_file(&a.path, &a.content).await.map_err(|e| e.to_string())?)
}

pub async fn edit_files(ctx: &ToolCtx, a: EditFilesArgs) -> ToolResult {
    if a.edits.is_empty() {
        return Err("edits is empty; pass at least one edit.".into());
    }
    let agent = agent(ctx).await?;
    let edits = a
        .edits
        .into_iter()
        .map(|e| FileEdit { path: e.path, old_text: e.old_text, new_text: e.new_text, replace_all: e.replace_all.unwrap_or(false) })
        .collect();
    json_of(agent.edit_files(edits).await.map_err(|e| e.to_string())?)
}

pub async fn execute(ctx: &ToolCtx, a: ExecuteArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    let secs = a.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT).clamp(1, MAX_TIMEOUT);
    let mut req = ExecuteRequest::new(a.command, Duration::from_secs(secs));
    req.workdir = a.workdir;
    req.run_in_background = a.run_in_background.unwrap_or(false);
    req.env = vec![
        ("GIT_EDITOR".into(), "true".into()),
        ("PAGER".into(), "cat".into()),
        ("TERM".into(), "dumb".into()),
        ("NO_COLOR".into(), "1".into()),
        ("AGENTRY_CHAT_ID".into(), ctx.chat.id.to_string()),
    ];
    let r = agent.execute(req).await.map_err(|e| e.to_string())?;
    let mut v = json_of(&r)?;
    v["success"] = json!(r.exit_code == Some(0));
    Ok(v)
}

pub async fn process_output(ctx: &ToolCtx, a: ProcessOutputArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    let wait = Duration::from_secs(a.wait_seconds.unwrap_or(DEFAULT_TIMEOUT).min(MAX_TIMEOUT));
    json_of(agent.process_output(&a.process_id, wait).await.map_err(|e| e.to_string())?)
}

pub async fn process_list(ctx: &ToolCtx, _: ProcessListArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    let list = agent.process_list().await.map_err(|e| e.to_string())?;
    Ok(json!({"processes": json_of(list)?}))
}

pub async fn process_signal(ctx: &ToolCtx, a: ProcessSignalArgs) -> ToolResult {
    let agent = agent(ctx).await?;
    let signal = match a.signal {
        SignalArg::Terminate => Signal::Terminate,
        SignalArg::Kill => Signal::Kill,
    };
    agent.process_signal(&a.process_id, signal).await.map_err(|e| e.to_string())?;
    Ok(json!({"process_id": a.process_id, "signaled": true}))
}

