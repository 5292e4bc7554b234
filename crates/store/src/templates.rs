//! Templates: an organization's recipes for workspaces, with typed parameters, and their
//! immutable versions.
//!
//! Members of the template's organization read and use templates; template admins (site or
//! org) and org admins manage them. Parameter definitions and the values a workspace is created
//! with are checked here ([`check_parameter_defs`], [`resolve_parameters`]), so no other layer
//! can store a definition or a value the provisioner would misread.
//!
//! What a build runs — the startup script, the parameter definitions, the network mode — lives
//! in a [`TemplateVersion`], never changed once written (a database trigger refuses). Creating a
//! template writes version 1; an edit that changes any of the three writes the next version and
//! makes it the template's active one; renames and descriptions write none. A [`Template`] read
//! here carries its active version's content. Workspaces pin the version they were built from
//! (see `workspaces`), so editing a template never changes what an existing workspace runs.

use agentry_rbac::{Action, Columns, Object, ResourceType};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::args::Args;
use crate::audit::{self, Entry};
use crate::error::unique_violation;
use agentry_types::errors::{Problem, ValueProblem};
use crate::{Actor, ClientError, Result, StoreError};

/// Most parameters one template may declare.
pub const MAX_PARAMETERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterType {
    String,
    Number,
    Bool,
}

/// One declared parameter. Values (defaults, options, what a workspace is given) are strings in
/// canonical form for their type: a finite decimal number, or `true`/`false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParameter {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParameterType,
    #[serde(default)]
    pub default: Option<String>,
    /// The workspace must be given a value explicitly.
    #[serde(default)]
    pub required: bool,
    /// When not empty, the only values allowed.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// A parameter's value as a build uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterValue {
    pub name: String,
    pub value: String,
}

/// What a workspace's processes may reach on the network (SPEC §5). The provisioner enforces
/// it; the store only keeps it per template version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The host's network.
    #[default]
    Full,
    /// No network access.
    None,
}

impl NetworkMode {
    pub const ALL: [NetworkMode; 2] = [NetworkMode::Full, NetworkMode::None];

    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Full => "full",
            NetworkMode::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<NetworkMode> {
        NetworkMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        NetworkMode::parse(&s).ok_or(s)
    }
}

/// Who runs the agents of a template's workspaces (migration 0030).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// This server starts each workspace's agent in a sandbox on its host.
    #[default]
    Local,
    /// The user starts `agentry agent` wherever the workspace should live; the workspace is
    /// running once that agent connects.
    External,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Local => "local",
            TemplateKind::External => "external",
        }
    }
}

impl TryFrom<String> for TemplateKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "local" => Ok(TemplateKind::Local),
            "external" => Ok(TemplateKind::External),
            _ => Err(s),
        }
    }
}

/// A problem with one input field: `(field, the rule it broke)`.
pub type FieldError = (String, Problem);

/// A template with the content of its active version.
#[derive(Debug, Clone, FromRow)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub organization_display_name: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// The version new workspaces are built from and updates move to.
    pub active_version_id: Uuid,
    /// The active version's startup script.
    pub startup_script: String,
    /// The active version's parameter definitions.
    pub parameters: Json<Vec<TemplateParameter>>,
    /// The active version's network mode.
    #[sqlx(try_from = "String")]
    pub network: NetworkMode,
    /// Fixed at creation.
    #[sqlx(try_from = "String")]
    pub kind: TemplateKind,
    pub deprecated: bool,
    pub created_by: Option<Uuid>,
    /// The creator's username; empty once the creator's account is gone.
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One immutable version of a template.
#[derive(Debug, Clone, FromRow)]
pub struct TemplateVersion {
    pub id: Uuid,
    pub template_id: Uuid,
    pub organization_id: Uuid,
    /// 1 for the version the template was created with, then 2, 3, ...
    pub number: i32,
    pub startup_script: String,
    pub parameters: Json<Vec<TemplateParameter>>,
    #[sqlx(try_from = "String")]
    pub network: NetworkMode,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Templates joined with their active version; `t` and `v` for further conditions.
pub(crate) const TEMPLATE_SELECT: &str = "SELECT t.id, t.organization_id, o.name AS organization_name,
        o.display_name AS organization_display_name, t.name, t.display_name, t.description,
        t.active_version_id, v.startup_script, v.parameters, v.network, t.kind, t.deprecated, t.created_by,
        COALESCE(cu.username, '') AS created_by_name, t.created_at, t.updated_at
    FROM templates t JOIN template_versions v ON v.id = t.active_version_id
        JOIN organizations o ON o.id = t.organization_id
        LEFT JOIN users cu ON cu.id = t.created_by";

const VERSION_SELECT: &str = "SELECT v.id, v.template_id, t.organization_id, v.number, v.startup_script,
        v.parameters, v.network, v.created_by, v.created_at
    FROM template_versions v JOIN templates t ON t.id = v.template_id";

/// A template (with its active version's content) by id; `FOR SHARE` on the template row with
/// `lock`, so it can be neither deleted nor given a new active version until the caller's
/// transaction ends.
pub(crate) async fn fetch_template(conn: impl sqlx::PgExecutor<'_>, id: Uuid, lock: bool) -> Result<Option<Template>> {
    let sql = format!("{TEMPLATE_SELECT} WHERE t.id = $1 {}", if lock { "FOR SHARE OF t" } else { "" });
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?)
}

