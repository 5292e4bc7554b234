//! The chat vocabulary: a chat's status and the one state machine over it, message roles and
//! visibility, the typed content parts, and the payloads of live events. The store keeps these
//! as text and JSON; every layer builds and reads them through these types, which serialize to
//! exactly the JSON clients have always received (tests below pin it).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Declares a closed set of names stored as text: `as_str`, `parse`, `ALL`, `Display`,
/// `TryFrom<String>` (for sqlx's `try_from`) and serde as the same text.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant, )*
        }

        // Written out rather than derived: the derive does not see a `rename` whose text comes
        // through a macro fragment, and would document the Rust variant names.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),*]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $( $text => Some($name::$variant), )* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<$name, String> {
                $name::parse(&s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)))
            }
        }
    };
}

text_enum! {
    /// Where a chat is in its life (the `chats.status` column; its CHECK lists the same five).
    ChatStatus {
        /// Idle: nothing to run.
        Waiting = "waiting",
        /// Runnable: a worker will claim it.
        Pending = "pending",
        /// A worker runs a turn.
        Running = "running",
        /// The turn waits for the client's results of dynamic tool calls.
        RequiresAction = "requires_action",
        /// The last turn failed (`last_error` says why); a new message makes it runnable.
        Error = "error",
    }
}

impl ChatStatus {
    /// Busy chats queue new messages instead of taking them, and can be interrupted.
    pub fn is_busy(self) -> bool {
        matches!(self, ChatStatus::Pending | ChatStatus::Running | ChatStatus::RequiresAction)
    }

    /// The chat state machine: whether a chat in `self` may move to `next`.
    ///
    /// - anything → `pending`: a new message, an edit, a promotion or tool results make a chat
    ///   runnable; a stopped or vanished worker hands a running chat back;
    /// - `pending` → `running`: a worker claims it (and only a pending chat is claimed);
    /// - `running` → `waiting` | `requires_action` | `error`: a turn ends;
    /// - busy → `waiting`: an interrupt or an archive stops the turn;
    /// - anything → `error`: a turn fails, a dynamic tool times out, or the owner lost access
    ///   (at claim or at promotion).
    pub fn allows(self, next: ChatStatus) -> bool {
        use ChatStatus::*;
        match (self, next) {
            (_, Pending) | (_, Error) => true,
            (Pending, Running) => true,
            (Running, RequiresAction) => true,
            (from, Waiting) => from.is_busy(),
            _ => false,
        }
    }
}

text_enum! {
    /// Who wrote a message (`chat_messages.role`).
    MessageRole {
        System = "system",
        User = "user",
        Assistant = "assistant",
        Tool = "tool",
    }
}

text_enum! {
    /// Who sees a message (`chat_messages.visibility`): the user's history, the model's prompt,
    /// or both.
    Visibility {
        User = "user",
        Model = "model",
        Both = "both",
    }
}

/// One part of a message's content. Stored and sent as `{"type": "<kind>", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Part {
    Text {
        text: String,
    },
    Reasoning {
        text: String,
    },
    /// A model's tool call. Saved with `args`; live updates carry `args_delta` while the
    /// arguments stream and `args` once they are complete.
    ToolCall {
        tool_call_id: String,
        tool_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        args: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args_delta: Option<String>,
    },
    ToolResult {
        tool_call_id: String,
        tool_name: String,
        #[schema(value_type = Object)]
        result: Value,
        #[serde(default)]
        is_error: bool,
    },
    /// An uploaded file; the server fills in `media_type` and `name` when it checks the file.
    File {
        file_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Lines of a file the user points at.
    FileReference {
        file_name: String,
        start_line: i64,
        end_line: i64,
        content: String,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text { text: text.into() }
    }

    pub fn reasoning(text: impl Into<String>) -> Part {
        Part::Reasoning { text: text.into() }
    }

    /// A complete tool call, as saved.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, args: Value) -> Part {
        Part::ToolCall { tool_call_id: id.into(), tool_name: name.into(), args: Some(args), args_delta: None }
    }

    /// A piece of a tool call's arguments, while they stream.
    pub fn tool_call_delta(id: impl Into<String>, name: impl Into<String>, delta: impl Into<String>) -> Part {
        Part::ToolCall { tool_call_id: id.into(), tool_name: name.into(), args: None, args_delta: Some(delta.into()) }
    }

    pub fn tool_result(id: impl Into<String>, name: impl Into<String>, result: Value, is_error: bool) -> Part {
        Part::ToolResult { tool_call_id: id.into(), tool_name: name.into(), result, is_error }
    }

    /// The part as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a part serializes")
    }

    /// Message content: the parts as a JSON array.
    pub fn content(parts: &[Part]) -> Value {
        serde_json::to_value(parts).expect("parts serialize")
    }

    /// The parts of stored content; parts that do not parse are skipped.
    pub fn parse_content(content: &Value) -> Vec<Part> {
        content.as_array().into_iter().flatten().filter_map(|p| serde_json::from_value(p.clone()).ok()).collect()
    }
}

