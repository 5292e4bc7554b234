//! LLM provider clients for agentry.
//!
//! Two wire protocols — OpenAI Chat Completions (also any OpenAI-compatible server) and Anthropic
//! Messages — are turned into one normalized [`StreamEvent`] stream, with retries and token usage.
//! The chat daemon only ever sees [`ChatRequest`] and [`StreamEvent`].
//!
//! This crate knows nothing else about agentry: no database, no chats, no authorization, no
//! pricing. It does not persist anything and does not spawn tasks.

mod anthropic;
mod client;
mod decode;
mod error;
mod openai;
mod retry;
mod sse;
mod types;

pub use client::{Client, DEFAULT_IDLE_TIMEOUT};
pub use error::LlmError;
pub use retry::RetryPolicy;
pub use types::{
    ChatRequest, FinishReason, Message, ProviderConfig, ProviderKind, StreamEvent, ToolCall,
    ToolSpec, Usage, UserPart,
};