/// A version by id.
pub(crate) async fn fetch_version(conn: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<TemplateVersion>> {
    let sql = format!("{VERSION_SELECT} WHERE v.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?)
}

/// Writes the next version of a template (the caller holds the template row locked) and
/// returns its id. It is not made active here.
async fn insert_version(
    tx: &mut sqlx::PgConnection,
    template: Uuid,
    startup_script: &str,
    parameters: &[TemplateParameter],
    network: NetworkMode,
    created_by: Uuid,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO template_versions (id, template_id, number, startup_script, parameters, network, created_by)
         VALUES ($1, $2, (SELECT COALESCE(max(number), 0) + 1 FROM template_versions WHERE template_id = $2),
                 $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(template)
    .bind(startup_script)
    .bind(Json(parameters))
    .bind(network.as_str())
    .bind(created_by)
    .execute(tx)
    .await?;
    Ok(id)
}

/// The RBAC object for a template: in its organization, owned by nobody.
pub fn template_object(id: Uuid, org: Uuid) -> Object {
    Object::new(ResourceType::Template).with_id(id).in_org(org)
}

pub struct NewTemplate<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub description: &'a str,
    pub startup_script: &'a str,
    pub parameters: Vec<TemplateParameter>,
    pub network: NetworkMode,
    pub kind: TemplateKind,
}

/// Changes to a template; `None` leaves a field as it is. A change to the startup script, the
/// parameters or the network writes a new version and makes it active.
#[derive(Default)]
pub struct TemplatePatch<'a> {
    pub name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub startup_script: Option<&'a str>,
    pub parameters: Option<Vec<TemplateParameter>>,
    pub network: Option<NetworkMode>,
    pub deprecated: Option<bool>,
}

/// What a list of templates across organizations is narrowed to (`GET /api/v2/templates?q=`);
/// the default matches every template the actor may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateQuery {
    /// Words that must each appear in the name or the display name, ignoring case.
    pub words: Vec<String>,
    /// The whole name, ignoring case.
    pub exact_name: Option<String>,
    /// The organization's id or name.
    pub organization: Option<String>,
    pub deprecated: Option<bool>,
}

impl TemplateQuery {
    /// The query's conditions as SQL over `t` and `o` (the template's organization), its
    /// values added to `args`.
    fn to_sql(&self, args: &mut Args) -> String {
        let mut sql = String::new();
        for w in &self.words {
            let p = args.push(w.to_lowercase());
            sql.push_str(&format!(
                " AND (strpos(lower(t.name), {p}) > 0 OR strpos(lower(t.display_name), {p}) > 0)"
            ));
        }
        if let Some(name) = &self.exact_name {
            let p = args.push(name.to_lowercase());
            sql.push_str(&format!(" AND lower(t.name) = {p}"));
        }
        if let Some(org) = &self.organization {
            let p = args.push(org.to_lowercase());
            sql.push_str(&format!(" AND (o.id::text = {p} OR lower(o.name) = {p})"));
        }
        if let Some(d) = self.deprecated {
            let p = args.push(d);
            sql.push_str(&format!(" AND t.deprecated = {p}"));
        }
        sql
    }
}

