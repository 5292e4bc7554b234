//! From stored history to a model request.
//!
//! Stored content is the provider-neutral part list (`text`, `reasoning`, `tool-call`,
//! `tool-result`, `file`, ...). The system prompt is the built-in agentry prompt followed by the
//! chat's own system messages, in order. History handed to a provider must answer every tool
//! call; a call without a stored result (a crash between two writes of an older version, a
//! provider that invented an id twice) gets a synthetic error result here rather than a
//! provider error.

use std::collections::HashMap;

use agentry_llm::{Message, ToolCall, UserPart};
use agentry_store::chats::files::AttachedFile;
use agentry_store::chats::messages::Message as Row;
use agentry_types::{MessageRole, Part};
use base64::Engine;
use serde_json::Value;
use uuid::Uuid;

/// Most bytes of a text attachment shown to the model.
const MAX_TEXT_ATTACHMENT: usize = 64 * 1024;

/// The built-in system prompt, before the chat's own system messages.
pub const SYSTEM_PROMPT: &str = "You are agentry, an AI coding agent working for a user inside one \
organization. You act with the user's permissions: you can list the organization's workspace \
templates, create and start a workspace from one, and read, write and run things inside that \
workspace through your tools. Work step by step: look before you change things, prefer small \
verifiable steps, and check the result of commands you run. When you need a workspace and none is \
bound to this chat, call list_templates, pick a suitable template of this organization, and call \
create_workspace. Tool errors are addressed to you: read them and adjust. Keep answers concise and \
say plainly what you did and what is left.";

/// Extra instructions for a subagent (a child chat).
pub const CHILD_PROMPT: &str = "You are a subagent: another agent delegated a task to you. Finish \
the task with the tools you have, then reply with a concise report; your last message is what the \
parent agent receives. You cannot create or start workspaces or spawn other agents.";

const MISSING_RESULT: &str = "tool call has no recorded result";

/// The ids of the files user messages refer to (to load them before [`build`]).
pub fn file_ids(history: &[Row]) -> Vec<Uuid> {
    history
        .iter()
        .filter(|r| r.role == MessageRole::User)
        .flat_map(|r| Part::parse_content(&r.content.0))
        .filter_map(|p| match p {
            Part::File { file_id, .. } => Some(file_id),
            _ => None,
        })
        .collect()
}

/// The system prompt and the conversation for a model call. `files` holds the attachments the
/// history refers to: images go to the model as images, text files as text.
pub fn build(history: &[Row], child: bool, files: &HashMap<Uuid, AttachedFile>) -> (String, Vec<Message>) {
    let mut system = vec![SYSTEM_PROMPT.to_string()];
    if child {
        system.push(CHILD_PROMPT.to_string());
    }
    let mut messages = Vec::new();
    let mut open: Vec<(String, String)> = Vec::new();
    for row in history {
        let parts = Part::parse_content(&row.content.0);
        if row.role != MessageRole::Tool {
            close_open(&mut open, &mut messages);
        }
        match row.role {
            MessageRole::System => {
                let text = texts(&parts);
                if !text.is_empty() {
                    system.push(text);
                }
            }
            MessageRole::User => {
                let content = user_parts(&parts, files);
                if !content.is_empty() {
                    messages.push(Message::User { content });
                }
            }
            MessageRole::Assistant => {
                let mut text = String::new();
                let mut reasoning = String::new();
                let mut tool_calls = Vec::new();
                for p in parts {
                    match p {
                        Part::Text { text: t } => text.push_str(&t),
                        Part::Reasoning { text: t } => reasoning.push_str(&t),
                        Part::ToolCall { tool_call_id: id, tool_name: name, args, .. } => {
                            open.push((id.clone(), name.clone()));
                            tool_calls.push(ToolCall { id, name, arguments: args.unwrap_or(Value::Null) });
                        }
                        _ => {}
                    }
                }
                if text.is_empty() && tool_calls.is_empty() {
                    continue;
                }
                messages.push(Message::Assistant {
                    text,
                    reasoning: (!reasoning.is_empty()).then_some(reasoning),
                    tool_calls,
                });
            }
            MessageRole::Tool => {
                for p in parts {
                    let Part::ToolResult { tool_call_id: id, result, is_error, .. } = p else { continue };
                    let Some(pos) = open.iter().position(|(o, _)| *o == id) else { continue };
                    let (_, name) = open.remove(pos);
                    messages.push(Message::ToolResult { tool_call_id: id, tool_name: name, content: result_text(&result), is_error });
                }
            }
        }
    }
    close_open(&mut open, &mut messages);
    (system.join("\n\n"), messages)
}

