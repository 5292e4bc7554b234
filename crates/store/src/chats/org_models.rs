//! Which organization may use which model (issue 14): the one access rule, the models an
//! organization may use, its default model and what new organizations get.
//!
//! A model config is usable in organization O when it is O's own, or site-wide and its
//! `organization_ids` is NULL (every organization) or lists O; and its provider, if it has one,
//! is site-wide or O's. [`check`] is asked by everything that starts a model call: chat
//! creation, sending (and switching model), editing, subagent spawning, and in the chat
//! daemon before every model call and title generation ([`WorkerTasks::model_usable_in_org`]).
//! Access withdrawn while a chat uses a model ends its next turn with
//! `ClientError::ModelNotInOrganization` as `last_error`; nothing switches model silently.
//!
//! New organizations: the deployment setting `chat_new_org_models` (`site_config`) is `all`
//! (default: a new organization may use every site-wide model listed for every organization,
//! as before) or `none` (creating an organization writes the other organizations into the
//! `organization_ids` of those models, so the new one starts with none of them; the site owner
//! then enables models for it).

use agentry_rbac::Action;
use sqlx::PgConnection;
use uuid::Uuid;

use super::models::{MODEL_COLUMNS, ModelConfig, authorize_admin, authorize_in};
use crate::audit::{self, Entry};
use crate::{Actor, ClientError, Result, StoreError, WorkerTasks};

/// The access rule in SQL over `chat_model_configs m` and `chat_providers p` (LEFT JOINed on
/// `m.provider_id`), for the organization bound as `{org}`.
fn rule(org: &str) -> String {
    format!(
        "(m.organization_id = {org} OR (m.organization_id IS NULL AND (m.organization_ids IS NULL OR {org} = ANY(m.organization_ids))))
         AND (p.organization_id IS NULL OR p.organization_id = {org})"
    )
}

/// Whether organization `org` may use model config `model` (enabled or not).
pub(crate) async fn usable_in(conn: &mut PgConnection, model: Uuid, org: Uuid) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM chat_model_configs m LEFT JOIN chat_providers p ON p.id = m.provider_id
         WHERE m.id = $1 AND {})",
        rule("$2")
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(model).bind(org).fetch_one(conn).await?)
}

/// [`usable_in`] as a refusal: `ClientError::ModelNotInOrganization`.
pub(crate) async fn check(conn: &mut PgConnection, model: Uuid, org: Uuid) -> Result<()> {
    if usable_in(conn, model, org).await? { Ok(()) } else { Err(ClientError::ModelNotInOrganization.into()) }
}

