//! Domain rows → wire types. Only this crate knows both.

use agentry_rbac::{OrgRole, PermSet, ResourceType, Role, SiteRole};
use agentry_sdk as sdk;
use agentry_store::{audit::AuditRow, members::Member, orgs::Organization, users::User};
use uuid::Uuid;

/// Coder's zero time, which it shows as `last_seen_at` for a user never seen.
fn never() -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1).expect("valid date").and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A site role as a user's or member's role list shows it; `member` and any stored name
/// agentry does not know (a retired role) keep their name.
fn site_role(name: String) -> sdk::SlimRole {
    let display_name = SiteRole::parse(&name).map(|r| r.display_name().to_string()).unwrap_or_default();
    sdk::SlimRole { name, display_name, organization_id: None }
}

/// The implicit `member` first, then the stored site roles.
fn site_roles(stored: Vec<String>) -> Vec<sdk::SlimRole> {
    std::iter::once(SiteRole::Member.name().to_string()).chain(stored).map(site_role).collect()
}

pub fn api_key(k: agentry_store::users::ApiKey) -> sdk::ApiKey {
    sdk::ApiKey {
        id: k.id,
        user_id: k.user_id,
        name: k.token_name,
        login_type: k.login_type,
        scope: "all".into(),
        created_at: k.created_at,
        last_used: k.last_used,
        expires_at: k.expires_at,
    }
}

pub fn user(u: User) -> sdk::User {
    sdk::User {
        id: u.id,
        status: if u.is_active() { sdk::UserStatus::Active } else { sdk::UserStatus::Suspended },
        // `member` is implicit for every user; list it so clients see the whole set.
        roles: site_roles(u.site_roles),
        username: u.username,
        email: u.email,
        name: u.name,
        avatar_url: String::new(),
        login_type: sdk::LoginType::Password,
        organization_ids: u.organization_ids,
        created_at: u.created_at,
        updated_at: u.updated_at,
        last_seen_at: u.last_seen_at.unwrap_or_else(never),
    }
}