fn close_open(open: &mut Vec<(String, String)>, messages: &mut Vec<Message>) {
    for (id, name) in open.drain(..) {
        messages.push(Message::ToolResult {
            tool_call_id: id,
            tool_name: name,
            content: MISSING_RESULT.to_string(),
            is_error: true,
        });
    }
}

fn texts(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn user_parts(parts: &[Part], files: &HashMap<Uuid, AttachedFile>) -> Vec<UserPart> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(UserPart::Text(text.clone())),
            Part::File { file_id, .. } => Some(match files.get(file_id) {
                Some(f) => attachment(f),
                None => UserPart::Text("[an attached file that is no longer available]".to_string()),
            }),
            Part::FileReference { file_name, start_line, end_line, content } => Some(UserPart::Text(format!(
                "{file_name}, lines {start_line}-{end_line}:\n```\n{content}\n```"
            ))),
            _ => None,
        })
        .collect()
}

fn attachment(f: &AttachedFile) -> UserPart {
    if f.mimetype.starts_with("image/") {
        return UserPart::Image {
            media_type: f.mimetype.clone(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(&f.data),
        };
    }
    let mut end = f.data.len().min(MAX_TEXT_ATTACHMENT);
    let text = loop {
        // Cut on a character boundary (uploads of text/plain are checked to be UTF-8).
        match std::str::from_utf8(&f.data[..end]) {
            Ok(t) => break t,
            Err(e) => end = e.valid_up_to(),
        }
    };
    let cut = if end < f.data.len() { format!("\n[truncated: {} of {} bytes shown]", end, f.data.len()) } else { String::new() };
    UserPart::Text(format!("Attached file {}:\n```\n{text}\n```{cut}", f.name))
}

/// A tool result as the text the model reads: strings verbatim, anything else as JSON.
pub fn result_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sqlx_free::row;

    mod sqlx_free {
        use agentry_store::chats::messages::Message as Row;
        use uuid::Uuid;

        pub fn row(id: i64, role: &str, content: serde_json::Value) -> Row {
            Row {
                id,
                chat_id: Uuid::nil(),
                created_by: None,
                model_config_id: None,
                role: agentry_types::MessageRole::parse(role).unwrap(),
                visibility: agentry_types::Visibility::Both,
                content: sqlx::types::Json(content),
                input_tokens: None,
                output_tokens: None,
                reasoning_tokens: None,
                cache_creation_tokens: None,
                cache_read_tokens: None,
                context_limit: None,
                total_cost_micros: None,
                runtime_ms: None,
                created_at: chrono::Utc::now(),
                stopped: false,
            }
        }
    }

    #[test]
    fn history_becomes_a_valid_conversation() {
        let history = vec![
            row(1, "system", json!([{"type": "text", "text": "Be brief."}])),
            row(2, "user", json!([{"type": "text", "text": "list files"}])),
            row(3, "assistant", json!([
                {"type": "text", "text": "Looking."},
                {"type": "tool-call", "tool_call_id": "a", "tool_name": "execute", "args": {"command": "ls"}},
                {"type": "tool-call", "tool_call_id": "b", "tool_name": "execute", "args": {"command": "pwd"}},
            ])),
            row(4, "tool", json!([{"type": "tool-result", "tool_call_id": "a", "tool_name": "execute", "result": {"output": "x"}}])),
            row(5, "user", json!([{"type": "text", "text": "thanks"}])),
        ];
        let (system, msgs) = build(&history, false, &HashMap::new());
        assert!(system.starts_with(SYSTEM_PROMPT));
        assert!(system.ends_with("Be brief."));
        assert_eq!(msgs.len(), 5);
        assert!(matches!(&msgs[2], Message::ToolResult { tool_call_id, is_error: false, content, .. } if tool_call_id == "a" && content == "{\"output\":\"x\"}"));
        // `b` never got a result: a synthetic error keeps the history valid.
        assert!(matches!(&msgs[3], Message::ToolResult { tool_call_id, is_error: true, .. } if tool_call_id == "b"));
        assert!(matches!(&msgs[4], Message::User { .. }));
    }

    #[test]
    fn children_get_the_subagent_prompt() {
        let (system, _) = build(&[], true, &HashMap::new());
        assert!(system.contains(CHILD_PROMPT));
    }
}
