//! Organization memberships and org role assignment.

use agentry_rbac::{Action, Columns, Denial, Object, OrgRole, ResourceType, may_assign_org_role};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use std::sync::Arc;

use crate::args::Args;
use crate::audit::{self, Entry};
use crate::auth_cache::MAX_CACHED_MEMBERS;
use crate::users::UserRef;
use crate::{Actor, ClientError, Result, StoreError};

#[derive(Debug, Clone, FromRow)]
pub struct Member {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub name: String,
    pub email: String,
    /// Assigned roles; `organization-member` is implied and not stored.
    pub roles: Vec<String>,
    /// The user's stored site roles (the implicit `member` is not stored).
    pub site_roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The RBAC object for a membership: in its org, owned by the member.
pub fn member_object(org: Uuid, user: Uuid) -> Object {
    Object::new(ResourceType::OrganizationMember).owned_by(user).in_org(org)
}

const MEMBER_SELECT: &str = "SELECT m.organization_id, m.user_id, u.username, u.name, u.email, m.roles,
        u.site_roles, m.created_at, m.updated_at
    FROM organization_members m JOIN users u ON u.id = m.user_id";

impl Actor<'_> {
    /// A page of the members of an organization the actor may read, by username.
    ///
    /// From the process's member cache when the organization is small enough to be cached
    /// (see `auth_cache`): the page is cut in memory from every member in the list's order,
    /// keeping those the actor may read, exactly as the SQL below filters, orders and pages
    /// them. Otherwise one ordered index range in SQL.
    pub async fn members(&self, org: &str, limit: i64, offset: i64, after_id: Option<Uuid>) -> Result<Vec<Member>> {
        let org = self.organization(org).await?;
        if let Some(all) = self.org_members(org.id).await? {
            return Ok(self.page_of(&all, limit, offset, after_id));
        }
        let (sql, args) = self.members_page(org.id, limit, offset, after_id);
        Ok(sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?)
    }

    /// The PostgreSQL plan of the page query of [`Actor::members`] (for the plan tests).
    pub async fn explain_members(&self, org: &str, limit: i64, offset: i64, after_id: Option<Uuid>) -> Result<serde_json::Value> {
        let org = self.organization(org).await?;
        let (sql, args) = self.members_page(org.id, limit, offset, after_id);
        crate::explain::run(self.pool, &sql, args.into_inner()).await
    }

