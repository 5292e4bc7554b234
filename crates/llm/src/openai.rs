//! OpenAI Chat Completions: request body and streaming decoder.
//!
//! Used for OpenAI and for every OpenAI-compatible server, so the decoder is deliberately
//! forgiving: chunks are parsed as loose JSON, unknown fields are ignored, reasoning is read from
//! either `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter), a missing `[DONE]`
//! is tolerated once a finish reason was seen, and a missing tool-call `index` falls back to the
//! position in the array.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::decode::{Decoder, ToolCalls, parse_json};
use crate::{
    ChatRequest, FinishReason, LlmError, Message, ProviderKind, StreamEvent, Usage, UserPart,
};

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Builds the JSON body for `POST {base}/chat/completions`.
pub(crate) fn request_body(kind: ProviderKind, req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &req.messages {
        messages.push(message_json(message));
    }

    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    if let Some(max) = req.max_tokens {
        // OpenAI's reasoning models reject the deprecated `max_tokens`; most compatible servers
        // only know `max_tokens`.
        let field = if kind == ProviderKind::OpenAi {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = json!(max);
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::User { content } => {
            // A lone text part is sent as a plain string: some compatible servers accept nothing
            // else, and it means the same to OpenAI.
            if let [UserPart::Text(text)] = content.as_slice() {
                return json!({"role": "user", "content": text});
            }
            let parts: Vec<Value> = content
                .iter()
                .map(|part| match part {
                    UserPart::Text(text) => json!({"type": "text", "text": text}),
                    UserPart::Image {
                        media_type,
                        data_base64,
                    } => json!({
                        "type": "image_url",
                        "image_url": {"url": format!("data:{media_type};base64,{data_base64}")},
                    }),
                })
                .collect();
            json!({"role": "user", "content": parts})
        }
        Message::Assistant {
            text,
            reasoning: _,
            tool_calls,
        } => {
            let content = if text.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            let mut out = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_string()},
                        })
                    })
                    .collect();
                out["tool_calls"] = Value::Array(calls);
            }
            out
        }
        // Chat Completions has no error flag on tool messages; the content itself has to say that
        // the tool failed, which is what callers put there.
        Message::ToolResult {
            tool_call_id,
            tool_name: _,
            content,
            is_error: _,
        } => {
            json!({"role": "tool", "tool_call_id": tool_call_id, "content": content})
        }
    }
}

/// Streaming decoder for `chat.completion.chunk` events.
#[derive(Default)]
pub(crate) struct OpenAiDecoder {
    tools: ToolCalls,
    /// Provider tool-call index → our index.
    tool_index: HashMap<u64, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

impl OpenAiDecoder {
    fn finish(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        self.done = true;
        let mut events = self.tools.end_all()?;
        events.extend(self.usage.take().map(StreamEvent::Usage));
        let reason = match self.finish.take() {
            Some(reason) => reason,
            // Some servers omit the finish reason when they stop for tool calls.
            None if !self.tools.is_empty() => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        events.push(StreamEvent::Finish { reason });
        Ok(events)
    }

    fn on_chunk(&mut self, chunk: &Value) -> Result<Vec<StreamEvent>, LlmError> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error(error));
        }
        let mut events = Vec::new();
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(parse_usage(usage));
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(events);
        };
        if let Some(delta) = choice.get("delta") {
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = delta
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    events.push(StreamEvent::ReasoningDelta(text.to_string()));
                }
            }
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                events.push(StreamEvent::TextDelta(text.to_string()));
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (position, call) in calls.iter().enumerate() {
                    self.on_tool_call_delta(position, call, &mut events);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(match reason {
                "stop" => FinishReason::Stop,
                "tool_calls" | "function_call" => FinishReason::ToolCalls,
                "length" => FinishReason::Length,
                other => FinishReason::Other(other.to_string()),
            });
            // Arguments are complete once the choice finished; the usage chunk may still follow.
            events.extend(self.tools.end_all()?);
        }
        Ok(events)
    }

    fn on_tool_call_delta(&mut self, position: usize, call: &Value, events: &mut Vec<StreamEvent>) {
        let provider_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let function = call.get("function");
        let fragment = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let index = match self.tool_index.get(&provider_index) {
            Some(&index) => index,
            None => {
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let name = function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let index = self.tools.start(id, name, None);
                self.tool_index.insert(provider_index, index);
                events.push(self.tools.start_event(index));
                index
            }
        };
        if !fragment.is_empty() {
            self.tools.append(index, fragment);
            events.push(StreamEvent::ToolCallArgsDelta {
                index,
                delta: fragment.to_string(),
            });
        }
    }
}

