//! The audit log: one row per security-relevant change, written in the change's transaction.

use agentry_rbac::{Action, Columns, ResourceType};
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

        let mut args = Args::default();
        let f = args.filter(&filter, cols);
        let (l, o) = (args.push(limit), args.push(offset));
        let sql = format!(
            "SELECT * FROM audit_logs WHERE {f} ORDER BY time DESC, id DESC LIMIT {l} OFFSET {o}"
        );
        let rows = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner())
            .fetch_all(self.pool)
            .await?;
        Ok((rows, count))
    }
}