/// The canonical form of `value` for `kind`, or why it is not one.
pub fn canonical_value(kind: ParameterType, value: &str) -> Result<String, ValueProblem> {
    match kind {
        ParameterType::String => Ok(value.to_string()),
        ParameterType::Number => match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(value.trim().to_string()),
            _ => Err(ValueProblem::NotANumber),
        },
        ParameterType::Bool => match value.trim().to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Ok(v.to_string()),
            _ => Err(ValueProblem::NotABool),
        },
    }
}

/// Parameter names become environment variables (`AGENTRY_PARAM_<NAME>`), so they are
/// identifiers, unique regardless of case.
fn valid_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Checks parameter definitions and puts their defaults and options in canonical form. Returns
/// every problem found, with fields like `parameters[2].default`.
pub fn check_parameter_defs(defs: &mut [TemplateParameter]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if defs.len() > MAX_PARAMETERS {
        errors.push(("parameters".into(), Problem::TooManyParameters { max: MAX_PARAMETERS }));
        return errors;
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, p) in defs.iter_mut().enumerate() {
        let field = |f: &str| format!("parameters[{i}].{f}");
        if !valid_parameter_name(&p.name) {
            errors.push((field("name"), Problem::ParameterName));
        } else if seen.contains(&p.name.to_ascii_lowercase()) {
            errors.push((field("name"), Problem::ParameterDeclaredTwice { name: p.name.clone() }));
        } else {
            seen.push(p.name.to_ascii_lowercase());
        }
        let mut options = Vec::new();
        for (j, o) in p.options.iter().enumerate() {
            match canonical_value(p.kind, o) {
                Ok(v) if options.contains(&v) => {
                    errors.push((format!("parameters[{i}].options[{j}]"), Problem::OptionListedTwice { option: o.clone() }))
                }
                Ok(v) => options.push(v),
                Err(why) => errors.push((format!("parameters[{i}].options[{j}]"), Problem::OptionInvalid { option: o.clone(), why })),
            }
        }
        p.options = options;
        if let Some(d) = &p.default {
            if p.required {
                errors.push((field("default"), Problem::RequiredWithDefault));
            }
            match canonical_value(p.kind, d) {
                Ok(v) if !p.options.is_empty() && !p.options.contains(&v) => {
                    errors.push((field("default"), Problem::DefaultNotAnOption))
                }
                Ok(v) => p.default = Some(v),
                Err(why) => errors.push((field("default"), Problem::DefaultInvalid { why })),
            }
        }
    }
    errors
}

