//! Helpers shared by the integration tests: a client, configs pointing at a fake, and a collector.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::time::Duration;

use agentry_fakellm::FakeLlm;
use agentry_llm::{
    ChatRequest, Client, LlmError, ProviderConfig, ProviderKind, RetryPolicy, StreamEvent,
};
use futures::StreamExt;

pub const PROTOCOLS: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];

pub fn config(fake: &FakeLlm, kind: ProviderKind) -> ProviderConfig {
    let base = match kind {
        ProviderKind::Anthropic => fake.anthropic_base_url(),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompat => fake.openai_base_url(),
    };
    ProviderConfig::new(kind)
        .with_api_key("test-key")
        .with_base_url(base)
}

/// Millisecond backoff so retry tests stay fast.
pub fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(20),
        max_attempts,
    }
}

pub fn request(prompt: &str) -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![agentry_llm::Message::user_text(prompt)],
        ..ChatRequest::default()
    }
}

/// Runs a call to the end: the events, and the error that ended it if any.
pub async fn collect(
    fake: &FakeLlm,
    kind: ProviderKind,
    req: &ChatRequest,
    retry: &RetryPolicy,
) -> (Vec<StreamEvent>, Option<LlmError>) {
    let client = Client::new().expect("client");
    let mut stream = client.stream(&config(fake, kind), req, retry);
    let mut events = Vec::new();
    let deadline = Duration::from_secs(60);
    loop {
        match tokio::time::timeout(deadline, stream.next())
            .await
            .expect("stream stalled")
        {
            Some(Ok(event)) => events.push(event),
            Some(Err(err)) => {
                assert!(stream.next().await.is_none(), "an error ends the stream");
                return (events, Some(err));
            }
            None => return (events, None),
        }
    }
}

pub fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub fn reasoning_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ReasoningDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
