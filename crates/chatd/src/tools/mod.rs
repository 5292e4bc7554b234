//! The built-in tools. Every tool acts **as the chat owner** through the authorizing facade
//! (`Store::actor(&owner)`), so RBAC applies to the agent exactly as to the person, and every
//! tool is scoped to the chat's organization.
//!
//! Each tool's arguments are one Rust type: its JSON schema (what the model is shown) is
//! generated from that type with `schemars`, and the call is parsed into the same type, so the
//! schema and the parser cannot drift. Failures are tool results with `is_error` and a message
//! written for the model, never errors of the run.

mod platform;
mod subagents;
mod workspace;

use std::sync::Mutex;

use agentry_llm::ToolSpec;
use agentry_provisioner::Provisioning;
use agentry_rbac::Subject;
use agentry_store::Store;
use agentry_store::chats::Chat;
use agentry_store::pubsub::Hub;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// Everything a tool call may use.
pub struct ToolCtx {
    pub store: Store,
    pub provisioning: Provisioning,
    pub hub: Hub,
    /// The chat owner's subject, rebuilt from the database before every model call and every
    /// tool call (see `run.rs`); tools read it with [`ToolCtx::owner`].
    pub owner: Mutex<std::sync::Arc<Subject>>,
    pub chat: Chat,
    /// The bound workspace; `create_workspace` sets it during a turn.
    pub workspace: Mutex<Option<Uuid>>,
    /// Called after a tool created a chat that needs a worker (a subagent).
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

impl ToolCtx {
    pub fn is_child(&self) -> bool {
        self.chat.parent_chat_id.is_some()
    }

    /// The owner's subject as last rebuilt.
    pub fn owner(&self) -> std::sync::Arc<Subject> {
        self.owner.lock().expect("owner lock").clone()
    }

    /// Replaces the owner's subject with a freshly rebuilt one.
    pub fn set_owner(&self, owner: Subject) {
        *self.owner.lock().expect("owner lock") = std::sync::Arc::new(owner);
    }

    fn workspace_id(&self) -> Option<Uuid> {
        *self.workspace.lock().expect("workspace lock")
    }

    fn set_workspace(&self, id: Uuid) {
        *self.workspace.lock().expect("workspace lock") = Some(id);
    }
}

/// A tool's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub result: Value,
    pub is_error: bool,
}

impl ToolOutput {
    pub fn ok(result: Value) -> ToolOutput {
        ToolOutput { result, is_error: false }
    }

    pub fn error(message: impl Into<String>) -> ToolOutput {
        ToolOutput { result: serde_json::json!({"error": message.into()}), is_error: true }
    }
}

type ToolResult = Result<Value, String>;

/// The schema of an argument type, as a plain JSON Schema object.
pub fn schema<A: JsonSchema>() -> Value {
    let mut v = serde_json::to_value(schemars::schema_for!(A)).expect("schemas serialize");
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        o.entry("properties").or_insert_with(|| Value::Object(Default::default()));
    }
    v
}

fn parse<A: DeserializeOwned>(args: Value) -> Result<A, String> {
    let args = if args.is_null() { Value::Object(Default::default()) } else { args };
    serde_json::from_value(args).map_err(|e| format!("Invalid arguments: {e}. Call the tool again with arguments matching its schema."))
}

struct Def {
    name: &'static str,
    description: &'static str,
    schema: fn() -> Value,
    /// Only root chats get it (workspace lifecycle and subagents).
    root_only: bool,
}

const DEFS: &[Def] = &[
    Def { name: "list_templates", description: "List the workspace templates of this chat's organization. Each item has id, name, display_name, description and organization_id.", schema: schema::<platform::ListTemplatesArgs>, root_only: true },
    Def { name: "read_template", description: "Show one template of this chat's organization: description, startup script and parameters.", schema: schema::<platform::ReadTemplateArgs>, root_only: true },
    Def { name: "create_workspace", description: "Create a workspace from a template of this chat's organization, bind it to this chat and wait until it has started. Use list_templates to find a template id.", schema: schema::<platform::CreateWorkspaceArgs>, root_only: true },
    Def { name: "start_workspace", description: "Start the workspace bound to this chat (if it is stopped) and wait until it runs.", schema: schema::<platform::StartWorkspaceArgs>, root_only: true },
    Def { name: "read_file", description: "Read a text file of the workspace as numbered lines. Paths are relative to the workspace root.", schema: schema::<workspace::ReadFileArgs>, root_only: false },
    Def { name: "write_file", description: "Write a whole file in the workspace, creating it and its directories as needed.", schema: schema::<workspace::WriteFileArgs>, root_only: false },
    Def { name: "edit_files", description: "Apply search-and-replace edits to workspace files, all or none. Returns a diff per file.", schema: schema::<workspace::EditFilesArgs>, root_only: false },
    Def { name: "execute", description: "Run a shell command (sh -c) in the workspace. If it outlives its timeout it keeps running in the background and the result has background_process_id.", schema: schema::<workspace::ExecuteArgs>, root_only: false },
    Def { name: "process_output", description: "Wait for a background process (up to wait_seconds) and return its output and exit code.", schema: schema::<workspace::ProcessOutputArgs>, root_only: false },
    Def { name: "process_list", description: "List the background processes of the workspace.", schema: schema::<workspace::ProcessListArgs>, root_only: false },
    Def { name: "process_signal", description: "Send terminate or kill to a background process.", schema: schema::<workspace::ProcessSignalArgs>, root_only: false },
    Def { name: "spawn_agent", description: "Delegate a task to a subagent that works in the same organization and workspace. Returns its chat_id; use wait_agent to get its report.", schema: schema::<subagents::SpawnAgentArgs>, root_only: true },
    Def { name: "wait_agent", description: "Wait until a subagent finished and return its report (its last message).", schema: schema::<subagents::WaitAgentArgs>, root_only: true },
    Def { name: "message_agent", description: "Send a subagent a further message (queued, or interrupting its current turn).", schema: schema::<subagents::MessageAgentArgs>, root_only: true },
    Def { name: "close_agent", description: "Stop a subagent's current turn.", schema: schema::<subagents::CloseAgentArgs>, root_only: true },
];

