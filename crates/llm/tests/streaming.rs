//! Streaming against the fake provider over real HTTP: text, reasoning, tool calls, usage and
//! finish reasons, for both wire protocols.

mod common;

use std::time::Duration;

use agentry_fakellm::{FakeLlm, Protocol, Step, Turn};
use agentry_llm::{FinishReason, ProviderKind, RetryPolicy, StreamEvent, Usage};
use common::{PROTOCOLS, collect, reasoning_of, request, text_of};
use serde_json::json;

#[tokio::test]
async fn text_streams_in_several_deltas_and_finishes() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::text("The quick brown fox jumps."));
        let (events, err) = collect(&fake, kind, &request("hi"), &RetryPolicy::none()).await;
        assert_eq!(err, None, "{kind:?}");
        assert_eq!(text_of(&events), "The quick brown fox jumps.", "{kind:?}");
        let deltas = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta(_)))
            .count();
        assert_eq!(deltas, 5, "{kind:?}: one delta per word");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish {
                reason: FinishReason::Stop
            }),
            "{kind:?}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Usage(_)))
                .count(),
            1,
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn requests_carry_protocol_headers_and_streaming_flags() {
    let fake = FakeLlm::start().await;
    collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    collect(
        &fake,
        ProviderKind::Anthropic,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    let requests = fake.requests();

    let openai = &requests[0];
    assert_eq!(openai.protocol, Protocol::OpenAi);
    assert_eq!(openai.path, "/v1/chat/completions");
    assert_eq!(openai.header("authorization"), Some("Bearer test-key"));
    assert_eq!(openai.body["stream"], json!(true));
    assert_eq!(
        openai.body["stream_options"],
        json!({"include_usage": true})
    );

    let anthropic = &requests[1];
    assert_eq!(anthropic.protocol, Protocol::Anthropic);
    assert_eq!(anthropic.path, "/v1/messages");
    assert_eq!(anthropic.header("x-api-key"), Some("test-key"));
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(anthropic.header("authorization"), None);
    assert_eq!(anthropic.body["stream"], json!(true));
    assert_eq!(
        anthropic.body["max_tokens"],
        json!(32000),
        "Anthropic requires max_tokens"
    );
}

#[tokio::test]
async fn default_turn_is_the_hello_text() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        let (events, err) = collect(&fake, kind, &request("hi"), &RetryPolicy::none()).await;
        assert_eq!(err, None);
        assert_eq!(text_of(&events), agentry_fakellm::DEFAULT_TEXT, "{kind:?}");
    }
}

#[tokio::test]
async fn reasoning_then_tool_call_with_fragmented_arguments() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        let arguments = json!({"path": "/home/coder/main.rs", "lines": [1, 20], "note": "ünïcode"});
        fake.push_turn(Turn::new(vec![
            Step::reasoning("I should read the file."),
            Step::text("Reading it."),
            Step::ToolCall {
                id: Some("call_42".into()),
                name: "read_file".into(),
                arguments: arguments.clone(),
            },
            Step::tool_call("list_templates", json!({})),
            Step::Usage {
                input_tokens: 120,
                output_tokens: 45,
            },
        ]));
        let (events, err) =
            collect(&fake, kind, &request("read main.rs"), &RetryPolicy::none()).await;
        assert_eq!(err, None, "{kind:?}");
        assert_eq!(reasoning_of(&events), "I should read the file.", "{kind:?}");
        assert_eq!(text_of(&events), "Reading it.", "{kind:?}");

        let fragments: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallArgsDelta { index: 0, delta } => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            fragments.len() > 1,
            "{kind:?}: arguments arrive in fragments: {fragments:?}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&fragments.concat()).unwrap(),
            arguments
        );

        let starts: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallStart { .. }))
            .cloned()
            .collect();
        assert_eq!(
            starts[0],
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_42".into(),
                name: "read_file".into()
            }
        );
        assert!(
            matches!(&starts[1], StreamEvent::ToolCallStart { index: 1, name, .. } if name == "list_templates")
        );

        let ends: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallEnd { .. }))
            .cloned()
            .collect();
        assert_eq!(
            ends[0],
            StreamEvent::ToolCallEnd {
                index: 0,
                id: "call_42".into(),
                name: "read_file".into(),
                arguments
            }
        );
        assert!(
            matches!(&ends[1], StreamEvent::ToolCallEnd { index: 1, arguments, .. } if *arguments == json!({}))
        );

        let tail = &events[events.len() - 2..];
        assert_eq!(
            tail,
            [
                StreamEvent::Usage(Usage {
                    input_tokens: 120,
                    output_tokens: 45,
                    ..usage_shape(kind)
                }),
                StreamEvent::Finish {
                    reason: FinishReason::ToolCalls
                },
            ],
            "{kind:?}"
        );
    }
}

