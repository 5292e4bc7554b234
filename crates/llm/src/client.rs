//! The HTTP client: sends a request, retries what is worth retrying, and drives a protocol
//! decoder over the server-sent events.
//!
//! The returned stream is lazy and owns everything it needs; dropping it drops the HTTP response,
//! which closes the connection and so cancels the call at the provider. No task is spawned.

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::decode::Decoder;
use crate::retry::parse_retry_after;
use crate::sse::SseParser;
use crate::{
    ChatRequest, LlmError, ProviderConfig, ProviderKind, RetryPolicy, StreamEvent, anthropic,
    error, openai,
};

/// A reusable LLM client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    idle_timeout: Duration,
}

/// How long a call may go without a byte from the provider (response headers, or the next
/// event of the stream) before it counts as stalled ([`LlmError::Idle`]). Providers send
/// keep-alive events while a model thinks, so a silent minute is a dead connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

impl Client {
    /// Builds a client on rustls with the ring crypto provider and the platform's trust roots.
    pub fn new() -> Result<Self, LlmError> {
        // reqwest is built without a crypto provider of its own so that the whole workspace has
        // exactly one TLS stack (rustls + ring). Installing fails only if a provider is already
        // installed, which is fine: it is then the one to use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, idle_timeout: DEFAULT_IDLE_TIMEOUT })
    }

    /// Uses a caller-built `reqwest::Client` (proxies, extra root certificates, ...).
    pub fn with_http_client(http: reqwest::Client) -> Self {
        Self { http, idle_timeout: DEFAULT_IDLE_TIMEOUT }
    }

    /// Sets how long a call may stall before it fails with [`LlmError::Idle`] (and is retried
    /// if nothing was streamed yet). Default [`DEFAULT_IDLE_TIMEOUT`].
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Streams one model call as normalized events, retrying failed attempts per `retry`.
    ///
    /// Every item after an `Err` is absent: an error ends the stream. A successful stream ends
    /// with [`StreamEvent::Finish`].
    pub fn stream(
        &self,
        cfg: &ProviderConfig,
        req: &ChatRequest,
        retry: &RetryPolicy,
    ) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
        let prepared = match Prepared::new(cfg, req) {
            Ok(prepared) => prepared,
            Err(err) => return stream::once(async move { Err(err) }).boxed(),
        };
        let driver = Driver {
            http: self.http.clone(),
            prepared,
            policy: *retry,
            idle: self.idle_timeout,
            attempts: 0,
            state: State::Connect,
            pending: VecDeque::new(),
        };
        stream::unfold(driver, |mut driver| async move {
            driver.next().await.map(|item| (item, driver))
        })
        .boxed()
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    OpenAi,
    Anthropic,
}

/// A request ready to be sent any number of times.
struct Prepared {
    protocol: Protocol,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Prepared {
    fn new(cfg: &ProviderConfig, req: &ChatRequest) -> Result<Self, LlmError> {
        let (protocol, default_base, body) = match cfg.kind {
            ProviderKind::OpenAi => (
                Protocol::OpenAi,
                Some(openai::DEFAULT_BASE_URL),
                openai::request_body(cfg.kind, req),
            ),
            ProviderKind::OpenAiCompat => {
                (Protocol::OpenAi, None, openai::request_body(cfg.kind, req))
            }
            ProviderKind::Anthropic => (
                Protocol::Anthropic,
                Some(anthropic::DEFAULT_BASE_URL),
                anthropic::request_body(req),
            ),
        };
        let base = cfg
            .base_url
            .as_deref()
            .or(default_base)
            .ok_or_else(|| {
                LlmError::Config("an OpenAI-compatible provider needs a base URL".into())
            })?
            .trim_end_matches('/');
        let anthropic_base;
        let base = if matches!(protocol, Protocol::Anthropic) {
            anthropic_base = anthropic::versioned_base(base);
            anthropic_base.as_str()
        } else {
            base
        };
        let key = cfg.api_key.as_deref().filter(|k| !k.is_empty());
        if key.is_none() && cfg.kind != ProviderKind::OpenAiCompat {
            return Err(LlmError::Config(format!("{:?} needs an API key", cfg.kind)));
        }

        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let url = match protocol {
            Protocol::OpenAi => {
                if let Some(key) = key {
                    headers.insert(
                        reqwest::header::AUTHORIZATION,
                        header_value(&format!("Bearer {key}"))?,
                    );
                }
                format!("{base}/chat/completions")
            }
            Protocol::Anthropic => {
                if let Some(key) = key {
                    headers.insert(HeaderName::from_static("x-api-key"), header_value(key)?);
                }
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(anthropic::API_VERSION),
                );
                format!("{base}/messages")
            }
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::Config(format!("cannot encode the request: {e}")))?;
        Ok(Self {
            protocol,
            url,
            headers,
            body,
        })
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        match self.protocol {
            Protocol::OpenAi => Box::<openai::OpenAiDecoder>::default(),
            Protocol::Anthropic => Box::<anthropic::AnthropicDecoder>::default(),
        }
    }
}

