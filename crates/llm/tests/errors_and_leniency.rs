//! In-stream errors are surfaced readably; things the client does not know are ignored.

mod common;

use agentry_fakellm::{FakeLlm, Step, Turn};
use agentry_llm::{FinishReason, LlmError, ProviderKind, RetryPolicy, StreamEvent};
use common::{PROTOCOLS, collect, request, text_of};
use serde_json::json;

#[tokio::test]
async fn in_stream_errors_end_the_stream_with_the_message() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::text("Some text").then(Step::stream_error("the model crashed")));
        let (events, err) = collect(&fake, kind, &request("hi"), &RetryPolicy::default()).await;
        assert_eq!(text_of(&events), "Some text");
        let err = err.expect("error surfaced");
        assert!(err.to_string().contains("the model crashed"), "{err}");
        assert!(!err.is_retryable());
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Finish { .. }))
        );
    }
}

#[tokio::test]
async fn in_stream_error_before_content_is_not_retried_unless_it_is_a_load_signal() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![Step::stream_error("bad things")]));
    let (events, err) = collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &common::fast_retries(3),
    )
    .await;
    assert!(events.is_empty());
    assert_eq!(
        err,
        Some(LlmError::Provider {
            kind: Some("server_error".into()),
            message: "bad things".into()
        })
    );
}

#[tokio::test]
async fn unknown_openai_fields_and_chunks_are_ignored() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![
        Step::Raw { event: None, data: json!({"id": "x", "object": "chat.completion.chunk", "choices": [], "obfuscation": "abc"}).to_string() },
        Step::Raw {
            event: None,
            data: json!({"choices": [{"index": 0, "delta": {"content": "Hi ", "audio": null, "future_field": {"a": 1}}, "finish_reason": null, "extra": true}]}).to_string(),
        },
        Step::Raw { event: Some("keepalive".into()), data: String::new() },
        Step::Raw { event: None, data: json!({"totally": "unrelated"}).to_string() },
        Step::text("there."),
    ]));
    let (events, err) = collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    assert_eq!(err, None);
    assert_eq!(text_of(&events), "Hi there.");
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::Stop
        })
    );
}

#[tokio::test]
async fn unknown_anthropic_events_and_deltas_are_ignored() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![
        Step::Raw { event: Some("mystery_event".into()), data: json!({"type": "mystery_event", "payload": [1, 2]}).to_string() },
        Step::Raw { event: Some("ping".into()), data: json!({"type": "ping"}).to_string() },
        Step::text("Hi "),
        Step::Raw {
            event: Some("content_block_delta".into()),
            data: json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}}).to_string(),
        },
        Step::text("there."),
    ]));
    let (events, err) = collect(
        &fake,
        ProviderKind::Anthropic,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    assert_eq!(err, None);
    assert_eq!(text_of(&events), "Hi there.");
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::new(vec![Step::Raw {
            event: Some("content_block_delta".into()),
            data: "{not json".into(),
        }]));
        let (_, err) = collect(&fake, kind, &request("hi"), &RetryPolicy::default()).await;
        assert!(
            matches!(err, Some(LlmError::Decode(_))),
            "{kind:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn invalid_tool_arguments_are_an_explicit_error() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![
        Step::Raw {
            event: None,
            data: json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "write_file", "arguments": "{\"path\": "}}]}}]}).to_string(),
        },
        Step::Raw { event: None, data: json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}).to_string() },
    ]));
    let (events, err) = collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    assert!(matches!(
        events.last(),
        Some(StreamEvent::ToolCallArgsDelta { .. })
    ));
    assert_eq!(
        err,
        Some(LlmError::InvalidToolArguments {
            id: "c1".into(),
            name: "write_file".into(),
            raw: "{\"path\": ".into(),
            error: "EOF while parsing a value at line 1 column 9".into(),
        })
    );
}

#[tokio::test]
async fn a_stream_that_stops_early_is_an_error() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::text("cut").then(Step::EndStream));
        let (events, err) = collect(&fake, kind, &request("hi"), &common::fast_retries(3)).await;
        assert_eq!(text_of(&events), "cut");
        assert!(
            matches!(err, Some(LlmError::Stream(_))),
            "{kind:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn missing_configuration_is_reported_without_a_request() {
    let fake = FakeLlm::start().await;
    let client = agentry_llm::Client::new().unwrap();
    let no_key = agentry_llm::ProviderConfig::new(ProviderKind::Anthropic)
        .with_base_url(fake.anthropic_base_url());
    let no_base = agentry_llm::ProviderConfig::new(ProviderKind::OpenAiCompat);
    for cfg in [no_key, no_base] {
        let items: Vec<_> =
            futures::StreamExt::collect(client.stream(&cfg, &request("hi"), &RetryPolicy::none()))
                .await;
        assert!(
            matches!(items.as_slice(), [Err(LlmError::Config(_))]),
            "{items:?}"
        );
    }
    assert!(fake.requests().is_empty());
}
