//! Workspaces, their builds and build logs.
//!
//! A workspace is org-scoped and user-owned; it is created from a template of the **same**
//! organization together with its first build (`start`, pending), in one transaction. Every
//! later build is requested under `SELECT ... FOR UPDATE` on the workspace row, so two requests
//! cannot both start a build, and a transition that makes no sense for the latest build is a
//! conflict. The workspace's status is derived from its latest build ([`WorkspaceStatus::of`]);
//! the status filter of the list enumerates the (transition, job status) pairs of that same
//! function, so the two cannot disagree.
//!
//! A workspace is pinned to the template version it was built from
//! (`workspaces.template_version_id`) and every build records the version it runs; a build runs
//! its recorded version, never the template's current content. Only a `start` that names
//! another version of the workspace's template moves the pin — an update, which needs `ssh` on
//! the workspace, like any build that changes parameter values. So an organization or template
//! admin who edits a template and restarts someone else's workspace runs what the owner last
//! chose, not the edit.
//!
//! Builds are executed by the provisioner's runner through the [`System`] methods at the end of
//! this file (claim, log, finish, recover); no subject acts there.

use agentry_rbac::{Action, Columns, Object, ResourceType};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::args::{Args, Source};
use crate::audit::{self, Entry};
use crate::error::unique_violation;
use crate::templates::{
    NetworkMode, ParameterValue, fetch_template, fetch_version, first_invalid, resolve_parameters, template_object,
};
use crate::users::UserRef;
use crate::{Actor, ClientError, Result, StoreError, BuildTasks};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub const ALL: [Transition; 3] = [Transition::Start, Transition::Stop, Transition::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }

    /// The RBAC action a build with this transition needs on the workspace.
    pub fn action(self) -> Action {
        match self {
            Transition::Start => Action::Start,
            Transition::Stop => Action::Stop,
            Transition::Delete => Action::Delete,
        }
    }
}

/// A build's job status: `pending → running → succeeded | failed | canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed, JobStatus::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Running)
    }
}

/// A workspace's status, derived from its latest build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl WorkspaceStatus {
    pub const ALL: [WorkspaceStatus; 9] = [
        WorkspaceStatus::Pending,
        WorkspaceStatus::Starting,
        WorkspaceStatus::Running,
        WorkspaceStatus::Stopping,
        WorkspaceStatus::Stopped,
        WorkspaceStatus::Deleting,
        WorkspaceStatus::Deleted,
        WorkspaceStatus::Failed,
        WorkspaceStatus::Canceled,
    ];

    /// The status a workspace has when its latest build has this transition and job status.
    pub fn of(transition: Transition, job: JobStatus) -> WorkspaceStatus {
        use JobStatus as J;
        use Transition as T;
        match (transition, job) {
            (_, J::Pending) => WorkspaceStatus::Pending,
            (T::Start, J::Running) => WorkspaceStatus::Starting,
            (T::Stop, J::Running) => WorkspaceStatus::Stopping,
            (T::Delete, J::Running) => WorkspaceStatus::Deleting,
            (T::Start, J::Succeeded) => WorkspaceStatus::Running,
            (T::Stop, J::Succeeded) => WorkspaceStatus::Stopped,
            (T::Delete, J::Succeeded) => WorkspaceStatus::Deleted,
            (_, J::Failed) => WorkspaceStatus::Failed,
            (_, J::Canceled) => WorkspaceStatus::Canceled,
        }
    }

    /// Every (transition, job status) pair that yields this status.
    pub fn pairs(self) -> Vec<(Transition, JobStatus)> {
        Transition::ALL
            .into_iter()
            .flat_map(|t| JobStatus::ALL.into_iter().map(move |j| (t, j)))
            .filter(|&(t, j)| WorkspaceStatus::of(t, j) == self)
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Pending => "pending",
            WorkspaceStatus::Starting => "starting",
            WorkspaceStatus::Running => "running",
            WorkspaceStatus::Stopping => "stopping",
            WorkspaceStatus::Stopped => "stopped",
            WorkspaceStatus::Deleting => "deleting",
            WorkspaceStatus::Deleted => "deleted",
            WorkspaceStatus::Failed => "failed",
            WorkspaceStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<WorkspaceStatus> {
        WorkspaceStatus::ALL.into_iter().find(|w| w.as_str() == s)
    }
}

