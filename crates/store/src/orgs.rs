//! Organizations.

use std::sync::Arc;

use agentry_rbac::{Action, Columns, Object, OrgRole, ResourceType};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::args::Args;
use crate::audit::{self, Entry};
use crate::auth_cache::MAX_ORGS;
use crate::error::unique_violation;
use crate::users::UserRef;
use crate::{Actor, ClientError, Result, StoreError};

#[derive(Debug, Clone, FromRow)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The RBAC object for an organization: it belongs to itself, so org-level grants apply.
pub fn org_object(id: Uuid) -> Object {
    Object::new(ResourceType::Organization).with_id(id).in_org(id)
}

/// Changes to an organization; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrgPatch<'a> {
    pub name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub description: Option<&'a str>,
}

fn map_conflict(e: sqlx::Error) -> StoreError {
    match unique_violation(&e) {
        Some("organizations_name_idx") => {
            ClientError::OrganizationNameTaken.into()
        }
        _ => e.into(),
    }
}

impl Actor<'_> {
    /// An organization by id or name, if the actor may read it.
    pub async fn organization(&self, id_or_name: &str) -> Result<Organization> {
        let id = Uuid::parse_str(id_or_name).ok();
        let cached = self.all_organizations().await?.and_then(|all| {
            all.iter()
                .find(|o| match id {
                    Some(id) => o.id == id,
                    // Names are ASCII (validated), so this is PostgreSQL's `lower`.
                    None => o.name.eq_ignore_ascii_case(id_or_name),
                })
                .cloned()
        });
        let row = match (cached, id) {
            (Some(row), _) => Some(row),
            (None, Some(id)) => {
                sqlx::query_as("SELECT * FROM organizations WHERE id = $1").bind(id).fetch_optional(self.pool).await?
            }
            (None, None) => {
                sqlx::query_as("SELECT * FROM organizations WHERE lower(name) = lower($1)")
                    .bind(id_or_name)
                    .fetch_optional(self.pool)
                    .await?
            }
        };
        let row = row.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &org_object(row.id)) {
            return Err(StoreError::NotFound);
        }
        Ok(row)
    }

    /// Every organization, default first, then by name, from this process's cache (see
    /// [`crate::auth_cache`]); `None` when there are too many to cache or nothing is listening
    /// for changes.
    async fn all_organizations(&self) -> Result<Option<Arc<Vec<Organization>>>> {
        if let Some(all) = self.auth.orgs() {
            return Ok(Some(all));
        }
        if !self.auth.enabled() || crate::bench_before("org-cache") {
            return Ok(None);
        }
        let seen = self.auth.org_generation();
        let all: Vec<Organization> =
            sqlx::query_as("SELECT * FROM organizations ORDER BY is_default DESC, lower(name), id LIMIT $1")
                .bind(MAX_ORGS as i64 + 1)
                .fetch_all(self.pool)
                .await?;
        if all.len() > MAX_ORGS {
            return Ok(None);
        }
        let all = Arc::new(all);
        self.auth.put_orgs(seen, all.clone());
        Ok(Some(all))
    }

    /// Organizations the actor may read, default first, then by name.
    pub async fn organizations(&self) -> Result<Vec<Organization>> {
        if let Some(all) = self.all_organizations().await? {
            return Ok(all.iter().filter(|o| self.subject.can(Action::Read, &org_object(o.id))).cloned().collect());
        }
        let filter = self.subject.prepare(Action::Read, ResourceType::Organization);
        let mut args = Args::default();
        let f = args.filter(&filter, Columns { org: Some("id"), owner: None });
        let sql = format!(
            "SELECT * FROM organizations WHERE {f} ORDER BY is_default DESC, lower(name)"
        );
        Ok(sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?)
    }

    /// The organizations `user` belongs to that the actor may read, default first, then by
    /// name. The user must be readable (else not found); for `me` these are the actor's own.
    pub async fn user_organizations(&self, user: &UserRef<'_>) -> Result<Vec<Organization>> {
        let user = self.user(user).await?;
        let filter = self.subject.prepare(Action::Read, ResourceType::Organization);
        let mut args = Args::default();
        let u = args.push(user.id);
        let f = args.filter(&filter, Columns { org: Some("o.id"), owner: None });
        let sql = format!(
            "SELECT o.* FROM organizations o JOIN organization_members m ON m.organization_id = o.id
             WHERE m.user_id = {u} AND {f} ORDER BY o.is_default DESC, lower(o.name)"
        );
        Ok(sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?)
    }

    /// One of [`Actor::user_organizations`], by id or name (ignoring case).
    pub async fn user_organization(&self, user: &UserRef<'_>, id_or_name: &str) -> Result<Organization> {
        let id = Uuid::parse_str(id_or_name).ok();
        self.user_organizations(user)
            .await?
            .into_iter()
            .find(|o| Some(o.id) == id || o.name.eq_ignore_ascii_case(id_or_name))
            .ok_or(StoreError::NotFound)
    }

    /// Creates an organization; the creator joins it as `organization-admin`.
    pub async fn create_organization(
        &self,
        name: &str,
        display_name: &str,
        description: &str,
    ) -> Result<Organization> {
        self.subject
            .authorize(Action::Create, &Object::new(ResourceType::Organization))
            .map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        let org: Organization = sqlx::query_as(
            "INSERT INTO organizations (id, name, display_name, description)
             VALUES ($1, $2, $3, $4) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(display_name)
        .bind(description)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_conflict)?;
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, roles) VALUES ($1, $2, $3)",
        )
        .bind(org.id)
        .bind(self.subject.user_id())
        .bind(vec![OrgRole::OrganizationAdmin.name()])
        .execute(&mut *tx)
        .await?;
        crate::chats::org_models::on_org_created(&mut tx, org.id).await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "create",
                resource_type: "organization",
                resource_id: org.id,
                resource_target: &org.name,
                diff: serde_json::json!({"name": org.name, "display_name": org.display_name}),
                description: format!("created organization {}", org.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok(org)
    }

    pub async fn update_organization(&self, id_or_name: &str, patch: &OrgPatch<'_>) -> Result<Organization> {
        let org = self.organization(id_or_name).await?;
        self.subject.authorize(Action::Update, &org_object(org.id)).map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        let updated: Organization = sqlx::query_as(
            "UPDATE organizations SET
                 name = COALESCE($2, name),
                 display_name = COALESCE($3, display_name),
                 description = COALESCE($4, description),
                 updated_at = now()
             WHERE id = $1 RETURNING *",
        )
        .bind(org.id)
        .bind(patch.name)
        .bind(patch.display_name)
        .bind(patch.description)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_conflict)?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "write",
                resource_type: "organization",
                resource_id: org.id,
                resource_target: &updated.name,
                diff: serde_json::json!({
                    "name": {"old": org.name, "new": updated.name},
                    "display_name": {"old": org.display_name, "new": updated.display_name},
                    "description": {"old": org.description, "new": updated.description},
                }),
                description: format!("updated organization {}", updated.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok(updated)
    }

    /// Deletes an organization and, by cascade, everything in it. The default organization
    /// cannot be deleted.
    pub async fn delete_organization(&self, id_or_name: &str) -> Result<()> {
        let org = self.organization(id_or_name).await?;
        self.subject.authorize(Action::Delete, &org_object(org.id)).map_err(StoreError::Forbidden)?;
        if org.is_default {
            return Err(ClientError::DefaultOrganizationUndeletable.into());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM organizations WHERE id = $1").bind(org.id).execute(&mut *tx).await?;
        // The entry stays readable by site auditors; the org's own auditors are gone with it.
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: None,
                action: "delete",
                resource_type: "organization",
                resource_id: org.id,
                resource_target: &org.name,
                diff: serde_json::json!({"name": org.name}),
                description: format!("deleted organization {}", org.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok(())
    }
}
