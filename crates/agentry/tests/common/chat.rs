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
    setup_priced_provider(owner, fake, None, None).await
}

/// [`setup_provider`] with prices per million input and output tokens on the model.
pub async fn setup_priced_provider(owner: &Client, fake: &FakeLlm, input: Option<f64>, output: Option<f64>) {
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
            input_price_per_million: input,
            output_price_per_million: output,
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
    s: agentry_client::EventStream<agentry_client::agentry_sdk::ChatStreamEvent>,
    tokens: usize,
) -> Vec<i64> {
    timed_token_latencies(s, tokens).await.into_iter().map(|(_, latency)| latency).collect()
}

/// [`token_latencies`] with each token's arrival time: `(arrival, latency)`, both in
/// microseconds (arrival since the unix epoch).
#[allow(dead_code)]
pub async fn timed_token_latencies(
    mut s: agentry_client::EventStream<agentry_client::agentry_sdk::ChatStreamEvent>,
    tokens: usize,
) -> Vec<(i64, i64)> {
    use agentry_client::agentry_sdk as sdk;
    let mut out = Vec::with_capacity(tokens);
    while out.len() < tokens {
        let Some(Ok(batch)) = s.next_batch().await else { break };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        for e in batch.iter().filter(|e| e.kind() == "message_part") {
            let t = match &e.message_part().unwrap().part {
                sdk::Part::Text { text } => text.as_str(),
                _ => "",
            };
            out.extend(t.split('⟨').skip(1).filter_map(|x| x.split('⟩').next()?.parse::<i64>().ok()).map(|ts| (now, now - ts)));
        }
    }
    out
}

/// The visible history, oldest first.
#[allow(dead_code)]
pub async fn history(c: &Client, id: Uuid) -> Vec<sdk::ChatMessage> {
    let mut m = c.chat_messages(id, None, Some(200)).await.unwrap().messages;
    m.sort_by_key(|m| m.id);
    m
}

/// The parts of a message of one type.
#[allow(dead_code)]
pub fn parts_of<'a>(m: &'a sdk::ChatMessage, kind: &str) -> Vec<&'a Value> {
    m.content.as_array().into_iter().flatten().filter(|p| p["type"] == kind).collect()
}

/// A message's text parts, joined.
#[allow(dead_code)]
pub fn text_of(m: &sdk::ChatMessage) -> String {
    parts_of(m, "text").iter().filter_map(|p| p["text"].as_str()).collect()
}

/// A chat stream's events, one by one.
#[allow(dead_code)]
pub type Events = tokio::sync::mpsc::UnboundedReceiver<sdk::ChatStreamEvent>;

/// Opens a chat's stream (after message `after_id`) and forwards its events, one by one, to a
/// channel; the channel closes when the socket does.
#[allow(dead_code)]
pub async fn open_events(c: &Client, id: Uuid, after_id: i64) -> Events {
    let mut s = c.stream_chat(id, after_id).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(batch)) = s.next_batch().await {
            for e in batch {
                if tx.send(e).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Collects stream events until `stop` holds for what arrived (failing after [`WAIT`]).
#[allow(dead_code)]
pub async fn collect_until(stream: &mut Events, stop: impl Fn(&[sdk::ChatStreamEvent]) -> bool) -> Vec<sdk::ChatStreamEvent> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stop(&all) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, stream.recv()).await {
            Ok(Some(e)) => all.push(e),
            Ok(None) => panic!("stream ended; events so far: {:?}", all.iter().map(|e| e.kind()).collect::<Vec<_>>()),
            Err(_) => panic!("timed out; events so far: {:?}", all.iter().map(|e| e.kind()).collect::<Vec<_>>()),
        }
    }
    all
}
