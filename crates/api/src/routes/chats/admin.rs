//! The model catalog, provider and model-config administration, and usage limits.

use agentry_sdk as sdk;
use agentry_store::chats::models::{ModelConfigInput, ProviderInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::auth::Auth;
use agentry_types::Problem;
use crate::validate;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery};
use crate::{AppState, convert};

fn id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ClientError::InvalidId.into())
}

/// Dollars per million tokens → micro-dollars per million tokens.
fn micros(dollars: Option<f64>, field: &str) -> ApiResult<Option<i64>> {
    match dollars {
        None => Ok(None),
        Some(d) if d.is_finite() && (0.0..1e6).contains(&d) => Ok(Some((d * 1e6).round() as i64)),
        Some(_) => Err(ApiError::validation(vec![validate::entry(field, Problem::InvalidPriceInput)])),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModelsParams {
    /// Only the models usable in this organization (for people who may create chats there;
    /// others get 404, or 403 when they may read the organization). Absent: the site-wide models.
    pub organization_id: Option<String>,
}

#[utoipa::path(get, path = "/api/experimental/chats/models", tag = "chats", params(ModelsParams),
    responses((status = 200, body = sdk::ChatModelsResponse), (status = 400, body = sdk::Response),
        (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn models(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<ModelsParams>,
) -> ApiResult<Json<sdk::ChatModelsResponse>> {
    let actor = s.store.actor(&auth.subject);
    let configs = match p.organization_id.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => {
            let org = Uuid::parse_str(o).map_err(|_| ApiError::from(ClientError::InvalidOrganizationId))?;
            actor.models_for_org(org).await?
        }
        None => actor.model_configs().await?.into_iter().filter(|c| c.enabled && c.organization_id.is_none()).collect(),
    };
    let providers = s.store.system().enabled_providers().await?;
    let mut out: Vec<sdk::ChatModelProvider> = Vec::new();
    for c in configs {
        // One group per provider row (several providers of one type may exist).
        let configured = match c.provider_id {
            Some(id) => providers.iter().find(|p| p.id == id),
            None => providers.iter().find(|p| p.provider == c.provider && p.organization_id.is_none()),
        };
        let key = configured.map(|p| p.id).or(c.provider_id);
        let entry = match out.iter_mut().position(|g| g.provider == c.provider && g.provider_id == key) {
            Some(i) => &mut out[i],
            None => {
                // openai-compat servers may not need a key; the others do.
                let available = configured.is_some_and(|p| p.api_key.is_some() || p.provider == "openai-compat");
                out.push(sdk::ChatModelProvider {
                    provider: c.provider.clone(),
                    provider_id: key,
                    display_name: configured.map(|p| p.display_name.clone()).or(c.provider_display_name.clone()),
                    available,
                    unavailable_reason: (!available).then(|| "missing_api_key".to_string()),
                    models: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        entry.models.push(sdk::ChatModel {
            id: c.id,
            provider: c.provider,
            model: c.model,
            display_name: c.display_name,
            is_default: c.is_default,
            provider_id: c.provider_id,
            provider_display_name: c.provider_display_name,
        });
    }
    Ok(Json(sdk::ChatModelsResponse { providers: out }))
}

#[utoipa::path(get, path = "/api/experimental/chats/providers", tag = "chat administration",
    responses((status = 200, body = Vec<sdk::ChatProviderConfig>), (status = 403, body = sdk::Response)))]
pub async fn list_providers(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<sdk::ChatProviderConfig>>> {
    let rows = s.store.actor(&auth.subject).providers().await?;
    Ok(Json(rows.into_iter().map(convert::provider).collect()))
}

#[utoipa::path(post, path = "/api/experimental/chats/providers", tag = "chat administration", request_body = sdk::CreateChatProviderRequest,
    responses((status = 201, body = sdk::ChatProviderConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, description = "The organization does not exist or the caller may not read it.", body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create_provider(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateChatProviderRequest>,
) -> ApiResult<(StatusCode, Json<sdk::ChatProviderConfig>)> {
    let input = ProviderInput {
        provider: Some(req.provider),
        organization_id: req.organization_id,
        display_name: req.display_name,
        api_key: req.api_key,
        base_url: req.base_url,
        enabled: req.enabled,
    };
    let row = s.store.actor(&auth.subject).create_provider(&input).await?;
    Ok((StatusCode::CREATED, Json(convert::provider(row))))
}

#[utoipa::path(patch, path = "/api/experimental/chats/providers/{provider}", tag = "chat administration", params(("provider" = Uuid, Path)),
    request_body = sdk::UpdateChatProviderRequest, responses((status = 200, body = sdk::ChatProviderConfig), (status = 404, body = sdk::Response),
        (status = 409, description = "Another provider of this type in the same scope has this display name.", body = sdk::Response)))]
pub async fn update_provider(
    State(s): State<AppState>,
    auth: Auth,
    Path(pid): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateChatProviderRequest>,
) -> ApiResult<Json<sdk::ChatProviderConfig>> {
    let input = ProviderInput {
        provider: None,
        organization_id: None,
        display_name: req.display_name,
        api_key: req.api_key,
        base_url: req.base_url,
        enabled: req.enabled,
    };
    Ok(Json(convert::provider(s.store.actor(&auth.subject).update_provider(id(&pid)?, &input).await?)))
}

#[utoipa::path(delete, path = "/api/experimental/chats/providers/{provider}", tag = "chat administration", params(("provider" = Uuid, Path)),
    responses((status = 204), (status = 404, body = sdk::Response)))]
pub async fn delete_provider(State(s): State<AppState>, auth: Auth, Path(pid): Path<String>) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).delete_provider(id(&pid)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/experimental/chats/model-configs", tag = "chat administration", responses((status = 200, body = Vec<sdk::ChatModelConfig>)))]
pub async fn list_model_configs(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<sdk::ChatModelConfig>>> {
    let rows = s.store.actor(&auth.subject).model_configs().await?;
    Ok(Json(rows.into_iter().map(convert::model_config).collect()))
}

#[utoipa::path(post, path = "/api/experimental/chats/model-configs", tag = "chat administration", request_body = sdk::CreateChatModelConfigRequest,
    responses((status = 201, body = sdk::ChatModelConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response),
        (status = 404, description = "The organization does not exist or the caller may not read it.", body = sdk::Response),
        (status = 409, description = "The same provider, model identifier and display name exist already.", body = sdk::Response)))]
pub async fn create_model_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateChatModelConfigRequest>,
) -> ApiResult<(StatusCode, Json<sdk::ChatModelConfig>)> {
    let input = ModelConfigInput {
        provider: Some(req.provider),
        provider_id: req.provider_id,
        organization_id: req.organization_id,
        organization_ids: Some(req.organization_ids),
        model: Some(req.model),
        display_name: req.display_name,
        enabled: req.enabled,
        is_default: req.is_default,
        context_limit: req.context_limit,
        input_price_micros_per_million: micros(req.input_price_per_million, "input_price_per_million")?,
        output_price_micros_per_million: micros(req.output_price_per_million, "output_price_per_million")?,
    };
    let row = s.store.actor(&auth.subject).create_model_config(&input).await?;
    Ok((StatusCode::CREATED, Json(convert::model_config(row))))
}

#[utoipa::path(patch, path = "/api/experimental/chats/model-configs/{config}", tag = "chat administration", params(("config" = Uuid, Path)),
    request_body = sdk::UpdateChatModelConfigRequest, responses((status = 200, body = sdk::ChatModelConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn update_model_config(
    State(s): State<AppState>,
    auth: Auth,
    Path(cid): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateChatModelConfigRequest>,
) -> ApiResult<Json<sdk::ChatModelConfig>> {
    let input = ModelConfigInput {
        provider: None,
        provider_id: None,
        organization_id: None,
        organization_ids: req.organization_ids,
        model: req.model,
        display_name: req.display_name,
        enabled: req.enabled,
        is_default: req.is_default,
        context_limit: req.context_limit,
        input_price_micros_per_million: micros(req.input_price_per_million, "input_price_per_million")?,
        output_price_micros_per_million: micros(req.output_price_per_million, "output_price_per_million")?,
    };
    Ok(Json(convert::model_config(s.store.actor(&auth.subject).update_model_config(id(&cid)?, &input).await?)))
}

#[utoipa::path(delete, path = "/api/experimental/chats/model-configs/{config}", tag = "chat administration", params(("config" = Uuid, Path)),
    responses((status = 204), (status = 404, body = sdk::Response)))]
pub async fn delete_model_config(State(s): State<AppState>, auth: Auth, Path(cid): Path<String>) -> ApiResult<StatusCode> {
    s.store.actor(&auth.subject).delete_model_config(id(&cid)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/experimental/chats/usage-limits", tag = "chat administration",
    responses((status = 200, body = sdk::UsageLimitConfig), (status = 403, body = sdk::Response)))]
pub async fn usage_limits(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<sdk::UsageLimitConfig>> {
    let c = s.store.actor(&auth.subject).usage_limit_config().await?;
    Ok(Json(sdk::UsageLimitConfig { enabled: c.enabled, limit_micros: c.default_limit_micros, period: c.period }))
}

#[utoipa::path(put, path = "/api/experimental/chats/usage-limits", tag = "chat administration", request_body = sdk::UsageLimitConfig,
    responses((status = 200, body = sdk::UsageLimitConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response)))]
pub async fn set_usage_limits(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::UsageLimitConfig>,
) -> ApiResult<Json<sdk::UsageLimitConfig>> {
    let c = s.store.actor(&auth.subject).set_usage_limit_config(req.enabled, req.limit_micros, &req.period).await?;
    Ok(Json(sdk::UsageLimitConfig { enabled: c.enabled, limit_micros: c.default_limit_micros, period: c.period }))
}

#[utoipa::path(get, path = "/api/experimental/chats/usage-limits/status", tag = "chats", responses((status = 200, body = sdk::UsageLimitStatus)))]
pub async fn usage_status(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<sdk::UsageLimitStatus>> {
    let st = s.store.actor(&auth.subject).my_usage().await?;
    Ok(Json(sdk::UsageLimitStatus {
        enabled: st.enabled,
        period: st.period,
        spent_micros: st.spent_micros,
        limit_micros: st.limit_micros,
        period_start: st.period_start,
        period_end: st.period_end,
    }))
}

#[utoipa::path(get, path = "/api/experimental/chats/model-access", tag = "chat administration",
    responses((status = 200, body = sdk::ChatModelAccessConfig), (status = 403, body = sdk::Response)))]
