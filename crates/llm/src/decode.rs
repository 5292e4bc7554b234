//! What the two protocol decoders share: the decoder interface the client drives, and the
//! accumulation of streamed tool-call arguments into parsed JSON.

use crate::{LlmError, StreamEvent};

/// Turns one provider's server-sent events into normalized [`StreamEvent`]s.
///
/// A decoder is created per attempt, so it never sees two responses.
pub(crate) trait Decoder: Send {
    /// Handles one SSE event (`event` is the SSE event name, `"message"` when absent).
    fn on_event(&mut self, event: &str, data: &str) -> Result<Vec<StreamEvent>, LlmError>;

    /// Handles the end of the byte stream.
    fn on_eof(&mut self) -> Result<Vec<StreamEvent>, LlmError>;

    /// True once the response is complete; the client then stops reading.
    fn is_done(&self) -> bool;
}

/// One tool call being streamed.
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    /// Arguments delivered whole at the start of the call instead of as fragments; used only when
    /// no fragment follows.
    initial: Option<serde_json::Value>,
    ended: bool,
}

/// Collects tool calls by their normalized index (0, 1, ...) and parses their arguments once the
/// provider says they are complete.
#[derive(Default)]
pub(crate) struct ToolCalls {
    calls: Vec<PartialCall>,
}

impl ToolCalls {
    /// Registers a new call and returns its index.
    pub fn start(&mut self, id: String, name: String, initial: Option<serde_json::Value>) -> usize {
        self.calls.push(PartialCall {
            id,
            name,
            arguments: String::new(),
            initial,
            ended: false,
        });
        self.calls.len() - 1
    }

    pub fn start_event(&self, index: usize) -> StreamEvent {
        let call = &self.calls[index];
        StreamEvent::ToolCallStart {
            index,
            id: call.id.clone(),
            name: call.name.clone(),
        }
    }

    pub fn append(&mut self, index: usize, fragment: &str) {
        if let Some(call) = self.calls.get_mut(index) {
            call.arguments.push_str(fragment);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Completes one call. Empty arguments mean "no arguments" (`{}`), which is how both providers
    /// stream a call to a tool without parameters.
    pub fn end(&mut self, index: usize) -> Result<Option<StreamEvent>, LlmError> {
        let Some(call) = self.calls.get_mut(index) else {
            return Ok(None);
        };
        if call.ended {
            return Ok(None);
        }
        call.ended = true;
        let arguments = if call.arguments.trim().is_empty() {
            call.initial.take().unwrap_or_else(|| serde_json::json!({}))
        } else {
            serde_json::from_str(&call.arguments).map_err(|e| LlmError::InvalidToolArguments {
                id: call.id.clone(),
                name: call.name.clone(),
                raw: call.arguments.clone(),
                error: e.to_string(),
            })?
        };
        Ok(Some(StreamEvent::ToolCallEnd {
            index,
            id: call.id.clone(),
            name: call.name.clone(),
            arguments,
        }))
    }

    /// Completes every call not yet ended, in index order.
    pub fn end_all(&mut self) -> Result<Vec<StreamEvent>, LlmError> {
        let mut events = Vec::new();
        for index in 0..self.calls.len() {
            events.extend(self.end(index)?);
        }
        Ok(events)
    }
}

/// Parses an event payload, naming the event in the error so a bad provider is easy to spot.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    data: &str,
) -> Result<T, LlmError> {
    serde_json::from_str(data)
        .map_err(|e| LlmError::Decode(format!("{what}: {e}: {}", abbreviate(data))))
}

fn abbreviate(data: &str) -> &str {
    match data.char_indices().nth(200) {
        Some((cut, _)) => &data[..cut],
        None => data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_are_joined_and_parsed() {
        let mut calls = ToolCalls::default();
        let index = calls.start("call_1".into(), "read_file".into(), None);
        calls.append(index, r#"{"pa"#);
        calls.append(index, r#"th": "/a"}"#);
        let end = calls.end(index).unwrap().unwrap();
        assert_eq!(
            end,
            StreamEvent::ToolCallEnd {
                index: 0,
                id: "call_1".into(),
                name: "read_file".into(),
                arguments: json!({"path": "/a"})
            }
        );
        assert_eq!(calls.end(index).unwrap(), None, "a call ends once");
    }

    #[test]
    fn empty_arguments_are_an_empty_object_or_the_initial_value() {
        let mut calls = ToolCalls::default();
        calls.start("a".into(), "list".into(), None);
        calls.start("b".into(), "list".into(), Some(json!({"x": 1})));
        let events = calls.end_all().unwrap();
        assert!(
            matches!(&events[0], StreamEvent::ToolCallEnd { arguments, .. } if *arguments == json!({}))
        );
        assert!(
            matches!(&events[1], StreamEvent::ToolCallEnd { arguments, .. } if *arguments == json!({"x": 1}))
        );
    }

    #[test]
    fn invalid_arguments_are_an_error() {
        let mut calls = ToolCalls::default();
        let index = calls.start("a".into(), "write".into(), None);
        calls.append(index, r#"{"path": "#);
        let err = calls.end(index).unwrap_err();
        assert!(
            matches!(&err, LlmError::InvalidToolArguments { raw, .. } if raw == r#"{"path": "#)
        );
        assert!(!err.is_retryable());
    }
}
