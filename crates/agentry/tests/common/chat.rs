//! Chat helpers shared by the chat-daemon and access tests: the fake provider as the default
//! model, creating a chat, and waiting for its status.

use std::time::Duration;

use agentry_client::Client;
use agentry_client::agentry_sdk as sdk;
use agentry_fakellm::FakeLlm;
use serde_json::{Value, json};
use uuid::Uuid;

/// How long a test waits for a chat to reach a state before it fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Makes `fake` (OpenAI-compatible) the deployment's provider and `fake-model` its default model.
pub async fn setup_provider(owner: &Client, fake: &FakeLlm) {
    owner
        .create_chat_provider(&sdk::CreateChatProviderRequest {
            provider: "openai-compat".into(),
            base_url: Some(fake.openai_base_url()),
            ..Default::default()
        })
        .await
        .unwrap();
    owner
        .create_chat_model_config(&sdk::CreateChatModelConfigRequest {
            provider: "openai-compat".into(),
            model: "fake-model".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A message's content: one text part.
pub fn text(t: &str) -> Value {
    json!([{"type": "text", "text": t}])
}

pub async fn create_chat(c: &Client, org: Uuid, prompt: &str) -> sdk::Chat {
    c.create_chat(&sdk::CreateChatRequest { organization_id: Some(org), content: Some(text(prompt)), ..Default::default() })
        .await
        .unwrap()
}

/// Polls (as `c`) until the chat's status satisfies `done`.
pub async fn wait_status(c: &Client, id: Uuid, done: impl Fn(sdk::ChatStatus) -> bool) -> sdk::Chat {
    let what = format!("chat {id} to reach the expected status");
    super::eventually(&what, || async {
        let chat = c.chat(id).await.unwrap();
        done(chat.status).then_some(chat)
    })
    .await
}

/// Reads `tokens` timestamped tokens (the fake's `embed_timestamp`) from a chat stream and
/// returns each one's provider → client latency in microseconds (fewer if the stream ends).
/// For the latency benchmarks.
#[allow(dead_code)]
pub async fn token_latencies(
    mut s: agentry_client::EventStream<agentry_client::agentry_sdk::ChatStreamEvent>,
    tokens: usize,
) -> Vec<i64> {
    use agentry_client::agentry_sdk as sdk;
    let mut lat = Vec::with_capacity(tokens);
    while lat.len() < tokens {
        let Some(Ok(batch)) = s.next_batch().await else { break };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        for e in batch.iter().filter(|e| e.kind() == "message_part") {
            let t = match &e.message_part().unwrap().part {
                sdk::Part::Text { text } => text.as_str(),
                _ => "",
            };
            lat.extend(t.split('⟨').skip(1).filter_map(|x| x.split('⟩').next()?.parse::<i64>().ok()).map(|ts| now - ts));
        }
    }
    lat
}
