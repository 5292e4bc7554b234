//! Templates, workspaces, builds and their logs (SPEC §3, §3.4, §5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Accepts a JSON string, number or boolean as its text, so `"default": 2` and
/// `"default": "2"` mean the same.
fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string, number or boolean, got {other}"))),
    }
}

fn opt_scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => scalar_text(v).map(Some).map_err(serde::de::Error::custom),
    }
}

fn scalar_texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| scalar_text(v).map_err(serde::de::Error::custom))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateParameterType {
    String,
    Number,
    Bool,
}

/// A template parameter. Values travel as text; numbers and booleans are also accepted as
/// JSON numbers and booleans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateParameter {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: TemplateParameterType,
    #[serde(default, deserialize_with = "opt_scalar_text", skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The workspace must be given a value (a required parameter has no default).
    #[serde(default)]
    pub required: bool,
    /// When not empty, the only values allowed.
    #[serde(default, deserialize_with = "scalar_texts")]
    pub options: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// What a workspace's processes may reach on the network: `full` (the default) or `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Full,
    None,
}

/// Who runs a template's workspace agents: `local` (the server, in a sandbox on its host; the
/// default) or `external` (the user runs `agentry agent` wherever the workspace should live).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    #[default]
    Local,
    External,
}

/// A workspace agent's connection, as the server last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceAgentStatus {
    /// `connected`, `disconnected`, or `never_connected`.
    pub status: String,
    /// The agent's release version.
    #[serde(default)]
    pub version: String,
    /// The server replica holding (or that last held) its connection.
    #[serde(default)]
    pub replica_id: Option<Uuid>,
    #[serde(default)]
    pub connected_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// How to run an external workspace's agent (`GET /workspaces/{id}/external-agent`). Each call
/// mints a new agent token for the workspace's current build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExternalAgentCredentials {
    /// The exact shell command that runs the agent on any machine with the `agentry` binary.
    pub command: String,
    pub url: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateTemplateRequest {
    /// 1–32 letters, digits, `-` or `_`; not `me`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$", example = "dev-box")]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub startup_script: Option<String>,
    #[serde(default)]
    pub parameters: Option<Vec<TemplateParameter>>,
    /// `full` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkMode>,
    /// `local` when absent; fixed once the template exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TemplateKind>,
}

/// Changes to a template; absent fields stay. A change to `startup_script`, `parameters` or
/// `network` creates a new template version and makes it the active one; existing workspaces
/// keep their version until their owner updates them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateTemplateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<String>,
    /// Replaces every parameter definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<TemplateParameter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkMode>,
    /// Deprecated templates cannot be used for new workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[serde(default)]
    pub organization_name: String,
    #[serde(default)]
    pub organization_display_name: String,
    /// Always empty: agentry has no organization icons.
    #[serde(default)]
    pub organization_icon: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Always empty: agentry has no template icons.
    #[serde(default)]
    pub icon: String,
    /// The version new workspaces are built from; `startup_script`, `parameters` and
    /// `network` are its content.
    pub active_version_id: Uuid,
    pub startup_script: String,
    pub parameters: Vec<TemplateParameter>,
    pub network: NetworkMode,
    #[serde(default)]
    pub kind: TemplateKind,
    pub deprecated: bool,
    /// Always empty: agentry's deprecation is a flag without a message.
    #[serde(default)]
    pub deprecation_message: String,
    pub created_by_id: Option<Uuid>,
    /// The creator's username; empty when the creator's account no longer exists.
    #[serde(default)]
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One immutable version of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersion {
    pub id: Uuid,
    pub template_id: Uuid,
    pub organization_id: Uuid,
    /// `v1`, `v2`, ... in order of creation.
    pub name: String,
    pub startup_script: String,
    pub parameters: Vec<TemplateParameter>,
    pub network: NetworkMode,
    pub created_by_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A parameter value for a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceBuildParameter {
    pub name: String,
    #[serde(deserialize_with = "scalar_text")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateWorkspaceRequest {
    pub template_id: Uuid,
    /// 1–32 letters, digits, `-` or `_`; not `me`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub name: String,
    #[serde(default)]
    pub rich_parameter_values: Vec<WorkspaceBuildParameter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceTransition {
    Start,
    Stop,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionerJobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl ProvisionerJobStatus {
    /// Succeeded, failed or canceled: the build will not change any more.
    pub fn is_finished(self) -> bool {
        !matches!(self, ProvisionerJobStatus::Pending | ProvisionerJobStatus::Running)
    }
}

/// The job that executes a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvisionerJob {
    pub status: ProvisionerJobStatus,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceBuild {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub build_number: i32,
    pub transition: WorkspaceTransition,
    pub job: ProvisionerJob,
    pub initiator_id: Option<Uuid>,
    /// The template version the build runs.
    pub template_version_id: Uuid,
    /// The parameter values the build runs with.
    pub parameters: Vec<WorkspaceBuildParameter>,
    pub created_at: DateTime<Utc>,
}

/// Derived from the latest build: a pending job is `pending`; a running one `starting`,
/// `stopping` or `deleting`; a successful one `running`, `stopped` or `deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
    Deleting,
    Deleted,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub template_id: Uuid,
    pub template_name: String,
    /// The template version the workspace builds with until its owner updates it.
    pub template_version_id: Uuid,
    /// The template's active version.
    pub template_active_version_id: Uuid,
    /// `template_version_id` is not the active version: an update is available.
    pub outdated: bool,
    pub status: WorkspaceStatus,
    pub latest_build: WorkspaceBuild,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The template's kind: who runs the workspace's agent.
    #[serde(default)]
    pub kind: TemplateKind,
    /// The workspace agent's connection; `None` only in answers that do not look it up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<WorkspaceAgentStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspacesResponse {
    pub workspaces: Vec<Workspace>,
    /// How many workspaces match, over all pages.
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateWorkspaceBuildRequest {
    pub transition: WorkspaceTransition,
    /// With `start`: build this version of the workspace's template and keep it from now on (an
    /// update; needs `ssh` on the workspace when it is not the current version). Absent: the
    /// workspace's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version_id: Option<Uuid>,
    /// With `start`: new values for some parameters; the others carry over. Needs `ssh`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rich_parameter_values: Vec<WorkspaceBuildParameter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// A message of the provisioner.
    Provisioner,
    /// A line of the startup script's output (standard output and error interleaved).
    Script,
}

/// One line of a build's log. Ids increase; pass the last one seen as `after` to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceBuildLog {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub stream: LogStream,
    pub output: String,
}

/// Run a shell command in a running workspace (`ssh` permission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceExecuteRequest {
    pub command: String,
    /// Directory relative to the workspace root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// How long to wait before the command is left running in the background; 60 s when
    /// absent, at most 600 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 600000)]
    pub timeout_ms: Option<u64>,
    /// Return at once with a process id.
    #[serde(default)]
    pub run_in_background: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceExecuteResponse {
    /// `128 + n` when signal `n` ended it; null while it still runs.
    pub exit_code: Option<i32>,
    /// Standard output and error interleaved, capped at 32 KiB.
    pub output: String,
    pub truncated: bool,
    pub duration_ms: u64,
    pub timed_out: bool,
    pub background_process_id: Option<String>,
}
