//! LLM providers and the model configs users pick from. A provider or model config is
//! site-wide (`organization_id` NULL; administered with site `chat_provider` permissions, i.e.
//! site owners) or belongs to one organization (its org admins hold `chat_provider` there).
//! Several providers of one type may coexist when their display names differ; a model config
//! names its provider by id. Any signed-in user may list the enabled site-wide model configs.
//! Keys are stored for the chat daemon and never returned. Which organization may use which
//! model is decided in [`super::org_models`].

use agentry_rbac::{Action, Object, ResourceType, Subject};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::error::unique_violation;
use crate::{Actor, ClientError, Result, StoreError, WorkerTasks};

pub const PROVIDERS: [&str; 3] = ["openai", "anthropic", "openai-compat"];

#[derive(Debug, Clone, FromRow)]
pub struct Provider {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub provider: String,
    pub display_name: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ModelConfig {
    pub id: Uuid,
    pub provider: String,
    /// The provider row; `None` for configs whose provider was deleted or never existed (they
    /// run on the oldest enabled site-wide provider of their type).
    pub provider_id: Option<Uuid>,
    pub provider_display_name: Option<String>,
    /// The owning organization; `None` = site-wide.
    pub organization_id: Option<Uuid>,
    /// For site-wide configs: the organizations that may use it (`None` = every organization).
    pub organization_ids: Option<Vec<Uuid>>,
    pub model: String,
    pub display_name: String,
    pub enabled: bool,
    pub is_default: bool,
    pub context_limit: i64,
    pub input_price_micros_per_million: Option<i64>,
    pub output_price_micros_per_million: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Fields of a provider to create or change; `None` leaves a field as it is (on create: unset).
#[derive(Debug, Default, Clone)]
pub struct ProviderInput {
    pub provider: Option<String>,
    /// On create: the owning organization (`None` = site-wide).
    pub organization_id: Option<Uuid>,
    pub display_name: Option<String>,
    /// `Some("")` removes the key.
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct ModelConfigInput {
    pub provider: Option<String>,
    /// On create: the provider row (else the one provider of type `provider` usable here).
    pub provider_id: Option<Uuid>,
    /// On create: the owning organization (`None` = site-wide).
    pub organization_id: Option<Uuid>,
    /// Site-wide configs only: `Some(None)` = every organization, `Some(Some(list))` = only
    /// those; `None` leaves it as it is (on create: every organization).
    pub organization_ids: Option<Option<Vec<Uuid>>>,
    pub model: Option<String>,
    pub display_name: Option<String>,
    pub enabled: Option<bool>,
    pub is_default: Option<bool>,
    pub context_limit: Option<i64>,
    pub input_price_micros_per_million: Option<i64>,
    pub output_price_micros_per_million: Option<i64>,
}

pub(crate) fn authorize_admin(subject: &Subject, action: Action) -> Result<()> {
    subject.authorize(action, &Object::new(ResourceType::ChatProvider)).map_err(StoreError::Forbidden)
}

fn provider_object(org: Option<Uuid>) -> Object {
    match org {
        Some(o) => Object::new(ResourceType::ChatProvider).in_org(o),
        None => Object::new(ResourceType::ChatProvider),
    }
}

/// Administration of the providers and model configs of `org` (`None` = site-wide). Someone
/// who may not read the organization learns nothing about it: not found.
pub(crate) fn authorize_in(subject: &Subject, action: Action, org: Option<Uuid>) -> Result<()> {
    match subject.authorize(action, &provider_object(org)) {
        Ok(()) => Ok(()),
        Err(_) if org.is_some_and(|o| !subject.can(Action::Read, &crate::orgs::org_object(o))) => Err(StoreError::NotFound),
        Err(e) => Err(StoreError::Forbidden(e)),
    }
}

/// The organization a new provider or model config is for exists (else: not found, as for
/// one the subject may not read).
async fn org_exists(pool: &sqlx::PgPool, org: Option<Uuid>) -> Result<()> {
    let Some(org) = org else { return Ok(()) };
    let found: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
        .bind(org)
        .fetch_one(pool)
        .await?;
    if found { Ok(()) } else { Err(StoreError::NotFound) }
}

/// An existing row of `org` the subject wants to change: unreadable rows are not found.
fn authorize_row(subject: &Subject, action: Action, org: Option<Uuid>) -> Result<()> {
    if !subject.can(Action::Read, &provider_object(org)) {
        return Err(StoreError::NotFound);
    }
    subject.authorize(action, &provider_object(org)).map_err(StoreError::Forbidden)
}

/// The organizations whose providers and model configs the subject may read (`None` = all,
/// for site administrators).
fn readable_orgs(subject: &Subject) -> Option<Vec<Uuid>> {
    if subject.can(Action::Read, &Object::new(ResourceType::ChatProvider)) {
        return None;
    }
    Some(subject.org_ids().filter(|o| subject.can(Action::Read, &provider_object(Some(*o)))).collect())
}

fn check_provider_name(p: &str) -> Result<()> {
    if PROVIDERS.contains(&p) {
        Ok(())
    } else {
        Err(ClientError::UnknownProvider.into())
    }
}

pub(crate) const MODEL_COLUMNS: &str = "id, provider, provider_id,
    (SELECT p.display_name FROM chat_providers p WHERE p.id = provider_id) AS provider_display_name,
    organization_id, organization_ids, model, display_name, enabled, is_default, context_limit,
    input_price_micros_per_million, output_price_micros_per_million, created_at, updated_at";

impl Actor<'_> {
    /// The providers the actor administers: all for site administrators, else those of the
    /// organizations where it holds `chat_provider` read (none at all: forbidden).
    pub async fn providers(&self) -> Result<Vec<Provider>> {
        let orgs = readable_orgs(self.subject);
        if orgs.as_ref().is_some_and(Vec::is_empty) {
            authorize_admin(self.subject, Action::Read)?;
        }
        Ok(sqlx::query_as(
            "SELECT * FROM chat_providers WHERE $1::uuid[] IS NULL OR organization_id = ANY($1)
             ORDER BY organization_id NULLS FIRST, provider, display_name",
        )
        .bind(orgs)
        .fetch_all(self.pool)
        .await?)
    }

    async fn provider_row(&self, id: Uuid) -> Result<Provider> {
        let row: Option<Provider> =
            sqlx::query_as("SELECT * FROM chat_providers WHERE id = $1").bind(id).fetch_optional(self.pool).await?;
        row.ok_or(StoreError::NotFound)
    }

    pub async fn create_provider(&self, input: &ProviderInput) -> Result<Provider> {
        authorize_in(self.subject, Action::Create, input.organization_id)?;
        org_exists(self.pool, input.organization_id).await?;
        let provider = input.provider.as_deref().unwrap_or_default();
        check_provider_name(provider)?;
        if provider == "openai-compat" && input.base_url.as_deref().unwrap_or("").is_empty() {
            return Err(ClientError::BaseUrlRequired.into());
        }
        let mut tx = self.pool.begin().await?;
        let row: Provider = sqlx::query_as(
            "INSERT INTO chat_providers (id, provider, display_name, api_key, base_url, enabled, organization_id)
             VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $7) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(provider)
        .bind(input.display_name.as_deref().map(str::trim).filter(|d| !d.is_empty()).unwrap_or(provider))
        .bind(input.api_key.as_deref())
        .bind(input.base_url.as_deref())
        .bind(input.enabled.unwrap_or(true))
        .bind(input.organization_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::from(ClientError::ProviderExists),
            None => e.into(),
        })?;
        self.audit_provider(&mut tx, "create", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn update_provider(&self, id: Uuid, input: &ProviderInput) -> Result<Provider> {
        let current = self.provider_row(id).await?;
        authorize_row(self.subject, Action::Update, current.organization_id)?;
        let mut tx = self.pool.begin().await?;
        let row: Option<Provider> = sqlx::query_as(
            "UPDATE chat_providers SET
                 display_name = COALESCE($2, display_name),
                 api_key = CASE WHEN $3::text IS NULL THEN api_key ELSE NULLIF($3, '') END,
                 base_url = CASE WHEN $4::text IS NULL THEN base_url ELSE NULLIF($4, '') END,
                 enabled = COALESCE($5, enabled),
                 updated_at = now()
             WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(input.display_name.as_deref())
        .bind(input.api_key.as_deref())
        .bind(input.base_url.as_deref())
        .bind(input.enabled)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::from(ClientError::ProviderExists),
            None => e.into(),
        })?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_provider(&mut tx, "write", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes a provider; its model configs are deleted with it (soft, as chats keep them).
    pub async fn delete_provider(&self, id: Uuid) -> Result<()> {
        let current = self.provider_row(id).await?;
        authorize_row(self.subject, Action::Delete, current.organization_id)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE chat_model_configs SET deleted = true, is_default = false, updated_at = now()
             WHERE provider_id = $1 AND NOT deleted",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row: Option<Provider> = sqlx::query_as("DELETE FROM chat_providers WHERE id = $1 RETURNING *")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_provider(&mut tx, "delete", &row).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_provider(&self, conn: &mut sqlx::PgConnection, action: &str, p: &Provider) -> Result<()> {
        audit::record(
            conn,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: p.organization_id,
                action,
                resource_type: "chat_provider",
                resource_id: p.id,
                resource_target: &p.display_name,
                // Never the key itself.
                diff: serde_json::json!({"provider": p.provider, "display_name": p.display_name,
                    "organization_id": p.organization_id, "has_api_key": p.api_key.is_some(),
                    "base_url": p.base_url, "enabled": p.enabled}),
                description: format!("{action} chat provider {} ({})", p.display_name, p.provider),
            },
        )
        .await
    }

    /// Model configs: every live one for site administrators; for everyone else the enabled
    /// site-wide ones plus every live one of the organizations whose models they administer.
    /// Only site administrators see which organizations a site-wide model is limited to.
    pub async fn model_configs(&self) -> Result<Vec<ModelConfig>> {
        let orgs = readable_orgs(self.subject);
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE NOT deleted
                 AND ($1::uuid[] IS NULL OR (organization_id IS NULL AND enabled) OR organization_id = ANY($1))
             ORDER BY is_default DESC, organization_id NULLS FIRST, provider, model"
        );
        let mut rows: Vec<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&orgs).fetch_all(self.pool).await?;
        if orgs.is_some() {
            for r in &mut rows {
                r.organization_ids = r.organization_ids.take().map(|l| l.into_iter().filter(|o| self.subject.is_member_of(*o)).collect());
            }
        }
        Ok(rows)
    }

    /// An enabled model config by id, for a chat to use.
    pub async fn usable_model_config(&self, id: Uuid) -> Result<Option<ModelConfig>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE id = $1 AND NOT deleted AND enabled");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?)
    }

