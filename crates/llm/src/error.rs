//! The one error type of this crate, and the classification that drives retries.

use std::time::Duration;

/// Everything that can end a model call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The provider configuration cannot produce a request (e.g. no base URL for an
    /// OpenAI-compatible provider).
    #[error("invalid provider configuration: {0}")]
    Config(String),

    /// The provider answered with a non-success HTTP status. `message` is the provider's own error
    /// message when the body had one, else the body text.
    #[error("HTTP {status}: {message}")]
    Http {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },

    /// The request could not be sent, or the connection broke while the answer was streaming.
    #[error("connection error: {0}")]
    Connect(String),

    /// The provider sent nothing (no headers, no event) for this long: a stalled connection.
    /// Retried like a broken connection when no content was streamed yet.
    #[error("the provider sent nothing for {} s", .0.as_secs_f64())]
    Idle(Duration),

    /// The provider reported an error inside an otherwise successful stream (an OpenAI
    /// `{"error": ...}` chunk or an Anthropic `error` event). `kind` is the provider's error type,
    /// such as `overloaded_error`.
    #[error("provider error{}: {message}", kind.as_deref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Provider {
        kind: Option<String>,
        message: String,
    },

    /// The stream ended or misbehaved in a way the protocol does not allow.
    #[error("stream error: {0}")]
    Stream(String),

    /// An event's payload was not the JSON it should be.
    #[error("cannot decode provider event: {0}")]
    Decode(String),

    /// The model produced tool-call arguments that are not valid JSON. This is an error rather
    /// than a best-effort value so a caller never runs a tool with arguments it did not get; the
    /// raw text is kept so it can be shown to the model or the user.
    #[error("tool call {name} ({id}) has arguments that are not valid JSON: {error}")]
    InvalidToolArguments {
        id: String,
        name: String,
        raw: String,
        error: String,
    },
}

/// HTTP statuses that mean "try again later": timeouts, rate limits, server errors, and
/// Anthropic's 529 "overloaded".
const RETRYABLE_STATUSES: [u16; 7] = [408, 429, 500, 502, 503, 504, 529];

/// In-stream error types that are the streaming twins of 429 and 529. Other in-stream errors
/// (`api_error`, `server_error`, ...) arrive after the provider accepted the request and are
/// surfaced, because re-sending rarely helps and the caller may already be showing output.
const RETRYABLE_STREAM_KINDS: [&str; 2] = ["overloaded_error", "rate_limit_error"];

impl LlmError {
    /// Whether a new attempt of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => RETRYABLE_STATUSES.contains(status),
            LlmError::Connect(_) | LlmError::Idle(_) => true,
            LlmError::Provider {
                kind: Some(kind), ..
            } => RETRYABLE_STREAM_KINDS.contains(&kind.as_str()),
            LlmError::Provider { kind: None, .. }
            | LlmError::Config(_)
            | LlmError::Stream(_)
            | LlmError::Decode(_)
            | LlmError::InvalidToolArguments { .. } => false,
        }
    }

    /// The HTTP status, for errors that came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            LlmError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the provider asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Extracts a readable message from an error response body. Both providers use
/// `{"error": {"message": ...}}` (Anthropic adds a top-level `"type": "error"`); OpenAI-compatible
/// servers vary, so a few other shapes are accepted before falling back to the raw text, and to
/// `fallback` (the status's reason phrase) for an empty body.
pub(crate) fn error_message_from_body(body: &str, fallback: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        if let Some(message) = error.get("message").and_then(|m| m.as_str()) {
            return match error.get("type").and_then(|t| t.as_str()) {
                Some(kind) => format!("{message} ({kind})"),
                None => message.to_string(),
            };
        }
        if let Some(message) = error.as_str() {
            return message.to_string();
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return fallback.to_string();
    }
    // Error pages from proxies can be large HTML documents; a prefix is enough to recognise them.
    const MAX: usize = 500;
    match trimmed.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503, 504, 529] {
            let err = LlmError::Http {
                status,
                message: String::new(),
                retry_after: None,
            };
            assert!(err.is_retryable(), "{status} should be retryable");
        }
        for status in [400, 401, 403, 404, 413, 422] {
            let err = LlmError::Http {
                status,
                message: String::new(),
                retry_after: None,
            };
            assert!(!err.is_retryable(), "{status} should not be retryable");
        }
    }

    #[test]
    fn stream_errors_retry_only_on_load_signals() {
        let overloaded = LlmError::Provider {
            kind: Some("overloaded_error".into()),
            message: "x".into(),
        };
        let api = LlmError::Provider {
            kind: Some("api_error".into()),
            message: "x".into(),
        };
        assert!(overloaded.is_retryable());
        assert!(!api.is_retryable());
        assert!(LlmError::Connect("reset".into()).is_retryable());
        assert!(!LlmError::Decode("bad".into()).is_retryable());
    }

    #[test]
    fn messages_from_bodies() {
        let openai = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            error_message_from_body(openai, ""),
            "Incorrect API key provided (invalid_request_error)"
        );
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(
            error_message_from_body(anthropic, ""),
            "invalid x-api-key (authentication_error)"
        );
        assert_eq!(
            error_message_from_body(r#"{"error":"model not loaded"}"#, ""),
            "model not loaded"
        );
        assert_eq!(
            error_message_from_body("  Bad Gateway \n", ""),
            "Bad Gateway"
        );
        assert_eq!(
            error_message_from_body("", "Service Unavailable"),
            "Service Unavailable"
        );
        let long = "x".repeat(600);
        assert_eq!(error_message_from_body(&long, "").chars().count(), 501);
    }

    #[test]
    fn display_includes_status_and_kind() {
        let err = LlmError::Http {
            status: 401,
            message: "bad key".into(),
            retry_after: None,
        };
        assert_eq!(err.to_string(), "HTTP 401: bad key");
        let err = LlmError::Provider {
            kind: Some("overloaded_error".into()),
            message: "Overloaded".into(),
        };
        assert_eq!(
            err.to_string(),
            "provider error (overloaded_error): Overloaded"
        );
    }
}
