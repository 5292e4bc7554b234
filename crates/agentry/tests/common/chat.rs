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
