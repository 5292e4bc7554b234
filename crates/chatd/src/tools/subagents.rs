//! Subagents, one level deep: `spawn_agent` creates a child chat (same organization, owner,
//! workspace and model) that any replica runs; `wait_agent` waits for it and returns its report
//! (the child's newest visible assistant text); `message_agent` and `close_agent` steer it.
//! Only a chat's own children can be addressed.

use std::time::Duration;

use agentry_store::StoreError;
use agentry_store::chats::Chat;
use agentry_store::chats::ChatStatus;
use agentry_store::chats::messages::BusyBehavior;
use agentry_store::chats::worker::NewChildChat;
use agentry_store::pubsub::ChatHint;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{ToolCtx, ToolResult, uuid_arg};
use crate::prompt::CHILD_PROMPT;

const DEFAULT_WAIT: u64 = 300;
const MAX_WAIT: u64 = 3600;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpawnAgentArgs {
    /// The task, with everything the subagent needs to know.
    pub prompt: String,
    /// A short title; the first words of the prompt when absent.
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitAgentArgs {
    /// The subagent's chat_id, from spawn_agent.
    pub chat_id: String,
    /// How long to wait (default 300 seconds).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MessageAgentArgs {
    pub chat_id: String,
    pub message: String,
    /// Stop the subagent's current turn and handle this message next.
    #[serde(default)]
    pub interrupt: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CloseAgentArgs {
    pub chat_id: String,
}

fn default_title(prompt: &str) -> String {
    let t: String = prompt.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
    t.chars().take(80).collect()
}

fn store_error(e: StoreError) -> String {
    match e {
        StoreError::NotFound => "Not found.".into(),
        StoreError::Forbidden(_) => "The chat owner is not allowed to start AI work in this organization.".into(),
        StoreError::Client(
            agentry_types::ClientError::UsageLimitExceeded { .. }
            | agentry_types::ClientError::OrganizationBudgetExceeded { .. }
            | agentry_types::ClientError::MemberBudgetExceeded { .. },
        ) => "The chat owner's usage limit or budget is reached; no subagent can start.".into(),
        e => e.to_string(),
    }
}

/// One of this chat's children, or "not found".
async fn child(ctx: &ToolCtx, id: &str) -> Result<Chat, String> {
    let id = uuid_arg("chat_id", id)?;
    let not_found = || format!("Subagent {id} not found; use the chat_id that spawn_agent returned.");
    let c = ctx.store.actor(&ctx.owner()).chat(id).await.map_err(|_| not_found())?;
    if c.parent_chat_id != Some(ctx.chat.id) {
        return Err(not_found());
    }
    Ok(c)
}

pub async fn spawn_agent(ctx: &ToolCtx, a: SpawnAgentArgs) -> ToolResult {
    let prompt = a.prompt.trim();
    if prompt.is_empty() {
        return Err("prompt is empty; describe the task for the subagent.".into());
    }
    // The parent as it is now (its workspace binding may have changed during this turn).
    let mut parent = ctx.store.worker().chat_for_worker(ctx.chat.id).await.map_err(store_error)?;
    if let Some(ws) = ctx.workspace_id() {
        parent.workspace_id = Some(ws);
    }
    let title = a.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| default_title(prompt));
    let new = NewChildChat { title, prompt: prompt.to_string(), instructions: CHILD_PROMPT.to_string() };
    let c = ctx.store.actor(&ctx.owner()).spawn_child_chat(&parent, new).await.map_err(store_error)?;
    ctx.wake.notify_one();
    Ok(json!({"chat_id": c.id, "title": c.title, "status": c.status}))
}

pub async fn wait_agent(ctx: &ToolCtx, a: WaitAgentArgs) -> ToolResult {
    let c = child(ctx, &a.chat_id).await?;
    let id: Uuid = c.id;
    let mut hints = ctx.hub.subscribe();
    let timeout = Duration::from_secs(a.timeout_seconds.unwrap_or(DEFAULT_WAIT).min(MAX_WAIT));
    let deadline = tokio::time::Instant::now() + timeout;
    let owner = ctx.owner();
    let actor = ctx.store.actor(&owner);
    loop {
        let c = actor.chat(id).await.map_err(store_error)?;
        if !matches!(c.status, ChatStatus::Pending | ChatStatus::Running) {
            let report = actor.last_assistant_text(&c).await.map_err(store_error)?;
            if c.status == ChatStatus::Error {
                return Err(format!(
                    "Subagent {id} failed: {}. Its last report: {}",
                    c.last_error.as_deref().unwrap_or("unknown error"),
                    report.as_deref().unwrap_or("(none)")
                ));
            }
            return Ok(json!({"chat_id": id, "title": c.title, "status": c.status, "report": report.unwrap_or_default()}));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(json!({"chat_id": id, "status": c.status, "timed_out": true}));
        }
        // Wake on any hint for the child; poll as a fallback for lost hints.
        let wait = (deadline - now).min(Duration::from_secs(2));
        let _ = tokio::time::timeout(wait, async {
            loop {
                match hints.recv().await {
                    Ok(ChatHint::Changed(h)) if h.chat_id == id => return,
                    Ok(ChatHint::Changed(_)) => continue,
                    _ => return,
                }
            }
        })
        .await;
    }
}

pub async fn message_agent(ctx: &ToolCtx, a: MessageAgentArgs) -> ToolResult {
    let c = child(ctx, &a.chat_id).await?;
    if a.message.trim().is_empty() {
        return Err("message is empty.".into());
    }
    let busy = if a.interrupt.unwrap_or(false) { BusyBehavior::Interrupt } else { BusyBehavior::Queue };
    let content = agentry_types::Part::content(&[agentry_types::Part::text(a.message.clone())]);
    let sent = ctx.store.actor(&ctx.owner()).send_message(c.id, content, None, busy, &[]).await.map_err(store_error)?;
    ctx.wake.notify_one();
    let queued = matches!(sent, agentry_store::chats::messages::Sent::Queued(_));
    Ok(json!({"chat_id": c.id, "queued": queued}))
}

pub async fn close_agent(ctx: &ToolCtx, a: CloseAgentArgs) -> ToolResult {
    let c = child(ctx, &a.chat_id).await?;
    let c = ctx.store.actor(&ctx.owner()).interrupt_chat(c.id).await.map_err(store_error)?;
    Ok(json!({"chat_id": c.id, "status": c.status}))
}