    /// Every member of `org` in the list's order, from the cache or read into it; `None` when
    /// caching is off or the organization has more than [`MAX_CACHED_MEMBERS`] members.
    async fn org_members(&self, org: Uuid) -> Result<Option<Arc<Vec<Member>>>> {
        if let Some(all) = self.auth.members(org) {
            return Ok(all);
        }
        if !self.auth.enabled() || crate::bench_before("member-cache") {
            return Ok(None);
        }
        let seen = self.auth.member_generation();
        let sql = format!("{MEMBER_SELECT} WHERE m.organization_id = $1 ORDER BY m.username_key, m.user_id LIMIT $2");
        let all: Vec<Member> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org).bind(MAX_CACHED_MEMBERS as i64 + 1).fetch_all(self.pool).await?;
        let all = (all.len() <= MAX_CACHED_MEMBERS).then(|| Arc::new(all));
        self.auth.put_members(seen, org, all.clone());
        Ok(all)
    }

    /// The page [`Actor::members_page`]'s statement returns, cut from every member of the
    /// organization in the same order: after the cursor member (none if it is not a member),
    /// only the members the actor may read, then `offset` and `limit`.
    fn page_of(&self, all: &[Member], limit: i64, offset: i64, after_id: Option<Uuid>) -> Vec<Member> {
        let start = match after_id {
            Some(id) => match all.iter().position(|m| m.user_id == id) {
                Some(i) => i + 1,
                None => return Vec::new(),
            },
            None => 0,
        };
        all[start..]
            .iter()
            .filter(|m| self.subject.can(Action::Read, &member_object(m.organization_id, m.user_id)))
            .skip(offset.max(0) as usize)
            .take(limit.max(0) as usize)
            .cloned()
            .collect()
    }

    /// One page of an organization's members by username: one ordered range of
    /// `organization_members_list_idx` (each membership carries its user's lowercased name,
    /// migration 0077); a cursor (a member's user id) is a row comparison on it.
    fn members_page(&self, org: Uuid, limit: i64, offset: i64, after_id: Option<Uuid>) -> (String, Args) {
        let filter = self.subject.prepare(Action::Read, ResourceType::OrganizationMember);
        let mut args = Args::default();
        let o = args.push(org);
        let f = args.filter(&filter, Columns { org: Some("m.organization_id"), owner: Some("m.user_id") });
        let after = match after_id {
            // A cursor that names no member of the organization ends the list.
            Some(id) => format!(
                "AND (m.username_key, m.user_id) > (SELECT username_key, user_id FROM organization_members
                     WHERE organization_id = {o} AND user_id = {})",
                args.push(id)
            ),
            None => String::new(),
        };
        let (l, off) = (args.push(limit), args.push(offset));
        let sql = format!(
            "{MEMBER_SELECT} WHERE m.organization_id = {o} AND {f} {after}
             ORDER BY m.username_key, m.user_id LIMIT {l} OFFSET {off}"
        );
        (sql, args)
    }

    /// Whether the actor may add or remove members of an organization it can read at all. It
    /// is asked before the target user is looked up, so a member without the right gets 403
    /// rather than learning which users exist.
    fn may_manage_members(&self, org: Uuid, action: Action) -> Result<()> {
        let any_member = Object::new(ResourceType::OrganizationMember).in_org(org);
        self.subject.authorize(action, &any_member).map_err(StoreError::Forbidden)
    }

    pub(crate) async fn membership(&self, org: Uuid, user: Uuid) -> Result<Option<Member>> {
        let sql = format!("{MEMBER_SELECT} WHERE m.organization_id = $1 AND m.user_id = $2");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org).bind(user).fetch_optional(self.pool).await?)
    }

    /// Adds a user to an organization with no extra roles.
    pub async fn add_member(&self, org: &str, user: &UserRef<'_>) -> Result<Member> {
        let org = self.organization(org).await?;
        self.may_manage_members(org.id, Action::Create)?;
        let target = self.user(user).await?;
        self.subject
            .authorize(Action::Create, &member_object(org.id, target.id))
            .map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(org.id)
        .bind(target.id)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ClientError::AlreadyMember.into());
        }
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "create",
                resource_type: "organization_member",
                resource_id: target.id,
                resource_target: &target.username,
                diff: serde_json::json!({"organization": org.name, "user": target.username}),
                description: format!("added {} to organization {}", target.username, org.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        self.membership(org.id, target.id).await?.ok_or(StoreError::NotFound)
    }

    /// Removes a user from an organization. Their access to everything in it ends with the
    /// next request: subjects are rebuilt from the database on every request.
    ///
    /// Removing a member takes their org roles away, so it needs the right to unassign each of
    /// them (else removing and re-adding would strip roles the actor may not unassign), and only
    /// a site owner removes a site owner. The roles are read under the row lock, so a role
    /// assigned meanwhile cannot slip through.
    pub async fn remove_member(&self, org: &str, user: &UserRef<'_>) -> Result<()> {
        let org = self.organization(org).await?;
        self.may_manage_members(org.id, Action::Delete)?;
        let target = self.user(user).await?;
        self.membership(org.id, target.id).await?.ok_or(StoreError::NotFound)?;
        self.subject
            .authorize(Action::Delete, &member_object(org.id, target.id))
            .map_err(StoreError::Forbidden)?;
        let target_is_owner = target.site_roles.iter().any(|r| r == agentry_rbac::SiteRole::Owner.name());
        if target_is_owner && !self.subject.has_site_role(agentry_rbac::SiteRole::Owner) {
            return Err(StoreError::Forbidden(Denial::NoGrant));
        }
        let mut tx = self.pool.begin().await?;
        let roles: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT roles FROM organization_members WHERE organization_id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(org.id)
        .bind(target.id)
        .fetch_optional(&mut *tx)
        .await?;
        let roles = roles.ok_or(StoreError::NotFound)?;
        let assign = Object::new(ResourceType::AssignOrgRole).in_org(org.id);
        for r in roles.iter().filter_map(|r| OrgRole::parse(r)).filter(|r| *r != OrgRole::OrganizationMember) {
            self.subject.authorize(Action::Unassign, &assign).map_err(StoreError::Forbidden)?;
            if !may_assign_org_role(self.subject, org.id, r) {
                return Err(StoreError::Forbidden(Denial::NoGrant));
            }
        }
        sqlx::query("DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2")
            .bind(org.id)
            .bind(target.id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "delete",
                resource_type: "organization_member",
                resource_id: target.id,
                resource_target: &target.username,
                diff: serde_json::json!({"roles": roles}),
                description: format!("removed {} from organization {}", target.username, org.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok(())
    }

    /// Replaces a member's org roles. Each added role needs `assign_org_role assign` in the
    /// org, each removed one `unassign`, and every change must pass [`may_assign_org_role`].
    pub async fn set_member_roles(&self, org: &str, user: &UserRef<'_>, roles: &[OrgRole]) -> Result<Member> {
        let org = self.organization(org).await?;
        let target = self.user(user).await?;
        let member = self.membership(org.id, target.id).await?.ok_or(StoreError::NotFound)?;
        let current: Vec<OrgRole> = member.roles.iter().filter_map(|r| OrgRole::parse(r)).collect();
        let mut wanted: Vec<OrgRole> =
            roles.iter().copied().filter(|r| *r != OrgRole::OrganizationMember).collect();
        wanted.sort();
        wanted.dedup();

        let assign = Object::new(ResourceType::AssignOrgRole).in_org(org.id);
        for r in wanted.iter().filter(|r| !current.contains(r)) {
            self.subject.authorize(Action::Assign, &assign).map_err(StoreError::Forbidden)?;
            if !may_assign_org_role(self.subject, org.id, *r) {
                return Err(StoreError::Forbidden(Denial::NoGrant));
            }
        }
        for r in current.iter().filter(|r| !wanted.contains(r)) {
            self.subject.authorize(Action::Unassign, &assign).map_err(StoreError::Forbidden)?;
            if !may_assign_org_role(self.subject, org.id, *r) {
                return Err(StoreError::Forbidden(Denial::NoGrant));
            }
        }
        let names: Vec<&str> = wanted.iter().map(|r| r.name()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE organization_members SET roles = $3, updated_at = now()
             WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(org.id)
        .bind(target.id)
        .bind(&names)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "write",
                resource_type: "organization_member",
                resource_id: target.id,
                resource_target: &target.username,
                diff: serde_json::json!({"roles": {"old": member.roles, "new": names}}),
                description: format!("changed roles of {} in organization {}", target.username, org.name),
            },
        )
        .await?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        self.membership(org.id, target.id).await?.ok_or(StoreError::NotFound)
    }
}
