//! Chat titles written by the chat's model from the first user message.

use agentry_llm::{ChatRequest, Client, LlmError, Message, RetryPolicy, StreamEvent};
use agentry_rbac::Subject;
use agentry_store::chats::Chat;
use agentry_store::chats::models::ModelConfig;
use agentry_store::{ClientError, Store, StoreError};
use futures::StreamExt;
use uuid::Uuid;

use crate::providers::{self, ProviderError};

const INSTRUCTIONS: &str = "You name conversations. Reply with a short, specific title for the \
conversation that starts with the user's message below: at most 8 words, plain text, no quotes, \
no trailing punctuation. Reply with the title only.";

/// Asks the model for a title for a chat that starts with `first_message`.
pub async fn generate(
    store: &Store,
    client: &Client,
    model: &ModelConfig,
    chat: &Chat,
    first_message: &str,
) -> Result<String, ProviderError> {
    let provider = providers::resolve(store, model).await?;
    let req = ChatRequest {
        model: model.model.clone(),
        system: Some(INSTRUCTIONS.to_string()),
        messages: vec![Message::user_text(first_message.chars().take(4000).collect::<String>())],
        tools: Vec::new(),
        max_tokens: Some(64),
        temperature: Some(0.2),
    };
    // Titles are best effort: a few quick retries, not the agent loop's patient schedule.
    let retry = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let mut stream = client.stream(&provider, &req, &retry);
    let mut text = String::new();
    let mut usage = None;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::Usage(u) => usage = Some(u),
            _ => {}
        }
    }
    // A title is a model call: its spend counts against the chat's budgets like a step.
    if let Some(u) = usage {
        let stored = agentry_store::chats::messages::Usage {
            input_tokens: Some(u.input_tokens as i64),
            output_tokens: Some(u.output_tokens as i64),
            cache_read_tokens: u.cache_read_tokens.map(|t| t as i64),
            cache_creation_tokens: u.cache_creation_tokens.map(|t| t as i64),
            total_cost_micros: crate::cost::micros(model, &u),
            ..Default::default()
        };
        if let Err(e) = store.worker().record_usage(chat, model.id, &stored).await {
            tracing::warn!(chat = %chat.id, error = %e, "recording a title's usage failed");
        }
    }
    Ok(clean(&text))
}

/// Why a manual title regeneration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegenerateError {
    /// Refused or failed in the store; a failed model call is
    /// `ClientError::TitleGenerationFailed`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No LLM client could be built (TLS set-up).
    #[error("LLM client: {0}")]
    Setup(#[from] LlmError),
}

/// One LLM client per process for manual regenerations (connection pools are shared).
fn client() -> Result<&'static Client, LlmError> {
    static CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = Client::new()?;
    Ok(CLIENT.get_or_init(|| c))
}

/// A title regeneration a user asked for (`POST /chats/{chat}/title/regenerate`). Asking the
/// model for a title is a model run: the same rule as sending a message (the AI-work rule and
/// the owner's usage limit). The model is the chat's last one, else the default; one
/// regeneration at a time per chat (a second, or a rename, meanwhile is a conflict).
pub async fn regenerate(store: &Store, subject: &Subject, chat_id: Uuid) -> Result<Chat, RegenerateError> {
    let actor = store.actor(subject);
    let chat = actor.chat(chat_id).await?;
    actor.may_start_ai_work(&chat)?;
    store.worker().check_budgets(&chat).await?;
    let model = match actor.usable_model_config(chat.last_model_config_id).await? {
        Some(m) => m,
        None => actor.default_model_config().await?.ok_or(StoreError::Client(ClientError::NoDefaultModel))?,
    };
    // Never a model the chat's organization may not use: refused, not replaced by another.
    if !actor.model_usable_in_org(model.id, chat.organization_id).await? {
        return Err(StoreError::Client(ClientError::ModelNotInOrganization).into());
    }
    let first = actor.first_user_text(&chat).await?.unwrap_or_default();
    let client = client()?;
    actor.begin_title_regeneration(&chat).await?;
    let generated = generate(store, client, &model, &chat, &first).await;
    let title = match &generated {
        Ok(t) => Some(t.as_str()),
        Err(e) => {
            tracing::warn!(chat = %chat.id, error = %e, "title generation failed");
            None
        }
    };
    let chat = actor.finish_title_regeneration(&chat, title).await?;
    match generated {
        Ok(_) => Ok(chat),
        Err(e) => Err(StoreError::Client(ClientError::TitleGenerationFailed { reason: e.to_string() }).into()),
    }
}

/// One line, no wrapping quotes or trailing period, at most 80 characters.
pub fn clean(raw: &str) -> String {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let line = line.trim_matches(|c| matches!(c, '"' | '\'' | '`' | '*')).trim_end_matches('.').trim();
    let title: String = line.chars().take(80).collect();
    if title.is_empty() { "New Chat".to_string() } else { title }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cleans_titles() {
        assert_eq!(super::clean("\"Fix the flaky build.\"\nextra"), "Fix the flaky build");
        assert_eq!(super::clean("   "), "New Chat");
    }
}