fn header_value(value: &str) -> Result<HeaderValue, LlmError> {
    HeaderValue::from_str(value).map_err(|_| {
        LlmError::Config("the API key contains characters not allowed in a header".into())
    })
}

/// Whether `AGENTRY_BENCH_BEFORE` names `name`: an old path kept for the benchmark's
/// before/after in one build (see `agentry_store::bench_before`, which this crate cannot use).
fn bench_before(name: &str) -> bool {
    std::env::var("AGENTRY_BENCH_BEFORE").is_ok_and(|v| v.split(',').any(|s| s.trim() == name))
}

/// `AGENTRY_BENCH_BEFORE=llm-idle`: a timeout around every read, as before issue 18.
static PER_EVENT_TIMEOUT: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| bench_before("llm-idle"));
/// `AGENTRY_BENCH_BEFORE=llm-sse`: events parsed by `eventsource_stream`, as before issue 18.
static SSE_CRATE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| bench_before("llm-sse"));

type Body = BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// The response's events: its body parsed here, chunk by chunk ([`SseParser`]), or (the old
/// path, `llm-sse`) by `eventsource_stream`, event by event.
enum Events {
    Parsed(Body, SseParser),
    Crate(BoxStream<'static, Result<eventsource_stream::Event, LlmError>>),
}

enum State {
    Connect,
    Backoff(Duration),
    Streaming {
        events: Events,
        decoder: Box<dyn Decoder>,
        emitted_content: bool,
        idle: IdleTimer,
    },
    Done,
}

/// The stall check of a streaming attempt: fails once the provider has sent nothing for the
/// idle timeout.
///
/// One timer per attempt, moved only when it fires: an event just records when it arrived
/// (a clock read), and the timer, on firing, either reports the stall or is re-armed for
/// `last event + idle`. Wrapping every read in `tokio::time::timeout` instead registered and
/// cancelled a timer in tokio's timer wheel for every token (issue 18, server CPU per streamed
/// token; `AGENTRY_BENCH_BEFORE=llm-idle` keeps that path for the benchmark).
struct IdleTimer {
    idle: Duration,
    last: tokio::time::Instant,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimer {
    fn new(idle: Duration) -> Self {
        let now = tokio::time::Instant::now();
        Self { idle, last: now, sleep: Box::pin(tokio::time::sleep_until(now + idle)) }
    }

    /// The next item of `events`, or `None` once nothing arrived for the idle timeout.
    async fn next<S: futures::Stream + Unpin>(&mut self, events: &mut S) -> Option<Option<S::Item>> {
        use std::task::Poll;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(item) = events.poll_next_unpin(cx) {
                self.last = tokio::time::Instant::now();
                return Poll::Ready(Some(item));
            }
            while self.sleep.as_mut().poll(cx).is_ready() {
                let deadline = self.last + self.idle;
                if deadline <= tokio::time::Instant::now() {
                    return Poll::Ready(None);
                }
                self.sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

struct Driver {
    http: reqwest::Client,
    prepared: Prepared,
    policy: RetryPolicy,
    idle: Duration,
    /// Attempts started so far.
    attempts: u32,
    state: State,
    pending: VecDeque<Result<StreamEvent, LlmError>>,
}

impl Driver {
    async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match &mut self.state {
                State::Done => return None,
                State::Backoff(delay) => {
                    tokio::time::sleep(*delay).await;
                    self.state = State::Connect;
                }
                State::Connect => {
                    self.attempts += 1;
                    let connected = tokio::time::timeout(self.idle, connect(&self.http, &self.prepared))
                        .await
                        .unwrap_or(Err(LlmError::Idle(self.idle)));
                    match connected {
                        Ok(events) => {
                            self.state = State::Streaming {
                                events,
                                decoder: self.prepared.decoder(),
                                emitted_content: false,
                                idle: IdleTimer::new(self.idle),
                            }
                        }
                        Err(err) => self.fail(err, false),
                    }
                }
                State::Streaming {
                    events: Events::Parsed(body, sse),
                    decoder,
                    emitted_content,
                    idle,
                } => {
                    let next = if *PER_EVENT_TIMEOUT {
                        tokio::time::timeout(self.idle, body.next()).await.ok()
                    } else {
                        idle.next(body).await
                    };
                    let pending = &mut self.pending;
                    let result = match next {
                        None => Err(LlmError::Idle(self.idle)),
                        // Every event the chunk completes, in order, until the decoder is done.
                        Some(Some(Ok(chunk))) => sse.feed(&chunk[..], |event, data| {
                            let new_events = decoder.on_event(event, data)?;
                            *emitted_content |= new_events.iter().any(is_content);
                            pending.extend(new_events.into_iter().map(Ok));
                            Ok(!decoder.is_done())
                        }),
                        // The body broke off: as retryable as a failed connect.
                        Some(Some(Err(err))) => Err(LlmError::Connect(describe(&err))),
                        Some(None) => decoder.on_eof().map(|new_events| {
                            *emitted_content |= new_events.iter().any(is_content);
                            pending.extend(new_events.into_iter().map(Ok));
                        }),
                    };
                    let emitted = *emitted_content;
                    match result {
                        Ok(()) => {
                            if decoder.is_done() {
                                self.state = State::Done;
                            }
                        }
                        Err(err) => self.fail(err, emitted),
                    }
                }
                State::Streaming {
                    events: Events::Crate(events),
                    decoder,
                    emitted_content,
                    idle,
                } => {
                    let emitted = *emitted_content;
                    let next = if *PER_EVENT_TIMEOUT {
                        tokio::time::timeout(self.idle, events.next()).await.ok()
                    } else {
                        idle.next(events).await
                    };
                    let result = match next {
                        None => Err(LlmError::Idle(self.idle)),
                        Some(Some(Ok(event))) => decoder.on_event(&event.event, &event.data),
                        Some(Some(Err(err))) => Err(err),
                        Some(None) => decoder.on_eof(),
                    };
                    match result {
                        Ok(new_events) => {
                            *emitted_content |= new_events.iter().any(is_content);
                            let done = decoder.is_done();
                            self.pending.extend(new_events.into_iter().map(Ok));
                            if done {
                                self.state = State::Done;
                            }
                        }
                        Err(err) => self.fail(err, emitted),
                    }
                }
            }
        }
    }

    /// Either schedules a retry (publishing it first) or ends the stream with `err`.
    fn fail(&mut self, err: LlmError, emitted_content: bool) {
        if err.is_retryable() && !emitted_content && self.attempts < self.policy.max_attempts {
            let delay = self.policy.delay(self.attempts, err.retry_after());
            self.pending.push_back(Ok(StreamEvent::Retry {
                attempt: self.attempts,
                delay,
                error: err.to_string(),
                status: err.status(),
            }));
            self.state = State::Backoff(delay);
        } else {
            self.pending.push_back(Err(err));
            self.state = State::Done;
        }
    }
}

/// Sends the request; a non-success status becomes [`LlmError::Http`].
async fn connect(http: &reqwest::Client, prepared: &Prepared) -> Result<Events, LlmError> {
    let response = http
        .post(&prepared.url)
        .headers(prepared.headers.clone())
        .body(prepared.body.clone())
        .send()
        .await
        .map_err(|e| LlmError::Connect(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = parse_retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let message = error::error_message_from_body(
            &body,
            status.canonical_reason().unwrap_or("no message"),
        );
        return Err(LlmError::Http {
            status: status.as_u16(),
            message,
            retry_after,
        });
    }
    if !*SSE_CRATE {
        return Ok(Events::Parsed(response.bytes_stream().boxed(), SseParser::default()));
    }
    Ok(Events::Crate(
        response
            .bytes_stream()
            .eventsource()
            .map(|item| {
                item.map_err(|e| match e {
                    // The body broke off: as retryable as a failed connect.
                    EventStreamError::Transport(e) => LlmError::Connect(describe(&e)),
                    other => LlmError::Decode(other.to_string()),
                })
            })
            .boxed(),
    ))
}

/// Whether an event is output the consumer may already have shown; after one, the attempt is not
/// retried.
fn is_content(event: &StreamEvent) -> bool {
    matches!(
        event,
        StreamEvent::TextDelta(_)
            | StreamEvent::ReasoningDelta(_)
            | StreamEvent::ToolCallStart { .. }
            | StreamEvent::ToolCallArgsDelta { .. }
            | StreamEvent::ToolCallEnd { .. }
    )
}

/// reqwest's top-level message ("error sending request") hides the cause; walk the chain.
fn describe(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
