//! The audit log: one row per security-relevant change, written in the change's transaction.
//!
//! Reading the log is one permission (`audit_log read`), but an entry also *names* the thing it
//! is about — a chat's title is the first words of a prompt, a workspace's name, a template's.
//! So each entry shows its target, description and diff only to a reader who may read the
//! resource itself; anyone else sees the entry with the resource's id in place of its name and
//! no diff. Resources of a type this module does not know are treated as unreadable.

use std::collections::HashMap;

use agentry_rbac::{Action, Columns, Object, ResourceType};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::args::Args;
use crate::{Actor, Result};

/// What happened, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub resource_target: String,
    pub diff: serde_json::Value,
    pub description: String,
}

/// An entry to record. `action` is the audit verb (`create`, `write`, `delete`, ...).
pub struct Entry<'a> {
    pub user_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Uuid,
    pub resource_target: &'a str,
    pub diff: serde_json::Value,
    pub description: String,
}

pub(crate) async fn record(conn: &mut PgConnection, e: Entry<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_logs (id, user_id, organization_id, action, resource_type,
             resource_id, resource_target, diff, description)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(e.user_id)
    .bind(e.organization_id)
    .bind(e.action)
    .bind(e.resource_type)
    .bind(e.resource_id)
    .bind(e.resource_target)
    .bind(e.diff)
    .bind(e.description)
    .execute(conn)
    .await?;
    Ok(())
}

/// One page of audit entries, newest first, taken from ordered index ranges (all entries for a
/// site-wide reader, else one range per organization the reader may audit; see
/// [`crate::args::Source`]), so a page costs a page however long the log is.
fn audit_page(filter: &agentry_rbac::Filter, limit: i64, offset: i64) -> Option<(String, Args)> {
    let mut args = Args::default();
    let cols = Columns { org: Some("a.organization_id"), owner: None };
    let f = args.filter(filter, cols);
    let sources = args.sources(filter, cols)?;
    let sql = crate::args::union_page(
        &sources,
        &format!("SELECT a.* FROM audit_logs a WHERE {f}"),
        "a.time DESC, a.id DESC",
        "a",
        limit,
        offset,
    );
    Some((sql, args))
}

impl Actor<'_> {
    /// Audit entries the actor may read (site-wide entries need a site grant; an org's entries
    /// are readable by its auditors and admins), newest first, with the total count.
    pub async fn audit_logs(&self, limit: i64, offset: i64) -> Result<(Vec<AuditRow>, i64)> {
        let filter = self.subject.prepare(Action::Read, ResourceType::AuditLog);
        let cols = Columns { org: Some("organization_id"), owner: None };

        let mut args = Args::default();
        let f = args.filter(&filter, cols);
        let sql = format!("SELECT count(*) FROM audit_logs WHERE {f}");
        let count: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), args.into_inner())
            .fetch_one(self.pool)
            .await?;

        let Some((sql, args)) = audit_page(&filter, limit, offset) else {
            return Ok((Vec::new(), count));
        };
        // Planned for these values every time (see the `explain` module docs).
        let mut rows: Vec<AuditRow> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner())
            .persistent(false)
            .fetch_all(self.pool)
            .await?;
        self.redact_unreadable(&mut rows).await?;
        Ok((rows, count))
    }

    /// The PostgreSQL plan of the page query of [`Actor::audit_logs`] (for the plan tests).
    pub async fn explain_audit_logs(&self, limit: i64, offset: i64) -> Result<serde_json::Value> {
        let filter = self.subject.prepare(Action::Read, ResourceType::AuditLog);
        match audit_page(&filter, limit, offset) {
            Some((sql, args)) => crate::explain::run(self.pool, &sql, args.into_inner()).await,
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Replaces the names of resources the actor may not read by their ids (see the module
    /// docs). Owners of chats, workspaces and builds are looked up in one query per type.
    async fn redact_unreadable(&self, rows: &mut [AuditRow]) -> Result<()> {
        let ids_of = |t: &str| -> Vec<Uuid> { rows.iter().filter(|r| r.resource_type == t).map(|r| r.resource_id).collect() };
        let (chat_ids, ws_ids, build_ids) = (ids_of("chat"), ids_of("workspace"), ids_of("workspace_build"));
        // (owner, organization) of each owned resource named on this page.
        let mut owned: HashMap<Uuid, (Uuid, Uuid)> = HashMap::new();
        let lookups = [
            ("SELECT id, owner_id, organization_id FROM chats WHERE id = ANY($1)", &chat_ids),
            ("SELECT id, owner_id, organization_id FROM workspaces WHERE id = ANY($1)", &ws_ids),
            (
                "SELECT b.id, w.owner_id, w.organization_id FROM workspace_builds b
                 JOIN workspaces w ON w.id = b.workspace_id WHERE b.id = ANY($1)",
                &build_ids,
            ),
        ];
        for (sql, ids) in lookups {
            if ids.is_empty() {
                continue;
            }
            let found: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(sql).bind(ids).fetch_all(self.pool).await?;
            owned.extend(found.into_iter().map(|(id, owner, org)| (id, (owner, org))));
        }
        for row in rows.iter_mut() {
            let readable = match self.audited_object(row, &owned) {
                Some(obj) => self.subject.can(Action::Read, &obj),
                None => false,
            };
            if !readable {
                let id = row.resource_id.to_string();
                if !row.resource_target.is_empty() {
                    row.description = row.description.replace(&row.resource_target, &id);
                }
                row.resource_target = id;
                row.diff = serde_json::json!({});
            }
        }
        Ok(())
    }

    /// The RBAC object an audit entry is about, as far as reading it goes.
    fn audited_object(&self, row: &AuditRow, owned: &HashMap<Uuid, (Uuid, Uuid)>) -> Option<Object> {
        let id = row.resource_id;
        let org = row.organization_id;
        let owned_object = |t: ResourceType| -> Option<Object> {
            match owned.get(&id) {
                Some((owner, org)) => Some(Object::new(t).owned_by(*owner).in_org(*org)),
                // Gone: only who may read every such object in its organization may read it.
                None => Some(Object::new(t).in_org(org?)),
            }
        };
        match row.resource_type.as_str() {
            "chat" => owned_object(ResourceType::Chat).map(|o| o.with_id(id)),
            "workspace" | "workspace_build" => owned_object(ResourceType::Workspace),
            "template" => Some(crate::templates::template_object(id, org?)),
            "organization" => Some(crate::orgs::org_object(id)),
            "organization_member" => Some(crate::members::member_object(org?, id)),
            "user" => Some(crate::users::user_object(id)),
            "chat_provider" | "chat_model_config" | "chat_org_settings" | "chat_model_access" => Some(match org {
                Some(o) => Object::new(ResourceType::ChatProvider).in_org(o),
                None => Object::new(ResourceType::ChatProvider),
            }),
            _ => None,
        }
    }
}
