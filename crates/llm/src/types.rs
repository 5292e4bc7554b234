//! Provider-neutral request and event types.
//!
//! These are the only shapes the rest of agentry sees: a [`ChatRequest`] goes in, a stream of
//! [`StreamEvent`]s comes out. The wire formats live in `openai` and `anthropic` and never leak
//! past this crate.

use std::time::Duration;

/// Which wire protocol (and which defaults) a provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI itself: Chat Completions at `https://api.openai.com/v1` unless overridden.
    OpenAi,
    /// Any server speaking OpenAI Chat Completions (vLLM, llama.cpp, OpenRouter, ...). A base URL is
    /// required and the API key is optional.
    OpenAiCompat,
    /// Anthropic Messages at `https://api.anthropic.com/v1` unless overridden.
    Anthropic,
}

/// Where and how to reach one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub api_key: Option<String>,
    /// Base URL up to and including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: Option<String>,
}

impl ProviderConfig {
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            api_key: None,
            base_url: None,
        }
    }

    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
}

/// One model call: everything the provider needs to produce the next assistant message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

/// A tool the model may call. `input_schema` is a JSON Schema object.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
}

/// One entry of the conversation history.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    User {
        content: Vec<UserPart>,
    },
    /// A previous model reply. `reasoning` is kept for the caller's records but is not sent back:
    /// Anthropic only accepts thinking blocks with the signature we do not carry, and Chat
    /// Completions has no field for it.
    Assistant {
        text: String,
        reasoning: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    ToolResult {
        tool_call_id: String,
        tool_name: String,
        content: String,
        is_error: bool,
    },
}

impl Message {
    /// A user message with a single text part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Message::User {
            content: vec![UserPart::Text(text.into())],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserPart {
    Text(String),
    Image {
        media_type: String,
        data_base64: String,
    },
}

/// A tool call made by the model, with its arguments already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// Token counts for one call, normalized across providers.
///
/// `input_tokens` excludes tokens read from or written to the prompt cache, which are reported
/// separately; OpenAI's `prompt_tokens` includes cached tokens, so they are subtracted there. This
/// keeps cost arithmetic (different prices per bucket) identical for both providers.
/// `reasoning_tokens` is a subset of `output_tokens`, never in addition to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    ToolCalls,
    /// The output token limit was reached; the reply is truncated.
    Length,
    /// Anything else the provider said, verbatim (e.g. `refusal`, `content_filter`).
    Other(String),
}

/// The normalized stream every provider is turned into.
///
/// Order within one successful attempt: content deltas as they arrive; each tool call as
/// `ToolCallStart`, zero or more `ToolCallArgsDelta`, then `ToolCallEnd`; then at most one `Usage`;
/// then exactly one `Finish`, which is the last item of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    ReasoningDelta(String),
    /// `index` counts tool calls within this reply (0, 1, ...), whatever the provider's own
    /// block numbering is.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArgsDelta {
        index: usize,
        delta: String,
    },
    ToolCallEnd {
        index: usize,
        id: String,
        name: String,
        arguments: serde_json::Value,
    },
    Usage(Usage),
    /// The previous attempt failed with a retryable error and a new attempt starts after `delay`.
    /// `attempt` is the number of this retry (1 for the first). A retry only happens before any
    /// content of the failed attempt was emitted, so the consumer never has to de-duplicate.
    Retry {
        attempt: u32,
        delay: Duration,
        error: String,
        status: Option<u16>,
    },
    Finish {
        reason: FinishReason,
    },
}