pub async fn model_access(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<sdk::ChatModelAccessConfig>> {
    let v = s.store.actor(&auth.subject).chat_new_org_models().await?;
    Ok(Json(sdk::ChatModelAccessConfig { new_organizations: v }))
}

#[utoipa::path(put, path = "/api/experimental/chats/model-access", tag = "chat administration", request_body = sdk::ChatModelAccessConfig,
    responses((status = 200, body = sdk::ChatModelAccessConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response)))]
pub async fn set_model_access(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::ChatModelAccessConfig>,
) -> ApiResult<Json<sdk::ChatModelAccessConfig>> {
    let v = s.store.actor(&auth.subject).set_chat_new_org_models(&req.new_organizations).await?;
    Ok(Json(sdk::ChatModelAccessConfig { new_organizations: v }))
}

#[utoipa::path(get, path = "/api/v2/organizations/{org}/chat-default-model", tag = "organizations", params(("org" = String, Path)),
    responses((status = 200, body = sdk::OrgChatDefaultModel), (status = 404, body = sdk::Response)))]
pub async fn org_default_model(State(s): State<AppState>, auth: Auth, Path(org): Path<String>) -> ApiResult<Json<sdk::OrgChatDefaultModel>> {
    let d = s.store.actor(&auth.subject).org_chat_default(&org).await?;
    Ok(Json(sdk::OrgChatDefaultModel { model_config_id: d.model_config_id }))
}

#[utoipa::path(put, path = "/api/v2/organizations/{org}/chat-default-model", tag = "organizations", params(("org" = String, Path)),
    request_body = sdk::OrgChatDefaultModel,
    responses((status = 200, body = sdk::OrgChatDefaultModel), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn set_org_default_model(
    State(s): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    ApiJson(req): ApiJson<sdk::OrgChatDefaultModel>,
) -> ApiResult<Json<sdk::OrgChatDefaultModel>> {
    let d = s.store.actor(&auth.subject).set_org_chat_default(&org, req.model_config_id).await?;
    Ok(Json(sdk::OrgChatDefaultModel { model_config_id: d.model_config_id }))
}
