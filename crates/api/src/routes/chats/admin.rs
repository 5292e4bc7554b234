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
use crate::json::ApiJson;
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

#[utoipa::path(get, path = "/api/experimental/chats/models", tag = "chats", responses((status = 200, body = sdk::ChatModelsResponse)))]
pub async fn models(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<sdk::ChatModelsResponse>> {
    let configs = s.store.actor(&auth.subject).model_configs().await?;
    let providers = s.store.system().enabled_providers().await?;
    let mut out: Vec<sdk::ChatModelProvider> = Vec::new();
    for c in configs.into_iter().filter(|c| c.enabled) {
        let entry = match out.iter_mut().position(|p| p.provider == c.provider) {
            Some(i) => &mut out[i],
            None => {
                let configured = providers.iter().find(|p| p.provider == c.provider);
                // openai-compat servers may not need a key; the others do.
                let available = configured.is_some_and(|p| p.api_key.is_some() || p.provider == "openai-compat");
                out.push(sdk::ChatModelProvider {
                    provider: c.provider.clone(),
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
    responses((status = 201, body = sdk::ChatProviderConfig), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create_provider(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateChatProviderRequest>,
) -> ApiResult<(StatusCode, Json<sdk::ChatProviderConfig>)> {
    let input = ProviderInput {
        provider: Some(req.provider),
        display_name: req.display_name,
        api_key: req.api_key,
        base_url: req.base_url,
        enabled: req.enabled,
    };
    let row = s.store.actor(&auth.subject).create_provider(&input).await?;
    Ok((StatusCode::CREATED, Json(convert::provider(row))))
}

#[utoipa::path(patch, path = "/api/experimental/chats/providers/{provider}", tag = "chat administration", params(("provider" = Uuid, Path)),
    request_body = sdk::UpdateChatProviderRequest, responses((status = 200, body = sdk::ChatProviderConfig)))]
pub async fn update_provider(
    State(s): State<AppState>,
    auth: Auth,
    Path(pid): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateChatProviderRequest>,
) -> ApiResult<Json<sdk::ChatProviderConfig>> {
    let input = ProviderInput {
        provider: None,
        display_name: req.display_name,
        api_key: req.api_key,
        base_url: req.base_url,
        enabled: req.enabled,
    };
    Ok(Json(convert::provider(s.store.actor(&auth.subject).update_provider(id(&pid)?, &input).await?)))
}

#[utoipa::path(delete, path = "/api/experimental/chats/providers/{provider}", tag = "chat administration", params(("provider" = Uuid, Path)),
    responses((status = 204)))]
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
        (status = 409, description = "The same provider, model identifier and display name exist already.", body = sdk::Response)))]
pub async fn create_model_config(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateChatModelConfigRequest>,
) -> ApiResult<(StatusCode, Json<sdk::ChatModelConfig>)> {
    let input = ModelConfigInput {
        provider: Some(req.provider),
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
    request_body = sdk::UpdateChatModelConfigRequest, responses((status = 200, body = sdk::ChatModelConfig)))]
pub async fn update_model_config(
    State(s): State<AppState>,
    auth: Auth,
    Path(cid): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateChatModelConfigRequest>,
) -> ApiResult<Json<sdk::ChatModelConfig>> {
    let input = ModelConfigInput {
        provider: None,
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
    responses((status = 204)))]
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