    /// The site-wide default model config.
    pub async fn default_model_config(&self) -> Result<Option<ModelConfig>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE is_default AND NOT deleted AND enabled");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_optional(self.pool).await?)
    }

    pub async fn create_model_config(&self, input: &ModelConfigInput) -> Result<ModelConfig> {
        let org = input.organization_id;
        authorize_in(self.subject, Action::Create, org)?;
        org_exists(self.pool, org).await?;
        if org.is_some() && matches!(input.organization_ids, Some(Some(_))) {
            return Err(ClientError::OrganizationListOnOrgModel.into());
        }
        let model = input.model.as_deref().unwrap_or_default().trim();
        if model.is_empty() {
            return Err(ClientError::ModelRequired.into());
        }
        check_numbers(input)?;
        let display_name = input.display_name.as_deref().map(str::trim).filter(|d| !d.is_empty()).unwrap_or(model);
        let orgs = input.organization_ids.clone().flatten();
        if let Some(list) = &orgs {
            self.check_org_list(list).await?;
        }
        let mut tx = self.pool.begin().await?;
        // One creation at a time, so two identical requests cannot both pass the check below.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('chat_model_configs'))").execute(&mut *tx).await?;
        let (provider, provider_id) = self.model_provider(&mut tx, input, org).await?;
        let duplicate: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM chat_model_configs
                 WHERE provider = $1 AND provider_id IS NOT DISTINCT FROM $4 AND model = $2 AND display_name = $3
                     AND organization_id IS NOT DISTINCT FROM $5 AND NOT deleted)",
        )
        .bind(&provider)
        .bind(model)
        .bind(display_name)
        .bind(provider_id)
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        if duplicate {
            return Err(ClientError::ModelConfigExists.into());
        }
        // The first site-wide model config becomes the default, so a fresh deployment can chat
        // at once. An organization's own models are never the site default (the organization
        // chooses its default through its chat settings).
        let is_default = if org.is_some() {
            false
        } else {
            let any: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chat_model_configs WHERE is_default AND NOT deleted)")
                    .fetch_one(&mut *tx)
                    .await?;
            input.is_default.unwrap_or(!any)
        };
        if is_default {
            sqlx::query("UPDATE chat_model_configs SET is_default = false WHERE is_default").execute(&mut *tx).await?;
        }
        let sql = format!(
            "INSERT INTO chat_model_configs (id, provider, model, display_name, enabled, is_default, context_limit,
                 input_price_micros_per_million, output_price_micros_per_million, provider_id, organization_id,
                 organization_ids)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 128000), $8, $9, $10, $11, $12) RETURNING {MODEL_COLUMNS}"
        );
        let row: ModelConfig = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(&provider)
            .bind(model)
            .bind(display_name)
            .bind(input.enabled.unwrap_or(true))
            .bind(is_default)
            .bind(input.context_limit)
            .bind(input.input_price_micros_per_million)
            .bind(input.output_price_micros_per_million)
            .bind(provider_id)
            .bind(org)
            .bind(&orgs)
            .fetch_one(&mut *tx)
            .await?;
        self.audit_model(&mut tx, "create", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The provider a new model config of `org` runs on: the row `provider_id` names (of `org`
    /// or site-wide), else the one provider of type `provider` usable there (several:
    /// ambiguous; none: the type alone, resolved when a chat runs).
    async fn model_provider(
        &self,
        conn: &mut sqlx::PgConnection,
        input: &ModelConfigInput,
        org: Option<Uuid>,
    ) -> Result<(String, Option<Uuid>)> {
        if let Some(pid) = input.provider_id {
            let row: Option<Provider> = sqlx::query_as(
                "SELECT * FROM chat_providers WHERE id = $1 AND (organization_id IS NULL OR organization_id = $2)",
            )
            .bind(pid)
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
            let row = row.ok_or(ClientError::ProviderNotFound)?;
            if input.provider.as_deref().is_some_and(|p| !p.is_empty() && p != row.provider) {
                return Err(ClientError::ProviderNotFound.into());
            }
            return Ok((row.provider, Some(row.id)));
        }
        let provider = input.provider.as_deref().unwrap_or_default();
        check_provider_name(provider)?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM chat_providers WHERE provider = $1 AND (organization_id IS NULL OR organization_id = $2)
             ORDER BY created_at LIMIT 2",
        )
        .bind(provider)
        .bind(org)
        .fetch_all(&mut *conn)
        .await?;
        match ids.as_slice() {
            [] => Ok((provider.to_string(), None)),
            [one] => Ok((provider.to_string(), Some(*one))),
            _ => Err(ClientError::AmbiguousProvider.into()),
        }
    }

    /// Every id of an `organization_ids` list names an existing organization.
    async fn check_org_list(&self, list: &[Uuid]) -> Result<()> {
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations WHERE id = ANY($1)")
            .bind(list)
            .fetch_one(self.pool)
            .await?;
        let mut distinct = list.to_vec();
        distinct.sort();
        distinct.dedup();
        if found != distinct.len() as i64 {
            return Err(ClientError::InvalidOrganizationId.into());
        }
        Ok(())
    }

    async fn model_row(&self, id: Uuid) -> Result<ModelConfig> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE id = $1 AND NOT deleted");
        let row: Option<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.ok_or(StoreError::NotFound)
    }

    pub async fn update_model_config(&self, id: Uuid, input: &ModelConfigInput) -> Result<ModelConfig> {
        let current = self.model_row(id).await?;
        authorize_row(self.subject, Action::Update, current.organization_id)?;
        check_numbers(input)?;
        if current.organization_id.is_some() && matches!(input.organization_ids, Some(Some(_))) {
            return Err(ClientError::OrganizationListOnOrgModel.into());
        }
        if let Some(Some(list)) = &input.organization_ids {
            self.check_org_list(list).await?;
        }
        // An organization's model is never the site default.
        let is_default = if current.organization_id.is_some() { None } else { input.is_default };
        let mut tx = self.pool.begin().await?;
        if is_default == Some(true) {
            sqlx::query("UPDATE chat_model_configs SET is_default = false WHERE is_default AND id <> $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let sql = format!(
            "UPDATE chat_model_configs SET
                 model = COALESCE($2, model), display_name = COALESCE($3, display_name),
                 enabled = COALESCE($4, enabled), is_default = COALESCE($5, is_default),
                 context_limit = COALESCE($6, context_limit),
                 input_price_micros_per_million = COALESCE($7, input_price_micros_per_million),
                 output_price_micros_per_million = COALESCE($8, output_price_micros_per_million),
                 organization_ids = CASE WHEN $9 THEN $10 ELSE organization_ids END,
                 updated_at = now()
             WHERE id = $1 AND NOT deleted RETURNING {MODEL_COLUMNS}"
        );
        let row: Option<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(input.model.as_deref())
            .bind(input.display_name.as_deref())
            .bind(input.enabled)
            .bind(is_default)
            .bind(input.context_limit)
            .bind(input.input_price_micros_per_million)
            .bind(input.output_price_micros_per_million)
            .bind(input.organization_ids.is_some())
            .bind(input.organization_ids.clone().flatten())
            .fetch_optional(&mut *tx)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_model(&mut tx, "write", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Soft-deletes: chats keep referring to the config they used.
    pub async fn delete_model_config(&self, id: Uuid) -> Result<()> {
        let current = self.model_row(id).await?;
        authorize_row(self.subject, Action::Delete, current.organization_id)?;
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE chat_model_configs SET deleted = true, is_default = false, updated_at = now()
             WHERE id = $1 AND NOT deleted RETURNING {MODEL_COLUMNS}"
        );
        let row: Option<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_model(&mut tx, "delete", &row).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_model(&self, conn: &mut sqlx::PgConnection, action: &str, m: &ModelConfig) -> Result<()> {
        audit::record(
            conn,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: m.organization_id,
                action,
                resource_type: "chat_model_config",
                resource_id: m.id,
                resource_target: &m.model,
                diff: serde_json::json!({"provider": m.provider, "provider_id": m.provider_id, "model": m.model,
                    "enabled": m.enabled, "is_default": m.is_default, "organization_id": m.organization_id,
                    "organization_ids": m.organization_ids}),
                description: format!("{action} model config {}", m.model),
            },
        )
        .await
    }
}

fn check_numbers(input: &ModelConfigInput) -> Result<()> {
    if input.context_limit.is_some_and(|c| c <= 0) {
        return Err(ClientError::ContextLimitNotPositive.into());
    }
    for (field, v) in [
        ("input_price_per_million", input.input_price_micros_per_million),
        ("output_price_per_million", input.output_price_micros_per_million),
    ] {
        if v.is_some_and(|p| p < 0) {
            return Err(ClientError::NegativePrice { field }.into());
        }
    }
    Ok(())
}

impl WorkerTasks<'_> {
    /// Provider credentials for the chat daemon (keys included): the model's provider row when
    /// enabled, or for a model without one the oldest enabled site-wide provider of its type.
    pub async fn provider_credentials(&self, model: &ModelConfig) -> Result<Option<Provider>> {
        Ok(sqlx::query_as(
            "SELECT * FROM chat_providers WHERE enabled AND
                 CASE WHEN $1::uuid IS NULL THEN provider = $2 AND organization_id IS NULL ELSE id = $1 END
             ORDER BY created_at LIMIT 1",
        )
        .bind(model.provider_id)
        .bind(&model.provider)
        .fetch_optional(self.pool)
        .await?)
    }
}

impl crate::System<'_> {
    /// Providers that are configured and enabled (for the model catalog's availability).
    pub async fn enabled_providers(&self) -> Result<Vec<Provider>> {
        Ok(sqlx::query_as("SELECT * FROM chat_providers WHERE enabled ORDER BY provider").fetch_all(self.pool).await?)
    }
}