/// A build as stored. Read through `to_jsonb`, so one shape serves single builds and the
/// latest build embedded in a workspace row.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceBuild {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub build_number: i32,
    pub transition: Transition,
    pub status: JobStatus,
    pub error: Option<String>,
    pub parameters: Vec<ParameterValue>,
    /// The template version the build runs.
    pub template_version_id: Uuid,
    pub initiator_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Workspace {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub template_id: Uuid,
    pub template_name: String,
    /// Who runs the workspace's agent (the template's kind).
    #[sqlx(try_from = "String")]
    pub template_kind: crate::templates::TemplateKind,
    /// The version the workspace builds with until it is updated.
    pub template_version_id: Uuid,
    /// The template's active version, which an update moves to.
    pub template_active_version_id: Uuid,
    pub name: String,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_build: Json<WorkspaceBuild>,
}

impl Workspace {
    pub fn status(&self) -> WorkspaceStatus {
        WorkspaceStatus::of(self.latest_build.transition, self.latest_build.status)
    }

    /// The template has a newer active version than the one the workspace is pinned to.
    pub fn outdated(&self) -> bool {
        self.template_version_id != self.template_active_version_id
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct BuildLog {
    pub id: i64,
    pub build_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `provisioner` or `script`.
    pub stream: String,
    pub output: String,
}

/// The RBAC object for a workspace: in its organization, owned by its owner.
pub fn workspace_object(id: Uuid, org: Uuid, owner: Uuid) -> Object {
    Object::new(ResourceType::Workspace).with_id(id).owned_by(owner).in_org(org)
}

pub struct NewWorkspace<'a> {
    pub template_id: Uuid,
    pub name: &'a str,
    pub parameters: &'a [ParameterValue],
}

/// A build request.
#[derive(Debug, Clone, Copy)]
pub struct NewBuild<'a> {
    pub transition: Transition,
    /// A `start` only: build this version of the workspace's template and pin the workspace to
    /// it. Another version than the pinned one is an update and needs `ssh` on the workspace.
    pub template_version_id: Option<Uuid>,
    /// A `start` only: new values for some parameters (the others carry over from the latest
    /// build). Needs `ssh` on the workspace.
    pub parameters: &'a [ParameterValue],
}

impl NewBuild<'static> {
    /// A build of the pinned version with the latest build's parameter values.
    pub fn plain(transition: Transition) -> NewBuild<'static> {
        NewBuild { transition, template_version_id: None, parameters: &[] }
    }
}

/// `owner:` in a workspace search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerQuery {
    Me,
    /// A username or a user id.
    User(String),
}

/// The conditions of `GET /workspaces?q=...`; all given ones must hold. Without a `status`,
/// deleted workspaces are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceQuery {
    pub owner: Option<OwnerQuery>,
    /// An organization name or id.
    pub organization: Option<String>,
    /// A template name or id.
    pub template: Option<String>,
    pub status: Option<WorkspaceStatus>,
    /// A substring of the workspace name, case-insensitive.
    pub name: Option<String>,
}

const WORKSPACE_SELECT: &str = "SELECT w.id, w.organization_id, w.owner_id, u.username AS owner_name,
        w.template_id, t.name AS template_name, t.kind AS template_kind, w.template_version_id,
        t.active_version_id AS template_active_version_id, w.name, w.deleted, w.created_at, w.updated_at,
        to_jsonb(lb) AS latest_build
    FROM workspaces w
    JOIN users u ON u.id = w.owner_id
    JOIN templates t ON t.id = w.template_id
    JOIN LATERAL (SELECT * FROM workspace_builds b WHERE b.workspace_id = w.id
                  ORDER BY b.build_number DESC LIMIT 1) lb ON true";

const WORKSPACE_COLUMNS: Columns = Columns { org: Some("w.organization_id"), owner: Some("w.owner_id") };

