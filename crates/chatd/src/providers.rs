//! Which provider a chat's model runs on, with which credentials.

use agentry_llm::{ProviderConfig, ProviderKind};
use agentry_store::Store;
use agentry_store::chats::models::ModelConfig;

/// Why a model cannot be called.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the {0} provider is not configured or is disabled")]
    NotConfigured(String),
    #[error("the {0} provider has no API key")]
    MissingKey(String),
    #[error(transparent)]
    Store(#[from] agentry_store::StoreError),
    #[error("{0}")]
    Llm(#[from] agentry_llm::LlmError),
}

/// The provider configuration for a model config: its enabled provider row (for configs
/// without one, the oldest enabled site-wide provider of its kind).
pub async fn resolve(store: &Store, model: &ModelConfig) -> Result<ProviderConfig, ProviderError> {
    let row = store
        .worker()
        .provider_credentials(model)
        .await?
        .ok_or_else(|| ProviderError::NotConfigured(model.provider.clone()))?;
    let kind = match row.provider.as_str() {
        "openai" => ProviderKind::OpenAi,
        "anthropic" => ProviderKind::Anthropic,
        _ => ProviderKind::OpenAiCompat,
    };
    if row.api_key.is_none() && kind != ProviderKind::OpenAiCompat {
        return Err(ProviderError::MissingKey(row.provider));
    }
    Ok(ProviderConfig { kind, api_key: row.api_key, base_url: row.base_url })
}