/// The optional usage buckets each protocol reports (the fake sends zeros where the real API does).
fn usage_shape(kind: ProviderKind) -> Usage {
    match kind {
        ProviderKind::Anthropic => Usage {
            cache_read_tokens: Some(0),
            cache_creation_tokens: Some(0),
            ..Usage::default()
        },
        _ => Usage {
            reasoning_tokens: Some(0),
            cache_read_tokens: Some(0),
            ..Usage::default()
        },
    }
}

#[tokio::test]
async fn output_limit_finishes_with_length() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::text("Cut off mid").then(Step::MaxTokens));
        let (events, err) = collect(&fake, kind, &request("hi"), &RetryPolicy::none()).await;
        assert_eq!(err, None);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish {
                reason: FinishReason::Length
            }),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn openai_compatible_without_key_sends_no_authorization() {
    let fake = FakeLlm::start().await;
    let cfg = agentry_llm::ProviderConfig::new(ProviderKind::OpenAiCompat)
        .with_base_url(fake.openai_base_url() + "/");
    let client = agentry_llm::Client::new().unwrap();
    let mut max_req = request("hi");
    max_req.max_tokens = Some(100);
    let events: Vec<_> =
        futures::StreamExt::collect(client.stream(&cfg, &max_req, &RetryPolicy::none())).await;
    assert!(events.iter().all(Result::is_ok));
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.header("authorization"), None);
    assert_eq!(
        recorded.body["max_tokens"],
        json!(100),
        "compatible servers get max_tokens"
    );
}

#[tokio::test]
async fn openai_sends_max_completion_tokens() {
    let fake = FakeLlm::start().await;
    let mut req = request("hi");
    req.max_tokens = Some(100);
    collect(&fake, ProviderKind::OpenAi, &req, &RetryPolicy::none()).await;
    let body = &fake.requests()[0].body;
    assert_eq!(body["max_completion_tokens"], json!(100));
    assert!(body.get("max_tokens").is_none());
}

#[tokio::test]
async fn timestamped_tokens_are_paced() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![Step::TextTokens {
        count: 4,
        delay: Duration::from_millis(20),
        embed_timestamp: true,
    }]));
    let (events, err) = collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &RetryPolicy::none(),
    )
    .await;
    assert_eq!(err, None);
    let stamps: Vec<u128> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(
                t.trim()
                    .trim_start_matches('⟨')
                    .trim_end_matches('⟩')
                    .parse()
                    .unwrap(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(stamps.len(), 4);
    for pair in stamps.windows(2) {
        assert!(
            pair[1] >= pair[0] + 15_000,
            "tokens are ~20 ms apart: {stamps:?}"
        );
    }
}

#[tokio::test]
async fn handler_answers_from_the_request_after_the_queue() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::text("queued"));
    fake.set_handler(|req| {
        let wants_title = req.body.to_string().contains("Generate a title");
        wants_title.then(|| Turn::text("Fix the build"))
    });
    let kind = ProviderKind::OpenAi;
    let retry = RetryPolicy::none();
    assert_eq!(
        text_of(
            &collect(&fake, kind, &request("Generate a title"), &retry)
                .await
                .0
        ),
        "queued"
    );
    assert_eq!(
        text_of(
            &collect(&fake, kind, &request("Generate a title"), &retry)
                .await
                .0
        ),
        "Fix the build"
    );
    assert_eq!(
        text_of(&collect(&fake, kind, &request("hello"), &retry).await.0),
        agentry_fakellm::DEFAULT_TEXT
    );
    assert_eq!(
        fake.wait_for_requests(3, Duration::from_secs(1))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn dropping_the_stream_hangs_up_on_a_hanging_provider() {
    use futures::StreamExt;
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::text("partial").then(Step::Hang));
    let client = agentry_llm::Client::new().unwrap();
    let cfg = common::config(&fake, ProviderKind::Anthropic);
    let req = request("hi");
    let mut stream = client.stream(&cfg, &req, &RetryPolicy::none());
    assert_eq!(
        stream.next().await,
        Some(Ok(StreamEvent::TextDelta("partial".into())))
    );
    let stalled = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    assert!(stalled.is_err(), "a hanging provider sends nothing more");
    drop(stream);
    // The fake is still usable afterwards.
    let (events, _) = collect(&fake, ProviderKind::Anthropic, &req, &RetryPolicy::none()).await;
    assert_eq!(text_of(&events), agentry_fakellm::DEFAULT_TEXT);
}