pub fn organization(o: Organization) -> sdk::Organization {
    sdk::Organization {
        id: o.id,
        name: o.name,
        display_name: o.display_name,
        description: o.description,
        icon: String::new(),
        is_default: o.is_default,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

pub fn member(m: Member) -> sdk::OrganizationMember {
    let org = m.organization_id;
    sdk::OrganizationMember {
        organization_id: org,
        user_id: m.user_id,
        username: m.username,
        name: m.name,
        email: m.email,
        avatar_url: String::new(),
        roles: m
            .roles
            .into_iter()
            .map(|name| {
                let display_name = OrgRole::parse(&name).map(|r| r.display_name().to_string()).unwrap_or_default();
                sdk::SlimRole { name, display_name, organization_id: Some(org) }
            })
            .collect(),
        global_roles: site_roles(m.site_roles),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A level's permissions as Coder lists them: one entry per (type, action), negations too.
fn permissions(set: &PermSet) -> Vec<sdk::Permission> {
    let mut out = Vec::new();
    for t in ResourceType::ALL {
        for (negate, actions) in [(false, set.allowed(t)), (true, set.denied(t))] {
            for a in actions.iter() {
                out.push(sdk::Permission {
                    negate,
                    resource_type: t.as_str().to_string(),
                    action: a.as_str().to_string(),
                });
            }
        }
    }
    out
}

/// A built-in role with its permissions; `org` is where an org role is listed for.
pub fn role(role: &Role, display_name: &str, org: Option<Uuid>, assignable: bool) -> sdk::AssignableRole {
    sdk::AssignableRole {
        name: role.name.to_string(),
        display_name: display_name.to_string(),
        organization_id: org,
        site_permissions: permissions(&role.site),
        organization_permissions: permissions(&role.org),
        organization_member_permissions: permissions(&role.member),
        user_permissions: permissions(&role.user),
        assignable,
        built_in: true,
    }
}

pub fn audit(a: AuditRow) -> sdk::AuditLog {
    sdk::AuditLog {
        id: a.id,
        time: a.time,
        user_id: a.user_id,
        organization_id: a.organization_id,
        action: a.action,
        resource_type: a.resource_type,
        resource_id: a.resource_id,
        resource_target: a.resource_target,
        diff: a.diff,
        description: a.description,
    }
}

// ---- templates and workspaces ----

use agentry_store::templates::{NetworkMode, ParameterType, Template, TemplateParameter, TemplateVersion};
use agentry_store::workspaces::{
    BuildLog, JobStatus, Transition, Workspace, WorkspaceBuild, WorkspaceStatus,
};

pub fn template_parameter(p: TemplateParameter) -> sdk::TemplateParameter {
    sdk::TemplateParameter {
        name: p.name,
        param_type: match p.kind {
            ParameterType::String => sdk::TemplateParameterType::String,
            ParameterType::Number => sdk::TemplateParameterType::Number,
            ParameterType::Bool => sdk::TemplateParameterType::Bool,
        },
        default: p.default,
        required: p.required,
        options: p.options,
        description: p.description,
    }
}

pub fn template_parameter_in(p: sdk::TemplateParameter) -> TemplateParameter {
    TemplateParameter {
        name: p.name,
        kind: match p.param_type {
            sdk::TemplateParameterType::String => ParameterType::String,
            sdk::TemplateParameterType::Number => ParameterType::Number,
            sdk::TemplateParameterType::Bool => ParameterType::Bool,
        },
        default: p.default,
        required: p.required,
        options: p.options,
        description: p.description,
    }
}

pub fn network(n: NetworkMode) -> sdk::NetworkMode {
    match n {
        NetworkMode::Full => sdk::NetworkMode::Full,
        NetworkMode::None => sdk::NetworkMode::None,
    }
}

pub fn network_in(n: sdk::NetworkMode) -> NetworkMode {
    match n {
        sdk::NetworkMode::Full => NetworkMode::Full,
        sdk::NetworkMode::None => NetworkMode::None,
    }
}

pub fn template(t: Template) -> sdk::Template {
    sdk::Template {
        id: t.id,
        organization_id: t.organization_id,
        organization_name: t.organization_name,
        organization_display_name: t.organization_display_name,
        organization_icon: String::new(),
        name: t.name,
        display_name: t.display_name,
        description: t.description,
        icon: String::new(),
        active_version_id: t.active_version_id,
        startup_script: t.startup_script,
        parameters: t.parameters.0.into_iter().map(template_parameter).collect(),
        network: network(t.network),
        kind: template_kind(t.kind),
        deprecated: t.deprecated,
        deprecation_message: String::new(),
        created_by_id: t.created_by,
        created_by_name: t.created_by_name,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

pub fn template_version(v: TemplateVersion) -> sdk::TemplateVersion {
    sdk::TemplateVersion {
        id: v.id,
        template_id: v.template_id,
        organization_id: v.organization_id,
        name: format!("v{}", v.number),
        startup_script: v.startup_script,
        parameters: v.parameters.0.into_iter().map(template_parameter).collect(),
        network: network(v.network),
        created_by_id: v.created_by,
        created_at: v.created_at,
    }
}

pub fn transition(t: Transition) -> sdk::WorkspaceTransition {
    match t {
        Transition::Start => sdk::WorkspaceTransition::Start,
        Transition::Stop => sdk::WorkspaceTransition::Stop,
        Transition::Delete => sdk::WorkspaceTransition::Delete,
    }
}

pub fn transition_in(t: sdk::WorkspaceTransition) -> Transition {
    match t {
        sdk::WorkspaceTransition::Start => Transition::Start,
        sdk::WorkspaceTransition::Stop => Transition::Stop,
        sdk::WorkspaceTransition::Delete => Transition::Delete,
    }
}

pub fn workspace_status(s: WorkspaceStatus) -> sdk::WorkspaceStatus {
    match s {
        WorkspaceStatus::Pending => sdk::WorkspaceStatus::Pending,
        WorkspaceStatus::Starting => sdk::WorkspaceStatus::Starting,
        WorkspaceStatus::Running => sdk::WorkspaceStatus::Running,
        WorkspaceStatus::Stopping => sdk::WorkspaceStatus::Stopping,
        WorkspaceStatus::Stopped => sdk::WorkspaceStatus::Stopped,
        WorkspaceStatus::Deleting => sdk::WorkspaceStatus::Deleting,
        WorkspaceStatus::Deleted => sdk::WorkspaceStatus::Deleted,
        WorkspaceStatus::Failed => sdk::WorkspaceStatus::Failed,
        WorkspaceStatus::Canceled => sdk::WorkspaceStatus::Canceled,
    }
}

pub fn build(b: WorkspaceBuild) -> sdk::WorkspaceBuild {
    sdk::WorkspaceBuild {
        id: b.id,
        workspace_id: b.workspace_id,
        build_number: b.build_number,
        transition: transition(b.transition),
        job: sdk::ProvisionerJob {
            status: match b.status {
                JobStatus::Pending => sdk::ProvisionerJobStatus::Pending,
                JobStatus::Running => sdk::ProvisionerJobStatus::Running,
                JobStatus::Succeeded => sdk::ProvisionerJobStatus::Succeeded,
                JobStatus::Failed => sdk::ProvisionerJobStatus::Failed,
                JobStatus::Canceled => sdk::ProvisionerJobStatus::Canceled,
            },
            error: b.error,
            created_at: b.created_at,
            started_at: b.started_at,
            completed_at: b.completed_at,
        },
        initiator_id: b.initiator_id,
        template_version_id: b.template_version_id,
        parameters: b
            .parameters
            .into_iter()
            .map(|p| sdk::WorkspaceBuildParameter { name: p.name, value: p.value })
            .collect(),
        created_at: b.created_at,
    }
}

pub fn workspace(w: Workspace) -> sdk::Workspace {
    sdk::Workspace {
        status: workspace_status(w.status()),
        outdated: w.outdated(),
        id: w.id,
        name: w.name,
        organization_id: w.organization_id,
        owner_id: w.owner_id,
        owner_name: w.owner_name,
        template_id: w.template_id,
        template_name: w.template_name,
        template_version_id: w.template_version_id,
        template_active_version_id: w.template_active_version_id,
        latest_build: build(w.latest_build.0),
        created_at: w.created_at,
        updated_at: w.updated_at,
        kind: template_kind(w.template_kind),
        agent: None,
    }
}

pub fn template_kind(k: agentry_store::templates::TemplateKind) -> sdk::TemplateKind {
    match k {
        agentry_store::templates::TemplateKind::Local => sdk::TemplateKind::Local,
        agentry_store::templates::TemplateKind::External => sdk::TemplateKind::External,
    }
}

pub fn template_kind_in(k: sdk::TemplateKind) -> agentry_store::templates::TemplateKind {
    match k {
        sdk::TemplateKind::Local => agentry_store::templates::TemplateKind::Local,
        sdk::TemplateKind::External => agentry_store::templates::TemplateKind::External,
    }
}

/// A workspace with its agent's connection state (`state` from `Actor::agent_states`; none
/// when its agent never connected).
pub fn workspace_with_agent(w: Workspace, state: Option<&agentry_store::agents::AgentState>) -> sdk::Workspace {
    let agent = Some(match state {
        None => sdk::WorkspaceAgentStatus {
            status: "never_connected".into(),
            version: String::new(),
            replica_id: None,
            connected_at: None,
            last_seen_at: None,
        },
        Some(a) => sdk::WorkspaceAgentStatus {
            status: if a.connected { "connected" } else { "disconnected" }.into(),
            version: a.version.clone(),
            replica_id: a.replica_id,
            connected_at: a.connected_at,
            last_seen_at: a.last_seen_at,
        },
    });
    sdk::Workspace { agent, ..workspace(w) }
}

pub fn build_log(l: BuildLog) -> sdk::WorkspaceBuildLog {
    sdk::WorkspaceBuildLog {
        id: l.id,
        created_at: l.created_at,
        stream: if l.stream == "script" { sdk::LogStream::Script } else { sdk::LogStream::Provisioner },
        output: l.output,
    }
}

pub fn chat(c: agentry_store::chats::Chat, children: Vec<sdk::Chat>) -> sdk::Chat {
    sdk::Chat {
        root_chat_id: c.root_id(),
        id: c.id,
        organization_id: c.organization_id,
        owner_id: c.owner_id,
        workspace_id: c.workspace_id,
        parent_chat_id: c.parent_chat_id,
        last_model_config_id: c.last_model_config_id,
        title: c.title,
        status: c.status,
        last_error: c.last_error,
        created_at: c.created_at,
        updated_at: c.updated_at,
        archived: c.archived,
        pin_order: c.pin_order,
        labels: c.labels.0,
        mcp_server_ids: Vec::new(),
        has_unread: c.has_unread,
        children,
        files: None,
        warnings: Vec::new(),
    }
}

pub fn message(m: agentry_store::chats::messages::Message) -> sdk::ChatMessage {
    let total = match (m.input_tokens, m.output_tokens) {
        (Some(i), Some(o)) => Some(i + o),
        _ => None,
    };
    let usage = (m.input_tokens.is_some() || m.output_tokens.is_some()).then_some(sdk::ChatUsage {
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        total_tokens: total,
        reasoning_tokens: m.reasoning_tokens,
        cache_creation_tokens: m.cache_creation_tokens,
        cache_read_tokens: m.cache_read_tokens,
        context_limit: m.context_limit,
    });
    sdk::ChatMessage {
        id: m.id,
        chat_id: m.chat_id,
        created_by: m.created_by,
        model_config_id: m.model_config_id,
        created_at: m.created_at,
        role: m.role,
        content: m.content.0,
        usage,
        total_cost_micros: m.total_cost_micros,
        stopped: m.stopped,
    }
}

pub fn queued(q: agentry_store::chats::messages::QueuedMessage) -> sdk::ChatQueuedMessage {
    sdk::ChatQueuedMessage { id: q.id, chat_id: q.chat_id, content: q.content.0, created_at: q.created_at }
}

pub fn chat_file(f: agentry_store::chats::files::FileMeta) -> sdk::ChatFileMetadata {
    sdk::ChatFileMetadata {
        id: f.id,
        owner_id: f.owner_id,
        organization_id: f.organization_id,
        name: f.name,
        mime_type: f.mimetype,
        size_bytes: f.size_bytes,
        created_at: f.created_at,
    }
}

/// Micro-dollars per million tokens → dollars per million tokens.
fn dollars(micros: Option<i64>) -> Option<f64> {
    micros.map(|m| m as f64 / 1e6)
}

pub fn model_config(m: agentry_store::chats::models::ModelConfig) -> sdk::ChatModelConfig {
    sdk::ChatModelConfig {
        id: m.id,
        provider: m.provider,
        provider_id: m.provider_id,
        provider_display_name: m.provider_display_name,
        organization_id: m.organization_id,
        organization_ids: m.organization_ids,
        model: m.model,
        display_name: m.display_name,
        enabled: m.enabled,
        is_default: m.is_default,
        context_limit: m.context_limit,
        input_price_per_million: dollars(m.input_price_micros_per_million),
        output_price_per_million: dollars(m.output_price_micros_per_million),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub fn provider(p: agentry_store::chats::models::Provider) -> sdk::ChatProviderConfig {
    sdk::ChatProviderConfig {
        id: p.id,
        provider: p.provider,
        display_name: p.display_name,
        organization_id: p.organization_id,
        enabled: p.enabled,
        has_api_key: p.api_key.is_some(),
        base_url: p.base_url,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

pub fn replica(r: agentry_store::replicas::ReplicaRow) -> sdk::Replica {
    sdk::Replica {
        id: r.id,
        hostname: r.hostname,
        relay_address: r.relay_address,
        version: r.version,
        started_at: r.started_at,
        last_heartbeat_at: r.last_heartbeat_at,
        alive: r.alive,
        chats_running: r.chats_running,
        sockets: sdk::ReplicaSockets { stream: r.stream_sockets, watch: r.watch_sockets, agent: r.agent_sockets },
    }
}
