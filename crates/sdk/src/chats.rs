//! Wire types of `/api/experimental/chats`: chats, messages, the queue, files, models,
//! providers, usage limits, and the events of the `stream` and `watch` WebSockets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use agentry_types::chat::{ChatStatus, LivePart, MessageRole, Part, RetryInfo, Visibility};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chat {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub parent_chat_id: Option<Uuid>,
    /// The root of the chat's family; its own id for a root chat.
    pub root_chat_id: Uuid,
    pub last_model_config_id: Uuid,
    pub title: String,
    pub status: ChatStatus,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived: bool,
    pub pin_order: i32,
    pub labels: BTreeMap<String, String>,
    /// Always empty: MCP servers are not supported yet.
    pub mcp_server_ids: Vec<Uuid>,
    pub has_unread: bool,
    /// Subagent chats, in list responses (always empty for children themselves). The schema
    /// does not recurse (children are one level deep), which also keeps schema generation finite.
    #[serde(default)]
    #[schema(no_recursion)]
    pub children: Vec<Chat>,
    /// Attached files, on create and get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<ChatFileMetadata>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A part of a user's input. `type` is `text`, `file` or `file-reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct ChatInputPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_line: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl ChatInputPart {
    pub fn text(t: impl Into<String>) -> ChatInputPart {
        ChatInputPart { kind: "text".into(), text: Some(t.into()), ..Default::default() }
    }

    pub fn file(id: Uuid) -> ChatInputPart {
        ChatInputPart { kind: "file".into(), file_id: Some(id), ..Default::default() }
    }
}

/// A client-executed tool the model may call; the chat waits in `requires_action` for its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DynamicTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
}

/// `content` is kept as raw JSON so the server can validate parts in the documented order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct CreateChatRequest {
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = Vec<ChatInputPart>)]
    pub content: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_config_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsafe_dynamic_tools: Option<Vec<DynamicTool>>,
}