/// The conditions of a workspace list query, RBAC filter included.
fn workspace_conditions(subject: &agentry_rbac::Subject, q: &WorkspaceQuery, filter: &agentry_rbac::Filter, args: &mut Args) -> String {
    let mut c = vec![args.filter(filter, WORKSPACE_COLUMNS)];
    match &q.owner {
        None => {}
        Some(OwnerQuery::Me) => c.push(format!("w.owner_id = {}", args.push(subject.user_id()))),
        Some(OwnerQuery::User(u)) => match Uuid::parse_str(u) {
            Ok(id) => c.push(format!("w.owner_id = {}", args.push(id))),
            Err(_) => c.push(format!("lower(u.username) = lower({})", args.push(u.clone()))),
        },
    }
    if let Some(o) = &q.organization {
        match Uuid::parse_str(o) {
            Ok(id) => c.push(format!("w.organization_id = {}", args.push(id))),
            Err(_) => c.push(format!(
                "w.organization_id IN (SELECT id FROM organizations WHERE lower(name) = lower({}))",
                args.push(o.clone())
            )),
        }
    }
    if let Some(t) = &q.template {
        match Uuid::parse_str(t) {
            Ok(id) => c.push(format!("w.template_id = {}", args.push(id))),
            Err(_) => c.push(format!("lower(t.name) = lower({})", args.push(t.clone()))),
        }
    }
    match q.status {
        None => c.push("NOT w.deleted".into()),
        Some(s) => {
            let (ts, js): (Vec<&str>, Vec<&str>) =
                s.pairs().into_iter().map(|(t, j)| (t.as_str(), j.as_str())).unzip();
            let (ts, js) = (args.push(ts), args.push(js));
            c.push(format!(
                "(lb.transition, lb.status) IN (SELECT * FROM unnest({ts}::text[], {js}::text[]))"
            ));
        }
    }
    if let Some(n) = &q.name {
        c.push(format!("strpos(lower(w.name), lower({})) > 0", args.push(n.clone())));
    }
    c.join(" AND ")
}

