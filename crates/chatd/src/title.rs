//! Chat titles written by the chat's model from the first user message.

use agentry_llm::{ChatRequest, Client, Message, RetryPolicy, StreamEvent};
use agentry_store::Store;
use agentry_store::chats::models::ModelConfig;
use futures::StreamExt;

use crate::providers::{self, ProviderError};

const INSTRUCTIONS: &str = "You name conversations. Reply with a short, specific title for the \
conversation that starts with the user's message below: at most 8 words, plain text, no quotes, \
no trailing punctuation. Reply with the title only.";

/// Asks the model for a title for a chat that starts with `first_message`.
pub async fn generate(
    store: &Store,
    client: &Client,
    model: &ModelConfig,
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
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(t) = event? {
            text.push_str(&t);
        }
    }
    Ok(clean(&text))
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
