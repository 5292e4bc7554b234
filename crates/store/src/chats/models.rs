//! LLM providers (deployment-wide credentials) and the model configs users pick from.
//! Administration needs `chat_provider` permissions (site owners); any signed-in user may list
//! the enabled model configs. Keys are stored for the chat daemon and never returned.

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
    pub display_name: Option<String>,
    /// `Some("")` removes the key.
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct ModelConfigInput {
    pub provider: Option<String>,
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

fn check_provider_name(p: &str) -> Result<()> {
    if PROVIDERS.contains(&p) {
        Ok(())
    } else {
        Err(ClientError::UnknownProvider.into())
    }
}

const MODEL_COLUMNS: &str = "id, provider, model, display_name, enabled, is_default, context_limit,
    input_price_micros_per_million, output_price_micros_per_million, created_at, updated_at";

impl Actor<'_> {
    pub async fn providers(&self) -> Result<Vec<Provider>> {
        authorize_admin(self.subject, Action::Read)?;
        Ok(sqlx::query_as("SELECT * FROM chat_providers ORDER BY provider").fetch_all(self.pool).await?)
    }

    pub async fn create_provider(&self, input: &ProviderInput) -> Result<Provider> {
        authorize_admin(self.subject, Action::Create)?;
        let provider = input.provider.as_deref().unwrap_or_default();
        check_provider_name(provider)?;
        if provider == "openai-compat" && input.base_url.as_deref().unwrap_or("").is_empty() {
            return Err(ClientError::BaseUrlRequired.into());
        }
        let mut tx = self.pool.begin().await?;
        let row: Provider = sqlx::query_as(
            "INSERT INTO chat_providers (id, provider, display_name, api_key, base_url, enabled)
             VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6) RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(provider)
        .bind(input.display_name.as_deref().unwrap_or(provider))
        .bind(input.api_key.as_deref())
        .bind(input.base_url.as_deref())
        .bind(input.enabled.unwrap_or(true))
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
        authorize_admin(self.subject, Action::Update)?;
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
        .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_provider(&mut tx, "write", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete_provider(&self, id: Uuid) -> Result<()> {
        authorize_admin(self.subject, Action::Delete)?;
        let mut tx = self.pool.begin().await?;
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
                organization_id: None,
                action,
                resource_type: "chat_provider",
                resource_id: p.id,
                resource_target: &p.provider,
                // Never the key itself.
                diff: serde_json::json!({"has_api_key": p.api_key.is_some(), "base_url": p.base_url, "enabled": p.enabled}),
                description: format!("{action} chat provider {}", p.provider),
            },
        )
        .await
    }

    /// Model configs: every live one for administrators, the enabled ones for everyone else.
    pub async fn model_configs(&self) -> Result<Vec<ModelConfig>> {
        let admin = authorize_admin(self.subject, Action::Read).is_ok();
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE NOT deleted AND ($1 OR enabled)
             ORDER BY is_default DESC, provider, model"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(admin).fetch_all(self.pool).await?)
    }

    /// An enabled model config by id, for a chat to use.
    pub async fn usable_model_config(&self, id: Uuid) -> Result<Option<ModelConfig>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE id = $1 AND NOT deleted AND enabled");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?)
    }

    pub async fn default_model_config(&self) -> Result<Option<ModelConfig>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM chat_model_configs WHERE is_default AND NOT deleted AND enabled");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_optional(self.pool).await?)
    }

    pub async fn create_model_config(&self, input: &ModelConfigInput) -> Result<ModelConfig> {
        authorize_admin(self.subject, Action::Create)?;
        let provider = input.provider.as_deref().unwrap_or_default();
        check_provider_name(provider)?;
        let model = input.model.as_deref().unwrap_or_default().trim();
        if model.is_empty() {
            return Err(ClientError::ModelRequired.into());
        }
        check_numbers(input)?;
        let display_name = input.display_name.as_deref().unwrap_or(model);
        let mut tx = self.pool.begin().await?;
        // One creation at a time, so two identical requests cannot both pass the check below.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('chat_model_configs'))").execute(&mut *tx).await?;
        let duplicate: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM chat_model_configs
                 WHERE provider = $1 AND model = $2 AND display_name = $3 AND NOT deleted)",
        )
        .bind(provider)
        .bind(model)
        .bind(display_name)
        .fetch_one(&mut *tx)
        .await?;
        if duplicate {
            return Err(ClientError::ModelConfigExists.into());
        }
        // The first model config becomes the default, so a fresh deployment can chat at once.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chat_model_configs WHERE is_default AND NOT deleted)")
            .fetch_one(&mut *tx)
            .await?;
        let is_default = input.is_default.unwrap_or(!any);
        if is_default {
            sqlx::query("UPDATE chat_model_configs SET is_default = false WHERE is_default").execute(&mut *tx).await?;
        }
        let sql = format!(
            "INSERT INTO chat_model_configs (id, provider, model, display_name, enabled, is_default, context_limit,
                 input_price_micros_per_million, output_price_micros_per_million)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 128000), $8, $9) RETURNING {MODEL_COLUMNS}"
        );
        let row: ModelConfig = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(provider)
            .bind(model)
            .bind(display_name)
            .bind(input.enabled.unwrap_or(true))
            .bind(is_default)
            .bind(input.context_limit)
            .bind(input.input_price_micros_per_million)
            .bind(input.output_price_micros_per_million)
            .fetch_one(&mut *tx)
            .await?;
        self.audit_model(&mut tx, "create", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn update_model_config(&self, id: Uuid, input: &ModelConfigInput) -> Result<ModelConfig> {
        authorize_admin(self.subject, Action::Update)?;
        check_numbers(input)?;
        let mut tx = self.pool.begin().await?;
        if input.is_default == Some(true) {
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
                 updated_at = now()
             WHERE id = $1 AND NOT deleted RETURNING {MODEL_COLUMNS}"
        );
        let row: Option<ModelConfig> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(input.model.as_deref())
            .bind(input.display_name.as_deref())
            .bind(input.enabled)
            .bind(input.is_default)
            .bind(input.context_limit)
            .bind(input.input_price_micros_per_million)
            .bind(input.output_price_micros_per_million)
            .fetch_optional(&mut *tx)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        self.audit_model(&mut tx, "write", &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Soft-deletes: chats keep referring to the config they used.
    pub async fn delete_model_config(&self, id: Uuid) -> Result<()> {
        authorize_admin(self.subject, Action::Delete)?;
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
                organization_id: None,
                action,
                resource_type: "chat_model_config",
                resource_id: m.id,
                resource_target: &m.model,
                diff: serde_json::json!({"provider": m.provider, "model": m.model, "enabled": m.enabled, "is_default": m.is_default}),
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
    /// Provider credentials for the chat daemon (keys included).
    pub async fn provider_credentials(&self, provider: &str) -> Result<Option<Provider>> {
        Ok(sqlx::query_as("SELECT * FROM chat_providers WHERE provider = $1 AND enabled")
            .bind(provider)
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
