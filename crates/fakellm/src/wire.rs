//! SSE encoders for the two protocols. They produce what the real providers send (including a
//! few fields clients must ignore) so that client code exercised against the fake meets the same
//! shapes in production.

use serde_json::{Value, json};

use crate::Protocol;

/// How a turn ended, in protocol-neutral terms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    ToolCalls,
    Length,
}

/// Writes one protocol's events. Every method returns complete SSE frames.
pub(crate) trait Encoder: Send {
    fn start(&mut self) -> Vec<String>;
    fn text(&mut self, chunk: &str) -> Vec<String>;
    fn reasoning(&mut self, chunk: &str) -> Vec<String>;
    fn tool_call(&mut self, index: usize, id: &str, name: &str, fragments: &[&str]) -> Vec<String>;
    fn finish(&mut self, finish: Finish, input_tokens: u64, output_tokens: u64) -> Vec<String>;
    fn stream_error(&mut self, message: &str, error_type: Option<&str>) -> Vec<String>;
}

pub(crate) fn encoder(protocol: Protocol, request: &Value, message_id: String) -> Box<dyn Encoder> {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_string();
    match protocol {
        Protocol::OpenAi => {
            let include_usage = request
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Box::new(OpenAiEncoder {
                model,
                id: message_id,
                include_usage,
            })
        }
        Protocol::Anthropic => Box::new(AnthropicEncoder {
            model,
            id: message_id,
            open: None,
            next_index: 0,
        }),
    }
}

/// The error body each provider sends with a non-success status.
pub(crate) fn error_body(protocol: Protocol, status: u16, message: &str) -> Value {
    match protocol {
        Protocol::OpenAi => {
            json!({"error": {"message": message, "type": openai_error_type(status), "code": null}})
        }
        Protocol::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
        }
    }
}

fn openai_error_type(status: u16) -> &'static str {
    match status {
        401 | 403 => "invalid_request_error",
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn data_frame(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn event_frame(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

struct OpenAiEncoder {
    model: String,
    id: String,
    include_usage: bool,
}

impl OpenAiEncoder {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        data_frame(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        }))
    }
}

impl Encoder for OpenAiEncoder {
    fn start(&mut self) -> Vec<String> {
        vec![self.chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        )]
    }

    fn text(&mut self, chunk: &str) -> Vec<String> {
        vec![self.chunk(json!({"content": chunk}), None)]
    }

    /// Chat Completions has no reasoning field of its own; `reasoning_content` is what the
    /// compatible servers that stream reasoning (DeepSeek, vLLM) use.
    fn reasoning(&mut self, chunk: &str) -> Vec<String> {
        vec![self.chunk(json!({"reasoning_content": chunk}), None)]
    }

    fn tool_call(&mut self, index: usize, id: &str, name: &str, fragments: &[&str]) -> Vec<String> {
        let mut frames = vec![self.chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        )];
        for fragment in fragments {
            frames.push(self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ));
        }
        frames
    }

    fn finish(&mut self, finish: Finish, input_tokens: u64, output_tokens: u64) -> Vec<String> {
        let reason = match finish {
            Finish::Stop => "stop",
            Finish::ToolCalls => "tool_calls",
            Finish::Length => "length",
        };
        let mut frames = vec![self.chunk(json!({}), Some(reason))];
        if self.include_usage {
            frames.push(data_frame(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": self.model,
                "choices": [],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            })));
        }
        frames.push("data: [DONE]\n\n".to_string());
        frames
    }

    fn stream_error(&mut self, message: &str, error_type: Option<&str>) -> Vec<String> {
        vec![data_frame(
            &json!({"error": {"message": message, "type": error_type.unwrap_or("server_error")}}),
        )]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
}

struct AnthropicEncoder {
    model: String,
    id: String,
    /// The content block currently open, with its index.
    open: Option<(BlockKind, usize)>,
    next_index: usize,
}

impl AnthropicEncoder {
    fn close(&mut self) -> Vec<String> {
        let Some((kind, index)) = self.open.take() else {
            return Vec::new();
        };
        let mut frames = Vec::new();
        if kind == BlockKind::Thinking {
            frames.push(event_frame(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "ZmFrZQ=="}}),
            ));
        }
        frames.push(event_frame(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        frames
    }

    fn ensure_open(&mut self, kind: BlockKind) -> (Vec<String>, usize) {
        if let Some((open, index)) = self.open
            && open == kind
        {
            return (Vec::new(), index);
        }
        let mut frames = self.close();
        let index = self.next_index;
        self.next_index += 1;
        let block = match kind {
            BlockKind::Text => json!({"type": "text", "text": ""}),
            BlockKind::Thinking => json!({"type": "thinking", "thinking": ""}),
        };
        frames.push(event_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        self.open = Some((kind, index));
        (frames, index)
    }

    fn delta(&mut self, kind: BlockKind, delta: Value) -> Vec<String> {
        let (mut frames, index) = self.ensure_open(kind);
        frames.push(event_frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        frames
    }
}

impl Encoder for AnthropicEncoder {
    fn start(&mut self) -> Vec<String> {
        vec![
            event_frame(
                "message_start",
                &json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1},
                }}),
            ),
            event_frame("ping", &json!({"type": "ping"})),
        ]
    }

    fn text(&mut self, chunk: &str) -> Vec<String> {
        self.delta(
            BlockKind::Text,
            json!({"type": "text_delta", "text": chunk}),
        )
    }

    fn reasoning(&mut self, chunk: &str) -> Vec<String> {
        self.delta(
            BlockKind::Thinking,
            json!({"type": "thinking_delta", "thinking": chunk}),
        )
    }

    fn tool_call(
        &mut self,
        _index: usize,
        id: &str,
        name: &str,
        fragments: &[&str],
    ) -> Vec<String> {
        let mut frames = self.close();
        let index = self.next_index;
        self.next_index += 1;
        frames.push(event_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ));
        for fragment in fragments {
            frames.push(event_frame(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": fragment}}),
            ));
        }
        frames.push(event_frame(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        frames
    }

    /// The real API reports input tokens in `message_start`, before they are known here; the fake
    /// reports them in `message_delta`, which the API also allows and clients must read.
    fn finish(&mut self, finish: Finish, input_tokens: u64, output_tokens: u64) -> Vec<String> {
        let reason = match finish {
            Finish::Stop => "end_turn",
            Finish::ToolCalls => "tool_use",
            Finish::Length => "max_tokens",
        };
        let mut frames = self.close();
        frames.push(event_frame(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null},
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}),
        ));
        frames.push(event_frame(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        frames
    }

    fn stream_error(&mut self, message: &str, error_type: Option<&str>) -> Vec<String> {
        vec![event_frame(
            "error",
            &json!({"type": "error", "error": {"type": error_type.unwrap_or("api_error"), "message": message}}),
        )]
    }
}
