//! Anthropic Messages: request body and streaming decoder.
//!
//! Anthropic's history rules differ from OpenAI's: the system prompt is a top-level field, tool
//! results are `tool_result` blocks inside a *user* message, and roles should alternate. The
//! converter therefore merges adjacent messages of the same role (several tool results, or tool
//! results followed by the user's next text) into one.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::decode::{Decoder, ToolCalls, parse_json};
use crate::{ChatRequest, FinishReason, LlmError, Message, StreamEvent, Usage, UserPart};

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";

/// The base URL up to and including `/v1`. Anthropic's SDKs take the base URL without the
/// version (`https://api.anthropic.com`, also in `ANTHROPIC_BASE_URL`) and add `/v1/messages`;
/// agentry has always taken it with `/v1`. Both spellings work: `/v1` is added when missing.
pub(crate) fn versioned_base(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") { base.to_string() } else { format!("{base}/v1") }
}
pub(crate) const API_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`. 32,000 is chatd's default output budget and is accepted by
/// every current Claude model.
const DEFAULT_MAX_TOKENS: u32 = 32_000;

/// Builds the JSON body for `POST {base}/messages`.
pub(crate) fn request_body(req: &ChatRequest) -> Value {
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &req.messages {
        let (role, blocks) = message_blocks(message);
        if blocks.is_empty() {
            // Anthropic rejects messages without content (an assistant turn that produced
            // nothing, e.g. interrupted before its first token).
            continue;
        }
        match messages.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();

    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        body["tools"] = Value::Array(tools);
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

fn message_blocks(message: &Message) -> (&'static str, Vec<Value>) {
    match message {
        Message::User { content } => {
            let blocks = content
                .iter()
                .map(|part| match part {
                    UserPart::Text(text) => json!({"type": "text", "text": text}),
                    UserPart::Image {
                        media_type,
                        data_base64,
                    } => json!({
                        "type": "image",
                        "source": {"type": "base64", "media_type": media_type, "data": data_base64},
                    }),
                })
                .collect();
            ("user", blocks)
        }
        Message::Assistant {
            text,
            reasoning: _,
            tool_calls,
        } => {
            let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
            // Empty text blocks are rejected by the API.
            if !text.is_empty() {
                blocks.push(json!({"type": "text", "text": text}));
            }
            for call in tool_calls {
                blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}));
            }
            ("assistant", blocks)
        }
        Message::ToolResult {
            tool_call_id,
            tool_name: _,
            content,
            is_error,
        } => {
            let mut block =
                json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content});
            if *is_error {
                block["is_error"] = json!(true);
            }
            ("user", vec![block])
        }
    }
}

/// What a content block of the current message is, by Anthropic's block index.
enum Block {
    Tool(usize),
    Other,
}

/// Streaming decoder for Messages events.
#[derive(Default)]
pub(crate) struct AnthropicDecoder {
    tools: ToolCalls,
    blocks: HashMap<u64, Block>,
    usage: Usage,
    saw_usage: bool,
    stop_reason: Option<String>,
    done: bool,
}

impl AnthropicDecoder {
    fn usage_from(&mut self, usage: &Value) {
        let number = |key: &str| usage.get(key).and_then(Value::as_u64);
        // message_start carries the input side; message_delta carries the cumulative output count
        // (and, on some proxies, the input side again). Later values replace earlier ones.
        if let Some(n) = number("input_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = number("output_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(n) = number("cache_read_input_tokens") {
            self.usage.cache_read_tokens = Some(n);
        }
        if let Some(n) = number("cache_creation_input_tokens") {
            self.usage.cache_creation_tokens = Some(n);
        }
        self.saw_usage = true;
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        self.done = true;
        let mut events = self.tools.end_all()?;
        if self.saw_usage {
            events.push(StreamEvent::Usage(self.usage));
        }
        let reason = match self.stop_reason.take().as_deref() {
            Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
            Some("tool_use") => FinishReason::ToolCalls,
            Some("max_tokens") => FinishReason::Length,
            Some(other) => FinishReason::Other(other.to_string()),
            None if !self.tools.is_empty() => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        events.push(StreamEvent::Finish { reason });
        Ok(events)
    }
}

impl Decoder for AnthropicDecoder {
    fn on_event(&mut self, event: &str, data: &str) -> Result<Vec<StreamEvent>, LlmError> {
        if let Some(events) = text_delta(data) {
            return Ok(events);
        }
        self.on_payload(event, data)
    }

    fn on_eof(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        Err(LlmError::Stream(
            "the stream ended before message_stop".into(),
        ))
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// The event as it is for nearly every token: a `content_block_delta` whose delta is a
/// `text_delta` or a `thinking_delta`. Read straight into borrowed fields instead of a
/// `serde_json::Value` tree per token (two maps, a clone of the delta, a string per key), as
/// OpenAI's chunks are (issue 18). Anything else — or anything this shape does not read —
/// returns `None` and goes through [`AnthropicDecoder::on_payload`], so both paths give the
/// same events (unit test `the_text_fast_path_agrees_with_the_general_one`).
fn text_delta(data: &str) -> Option<Vec<StreamEvent>> {
    use std::borrow::Cow;
    #[derive(serde::Deserialize)]
    struct Payload<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        delta: Delta<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Delta<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(default, borrow)]
        text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        thinking: Option<Cow<'a, str>>,
    }
    if *GENERAL_PATH_ONLY {
        return None;
    }
    // `null` reads as absent, as the general path treats it; a payload without its own `type`
    // (a proxy that strips it) or of another shape takes the general path.
    let payload: Payload<'_> = serde_json::from_str(data).ok()?;
    if payload.kind != "content_block_delta" {
        return None;
    }
    let d = payload.delta;
    let event = match &*d.kind {
        "text_delta" => d.text.filter(|t| !t.is_empty()).map(|t| StreamEvent::TextDelta(t.into_owned())),
        "thinking_delta" => d.thinking.filter(|t| !t.is_empty()).map(|t| StreamEvent::ReasoningDelta(t.into_owned())),
        _ => return None,
    };
    Some(event.into_iter().collect())
}

/// `AGENTRY_BENCH_BEFORE=llm-chunk`: every event through `serde_json::Value`, as before issue 18.
static GENERAL_PATH_ONLY: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::env::var("AGENTRY_BENCH_BEFORE").is_ok_and(|v| v.split(',').any(|s| s.trim() == "llm-chunk"))
});

impl AnthropicDecoder {
    /// Any event, read as a `serde_json::Value`.
    fn on_payload(&mut self, event: &str, data: &str) -> Result<Vec<StreamEvent>, LlmError> {
        if data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let payload: Value = parse_json(event, data)?;
        // The payload's own `type` is authoritative; the SSE event name is the fallback for
        // proxies that strip one or the other.
        let kind = payload.get("type").and_then(Value::as_str).unwrap_or(event);
        let mut events = Vec::new();
        match kind {
            "message_start" => {
                if let Some(usage) = payload.pointer("/message/usage") {
                    self.usage_from(usage);
                }
            }
            "content_block_start" => {
                let index = payload.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = payload.get("content_block").cloned().unwrap_or(Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let id = block
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let name = block
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let initial = block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()));
                        let tool = self.tools.start(id, name, initial.cloned());
                        self.blocks.insert(index, Block::Tool(tool));
                        events.push(self.tools.start_event(tool));
                    }
                    Some("text") => {
                        if let Some(text) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            events.push(StreamEvent::TextDelta(text.to_string()));
                        }
                        self.blocks.insert(index, Block::Other);
                    }
                    Some("thinking") => {
                        if let Some(text) = block
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            events.push(StreamEvent::ReasoningDelta(text.to_string()));
                        }
                        self.blocks.insert(index, Block::Other);
                    }
                    _ => {
                        self.blocks.insert(index, Block::Other);
                    }
                }
            }
            "content_block_delta" => {
                let index = payload.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = payload.get("delta").cloned().unwrap_or(Value::Null);
                let text = |key: &str| {
                    delta
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                };
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        events.extend(text("text").map(|t| StreamEvent::TextDelta(t.to_string())));
                    }
                    Some("thinking_delta") => {
                        events.extend(
                            text("thinking").map(|t| StreamEvent::ReasoningDelta(t.to_string())),
                        );
                    }
                    Some("input_json_delta") => {
                        if let (Some(Block::Tool(tool)), Some(fragment)) =
                            (self.blocks.get(&index), text("partial_json"))
                        {
                            let tool = *tool;
                            self.tools.append(tool, fragment);
                            events.push(StreamEvent::ToolCallArgsDelta {
                                index: tool,
                                delta: fragment.to_string(),
                            });
                        }
                    }
                    // signature_delta, citations_delta and future delta types carry nothing the
                    // normalized stream has a place for.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = payload.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(Block::Tool(tool)) = self.blocks.get(&index) {
                    let tool = *tool;
                    events.extend(self.tools.end(tool)?);
                }
            }
            "message_delta" => {
                if let Some(reason) = payload
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(reason.to_string());
                }
                if let Some(usage) = payload.get("usage") {
                    self.usage_from(usage);
                }
            }
            "message_stop" => return self.finish(),
            "error" => {
                let error = payload.get("error").unwrap_or(&payload);
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string();
                let kind = error
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                return Err(LlmError::Provider { kind, message });
            }
            // "ping" and event types added after this was written.
            _ => {}
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_fast_path_agrees_with_the_general_one() {
        let events = [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"⟨17⟩ "}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm \"q\" \u00e9"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","thinking":"b"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"x"}}"#,
            r#"{"index":0,"delta":{"type":"text_delta","text":"no type"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":null}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"hi"}}"#,
            r#"{"type":"message_delta","delta":{"type":"text_delta","text":"not a block"},"usage":{"output_tokens":3}}"#,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
        ];
        let mut fast_taken = 0;
        for data in events {
            // A tool block at index 0 first, so that an input delta has somewhere to go.
            let mut general = AnthropicDecoder::default();
            general
                .on_payload("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"ls","input":{}}}"#)
                .unwrap();
            let general = general.on_payload("content_block_delta", data);
            if let Some(fast) = text_delta(data) {
                fast_taken += 1;
                assert_eq!(Ok(fast), general, "{data}");
            }
        }
        assert!(text_delta(events[0]).is_some_and(|e| e == [StreamEvent::TextDelta("⟨17⟩ ".into())]));
        assert_eq!(fast_taken, 5, "the five text and thinking deltas take the fast path");
    }

    #[test]
    fn usage_combines_start_and_delta() {
        let mut decoder = AnthropicDecoder::default();
        decoder
            .on_event(
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":1}}}"#,
            )
            .unwrap();
        decoder
            .on_event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":42}}"#)
            .unwrap();
        let events = decoder
            .on_event("message_stop", r#"{"type":"message_stop"}"#)
            .unwrap();
        assert_eq!(
            events,
            vec![
                StreamEvent::Usage(Usage {
                    input_tokens: 12,
                    output_tokens: 42,
                    reasoning_tokens: None,
                    cache_read_tokens: Some(100),
                    cache_creation_tokens: Some(5),
                }),
                StreamEvent::Finish {
                    reason: FinishReason::Length
                },
            ]
        );
        assert!(decoder.is_done());
    }

    #[test]
    fn tool_input_given_whole_at_block_start_is_used() {
        let mut decoder = AnthropicDecoder::default();
        decoder
            .on_event(
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"ls","input":{"dir":"/"}}}"#,
            )
            .unwrap();
        let events = decoder
            .on_event(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            )
            .unwrap();
        assert_eq!(
            events,
            vec![StreamEvent::ToolCallEnd {
                index: 0,
                id: "t1".into(),
                name: "ls".into(),
                arguments: json!({"dir": "/"})
            }]
        );
    }
}