/// Anthropic's SDKs spell the base URL without the version (`https://api.anthropic.com`, as in
/// `ANTHROPIC_BASE_URL`); agentry's own form has `/v1`. Every spelling reaches `/v1/messages`.
#[tokio::test]
async fn anthropic_base_urls_work_with_or_without_v1() {
    use futures::StreamExt;
    let fake = FakeLlm::start().await;
    let root = fake.anthropic_base_url().trim_end_matches("/v1").to_string();
    let client = agentry_llm::Client::new().unwrap();
    for base in [root.clone(), format!("{root}/"), format!("{root}/v1"), format!("{root}/v1/")] {
        let cfg = agentry_llm::ProviderConfig::new(ProviderKind::Anthropic)
            .with_api_key("test-key")
            .with_base_url(base.clone());
        let events = client
            .stream(&cfg, &request("hi"), &RetryPolicy::none())
            .collect::<Vec<_>>()
            .await;
        assert!(events.iter().all(|e| e.is_ok()), "{base}: {events:?}");
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(StreamEvent::TextDelta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, agentry_fakellm::DEFAULT_TEXT, "{base}");
    }
}

/// The idle timeout counts silence, not the length of the answer: a stream that keeps sending
/// more slowly than nothing, for longer than the timeout in all, finishes; one that goes quiet
/// after its first token fails with `Idle` about one timeout later (and, having shown content,
/// is not retried).
#[tokio::test]
async fn the_idle_timeout_counts_silence_not_the_answers_length() {
    use futures::StreamExt;
    let idle = Duration::from_millis(300);
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        let client = agentry_llm::Client::new().unwrap().with_idle_timeout(idle);
        let cfg = common::config(&fake, kind);
        let req = request("hi");

        // 12 tokens 100 ms apart: 1.1 s in all, never 300 ms quiet.
        fake.push_turn(Turn::new(vec![Step::TextTokens { count: 12, delay: Duration::from_millis(100), embed_timestamp: false }]));
        let events: Vec<_> = client.stream(&cfg, &req, &RetryPolicy::none()).collect().await;
        assert!(events.iter().all(Result::is_ok), "{kind:?}: {events:?}");
        assert_eq!(events.iter().filter(|e| matches!(e, Ok(StreamEvent::TextDelta(_)))).count(), 12, "{kind:?}");

        fake.push_turn(Turn::text("partial").then(Step::Hang));
        let started = std::time::Instant::now();
        let mut stream = client.stream(&cfg, &req, &common::fast_retries(3));
        assert_eq!(stream.next().await, Some(Ok(StreamEvent::TextDelta("partial".into()))), "{kind:?}");
        let end = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("the stall is noticed");
        assert!(matches!(end, Some(Err(agentry_llm::LlmError::Idle(d))) if d == idle), "{kind:?}: {end:?}");
        let waited = started.elapsed();
        assert!(waited >= idle && waited < idle * 4, "{kind:?}: stalled after {waited:?}");
        assert_eq!(stream.next().await, None, "{kind:?}: an error ends the stream");
    }
}