/// The values a build runs with: the given ones (checked against type and options), then the
/// defaults of parameters not given. An optional parameter with no default and no value is
/// left out. Returns every problem found, with fields like `rich_parameter_values.<name>`.
pub fn resolve_parameters(
    defs: &[TemplateParameter],
    given: &[ParameterValue],
) -> Result<Vec<ParameterValue>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let field = |name: &str| format!("rich_parameter_values.{name}");
    for (i, v) in given.iter().enumerate() {
        if !defs.iter().any(|d| d.name == v.name) {
            errors.push((field(&v.name), Problem::UnknownParameter { name: v.name.clone() }));
        } else if given[..i].iter().any(|o| o.name == v.name) {
            errors.push((field(&v.name), Problem::ParameterGivenTwice { name: v.name.clone() }));
        }
    }
    let mut out = Vec::new();
    for d in defs {
        match given.iter().find(|v| v.name == d.name) {
            Some(v) => match canonical_value(d.kind, &v.value) {
                Ok(c) if !d.options.is_empty() && !d.options.contains(&c) => errors.push((
                    field(&d.name),
                    Problem::ParameterNotAnOption { name: d.name.clone(), options: d.options.join(", ") },
                )),
                Ok(c) => out.push(ParameterValue { name: d.name.clone(), value: c }),
                Err(why) => errors.push((field(&d.name), Problem::ParameterInvalid { name: d.name.clone(), why })),
            },
            None if d.required => {
                errors.push((field(&d.name), Problem::ParameterRequired { name: d.name.clone() }))
            }
            None => {
                if let Some(def) = &d.default {
                    out.push(ParameterValue { name: d.name.clone(), value: def.clone() });
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The first problem as a store error; the API reports every problem before calling the store.
pub(crate) fn first_invalid(errors: Vec<FieldError>) -> StoreError {
    let (field, problem) = errors.into_iter().next().expect("at least one error");
    ClientError::InvalidParameter { field, problem }.into()
}

fn map_conflict(e: sqlx::Error) -> StoreError {
    match unique_violation(&e) {
        Some("templates_org_name_idx") => {
            ClientError::TemplateNameTaken.into()
        }
        _ => e.into(),
    }
}

impl Actor<'_> {
    /// A template by id, if the actor may read it.
    pub async fn template(&self, id: Uuid) -> Result<Template> {
        let row = fetch_template(self.pool, id, false).await?.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &template_object(row.id, row.organization_id)) {
            return Err(StoreError::NotFound);
        }
        Ok(row)
    }

    /// The templates of an organization the actor may read, by name; `after_id` continues
    /// after that template.
    pub async fn templates(&self, org: &str, limit: i64, offset: i64, after_id: Option<Uuid>) -> Result<Vec<Template>> {
        let (sql, args) = self.templates_page(org, limit, offset, after_id).await?;
        Ok(sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?)
    }

    /// The PostgreSQL plan of the page query of [`Actor::templates`] (for the plan tests).
    pub async fn explain_templates(&self, org: &str, limit: i64, offset: i64, after_id: Option<Uuid>) -> Result<serde_json::Value> {
        let (sql, args) = self.templates_page(org, limit, offset, after_id).await?;
        crate::explain::run(self.pool, &sql, args.into_inner()).await
    }

    /// One page of an organization's templates by name (the unique index on
    /// `(organization_id, lower(name))` gives the order, and a cursor is a range on it).
    async fn templates_page(&self, org: &str, limit: i64, offset: i64, after_id: Option<Uuid>) -> Result<(String, Args)> {
        let org = self.organization(org).await?;
        let filter = self.subject.prepare(Action::Read, ResourceType::Template);
        let mut args = Args::default();
        let o = args.push(org.id);
        let f = args.filter(&filter, Columns { org: Some("t.organization_id"), owner: None });
        let after = match after_id {
            Some(id) => {
                let p = args.push(id);
                format!("AND lower(t.name) > (SELECT lower(name) FROM templates WHERE id = {p})")
            }
            None => String::new(),
        };
        let (l, off) = (args.push(limit), args.push(offset));
        let sql = format!(
            "{TEMPLATE_SELECT} WHERE t.organization_id = {o} AND {f} {after}
             ORDER BY lower(t.name) LIMIT {l} OFFSET {off}"
        );
        Ok((sql, args))
    }

    /// Every template the actor may read that matches `query`, in any organization, by
    /// organization name and then template name; `after_id` continues after that template.
    pub async fn all_templates(
        &self,
        query: &TemplateQuery,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<Vec<Template>> {
        let filter = self.subject.prepare(Action::Read, ResourceType::Template);
        let mut args = Args::default();
        let f = args.filter(&filter, Columns { org: Some("t.organization_id"), owner: None });
        let q = query.to_sql(&mut args);
        let after = match after_id {
            Some(id) => {
                let p = args.push(id);
                format!(
                    "AND (lower(o.name), lower(t.name)) > (SELECT lower(ao.name), lower(at.name)
                        FROM templates at JOIN organizations ao ON ao.id = at.organization_id WHERE at.id = {p})"
                )
            }
            None => String::new(),
        };
        let (l, off) = (args.push(limit), args.push(offset));
        let sql = format!(
            "{TEMPLATE_SELECT} WHERE {f}{q} {after}
             ORDER BY lower(o.name), lower(t.name) LIMIT {l} OFFSET {off}"
        );
        Ok(sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?)
    }

    /// The versions of a template the actor may read, newest first; `after_id` continues after
    /// that version.
    pub async fn template_versions(
        &self,
        template: Uuid,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<Vec<TemplateVersion>> {
        let t = self.template(template).await?;
        let sql = format!(
            "{VERSION_SELECT} WHERE v.template_id = $1
               AND ($2::uuid IS NULL OR v.number < (SELECT number FROM template_versions WHERE id = $2))
             ORDER BY v.number DESC LIMIT $3 OFFSET $4"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(t.id)
            .bind(after_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool)
            .await?)
    }

    pub async fn create_template(&self, org: &str, mut new: NewTemplate<'_>) -> Result<Template> {
        let org = self.organization(org).await?;
        self.subject
            .authorize(Action::Create, &Object::new(ResourceType::Template).in_org(org.id))
            .map_err(StoreError::Forbidden)?;
        let errors = check_parameter_defs(&mut new.parameters);
        if !errors.is_empty() {
            return Err(first_invalid(errors));
        }
        let mut tx = self.pool.begin().await?;
        // The template names its first version before the version exists; the reference is
        // checked at commit.
        let id = Uuid::now_v7();
        let version = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO templates (id, organization_id, name, display_name, description, active_version_id, created_by, kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(org.id)
        .bind(new.name)
        .bind(new.display_name)
        .bind(new.description)
        .bind(version)
        .bind(self.subject.user_id())
        .bind(new.kind.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_conflict)?;
        sqlx::query(
            "INSERT INTO template_versions (id, template_id, number, startup_script, parameters, network, created_by)
             VALUES ($1, $2, 1, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(id)
        .bind(new.startup_script)
        .bind(Json(&new.parameters))
        .bind(new.network.as_str())
        .bind(self.subject.user_id())
        .execute(&mut *tx)
        .await?;
        let t = fetch_template(&mut *tx, id, false).await?.ok_or(StoreError::NotFound)?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "create",
                resource_type: "template",
                resource_id: t.id,
                resource_target: &t.name,
                diff: serde_json::json!({
                    "name": t.name, "parameters": t.parameters.0, "network": t.network.as_str(),
                    "kind": t.kind.as_str(), "active_version_id": t.active_version_id,
                }),
                description: format!("created template {} in organization {}", t.name, org.name),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Applies `patch`. Under a lock on the template row: when the startup script, the
    /// parameters or the network change, the next version is written and made active; the
    /// other fields change in place. Workspaces keep the version they were built from.
    pub async fn update_template(&self, id: Uuid, mut patch: TemplatePatch<'_>) -> Result<Template> {
        let t = self.template(id).await?;
        self.subject
            .authorize(Action::Update, &template_object(t.id, t.organization_id))
            .map_err(StoreError::Forbidden)?;
        if let Some(params) = patch.parameters.as_mut() {
            let errors = check_parameter_defs(params);
            if !errors.is_empty() {
                return Err(first_invalid(errors));
            }
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM templates WHERE id = $1 FOR UPDATE").bind(t.id).execute(&mut *tx).await?;
        // Re-read under the lock: the diff and the version are based on what is current now.
        let old = fetch_template(&mut *tx, t.id, false).await?.ok_or(StoreError::NotFound)?;
        let script = patch.startup_script.unwrap_or(&old.startup_script);
        let params = patch.parameters.as_deref().unwrap_or(&old.parameters.0);
        let network = patch.network.unwrap_or(old.network);
        let new_version = if script != old.startup_script || params != old.parameters.0.as_slice() || network != old.network {
            Some(insert_version(&mut tx, old.id, script, params, network, self.subject.user_id()).await?)
        } else {
            None
        };
        sqlx::query(
            "UPDATE templates SET
                 name = COALESCE($2, name),
                 display_name = COALESCE($3, display_name),
                 description = COALESCE($4, description),
                 active_version_id = COALESCE($5, active_version_id),
                 deprecated = COALESCE($6, deprecated),
                 updated_at = now()
             WHERE id = $1",
        )
        .bind(old.id)
        .bind(patch.name)
        .bind(patch.display_name)
        .bind(patch.description)
        .bind(new_version)
        .bind(patch.deprecated)
        .execute(&mut *tx)
        .await
        .map_err(map_conflict)?;
        let t = fetch_template(&mut *tx, old.id, false).await?.ok_or(StoreError::NotFound)?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(t.organization_id),
                action: "write",
                resource_type: "template",
                resource_id: t.id,
                resource_target: &t.name,
                diff: serde_json::json!({
                    "name": {"old": old.name, "new": t.name},
                    "display_name": {"old": old.display_name, "new": t.display_name},
                    "description": {"old": old.description, "new": t.description},
                    "startup_script": {"old": old.startup_script, "new": t.startup_script},
                    "parameters": {"old": old.parameters.0, "new": t.parameters.0},
                    "network": {"old": old.network.as_str(), "new": t.network.as_str()},
                    "active_version_id": {"old": old.active_version_id, "new": t.active_version_id},
                    "deprecated": {"old": old.deprecated, "new": t.deprecated},
                }),
                description: match new_version {
                    Some(_) => format!("updated template {} (new active version)", t.name),
                    None => format!("updated template {}", t.name),
                },
            },
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Deletes a template no live workspace uses. Workspace creation holds a share lock on the
    /// template row, so a workspace cannot appear between the check and the delete.
    pub async fn delete_template(&self, id: Uuid) -> Result<()> {
        let t = self.template(id).await?;
        self.subject
            .authorize(Action::Delete, &template_object(t.id, t.organization_id))
            .map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM templates WHERE id = $1 FOR UPDATE").bind(t.id).execute(&mut *tx).await?;
        let in_use: i64 =
            sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE template_id = $1 AND NOT deleted")
                .bind(t.id)
                .fetch_one(&mut *tx)
                .await?;
        if in_use > 0 {
            return Err(ClientError::TemplateInUse { name: t.name.clone(), workspaces: in_use }.into());
        }
        sqlx::query("DELETE FROM templates WHERE id = $1").bind(t.id).execute(&mut *tx).await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(t.organization_id),
                action: "delete",
                resource_type: "template",
                resource_id: t.id,
                resource_target: &t.name,
                diff: serde_json::json!({"name": t.name}),
                description: format!("deleted template {}", t.name),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, kind: ParameterType) -> TemplateParameter {
        TemplateParameter {
            name: name.into(),
            kind,
            default: None,
            required: false,
            options: vec![],
            description: String::new(),
        }
    }

    fn value(name: &str, v: &str) -> ParameterValue {
        ParameterValue { name: name.into(), value: v.into() }
    }

    #[test]
    fn definitions_are_checked_and_canonicalised() {
        let mut defs = vec![
            TemplateParameter { default: Some(" 4 ".into()), ..param("cpus", ParameterType::Number) },
            TemplateParameter { default: Some("TRUE".into()), ..param("gpu", ParameterType::Bool) },
        ];
        assert!(check_parameter_defs(&mut defs).is_empty());
        assert_eq!(defs[0].default.as_deref(), Some("4"));
        assert_eq!(defs[1].default.as_deref(), Some("true"));

        let mut bad = vec![
            param("1x", ParameterType::String),
            TemplateParameter { default: Some("many".into()), ..param("n", ParameterType::Number) },
            param("N", ParameterType::String),
            TemplateParameter {
                options: vec!["a".into(), "b".into()],
                default: Some("c".into()),
                ..param("choice", ParameterType::String)
            },
            TemplateParameter { required: true, default: Some("x".into()), ..param("r", ParameterType::String) },
        ];
        let fields: Vec<String> = check_parameter_defs(&mut bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["parameters[0].name", "parameters[1].default", "parameters[2].name", "parameters[3].default", "parameters[4].default"]
        );
    }

    #[test]
    fn values_resolve_with_defaults_types_and_options() {
        let defs = vec![
            TemplateParameter { required: true, ..param("repo", ParameterType::String) },
            TemplateParameter { default: Some("2".into()), ..param("cpus", ParameterType::Number) },
            TemplateParameter { options: vec!["dark".into(), "light".into()], ..param("theme", ParameterType::String) },
            param("debug", ParameterType::Bool),
        ];
        let ok = resolve_parameters(&defs, &[value("repo", "x/y"), value("debug", "False")]).unwrap();
        assert_eq!(ok, vec![value("repo", "x/y"), value("cpus", "2"), value("debug", "false")]);

        let errs = resolve_parameters(
            &defs,
            &[value("cpus", "lots"), value("theme", "blue"), value("nope", "1"), value("debug", "yes")],
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rich_parameter_values.nope",
                "rich_parameter_values.repo",
                "rich_parameter_values.cpus",
                "rich_parameter_values.theme",
                "rich_parameter_values.debug",
            ]
        );
        assert_eq!(errs[1].1, Problem::ParameterRequired { name: "repo".into() });
        assert_eq!(errs[2].1, Problem::ParameterInvalid { name: "cpus".into(), why: ValueProblem::NotANumber });
        assert_eq!(errs[2].1.to_string(), "Parameter \"cpus\" must be a number.");
    }
}
