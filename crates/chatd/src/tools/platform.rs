//! Templates and workspace lifecycle: `list_templates`, `read_template`, `create_workspace`,
//! `start_workspace`. Only the chat's organization is ever consulted, and every read or write
//! goes through the owner's actor, so the owner's RBAC applies on top.

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_store::{ClientError, StoreError};
use agentry_store::chats::ChatPatch;
use agentry_store::templates::{ParameterValue, Template};
use agentry_store::users::UserRef;
use agentry_store::workspaces::{JobStatus, NewBuild, NewWorkspace, Transition, Workspace};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ToolCtx, ToolResult, uuid_arg};

/// How long a tool waits for a workspace build.
const BUILD_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTemplatesArgs {
    /// Only templates whose name, display name or description contains this text.
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadTemplateArgs {
    /// The template id, from list_templates.
    pub template_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateWorkspaceArgs {
    /// The template id, from list_templates.
    pub template_id: String,
    /// A name for the workspace (lower-case letters, digits and dashes); generated when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Template parameter values by parameter name.
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StartWorkspaceArgs {}

fn template_item(t: &Template) -> Value {
    json!({
        "id": t.id, "name": t.name, "display_name": t.display_name, "description": t.description,
        "organization_id": t.organization_id, "deprecated": t.deprecated,
    })
}

fn store_error(e: StoreError) -> String {
    match e {
        StoreError::NotFound => "Not found.".into(),
        StoreError::Forbidden(_) => "The chat owner is not allowed to do this.".into(),
        StoreError::Database(e) => {
            tracing::warn!(error = %e, "tool database error");
            "A database error occurred; try again.".into()
        }
        other => other.to_string(),
    }
}

pub async fn list_templates(ctx: &ToolCtx, a: ListTemplatesArgs) -> ToolResult {
    let owner = ctx.owner();
    let actor = ctx.store.actor(&owner);
    let org = ctx.chat.organization_id.to_string();
    let templates = actor.templates(&org, 200, 0, None).await.map_err(store_error)?;
    let q = a.query.map(|q| q.to_lowercase());
    let items: Vec<Value> = templates
        .iter()
        // The facade already filters to the organization; this keeps the promise explicit.
        .filter(|t| t.organization_id == ctx.chat.organization_id && !t.deprecated)
        .filter(|t| match &q {
            Some(q) => [&t.name, &t.display_name, &t.description].iter().any(|f| f.to_lowercase().contains(q)),
            None => true,
        })
        .map(template_item)
        .collect();
    Ok(json!({"organization_id": ctx.chat.organization_id, "count": items.len(), "templates": items}))
}

/// A template of the chat's organization, or the model-facing reason why not.
async fn org_template(ctx: &ToolCtx, id: &str) -> Result<Template, String> {
    let id = uuid_arg("template_id", id)?;
    let not_found = || format!("Template {id} not found. Use list_templates to see the templates of this chat's organization.");
    let t = ctx.store.actor(&ctx.owner()).template(id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        e => store_error(e),
    })?;
    Ok(t)
}

pub async fn read_template(ctx: &ToolCtx, a: ReadTemplateArgs) -> ToolResult {
    let t = org_template(ctx, &a.template_id).await?;
    if t.organization_id != ctx.chat.organization_id {
        // Another organization's template does not exist as far as this chat is concerned.
        return Err(format!(
            "Template {} not found. Use list_templates to see the templates of this chat's organization.",
            t.id
        ));
    }
    let mut v = template_item(&t);
    v["startup_script"] = json!(t.startup_script);
    v["parameters"] = serde_json::to_value(&t.parameters.0).unwrap_or(Value::Null);
    Ok(v)
}

fn workspace_item(w: &Workspace) -> Value {
    json!({
        "workspace_id": w.id, "name": w.name, "organization_id": w.organization_id,
        "template_id": w.template_id, "status": w.status().as_str(), "outdated": w.outdated(),
    })
}

/// A workspace name from the model's suggestion or the chat id.
fn workspace_name(suggested: Option<&str>, chat_id: Uuid) -> String {
    let clean: String = suggested
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean = clean.trim_matches('-').chars().take(32).collect::<String>();
    if clean.is_empty() || !clean.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("chat-{}", &chat_id.simple().to_string()[24..])
    } else {
        clean
    }
}

/// Waits for the workspace's latest build to finish; `Err` with the build error when it failed.
async fn wait_for_build(ctx: &ToolCtx, id: Uuid) -> Result<Workspace, String> {
    let mut changed = ctx.provisioning.subscribe();
    let deadline = tokio::time::Instant::now() + BUILD_WAIT;
    loop {
        let w = ctx.store.actor(&ctx.owner()).workspace(id).await.map_err(store_error)?;
        let b = &w.latest_build.0;
        match b.status {
            JobStatus::Succeeded => return Ok(w),
            JobStatus::Failed | JobStatus::Canceled => {
                return Err(format!(
                    "The workspace's {} build {}: {}",
                    b.transition.as_str(),
                    b.status.as_str(),
                    b.error.as_deref().unwrap_or("no error message")
                ));
            }
            JobStatus::Pending | JobStatus::Running => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err("The workspace build did not finish within 10 minutes.".into());
        }
        // Build changes on this server arrive as hints; builds on another server are polled.
        let _ = tokio::time::timeout(Duration::from_millis(500), changed.recv()).await;
    }
}

pub async fn create_workspace(ctx: &ToolCtx, a: CreateWorkspaceArgs) -> ToolResult {
    let owner = ctx.owner();
    let actor = ctx.store.actor(&owner);
    if let Some(existing) = ctx.workspace_id()
        && let Ok(w) = actor.workspace(existing).await
        && !w.deleted
    {
        return Err(format!(
            "This chat already has a workspace ({}, {}); use it, or start_workspace if it is stopped.",
            w.name, w.id
        ));
    }
    let t = org_template(ctx, &a.template_id).await?;
    if t.organization_id != ctx.chat.organization_id {
        return Err(format!(
            "Template {} belongs to another organization; this chat can only use templates of its own \
             organization ({}). Use list_templates to find a template of this organization.",
            t.id, ctx.chat.organization_id
        ));
    }
    let params: Vec<ParameterValue> = a
        .parameters
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| ParameterValue { name, value })
        .collect();
    let org = ctx.chat.organization_id.to_string();
    let owner = UserRef::Id(ctx.chat.owner_id);
    let mut name = workspace_name(a.name.as_deref(), ctx.chat.id);
    let mut created = None;
    for attempt in 0..3 {
        let new = NewWorkspace { template_id: t.id, name: &name, parameters: &params };
        match actor.create_workspace(&org, &owner, &new).await {
            Ok(w) => {
                created = Some(w);
                break;
            }
            Err(StoreError::Client(ClientError::WorkspaceNameTaken { .. })) if attempt < 2 => {
                name = format!("{}-{}", name.chars().take(24).collect::<String>(), &Uuid::new_v4().simple().to_string()[..6]);
            }
            Err(StoreError::Client(e)) if e.status() == 400 => {
                return Err(match e.field() {
                    Some(f) => format!("{e} ({f})"),
                    None => e.to_string(),
                });
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    let w = created.ok_or("Could not find a free workspace name; pass another name.")?;
    ctx.provisioning.build_queued();
    // Bind at once, so clients see the workspace while it builds.
    actor
        .update_chat(ctx.chat.id, &ChatPatch { workspace_id: Some(Some(w.id)), ..ChatPatch::default() })
        .await
        .map_err(store_error)?;
    ctx.set_workspace(w.id);
    let w = wait_for_build(ctx, w.id).await?;
    Ok(workspace_item(&w))
}

pub async fn start_workspace(ctx: &ToolCtx, _: StartWorkspaceArgs) -> ToolResult {
    let id = ctx
        .workspace_id()
        .ok_or("This chat has no workspace. Use list_templates and create_workspace to create one.")?;
    let owner = ctx.owner();
    let actor = ctx.store.actor(&owner);
    let w = actor.workspace(id).await.map_err(store_error)?;
    let b = &w.latest_build.0;
    if b.status.is_active() {
        let w = wait_for_build(ctx, id).await?;
        return Ok(workspace_item(&w));
    }
    if b.transition == Transition::Start && b.status == JobStatus::Succeeded && ctx.provisioning.agent(id).await.is_ok() {
        return Ok(workspace_item(&w));
    }
    match actor.create_build(id, NewBuild::plain(Transition::Start)).await {
        Ok(_) => ctx.provisioning.build_queued(),
        // Started meanwhile (or running): wait for whatever is there.
        Err(StoreError::Client(e)) if e.status() == 409 => {}
        Err(e) => return Err(store_error(e)),
    }
    let w = wait_for_build(ctx, id).await?;
    Ok(workspace_item(&w))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        let chat = uuid::Uuid::nil();
        assert_eq!(super::workspace_name(Some("My Project!"), chat), "my-project");
        assert_eq!(super::workspace_name(None, chat), "chat-00000000");
        assert_eq!(super::workspace_name(Some("9lives"), chat), "chat-00000000");
    }
}