/// The body of a `message_part` stream event: one part of the step being streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LivePart {
    pub role: MessageRole,
    pub part: Part,
}

impl LivePart {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a live part serializes")
    }
}

/// The body of a `retry` stream event: the provider failed and the call is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetryInfo {
    pub attempt: u32,
    pub delay_ms: u64,
    pub error: String,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_text_and_json_are_todays() {
        let texts: Vec<&str> = ChatStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts, ["waiting", "pending", "running", "requires_action", "error"]);
        for s in ChatStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
            assert_eq!(ChatStatus::try_from(s.as_str().to_string()).unwrap(), *s);
        }
        assert!(ChatStatus::parse("paused").is_none() && ChatStatus::parse("completed").is_none());
        assert_eq!(serde_json::from_value::<MessageRole>(json!("assistant")).unwrap(), MessageRole::Assistant);
        assert_eq!(Visibility::Both.as_str(), "both");
    }

    #[test]
    fn the_state_machine() {
        use ChatStatus::*;
        let allowed = |from: ChatStatus| -> Vec<ChatStatus> {
            ChatStatus::ALL.iter().copied().filter(|to| from.allows(*to)).collect()
        };
        assert_eq!(allowed(Waiting), [Pending, Error]);
        assert_eq!(allowed(Pending), [Waiting, Pending, Running, Error]);
        assert_eq!(allowed(Running), [Waiting, Pending, RequiresAction, Error]);
        assert_eq!(allowed(RequiresAction), [Waiting, Pending, Error]);
        assert_eq!(allowed(Error), [Pending, Error]);
        // Only a claimed pending chat runs; only a running turn asks for client tools.
        assert!(ChatStatus::ALL.iter().all(|s| s.allows(Running) == (*s == Pending)));
        assert!(ChatStatus::ALL.iter().all(|s| s.allows(RequiresAction) == (*s == Running)));
        assert!(ChatStatus::ALL.iter().all(|s| s.is_busy() == matches!(s, Pending | Running | RequiresAction)));
    }

    /// Each part serializes to the JSON the server wrote before parts were typed.
    #[test]
    fn parts_round_trip_todays_json() {
        let id = Uuid::nil();
        let cases = [
            (Part::text("hi"), json!({"type": "text", "text": "hi"})),
            (Part::reasoning("hm"), json!({"type": "reasoning", "text": "hm"})),
            (
                Part::tool_call("c1", "execute", json!({"command": "ls"})),
                json!({"type": "tool-call", "tool_call_id": "c1", "tool_name": "execute", "args": {"command": "ls"}}),
            ),
            (
                Part::tool_call_delta("c1", "execute", "{\"co"),
                json!({"type": "tool-call", "tool_call_id": "c1", "tool_name": "execute", "args_delta": "{\"co"}),
            ),
            (
                Part::tool_result("c1", "execute", json!({"output": "x"}), false),
                json!({"type": "tool-result", "tool_call_id": "c1", "tool_name": "execute", "result": {"output": "x"}, "is_error": false}),
            ),
            (
                Part::File { file_id: id, media_type: None, name: None },
                json!({"type": "file", "file_id": id}),
            ),
            (
                Part::File { file_id: id, media_type: Some("image/png".into()), name: Some("a.png".into()) },
                json!({"type": "file", "file_id": id, "media_type": "image/png", "name": "a.png"}),
            ),
            (
                Part::FileReference { file_name: "a.rs".into(), start_line: 1, end_line: 2, content: "x".into() },
                json!({"type": "file-reference", "file_name": "a.rs", "start_line": 1, "end_line": 2, "content": "x"}),
            ),
        ];
        for (part, wire) in cases {
            assert_eq!(part.to_value(), wire);
            assert_eq!(serde_json::from_value::<Part>(wire).unwrap(), part);
        }
        // A saved tool result without `is_error` (older rows) reads as a success.
        let old = json!({"type": "tool-result", "tool_call_id": "a", "tool_name": "execute", "result": "x"});
        assert!(matches!(serde_json::from_value::<Part>(old).unwrap(), Part::ToolResult { is_error: false, .. }));
    }

    #[test]
    fn live_payloads_are_todays_json() {
        let live = LivePart { role: MessageRole::Assistant, part: Part::text("a") };
        assert_eq!(live.to_value(), json!({"role": "assistant", "part": {"type": "text", "text": "a"}}));
        let retry = RetryInfo { attempt: 1, delay_ms: 500, error: "busy".into(), status: None };
        assert_eq!(serde_json::to_value(&retry).unwrap(), json!({"attempt": 1, "delay_ms": 500, "error": "busy", "status": null}));
    }
}