/// PATCH body. `workspace_id: null` (or the nil UUID) clears the binding; absent leaves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateChatRequest {
    /// 1–200 characters once trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "\\S", max_length = 200)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub workspace_id: Option<Option<Uuid>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct ChatUsage {
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub context_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: i64,
    pub chat_id: Uuid,
    pub created_by: Option<Uuid>,
    pub model_config_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub role: MessageRole,
    /// Typed parts: `text`, `reasoning`, `tool-call`, `tool-result`, `file`, `file-reference`.
    #[schema(value_type = Vec<Object>)]
    pub content: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ChatUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_micros: Option<i64>,
    /// The user stopped this assistant answer before the model finished it (what it said so far
    /// was kept).
    #[serde(default)]
    pub stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatQueuedMessage {
    pub id: i64,
    pub chat_id: Uuid,
    #[schema(value_type = Vec<Object>)]
    pub content: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessagesResponse {
    /// Newest first.
    pub messages: Vec<ChatMessage>,
    /// The queue, on the first page only.
    #[serde(default)]
    pub queued_messages: Vec<ChatQueuedMessage>,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct CreateChatMessageRequest {
    #[serde(default)]
    #[schema(value_type = Vec<ChatInputPart>)]
    pub content: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_config_id: Option<Uuid>,
    /// `queue` (default) or `interrupt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_behavior: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateChatMessageResponse {
    pub queued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_message: Option<ChatQueuedMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct EditChatMessageRequest {
    #[serde(default)]
    #[schema(value_type = Vec<ChatInputPart>)]
    pub content: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EditChatMessageResponse {
    pub message: ChatMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolResultInput {
    pub tool_call_id: String,
    #[schema(value_type = Object)]
    pub output: serde_json::Value,
    #[serde(default)]
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct SubmitToolResultsRequest {
    #[serde(default)]
    #[schema(min_items = 1)]
    pub results: Vec<ToolResultInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatFileMetadata {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub mime_type: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadChatFileResponse {
    pub id: Uuid,
}

// ---- models, providers, limits ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatModel {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub display_name: String,
    pub is_default: bool,
    /// The provider row the model runs on, and its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatModelProvider {
    pub provider: String,
    /// The provider row (several providers of one type may exist) and its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub available: bool,
    /// `missing_api_key` when the provider is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    pub models: Vec<ChatModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatModelsResponse {
    pub providers: Vec<ChatModelProvider>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatProviderConfig {
    pub id: Uuid,
    pub provider: String,
    pub display_name: String,
    /// The owning organization; null = site-wide.
    pub organization_id: Option<Uuid>,
    pub enabled: bool,
    pub has_api_key: bool,
    pub base_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct CreateChatProviderRequest {
    #[schema(value_type = ChatProviderKind, example = "anthropic")]
    pub provider: String,
    /// The owning organization (its org admins manage the provider and only its chats use it);
    /// absent or null = site-wide (site owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateChatProviderRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// An empty string removes the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatModelConfig {
    pub id: Uuid,
    pub provider: String,
    /// The provider row the model runs on (null: the site-wide provider of its type) and its
    /// display name.
    pub provider_id: Option<Uuid>,
    pub provider_display_name: Option<String>,
    /// The owning organization; null = site-wide.
    pub organization_id: Option<Uuid>,
    /// Site-wide models: the organizations that may use it; null = every organization.
    pub organization_ids: Option<Vec<Uuid>>,
    pub model: String,
    pub display_name: String,
    pub enabled: bool,
    pub is_default: bool,
    pub context_limit: i64,
    /// US dollars per million input tokens.
    pub input_price_per_million: Option<f64>,
    pub output_price_per_million: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct CreateChatModelConfigRequest {
    /// The provider type; optional when `provider_id` is given. Alone it names the one provider
    /// of that type usable by the model's owner (several: 400, name `provider_id`).
    #[serde(default)]
    #[schema(value_type = ChatProviderKind)]
    pub provider: String,
    /// The provider row the model runs on (of the model's organization, or site-wide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    /// The owning organization (managed by its org admins, usable only there); absent or null =
    /// site-wide (site owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<Uuid>,
    /// Site-wide models only: the organizations that may use it; absent or null = every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ids: Option<Vec<Uuid>>,
    /// The provider's model name; not blank.
    #[schema(pattern = "\\S", example = "claude-sonnet-4-5")]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub context_limit: Option<i64>,
    /// Dollars per million tokens, from 0 up to (not including) 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, exclusive_maximum = 1000000)]
    pub input_price_per_million: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, exclusive_maximum = 1000000)]
    pub output_price_per_million: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateChatModelConfigRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "\\S")]
    pub model: Option<String>,
    /// Site-wide models only: null = every organization, a list = only those; absent = unchanged.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub organization_ids: Option<Option<Vec<Uuid>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub context_limit: Option<i64>,
    /// Dollars per million tokens, from 0 up to (not including) 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, exclusive_maximum = 1000000)]
    pub input_price_per_million: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, exclusive_maximum = 1000000)]
    pub output_price_per_million: Option<f64>,
}

/// The providers agentry speaks to (the `provider` of a provider or a model config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ChatProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai-compat")]
    OpenAiCompat,
}

/// The period a usage limit applies to (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsagePeriod {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageLimitConfig {
    pub enabled: bool,
    #[schema(minimum = 0, example = 5000000)]
    pub limit_micros: i64,
    /// `day`, `week` or `month` (UTC).
    #[schema(value_type = UsagePeriod)]
    pub period: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageLimitStatus {
    pub enabled: bool,
    pub period: String,
    pub spent_micros: i64,
    pub limit_micros: Option<i64>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// The body of `PUT /api/v2/organizations/{org}/chat-budget` and
/// `PUT /api/v2/organizations/{org}/members/{user}/chat-budget`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatBudgetRequest {
    /// The budget in micro-units of the model prices' currency; `null` removes it.
    #[schema(minimum = 0)]
    pub limit_micros: Option<i64>,
    /// `day`, `week` (ISO, from Monday) or `month`, on the UTC calendar. Default `month`.
    #[serde(default = "default_period")]
    #[schema(pattern = "^(day|week|month)$")]
    pub period: String,
}

fn default_period() -> String {
    "month".into()
}

/// A budget and the spend of its current period (with no budget set: `limit_micros` null and
/// this month's spend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatBudget {
    pub organization_id: Uuid,
    /// Set for a member's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    pub limit_micros: Option<i64>,
    pub period: String,
    pub spent_micros: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// `GET /api/experimental/chats/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatUsageReport {
    pub total_micros: i64,
    pub series: Vec<ChatUsageEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatUsageEntry {
    /// The day (`YYYY-MM-DD`), model config id, user id or organization id, by `group_by`.
    pub key: String,
    pub micros: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

// ---- streams ----

/// One event of `GET /chats/{chat}/stream`. Each WebSocket text frame is a JSON array of these,
/// each `{"type": "<kind>", "chat_id": …, "<kind's payload field>": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatStreamEvent {
    /// A live part of the step being streamed (not yet saved).
    MessagePart { chat_id: Uuid, message_part: LivePart },
    /// A saved message.
    Message { chat_id: Uuid, message: ChatMessage },
    Status { chat_id: Uuid, status: ChatStatusPayload },
    /// Why the chat is in `error`.
    Error { chat_id: Uuid, error: ChatErrorPayload },
    /// The provider failed; the call is retried.
    Retry { chat_id: Uuid, retry: RetryInfo },
    /// The queue as it is now.
    QueueUpdate { chat_id: Uuid, queued_messages: Vec<ChatQueuedMessage> },
    /// Dynamic tool calls wait for the client's results.
    ActionRequired { chat_id: Uuid, action_required: ActionRequiredPayload },
}

impl ChatStreamEvent {
    pub fn chat_id(&self) -> Uuid {
        match self {
            ChatStreamEvent::MessagePart { chat_id, .. }
            | ChatStreamEvent::Message { chat_id, .. }
            | ChatStreamEvent::Status { chat_id, .. }
            | ChatStreamEvent::Error { chat_id, .. }
            | ChatStreamEvent::Retry { chat_id, .. }
            | ChatStreamEvent::QueueUpdate { chat_id, .. }
            | ChatStreamEvent::ActionRequired { chat_id, .. } => *chat_id,
        }
    }

    /// The saved message of a `message` event.
    pub fn message(&self) -> Option<&ChatMessage> {
        match self {
            ChatStreamEvent::Message { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The live part of a `message_part` event.
    pub fn message_part(&self) -> Option<&LivePart> {
        match self {
            ChatStreamEvent::MessagePart { message_part, .. } => Some(message_part),
            _ => None,
        }
    }

    /// The status of a `status` event.
    pub fn status(&self) -> Option<ChatStatus> {
        match self {
            ChatStreamEvent::Status { status, .. } => Some(status.status),
            _ => None,
        }
    }

    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChatStreamEvent::MessagePart { .. } => "message_part",
            ChatStreamEvent::Message { .. } => "message",
            ChatStreamEvent::Status { .. } => "status",
            ChatStreamEvent::Error { .. } => "error",
            ChatStreamEvent::Retry { .. } => "retry",
            ChatStreamEvent::QueueUpdate { .. } => "queue_update",
            ChatStreamEvent::ActionRequired { .. } => "action_required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatStatusPayload {
    pub status: ChatStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatErrorPayload {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionRequiredPayload {
    pub tool_calls: Vec<PendingToolCall>,
}

/// A dynamic tool call the chat waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingToolCall {
    pub tool_call_id: String,
    pub tool_name: String,
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
}

/// One event of `GET /chats/watch`, with the chat as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatWatchEvent {
    pub kind: ChatWatchKind,
    pub chat: Chat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatWatchKind {
    /// Created, or unarchived.
    Created,
    StatusChange,
    TitleChange,
    /// Archived.
    Deleted,
    ActionRequired,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The stream events serialize to the JSON the server sent before they were typed.
    #[test]
    fn stream_events_are_todays_json() {
        let id = Uuid::nil();
        let cases = [
            (
                ChatStreamEvent::Status { chat_id: id, status: ChatStatusPayload { status: ChatStatus::RequiresAction } },
                json!({"type": "status", "chat_id": id, "status": {"status": "requires_action"}}),
            ),
            (
                ChatStreamEvent::Error { chat_id: id, error: ChatErrorPayload { message: "boom".into() } },
                json!({"type": "error", "chat_id": id, "error": {"message": "boom"}}),
            ),
            (
                ChatStreamEvent::MessagePart {
                    chat_id: id,
                    message_part: LivePart { role: MessageRole::Assistant, part: Part::text("a") },
                },
                json!({"type": "message_part", "chat_id": id, "message_part": {"role": "assistant", "part": {"type": "text", "text": "a"}}}),
            ),
            (
                ChatStreamEvent::Retry { chat_id: id, retry: RetryInfo { attempt: 2, delay_ms: 10, error: "e".into(), status: Some(529) } },
                json!({"type": "retry", "chat_id": id, "retry": {"attempt": 2, "delay_ms": 10, "error": "e", "status": 529}}),
            ),
            (
                ChatStreamEvent::QueueUpdate { chat_id: id, queued_messages: vec![] },
                json!({"type": "queue_update", "chat_id": id, "queued_messages": []}),
            ),
            (
                ChatStreamEvent::ActionRequired {
                    chat_id: id,
                    action_required: ActionRequiredPayload {
                        tool_calls: vec![PendingToolCall { tool_call_id: "c".into(), tool_name: "t".into(), args: json!({}) }],
                    },
                },
                json!({"type": "action_required", "chat_id": id, "action_required": {"tool_calls": [{"tool_call_id": "c", "tool_name": "t", "args": {}}]}}),
            ),
        ];
        for (event, wire) in cases {
            assert_eq!(serde_json::to_value(&event).unwrap(), wire);
            assert_eq!(serde_json::from_value::<ChatStreamEvent>(wire).unwrap(), event);
        }
        assert_eq!(serde_json::to_value(ChatWatchKind::StatusChange).unwrap(), json!("status_change"));
        assert_eq!(serde_json::to_value(ChatWatchKind::Deleted).unwrap(), json!("deleted"));
    }
}

/// An organization's default chat model (`/api/v2/organizations/{org}/chat-default-model`):
/// used by new chats that name no model; null = the site default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct OrgChatDefaultModel {
    #[serde(default)]
    pub model_config_id: Option<Uuid>,
}

/// Which site-wide models a new organization may use (`/api/experimental/chats/model-access`):
/// `all` (default; every site-wide model open to every organization) or `none` (the new
/// organization is left out of them until the site owner enables models for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
pub struct ChatModelAccessConfig {
    #[schema(example = "all")]
    pub new_organizations: String,
}

/// Query of `GET /api/experimental/chats/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatModelsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<Uuid>,
}
