//! The script language: what the fake answers to one request.
//!
//! Types are serde-serializable with a `type` tag so the `fakellm` binary can read a script from
//! JSON, e.g. `[{"steps": [{"type": "text", "text": "Hi"}, {"type": "tool_call", "name": "ls"}]}]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The answer to one request: steps played in order.
///
/// The finish reason is derived: `tool_calls`/`tool_use` when the turn made a tool call, `length`/
/// `max_tokens` after [`Step::MaxTokens`], `stop`/`end_turn` otherwise. A turn containing a
/// [`Step::Error`] answers with that HTTP error instead of a stream (after any `Delay` before it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Turn {
    pub steps: Vec<Step>,
}

impl Turn {
    pub fn new(steps: Vec<Step>) -> Self {
        Self { steps }
    }

    /// A turn that streams `text` and stops.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(vec![Step::text(text)])
    }

    /// A turn that only calls one tool.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::new(vec![Step::tool_call(name, arguments)])
    }

    /// A turn answered with an HTTP error and a provider-shaped body carrying `message`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::new(vec![Step::error(status, message)])
    }

    /// Appends a step.
    pub fn then(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    pub(crate) fn http_error(&self) -> Option<(u16, &Value, Option<u64>)> {
        self.steps.iter().find_map(|step| match step {
            Step::Error {
                status,
                body,
                retry_after,
            } => Some((*status, body, *retry_after)),
            _ => None,
        })
    }
}