impl Decoder for OpenAiDecoder {
    fn on_event(&mut self, _event: &str, data: &str) -> Result<Vec<StreamEvent>, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            return self.finish();
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(events) = text_only_chunk(data) {
            return Ok(events);
        }
        let chunk: Value = parse_json("chat completion chunk", data)?;
        self.on_chunk(&chunk)
    }

    fn on_eof(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        if self.finish.is_some() {
            return self.finish();
        }
        Err(LlmError::Stream(
            "the stream ended before the response finished".into(),
        ))
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// The chunk as it is for nearly every token: one choice whose delta holds only text
/// (`content`, `reasoning_content` or `reasoning`) and no finish reason, no usage, no error.
/// Read straight into borrowed fields; building a `serde_json::Value` for each token (a map
/// and a string per key) was the largest part of the decoder's CPU per streamed token
/// (issue 18). Anything else — or anything this shape does not read — returns `None`, and the
/// chunk goes through [`OpenAiDecoder::on_chunk`] as before, so both paths give the same
/// events (unit test `the_text_fast_path_agrees_with_the_general_one`).
fn text_only_chunk(data: &str) -> Option<Vec<StreamEvent>> {
    use std::borrow::Cow;
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow)]
        choices: [Choice<'a>; 1],
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        usage: Option<serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct Choice<'a> {
        #[serde(borrow)]
        delta: Delta<'a>,
        #[serde(default)]
        finish_reason: Option<serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct Delta<'a> {
        #[serde(default, borrow)]
        content: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        reasoning_content: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        reasoning: Option<Cow<'a, str>>,
        #[serde(default)]
        tool_calls: Option<serde::de::IgnoredAny>,
    }
    if *GENERAL_PATH_ONLY {
        return None;
    }
    // `null` reads as absent (`None`), as the general path treats it; any other value of these
    // keys sends the chunk down the general path.
    let chunk: Chunk<'_> = serde_json::from_str(data).ok()?;
    let [choice] = chunk.choices;
    if chunk.error.is_some() || chunk.usage.is_some() || choice.finish_reason.is_some() || choice.delta.tool_calls.is_some() {
        return None;
    }
    let d = choice.delta;
    let mut events = Vec::with_capacity(1);
    for t in [d.reasoning_content, d.reasoning].into_iter().flatten().filter(|t| !t.is_empty()) {
        events.push(StreamEvent::ReasoningDelta(t.into_owned()));
    }
    if let Some(t) = d.content.filter(|t| !t.is_empty()) {
        events.push(StreamEvent::TextDelta(t.into_owned()));
    }
    Some(events)
}

/// `AGENTRY_BENCH_BEFORE=llm-chunk`: every chunk through `serde_json::Value`, as before issue
/// 18 (the benchmark's before/after in one build).
static GENERAL_PATH_ONLY: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::env::var("AGENTRY_BENCH_BEFORE").is_ok_and(|v| v.split(',').any(|s| s.trim() == "llm-chunk"))
});

fn stream_error(error: &Value) -> LlmError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("unknown error")
        .to_string();
    let kind = error
        .get("type")
        .or_else(|| error.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    LlmError::Provider { kind, message }
}

fn parse_usage(usage: &Value) -> Usage {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64);
    let prompt = number(usage.get("prompt_tokens")).unwrap_or(0);
    let cached = number(usage.pointer("/prompt_tokens_details/cached_tokens"));
    Usage {
        input_tokens: prompt.saturating_sub(cached.unwrap_or(0)),
        output_tokens: number(usage.get("completion_tokens")).unwrap_or(0),
        reasoning_tokens: number(usage.pointer("/completion_tokens_details/reasoning_tokens")),
        cache_read_tokens: cached,
        cache_creation_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_subtracts_cached_prompt_tokens() {
        let usage = parse_usage(&json!({
            "prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 25},
        }));
        assert_eq!(
            usage,
            Usage {
                input_tokens: 40,
                output_tokens: 40,
                reasoning_tokens: Some(25),
                cache_read_tokens: Some(60),
                cache_creation_tokens: None
            }
        );
    }

    /// Every chunk the text fast path takes gives the events the general path gives, and the
    /// ordinary text chunk does take it.
    #[test]
    fn the_text_fast_path_agrees_with_the_general_one() {
        let chunks = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"⟨17⟩ "},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"content":"a \"quoted\" \u00e9"}}],"usage":null}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"think","content":"say"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"r","reasoning_content":"rc"}}]}"#,
            r#"{"choices":[{"delta":{"content":null,"tool_calls":null}}],"error":null}"#,
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"ls","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
            r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":[{"delta":null}]}"#,
            r#"{"choices":[{"delta":{"content":"x"}}],"error":{"message":"boom"}}"#,
            r#"{"choices":[{"delta":{"content":"x"}}],"usage":{"completion_tokens":1}}"#,
        ];
        let mut fast_taken = 0;
        for data in chunks {
            let general = OpenAiDecoder::default().on_chunk(&serde_json::from_str(data).unwrap());
            if let Some(fast) = text_only_chunk(data) {
                fast_taken += 1;
                assert_eq!(Ok(fast), general, "{data}");
            }
        }
        assert!(text_only_chunk(chunks[0]).is_some_and(|e| e == [StreamEvent::TextDelta("⟨17⟩ ".into())]));
        assert_eq!(fast_taken, 6, "the six plain text chunks take the fast path");
    }

    #[test]
    fn missing_done_is_tolerated_after_a_finish_reason() {
        let mut decoder = OpenAiDecoder::default();
        decoder
            .on_event(
                "message",
                r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}"#,
            )
            .unwrap();
        let events = decoder.on_eof().unwrap();
        assert_eq!(
            events,
            vec![StreamEvent::Finish {
                reason: FinishReason::Stop
            }]
        );
    }

    #[test]
    fn eof_without_finish_is_an_error() {
        let mut decoder = OpenAiDecoder::default();
        decoder
            .on_event("message", r#"{"choices":[{"delta":{"content":"hi"}}]}"#)
            .unwrap();
        assert!(matches!(decoder.on_eof(), Err(LlmError::Stream(_))));
    }

    #[test]
    fn tool_call_without_index_uses_position() {
        let mut decoder = OpenAiDecoder::default();
        let events = decoder
            .on_event(
                "message",
                r#"{"choices":[{"delta":{"tool_calls":[{"id":"c1","function":{"name":"ls","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            )
            .unwrap();
        assert!(matches!(
            events.last(),
            Some(StreamEvent::ToolCallEnd { index: 0, .. })
        ));
    }
}
