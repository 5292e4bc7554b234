//! The exact JSON each protocol receives for a history with tool calls and tool results, as
//! recorded by the fake provider. These bodies are the contract with the providers.

mod common;

use agentry_fakellm::FakeLlm;
use agentry_llm::{ChatRequest, Message, ProviderKind, RetryPolicy, ToolCall, ToolSpec, UserPart};
use common::collect;
use serde_json::{Value, json};

fn history() -> ChatRequest {
    ChatRequest {
        model: "model-x".into(),
        system: Some("You are a coding agent.".into()),
        messages: vec![
            Message::user_text("List the files and read the README."),
            Message::Assistant {
                text: "Let me look.".into(),
                reasoning: Some("Two calls are needed.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "call_1".into(),
                        name: "execute".into(),
                        arguments: json!({"command": "ls"}),
                    },
                    ToolCall {
                        id: "call_2".into(),
                        name: "read_file".into(),
                        arguments: json!({"path": "README.md"}),
                    },
                ],
            },
            Message::ToolResult {
                tool_call_id: "call_1".into(),
                tool_name: "execute".into(),
                content: "README.md\nsrc".into(),
                is_error: false,
            },
            Message::ToolResult {
                tool_call_id: "call_2".into(),
                tool_name: "read_file".into(),
                content: "permission denied".into(),
                is_error: true,
            },
            Message::User {
                content: vec![
                    UserPart::Text("Also look at this.".into()),
                    UserPart::Image {
                        media_type: "image/png".into(),
                        data_base64: "iVBORw0KGgo=".into(),
                    },
                ],
            },
            Message::Assistant {
                text: String::new(),
                reasoning: None,
                tool_calls: vec![],
            },
            Message::Assistant {
                text: String::new(),
                reasoning: None,
                tool_calls: vec![ToolCall {
                    id: "call_3".into(),
                    name: "list_templates".into(),
                    arguments: json!({}),
                }],
            },
            Message::ToolResult {
                tool_call_id: "call_3".into(),
                tool_name: "list_templates".into(),
                content: "[]".into(),
                is_error: false,
            },
        ],
        tools: vec![ToolSpec {
            name: "execute".into(),
            description: "Run a shell command.".into(),
            input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
        }],
        max_tokens: Some(1024),
        temperature: Some(0.5),
    }
}

async fn sent_body(kind: ProviderKind) -> Value {
    let fake = FakeLlm::start().await;
    let (_, err) = collect(&fake, kind, &history(), &RetryPolicy::none()).await;
    assert_eq!(err, None);
    fake.requests().remove(0).body
}

#[tokio::test]
async fn openai_body_for_a_tool_history() {
    let expected = json!({
        "model": "model-x",
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_completion_tokens": 1024,
        "temperature": 0.5,
        "tools": [{
            "type": "function",
            "function": {
                "name": "execute",
                "description": "Run a shell command.",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
            },
        }],
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "List the files and read the README."},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "execute", "arguments": "{\"command\":\"ls\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"README.md\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "README.md\nsrc"},
            {"role": "tool", "tool_call_id": "call_2", "content": "permission denied"},
            {"role": "user", "content": [
                {"type": "text", "text": "Also look at this."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": null},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_3", "type": "function", "function": {"name": "list_templates", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_3", "content": "[]"},
        ],
    });
    assert_eq!(sent_body(ProviderKind::OpenAi).await, expected);
}

#[tokio::test]
async fn anthropic_body_for_a_tool_history() {
    let expected = json!({
        "model": "model-x",
        "stream": true,
        "max_tokens": 1024,
        "temperature": 0.5,
        "system": "You are a coding agent.",
        "tools": [{
            "name": "execute",
            "description": "Run a shell command.",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        }],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List the files and read the README."}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "call_1", "name": "execute", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "call_2", "name": "read_file", "input": {"path": "README.md"}},
            ]},
            // Both tool results and the user's next message form one user turn; the empty
            // assistant message in between is dropped.
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "README.md\nsrc"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "permission denied", "is_error": true},
                {"type": "text", "text": "Also look at this."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_3", "name": "list_templates", "input": {}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_3", "content": "[]"}]},
        ],
    });
    assert_eq!(sent_body(ProviderKind::Anthropic).await, expected);
}