async fn fetch_workspace(conn: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<Workspace>> {
    let sql = format!("{WORKSPACE_SELECT} WHERE w.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?)
}

async fn latest_build(conn: impl sqlx::PgExecutor<'_>, workspace: Uuid) -> Result<WorkspaceBuild> {
    let b: Json<WorkspaceBuild> = sqlx::query_scalar(
        "SELECT to_jsonb(b) FROM workspace_builds b WHERE b.workspace_id = $1
         ORDER BY b.build_number DESC LIMIT 1",
    )
    .bind(workspace)
    .fetch_one(conn)
    .await?;
    Ok(b.0)
}

fn map_conflict(name: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match unique_violation(&e) {
        Some("workspaces_owner_name_idx") => {
            ClientError::WorkspaceNameTaken { name: name.to_string() }.into()
        }
        _ => e.into(),
    }
}

impl Actor<'_> {
    /// A workspace by id, if the actor may read it. Deleted workspaces are still found (their
    /// status is `deleted`).
    pub async fn workspace(&self, id: Uuid) -> Result<Workspace> {
        let w = fetch_workspace(self.pool, id).await?.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &workspace_object(w.id, w.organization_id, w.owner_id)) {
            return Err(StoreError::NotFound);
        }
        Ok(w)
    }

    /// A workspace the actor may read and perform `action` on (e.g. `ssh` to execute in it).
    pub async fn workspace_for(&self, id: Uuid, action: Action) -> Result<Workspace> {
        let w = self.workspace(id).await?;
        self.subject
            .authorize(action, &workspace_object(w.id, w.organization_id, w.owner_id))
            .map_err(StoreError::Forbidden)?;
        Ok(w)
    }

    /// Workspaces the actor may read that match `q`, newest first, and how many match in all.
    pub async fn workspaces(
        &self,
        q: &WorkspaceQuery,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<(Vec<Workspace>, i64)> {
        let filter = self.subject.prepare(Action::Read, ResourceType::Workspace);
        let conditions = |args: &mut Args| workspace_conditions(self.subject, q, &filter, args);

        let mut args = Args::default();
        let cond = conditions(&mut args);
        let sql = format!("SELECT count(*) FROM ({WORKSPACE_SELECT} WHERE {cond}) AS matching");
        let count: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), args.into_inner())
            .fetch_one(self.pool)
            .await?;

        let Some((sql, args)) = self.workspace_page(q, &filter, &conditions, limit, offset, after_id) else {
            return Ok((Vec::new(), count));
        };
        // Planned for these values every time (see the `explain` module docs).
        let rows =
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).persistent(false).fetch_all(self.pool).await?;
        Ok((rows, count))
    }

    /// The query of one page of [`Actor::workspaces`]: newest first, taken from ordered index
    /// ranges (the owner or organization the query names, else the RBAC filter's sources, see
    /// [`crate::args::Source`]), so a page costs a page however many workspaces match.
    fn workspace_page(
        &self,
        q: &WorkspaceQuery,
        filter: &agentry_rbac::Filter,
        conditions: &dyn Fn(&mut Args) -> String,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Option<(String, Args)> {
        let mut args = Args::default();
        let cond = conditions(&mut args);
        let after = match after_id {
            Some(id) => {
                let p = args.push(id);
                format!("AND (w.created_at, w.id) < (SELECT created_at, id FROM workspaces WHERE id = {p})")
            }
            None => String::new(),
        };
        let owner = match &q.owner {
            Some(OwnerQuery::Me) => Some(self.subject.user_id()),
            Some(OwnerQuery::User(u)) => Uuid::parse_str(u).ok(),
            None => None,
        };
        let org = q.organization.as_deref().and_then(|o| Uuid::parse_str(o).ok());
        let sources = match (owner, org) {
            (Some(u), _) => vec![Source::keyed(format!("w.owner_id = {}", args.push(u)))],
            (None, Some(o)) => vec![Source::keyed(format!("w.organization_id = {}", args.push(o)))],
            (None, None) => args.sources(filter, WORKSPACE_COLUMNS)?,
        };
        let sql = crate::args::union_page(
            &sources,
            &format!("{WORKSPACE_SELECT} WHERE {cond} {after}"),
            "w.created_at DESC, w.id DESC",
            "w",
            limit,
            offset,
        );
        Some((sql, args))
    }

    /// The PostgreSQL plan of the page query of [`Actor::workspaces`] (for the plan tests).
    pub async fn explain_workspaces(
        &self,
        q: &WorkspaceQuery,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<serde_json::Value> {
        let filter = self.subject.prepare(Action::Read, ResourceType::Workspace);
        let conditions = |args: &mut Args| workspace_conditions(self.subject, q, &filter, args);
        match self.workspace_page(q, &filter, &conditions, limit, offset, after_id) {
            Some((sql, args)) => crate::explain::run(self.pool, &sql, args.into_inner()).await,
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Creates a workspace for `owner` in `org` from a template of that organization, with its
    /// first build (`start`, pending). Checks, in order: the organization and the owner are
    /// readable (404); the actor may create workspaces for that owner there (403); the owner
    /// belongs to the organization (400); the template is readable (404), belongs to `org`
    /// (400), may be used (403) and is not deprecated (400); the parameter values are valid
    /// (400); the name is free for the owner (409).
    pub async fn create_workspace(&self, org: &str, owner: &UserRef<'_>, new: &NewWorkspace<'_>) -> Result<Workspace> {
        let org = self.organization(org).await?;
        let owner = self.user(owner).await?;
        self.subject
            .authorize(Action::Create, &Object::new(ResourceType::Workspace).owned_by(owner.id).in_org(org.id))
            .map_err(StoreError::Forbidden)?;
        if !owner.organization_ids.contains(&org.id) {
            return Err(ClientError::OwnerNotInOrganization { user: owner.username, organization: org.name }.into());
        }
        let mut tx = self.pool.begin().await?;
        // The share lock keeps the template from being deleted, and its active version from
        // changing, until this commits: the workspace is pinned to the version its parameters
        // were checked against.
        let template = fetch_template(&mut *tx, new.template_id, true).await?.ok_or(StoreError::NotFound)?;
        let tobj = template_object(template.id, template.organization_id);
        if !self.subject.can(Action::Read, &tobj) {
            return Err(StoreError::NotFound);
        }
        if template.organization_id != org.id {
            return Err(ClientError::TemplateInOtherOrganization { template: template.name, organization: org.name }.into());
        }
        self.subject.authorize(Action::Use, &tobj).map_err(StoreError::Forbidden)?;
        if template.deprecated {
            return Err(ClientError::TemplateDeprecated { template: template.name }.into());
        }
        let parameters = resolve_parameters(&template.parameters.0, new.parameters).map_err(first_invalid)?;

        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO workspaces (id, organization_id, owner_id, template_id, template_version_id, name)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(org.id)
        .bind(owner.id)
        .bind(template.id)
        .bind(template.active_version_id)
        .bind(new.name)
        .execute(&mut *tx)
        .await
        .map_err(map_conflict(new.name))?;
        sqlx::query(
            "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, parameters,
                 template_version_id, initiator_id)
             VALUES ($1, $2, 1, 'start', $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(Json(&parameters))
        .bind(template.active_version_id)
        .bind(self.subject.user_id())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "create",
                resource_type: "workspace",
                resource_id: id,
                resource_target: new.name,
                diff: serde_json::json!({
                    "name": new.name, "owner": owner.username, "template": template.name,
                    "template_version_id": template.active_version_id, "parameters": parameters,
                }),
                description: format!("created workspace {}/{} from template {}", owner.username, new.name, template.name),
            },
        )
        .await?;
        let w = fetch_workspace(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(w)
    }

    /// Requests a build. Under a row lock on the workspace: it must not be deleted, no build may
    /// be pending or running, and the transition must change something (start a running
    /// workspace, stop a stopped one: 409). The build runs the workspace's pinned version with
    /// the latest build's parameter values, unless `new` names another version of its template
    /// or new values: then (a `start` only, by someone with `ssh` on the workspace) the values
    /// are resolved against that version's definitions and the workspace is pinned to it.
    pub async fn create_build(&self, workspace_id: Uuid, new: NewBuild<'_>) -> Result<WorkspaceBuild> {
        let transition = new.transition;
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, Uuid, String, bool, Uuid, Uuid)> = sqlx::query_as(
            "SELECT organization_id, owner_id, name, deleted, template_id, template_version_id FROM workspaces
             WHERE id = $1 FOR UPDATE",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (org, owner, name, deleted, template, pinned) = row.ok_or(StoreError::NotFound)?;
        let obj = workspace_object(workspace_id, org, owner);
        if !self.subject.can(Action::Read, &obj) {
            return Err(StoreError::NotFound);
        }
        self.subject.authorize(transition.action(), &obj).map_err(StoreError::Forbidden)?;
        let version = new.template_version_id.unwrap_or(pinned);
        let update = version != pinned || !new.parameters.is_empty();
        if update && transition != Transition::Start {
            let field = if version != pinned { "template_version_id" } else { "rich_parameter_values" };
            return Err(ClientError::UpdateNeedsStart { field }.into());
        }
        let target = if update {
            // What runs in someone's workspace is theirs to change.
            self.subject.authorize(Action::Ssh, &obj).map_err(StoreError::Forbidden)?;
            let v = fetch_version(&mut *tx, version).await?;
            Some(v.filter(|v| v.template_id == template).ok_or(ClientError::TemplateVersionMismatch)?)
        } else {
            None
        };
        if deleted {
            return Err(ClientError::WorkspaceDeleted.into());
        }
        let latest = latest_build(&mut *tx, workspace_id).await?;
        if latest.status.is_active() {
            return Err(ClientError::BuildInProgress {
                number: latest.build_number,
                transition: latest.transition.as_str().into(),
                status: latest.status.as_str().into(),
            }
            .into());
        }
        match (transition, WorkspaceStatus::of(latest.transition, latest.status)) {
            (Transition::Start, WorkspaceStatus::Running) => {
                return Err(ClientError::WorkspaceAlreadyRunning.into());
            }
            (Transition::Stop, WorkspaceStatus::Stopped) => {
                return Err(ClientError::WorkspaceAlreadyStopped.into());
            }
            _ => {}
        }
        let parameters = if let Some(v) = target {
            // Given values first, then the latest build's for parameters the version still
            // declares.
            let mut given = new.parameters.to_vec();
            given.extend(latest.parameters.iter().filter(|p| {
                !new.parameters.iter().any(|g| g.name == p.name) && v.parameters.0.iter().any(|d| d.name == p.name)
            }).cloned());
            resolve_parameters(&v.parameters.0, &given).map_err(first_invalid)?
        } else {
            latest.parameters.clone()
        };
        let build_id = Uuid::now_v7();
        let b: Json<WorkspaceBuild> = sqlx::query_scalar(
            "INSERT INTO workspace_builds AS b (id, workspace_id, build_number, transition, parameters,
                 template_version_id, initiator_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING to_jsonb(b)",
        )
        .bind(build_id)
        .bind(workspace_id)
        .bind(latest.build_number + 1)
        .bind(transition.as_str())
        .bind(Json(&parameters))
        .bind(version)
        .bind(self.subject.user_id())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE workspaces SET template_version_id = $2, updated_at = now() WHERE id = $1")
            .bind(workspace_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        if transition != Transition::Start {
            // A stopped or deleted workspace's agent tokens are worth nothing from now on.
            sqlx::query("UPDATE workspace_agent_tokens SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL")
                .bind(workspace_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut diff = serde_json::json!({"workspace_id": workspace_id, "build_number": b.build_number});
        if version != pinned {
            diff["template_version_id"] = serde_json::json!({"old": pinned, "new": version});
        }
        if update {
            diff["parameters"] = serde_json::json!({"old": latest.parameters, "new": parameters});
        }
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org),
                action: transition.as_str(),
                resource_type: "workspace_build",
                resource_id: build_id,
                resource_target: &name,
                diff,
                description: if version != pinned {
                    format!("requested {} of workspace {name}, updating it to a new template version", transition.as_str())
                } else {
                    format!("requested {} of workspace {name}", transition.as_str())
                },
            },
        )
        .await?;
        tx.commit().await?;
        Ok(b.0)
    }

    /// A build, if the actor may read its workspace.
    pub async fn workspace_build(&self, build_id: Uuid) -> Result<WorkspaceBuild> {
        let row: Option<(Json<WorkspaceBuild>, Uuid, Uuid)> = sqlx::query_as(
            "SELECT to_jsonb(b), w.organization_id, w.owner_id
             FROM workspace_builds b JOIN workspaces w ON w.id = b.workspace_id WHERE b.id = $1",
        )
        .bind(build_id)
        .fetch_optional(self.pool)
        .await?;
        let (b, org, owner) = row.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &workspace_object(b.workspace_id, org, owner)) {
            return Err(StoreError::NotFound);
        }
        Ok(b.0)
    }

    /// A build's log lines with ids above `after_id`, oldest first, at most `limit`.
    pub async fn build_logs(&self, build_id: Uuid, after_id: i64, limit: i64) -> Result<Vec<BuildLog>> {
        self.workspace_build(build_id).await?;
        Ok(sqlx::query_as(
            "SELECT * FROM workspace_build_logs WHERE build_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(build_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool)
        .await?)
    }
}

/// A claimed build with everything the provisioner needs to run it.
#[derive(Debug, Clone, FromRow)]
pub struct BuildJob {
    pub build_id: Uuid,
    pub build_number: i32,
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub owner_name: String,
    #[sqlx(try_from = "String")]
    pub transition: TransitionText,
    /// The template version the build runs (the workspace's pinned version when it was queued).
    pub template_version_id: Uuid,
    /// That version's number within its template.
    pub template_version_number: i32,
    /// That version's startup script.
    pub startup_script: String,
    /// That version's network mode.
    #[sqlx(try_from = "String")]
    pub network: NetworkMode,
    pub parameters: Json<Vec<ParameterValue>>,
    /// The host uid the workspace's processes run as (migration 0008).
    pub sandbox_uid: i32,
    /// The workspace's template's kind (migration 0030).
    #[sqlx(try_from = "String")]
    pub kind: crate::templates::TemplateKind,
}

/// A workspace that should have an agent running (its latest build is a successful start).
#[derive(Debug, Clone, FromRow)]
pub struct RunningWorkspace {
    pub id: Uuid,
    pub sandbox_uid: i32,
    /// The network mode of the version its latest start ran.
    #[sqlx(try_from = "String")]
    pub network: NetworkMode,
    #[sqlx(try_from = "String")]
    pub kind: crate::templates::TemplateKind,
}

/// A transition read from a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionText(pub Transition);

impl TryFrom<String> for TransitionText {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Transition::ALL.into_iter().find(|t| t.as_str() == s).map(TransitionText).ok_or(s)
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Provisioner,
    Script,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Provisioner => "provisioner",
            LogStream::Script => "script",
        }
    }
}

impl BuildTasks<'_> {
    /// Claims the oldest pending build (`pending → running`). `SKIP LOCKED` lets several
    /// runners claim concurrently without taking the same build.
    pub async fn claim_build(&self, replica_id: Uuid) -> Result<Option<BuildJob>> {
        let mut tx = self.pool.begin().await?;
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM workspace_builds WHERE status = 'pending'
             ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(None) };
        sqlx::query("UPDATE workspace_builds SET status = 'running', started_at = now(), runner_replica_id = $2 WHERE id = $1")
            .bind(id)
            .bind(replica_id)
            .execute(&mut *tx)
            .await?;
        let job: BuildJob = sqlx::query_as(
            "SELECT b.id AS build_id, b.build_number, w.id AS workspace_id, w.name AS workspace_name,
                    w.organization_id, w.owner_id, u.username AS owner_name, b.transition,
                    b.template_version_id, v.number AS template_version_number, v.startup_script, v.network, b.parameters, w.sandbox_uid,
                    t.kind
             FROM workspace_builds b
             JOIN workspaces w ON w.id = b.workspace_id
             JOIN templates t ON t.id = w.template_id
             JOIN users u ON u.id = w.owner_id
             JOIN template_versions v ON v.id = b.template_version_id
             WHERE b.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Appends log lines to a build, in order.
    pub async fn append_build_logs(&self, build_id: Uuid, lines: &[(LogStream, String)]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let streams: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
        // PostgreSQL text cannot hold NUL.
        let outputs: Vec<String> = lines.iter().map(|(_, o)| o.replace('\0', "")).collect();
        sqlx::query(
            "INSERT INTO workspace_build_logs (build_id, stream, output)
             SELECT $1, s, o FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS l(s, o, n) ORDER BY n",
        )
        .bind(build_id)
        .bind(streams)
        .bind(outputs)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Ends a running build. A successful delete marks the workspace deleted, in the same
    /// transaction. Returns false if the build was not running (already finished elsewhere).
    pub async fn finish_build(&self, build_id: Uuid, status: JobStatus, error: Option<&str>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, String)> = sqlx::query_as(
            "UPDATE workspace_builds SET status = $2, error = $3, completed_at = now()
             WHERE id = $1 AND status = 'running' RETURNING workspace_id, transition",
        )
        .bind(build_id)
        .bind(status.as_str())
        .bind(error)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((workspace_id, transition)) = row else { return Ok(false) };
        if transition == "delete" && status == JobStatus::Succeeded {
            sqlx::query("UPDATE workspaces SET deleted = true, updated_at = now() WHERE id = $1")
                .bind(workspace_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Fails every build left `running` by a server that stopped or died (its replica has no
    /// live heartbeat; builds of live replicas are theirs), with `reason` as its error and last
    /// log line. Returns their ids. Pending builds are left for the runner.
    pub async fn fail_running_builds(&self, reason: &str) -> Result<Vec<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE workspace_builds b SET status = 'failed', error = $1, completed_at = now()
             WHERE b.status = 'running'
               AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = b.runner_replica_id
                               AND r.last_heartbeat_at > now() - make_interval(secs => $2))
             RETURNING id",
        )
        .bind(reason)
        .bind(crate::agents::REPLICA_DEAD_AFTER.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workspace_build_logs (build_id, stream, output)
             SELECT id, 'provisioner', $2 FROM unnest($1::uuid[]) AS id",
        )
        .bind(&ids)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Workspaces whose latest build is a successful start: the ones that should have an agent.
    pub async fn running_workspaces(&self) -> Result<Vec<RunningWorkspace>> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.sandbox_uid, v.network, t.kind FROM workspaces w
             JOIN templates t ON t.id = w.template_id
             JOIN LATERAL (SELECT transition, status, template_version_id FROM workspace_builds b
                           WHERE b.workspace_id = w.id ORDER BY b.build_number DESC LIMIT 1) lb ON true
             JOIN template_versions v ON v.id = lb.template_version_id
             WHERE NOT w.deleted AND lb.transition = 'start' AND lb.status = 'succeeded'",
        )
        .fetch_all(self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_state_has_exactly_one_status() {
        let mut covered = 0;
        for s in WorkspaceStatus::ALL {
            for (t, j) in s.pairs() {
                assert_eq!(WorkspaceStatus::of(t, j), s);
                covered += 1;
            }
            assert_eq!(WorkspaceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(covered, Transition::ALL.len() * JobStatus::ALL.len());
        assert_eq!(WorkspaceStatus::Running.pairs(), vec![(Transition::Start, JobStatus::Succeeded)]);
    }
}