/// Rewrites, for a new organization under the `none` setting, every site-wide model open to
/// every organization into a list of the other organizations. Runs in the creating transaction.
pub(crate) async fn on_org_created(conn: &mut PgConnection, org: Uuid) -> Result<()> {
    let setting: Option<String> = sqlx::query_scalar("SELECT value FROM site_config WHERE key = 'chat_new_org_models'")
        .fetch_optional(&mut *conn)
        .await?;
    if setting.as_deref() == Some("none") {
        sqlx::query(
            "UPDATE chat_model_configs SET organization_ids =
                 COALESCE((SELECT array_agg(id) FROM organizations WHERE id <> $1), '{}'), updated_at = now()
             WHERE organization_id IS NULL AND organization_ids IS NULL AND NOT deleted",
        )
        .bind(org)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The organization's chat settings.
#[derive(Debug, Clone)]
pub struct OrgChatDefault {
    pub organization_id: Uuid,
    pub model_config_id: Option<Uuid>,
}

impl Actor<'_> {
    /// Whether the chat's organization may use `model` (for handlers that check before work).
    pub async fn model_usable_in_org(&self, model: Uuid, org: Uuid) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        usable_in(&mut conn, model, org).await
    }

    /// The enabled models usable in `org`, for someone who may create chats there (else: not
    /// found when the organization is unreadable, forbidden when readable).
    pub async fn models_for_org(&self, org: Uuid) -> Result<Vec<ModelConfig>> {
        if !self.subject.can(Action::Read, &crate::orgs::org_object(org)) {
            return Err(StoreError::NotFound);
        }
        super::ai_work_rule_for(self.subject, self.subject.user_id(), org)?;
        let default = self.org_default_model_id(org).await?;
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE id IN (
                 SELECT m.id FROM chat_model_configs m LEFT JOIN chat_providers p ON p.id = m.provider_id
                 WHERE m.enabled AND NOT m.deleted AND {})
             ORDER BY organization_id NULLS LAST, provider, model",
            rule("$1")
        );
        let mut rows: Vec<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org).fetch_all(self.pool).await?;
        // The organization's default replaces the site default when it is usable here.
        if let Some(d) = default.filter(|d| rows.iter().any(|r| r.id == *d)) {
            for r in &mut rows {
                r.is_default = r.id == d;
            }
        }
        rows.sort_by_key(|r| !r.is_default);
        for r in &mut rows {
            r.organization_ids = None;
        }
        Ok(rows)
    }

    async fn org_default_model_id(&self, org: Uuid) -> Result<Option<Uuid>> {
        Ok(sqlx::query_scalar::<_, Option<Uuid>>(
            "SELECT default_model_config_id FROM chat_org_settings WHERE organization_id = $1",
        )
        .bind(org)
        .fetch_optional(self.pool)
        .await?
        .flatten())
    }

    /// The model a new chat in `org` uses when none is named: the organization's default when
    /// enabled and usable there, else the site default (which [`check`] may then refuse).
    pub(crate) async fn default_model_for_org(&self, org: Uuid) -> Result<Option<ModelConfig>> {
        if let Some(id) = self.org_default_model_id(org).await?
            && let Some(m) = self.usable_model_config(id).await?
            && self.model_usable_in_org(id, org).await?
        {
            return Ok(Some(m));
        }
        self.default_model_config().await
    }

    /// The organization's default model (any reader of the organization).
    pub async fn org_chat_default(&self, org: &str) -> Result<OrgChatDefault> {
        let org = self.organization(org).await?;
        Ok(OrgChatDefault { organization_id: org.id, model_config_id: self.org_default_model_id(org.id).await? })
    }

    /// Sets (or with `None` clears) the organization's default model. Needs `organization
    /// update` there (org admins); the model must be enabled and usable in the organization.
    pub async fn set_org_chat_default(&self, org: &str, model: Option<Uuid>) -> Result<OrgChatDefault> {
        let org = self.organization(org).await?;
        self.subject
            .authorize(Action::Update, &crate::orgs::org_object(org.id))
            .map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        if let Some(m) = model {
            let live: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM chat_model_configs WHERE id = $1 AND enabled AND NOT deleted)",
            )
            .bind(m)
            .fetch_one(&mut *tx)
            .await?;
            if !live {
                return Err(ClientError::InvalidModelConfig.into());
            }
            check(&mut tx, m, org.id).await?;
        }
        sqlx::query(
            "INSERT INTO chat_org_settings (organization_id, default_model_config_id) VALUES ($1, $2)
             ON CONFLICT (organization_id) DO UPDATE SET default_model_config_id = EXCLUDED.default_model_config_id,
                 updated_at = now()",
        )
        .bind(org.id)
        .bind(model)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: Some(org.id),
                action: "write",
                resource_type: "chat_org_settings",
                resource_id: org.id,
                resource_target: &org.name,
                diff: serde_json::json!({"default_model_config_id": model}),
                description: format!("set the default chat model of organization {}", org.name),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(OrgChatDefault { organization_id: org.id, model_config_id: model })
    }

    /// What new organizations may use: `all` or `none` (site administrators).
    pub async fn chat_new_org_models(&self) -> Result<String> {
        authorize_admin(self.subject, Action::Read)?;
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM site_config WHERE key = 'chat_new_org_models'")
            .fetch_optional(self.pool)
            .await?;
        Ok(v.unwrap_or_else(|| "all".to_string()))
    }

    pub async fn set_chat_new_org_models(&self, value: &str) -> Result<String> {
        authorize_in(self.subject, Action::Update, None)?;
        if !matches!(value, "all" | "none") {
            return Err(ClientError::InvalidNewOrgModels.into());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO site_config (key, value) VALUES ('chat_new_org_models', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(value)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: None,
                action: "write",
                resource_type: "chat_model_access",
                resource_id: Uuid::nil(),
                resource_target: "new_organizations",
                diff: serde_json::json!({"new_organizations": value}),
                description: format!("set the models new organizations may use to {value}"),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(value.to_string())
    }
}

impl WorkerTasks<'_> {
    /// Whether organization `org` may use model config `model`, asked before every model call.
    pub async fn model_usable_in_org(&self, model: Uuid, org: Uuid) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        usable_in(&mut conn, model, org).await
    }
}