/// One thing the fake does while answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Text, streamed as one delta per word (each word keeps the whitespace after it).
    Text { text: String },
    /// `count` tokens with `delay` before each one but the first. With `embed_timestamp`, each
    /// token is `"⟨<unix micros>⟩ "` taken when the token is written, so a consumer can measure
    /// end-to-end latency; otherwise tokens are `"tok<i> "`.
    TextTokens {
        count: usize,
        #[serde(rename = "delay_ms", with = "millis", default)]
        delay: Duration,
        #[serde(default)]
        embed_timestamp: bool,
    },
    /// Reasoning ("thinking") text, streamed like `Text`.
    Reasoning { text: String },
    /// A tool call whose JSON arguments are streamed in several fragments. Without an `id` the
    /// fake makes one up, unique per request.
    ToolCall {
        #[serde(default)]
        id: Option<String>,
        name: String,
        #[serde(default = "empty_object")]
        arguments: Value,
    },
    /// Pause the stream.
    Delay {
        #[serde(rename = "ms", with = "millis")]
        duration: Duration,
    },
    /// Answer with this HTTP status instead of a stream. The body is sent verbatim, except that
    /// `null` and a lone `{"message": "..."}` (what [`Step::error`] builds) become the protocol's
    /// usual error body. `retry_after` (seconds) sets the `Retry-After` header.
    Error {
        status: u16,
        #[serde(default)]
        body: Value,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// An in-stream error event, after which the stream ends. `error_type` defaults to
    /// `server_error` (OpenAI) or `api_error` (Anthropic).
    StreamError {
        message: String,
        #[serde(default)]
        error_type: Option<String>,
    },
    /// End the response body here, without the events that finish a reply, as when a provider's
    /// connection drops mid-answer.
    EndStream,
    /// Abort the connection mid-response (the client sees a transport error, not a clean end
    /// of the body), as when a proxy or the provider resets it.
    Reset,
    /// Stop sending but keep the connection open until the client goes away.
    Hang,
    /// Wait until the test opens the gate of this name ([`crate::FakeLlm::open_gate`]); a gate
    /// opened earlier lets the step pass at once. Lets a test order "the model is mid-answer"
    /// against its own actions without guessing how long either takes.
    Gate { name: String },
    /// Report these token counts instead of the fake's estimate.
    Usage {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// Finish as if the output token limit was hit.
    MaxTokens,
    /// Write one SSE event verbatim (`event:` line only when `event` is set), to test how clients
    /// cope with things the fake does not otherwise produce.
    Raw {
        #[serde(default)]
        event: Option<String>,
        data: String,
    },
}

impl Step {
    pub fn text(text: impl Into<String>) -> Self {
        Step::Text { text: text.into() }
    }

    pub fn reasoning(text: impl Into<String>) -> Self {
        Step::Reasoning { text: text.into() }
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Step::ToolCall {
            id: None,
            name: name.into(),
            arguments,
        }
    }

    pub fn delay(duration: Duration) -> Self {
        Step::Delay { duration }
    }

    pub fn gate(name: impl Into<String>) -> Self {
        Step::Gate { name: name.into() }
    }

    /// An HTTP error whose body the fake shapes for the protocol of the request, with `message`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Step::Error {
            status,
            body: serde_json::json!({"message": message.into()}),
            retry_after: None,
        }
    }

    pub fn stream_error(message: impl Into<String>) -> Self {
        Step::StreamError {
            message: message.into(),
            error_type: None,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Durations as whole milliseconds, which is what people write in script files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Splits text into word-sized deltas that concatenate back to the input: each chunk is a run of
/// non-whitespace followed by the whitespace after it.
pub(crate) fn chunk_text(text: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut previous_was_space = false;
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() && previous_was_space && i > start {
            chunks.push(&text[start..i]);
            start = i;
        }
        previous_was_space = c.is_whitespace();
    }
    if start < text.len() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// Splits serialized tool arguments into (up to) three fragments on character boundaries, the
/// way providers deliver them in pieces that are not valid JSON on their own.
pub(crate) fn fragment_arguments(json: &str) -> Vec<&str> {
    let chars: Vec<usize> = json.char_indices().map(|(i, _)| i).collect();
    if chars.len() < 3 {
        return vec![json];
    }
    let third = chars.len() / 3;
    vec![
        &json[..chars[third]],
        &json[chars[third]..chars[2 * third]],
        &json[chars[2 * third]..],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunks_keep_whitespace() {
        assert_eq!(
            chunk_text("Hello from  the fake.\n"),
            vec!["Hello ", "from  ", "the ", "fake.\n"]
        );
        assert_eq!(chunk_text("  lead"), vec!["  ", "lead"]);
        assert_eq!(chunk_text(""), Vec::<&str>::new());
        assert_eq!(chunk_text("ü ö").concat(), "ü ö");
    }

    #[test]
    fn fragments_rejoin() {
        let json = r#"{"path":"/tmp/ü.txt"}"#;
        let parts = fragment_arguments(json);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), json);
        assert_eq!(fragment_arguments("{}"), vec!["{}"]);
    }

    #[test]
    fn script_json_form() {
        let script = json!([{"steps": [
            {"type": "text", "text": "Hi"},
            {"type": "text_tokens", "count": 3, "delay_ms": 5, "embed_timestamp": true},
            {"type": "tool_call", "name": "ls"},
            {"type": "delay", "ms": 10},
            {"type": "error", "status": 429, "retry_after": 2},
            {"type": "stream_error", "message": "boom"},
            {"type": "hang"},
            {"type": "end_stream"},
            {"type": "reset"},
            {"type": "usage", "input_tokens": 1, "output_tokens": 2},
            {"type": "max_tokens"},
            {"type": "raw", "data": "{}"}
        ]}]);
        let turns: Vec<Turn> = serde_json::from_value(script.clone()).unwrap();
        assert_eq!(
            turns[0].steps[1],
            Step::TextTokens {
                count: 3,
                delay: Duration::from_millis(5),
                embed_timestamp: true
            }
        );
        assert_eq!(
            turns[0].steps[2],
            Step::ToolCall {
                id: None,
                name: "ls".into(),
                arguments: json!({})
            }
        );
        assert_eq!(
            turns[0].steps[4],
            Step::Error {
                status: 429,
                body: Value::Null,
                retry_after: Some(2)
            }
        );
        let back: Vec<Turn> =
            serde_json::from_value(serde_json::to_value(&turns).unwrap()).unwrap();
        assert_eq!(back, turns);
    }
}