/// A client-side (dynamic) tool declared at chat creation.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DynamicTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub input_schema: Value,
}

/// The chat's dynamic tools, minus any that collide with a built-in name (built-ins win).
pub fn dynamic_tools(chat: &Chat) -> Vec<DynamicTool> {
    let Some(v) = &chat.dynamic_tools else { return Vec::new() };
    let tools: Vec<DynamicTool> = serde_json::from_value(v.0.clone()).unwrap_or_default();
    tools.into_iter().filter(|t| !DEFS.iter().any(|d| d.name == t.name)).collect()
}

/// The tools offered to the model in this chat.
pub fn specs(chat: &Chat) -> Vec<ToolSpec> {
    let child = chat.parent_chat_id.is_some();
    let mut out: Vec<ToolSpec> = DEFS
        .iter()
        .filter(|d| !(child && d.root_only))
        .map(|d| ToolSpec { name: d.name.into(), description: d.description.into(), input_schema: (d.schema)() })
        .collect();
    for t in dynamic_tools(chat) {
        out.push(ToolSpec { name: t.name, description: t.description.unwrap_or_default(), input_schema: t.input_schema });
    }
    out
}

/// Whether `name` is a client-side tool this chat declared (and no built-in shadows it).
pub fn is_dynamic(chat: &Chat, name: &str) -> bool {
    !is_builtin(chat, name) && dynamic_tools(chat).iter().any(|t| t.name == name)
}

/// Whether `name` is one of this chat's built-in tools (anything else offered is dynamic).
pub fn is_builtin(chat: &Chat, name: &str) -> bool {
    let child = chat.parent_chat_id.is_some();
    DEFS.iter().any(|d| d.name == name && !(child && d.root_only))
}

/// Runs one built-in tool call.
pub async fn call(ctx: &ToolCtx, name: &str, args: Value) -> ToolOutput {
    if !is_builtin(&ctx.chat, name) {
        return ToolOutput::error(format!("There is no tool named {name:?} in this chat."));
    }
    match dispatch(ctx, name, args).await {
        Ok(v) => ToolOutput::ok(v),
        Err(e) => ToolOutput::error(e),
    }
}

async fn dispatch(ctx: &ToolCtx, name: &str, args: Value) -> ToolResult {
    match name {
        "list_templates" => platform::list_templates(ctx, parse(args)?).await,
        "read_template" => platform::read_template(ctx, parse(args)?).await,
        "create_workspace" => platform::create_workspace(ctx, parse(args)?).await,
        "start_workspace" => platform::start_workspace(ctx, parse(args)?).await,
        "read_file" => workspace::read_file(ctx, parse(args)?).await,
        "write_file" => workspace::write_file(ctx, parse(args)?).await,
        "edit_files" => workspace::edit_files(ctx, parse(args)?).await,
        "execute" => workspace::execute(ctx, parse(args)?).await,
        "process_output" => workspace::process_output(ctx, parse(args)?).await,
        "process_list" => workspace::process_list(ctx, parse(args)?).await,
        "process_signal" => workspace::process_signal(ctx, parse(args)?).await,
        "spawn_agent" => subagents::spawn_agent(ctx, parse(args)?).await,
        "wait_agent" => subagents::wait_agent(ctx, parse(args)?).await,
        "message_agent" => subagents::message_agent(ctx, parse(args)?).await,
        "close_agent" => subagents::close_agent(ctx, parse(args)?).await,
        _ => Err(format!("There is no tool named {name:?}.")),
    }
}

/// Parses a chat or template id the model passed.
fn uuid_arg(field: &str, v: &str) -> Result<Uuid, String> {
    Uuid::parse_str(v.trim()).map_err(|_| format!("{field} must be an id (a UUID), got {v:?}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_come_from_the_argument_types() {
        let s = schema::<workspace::ExecuteArgs>();
        assert_eq!(s["type"], "object");
        assert!(s["properties"]["command"].is_object());
        assert_eq!(s["required"], serde_json::json!(["command"]));
        let s = schema::<workspace::ProcessListArgs>();
        assert_eq!(s["type"], "object");
        for d in DEFS {
            let s = (d.schema)();
            assert_eq!(s["type"], "object", "{}", d.name);
        }
    }

    #[test]
    fn arguments_parse_into_the_same_types() {
        let a: workspace::ExecuteArgs = parse(serde_json::json!({"command": "ls", "timeout_seconds": 5})).unwrap();
        assert_eq!(a.command, "ls");
        let e = parse::<workspace::ExecuteArgs>(serde_json::json!({"cmd": "ls"})).unwrap_err();
        assert!(e.contains("command"), "{e}");
        let _: workspace::ProcessListArgs = parse(Value::Null).unwrap();
    }
}
