//! Retry behaviour against the fake provider: what is retried, how it is announced, and when it
//! gives up.

mod common;

use std::time::Duration;

use agentry_fakellm::{FakeLlm, Step, Turn};
use agentry_llm::{FinishReason, LlmError, ProviderKind, RetryPolicy, StreamEvent};
use common::{PROTOCOLS, collect, fast_retries, request, text_of};

#[tokio::test]
async fn rate_limit_then_success_publishes_one_retry() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::error(429, "Rate limit reached"));
        fake.push_turn(Turn::text("Recovered."));
        let (events, err) = collect(&fake, kind, &request("hi"), &fast_retries(5)).await;
        assert_eq!(err, None, "{kind:?}");
        let StreamEvent::Retry {
            attempt,
            delay,
            error,
            status,
        } = &events[0]
        else {
            panic!("{kind:?}: first event should be a retry: {events:?}");
        };
        assert_eq!(
            (*attempt, *delay, *status),
            (1, Duration::from_millis(1), Some(429))
        );
        assert!(
            error.contains("429") && error.contains("Rate limit reached"),
            "{error}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Retry { .. }))
                .count(),
            1
        );
        assert_eq!(text_of(&events), "Recovered.");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish {
                reason: FinishReason::Stop
            })
        );
        assert_eq!(fake.requests().len(), 2);
    }
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![Step::Error {
        status: 503,
        body: serde_json::Value::Null,
        retry_after: Some(30),
    }]));
    fake.push_turn(Turn::text("ok"));
    let policy = RetryPolicy {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(50),
        max_attempts: 3,
    };
    let (events, err) = collect(&fake, ProviderKind::OpenAi, &request("hi"), &policy).await;
    assert_eq!(err, None);
    assert!(
        matches!(events[0], StreamEvent::Retry { delay, status: Some(503), .. } if delay == Duration::from_millis(50))
    );
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_attempts() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.set_handler(|_| Some(Turn::error(500, "internal failure")));
        let (events, err) = collect(&fake, kind, &request("hi"), &fast_retries(4)).await;
        let retries: Vec<(u32, Duration)> = events
            .iter()
            .map(|e| match e {
                StreamEvent::Retry { attempt, delay, .. } => (*attempt, *delay),
                other => panic!("only retries before the error, got {other:?}"),
            })
            .collect();
        assert_eq!(
            retries,
            [
                (1, Duration::from_millis(1)),
                (2, Duration::from_millis(2)),
                (3, Duration::from_millis(4))
            ],
            "{kind:?}: doubling backoff"
        );
        let err = err.expect("the last error is returned");
        assert_eq!(err.status(), Some(500));
        assert!(err.to_string().contains("internal failure"), "{err}");
        assert_eq!(
            fake.requests().len(),
            4,
            "{kind:?}: one request per attempt"
        );
    }
}

#[tokio::test]
async fn unauthorized_fails_at_once() {
    for kind in PROTOCOLS {
        let fake = FakeLlm::start().await;
        fake.push_turn(Turn::error(401, "Incorrect API key provided"));
        fake.push_turn(Turn::text("never reached"));
        let (events, err) = collect(&fake, kind, &request("hi"), &fast_retries(5)).await;
        assert!(events.is_empty(), "{kind:?}: {events:?}");
        let err = err.unwrap();
        assert!(matches!(&err, LlmError::Http { status: 401, .. }));
        assert!(!err.is_retryable());
        let message = err.to_string();
        assert!(
            message.contains("401") && message.contains("Incorrect API key provided"),
            "{message}"
        );
        assert_eq!(fake.requests().len(), 1, "{kind:?}: not retried");
    }
}

#[tokio::test]
async fn raw_provider_error_bodies_are_read() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![Step::Error {
        status: 404,
        body: serde_json::json!({"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error"}}),
        retry_after: None,
    }]));
    let (_, err) = collect(
        &fake,
        ProviderKind::OpenAi,
        &request("hi"),
        &fast_retries(5),
    )
    .await;
    assert_eq!(
        err.unwrap().to_string(),
        "HTTP 404: The model `gpt-9` does not exist (invalid_request_error)"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let fake = FakeLlm::start().await;
    let cfg = common::config(&fake, ProviderKind::OpenAi);
    drop(fake);
    // Let the aborted server task release the listener.
    tokio::task::yield_now().await;
    let client = agentry_llm::Client::new().unwrap();
    let items: Vec<_> =
        futures::StreamExt::collect(client.stream(&cfg, &request("hi"), &fast_retries(2))).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(
        &items[0],
        Ok(StreamEvent::Retry {
            attempt: 1,
            status: None,
            ..
        })
    ));
    assert!(matches!(&items[1], Err(LlmError::Connect(_))), "{items:?}");
}

#[tokio::test]
async fn overloaded_in_stream_before_content_is_retried() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::new(vec![Step::StreamError {
        message: "Overloaded".into(),
        error_type: Some("overloaded_error".into()),
    }]));
    fake.push_turn(Turn::text("Second try."));
    let (events, err) = collect(
        &fake,
        ProviderKind::Anthropic,
        &request("hi"),
        &fast_retries(3),
    )
    .await;
    assert_eq!(err, None);
    assert!(
        matches!(&events[0], StreamEvent::Retry { attempt: 1, status: None, error, .. } if error.contains("Overloaded"))
    );
    assert_eq!(text_of(&events), "Second try.");
}

#[tokio::test]
async fn overloaded_after_content_is_surfaced_not_retried() {
    let fake = FakeLlm::start().await;
    fake.push_turn(Turn::text("Partial answer").then(Step::StreamError {
        message: "Overloaded".into(),
        error_type: Some("overloaded_error".into()),
    }));
    let (events, err) = collect(
        &fake,
        ProviderKind::Anthropic,
        &request("hi"),
        &fast_retries(3),
    )
    .await;
    assert_eq!(text_of(&events), "Partial answer");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::Retry { .. }))
    );
    assert_eq!(
        err,
        Some(LlmError::Provider {
            kind: Some("overloaded_error".into()),
            message: "Overloaded".into()
        })
    );
    assert_eq!(fake.requests().len(), 1);
}
