//! A scripted fake LLM provider for tests.
//!
//! It serves OpenAI Chat Completions (`POST /v1/chat/completions`) and Anthropic Messages
//! (`POST /v1/messages`) over real HTTP with server-sent events, so the code under test runs its
//! real client, TLS aside. Each request is answered by the next queued [`Turn`], else by the
//! fallback handler, else by a default turn streaming [`DEFAULT_TEXT`]. Every request is
//! recorded for assertions.
//!
//! The fake does not validate requests beyond "is JSON and asks for streaming": schema checks
//! belong in the tests that read [`FakeLlm::requests`]. It has no non-streaming mode.

mod script;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use script::{Step, Turn};
use wire::{Encoder, Finish};

/// What the default turn says.
pub const DEFAULT_TEXT: &str = "Hello from the fake provider.";

/// Which wire protocol a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub protocol: Protocol,
    pub path: String,
    /// Header names are lower-case.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

type Handler = dyn Fn(&RecordedRequest) -> Option<Turn> + Send + Sync;

/// Named gates that [`Step::Gate`] waits on, opened by the test.
#[derive(Default)]
struct Gates(Mutex<std::collections::HashMap<String, watch::Sender<bool>>>);

impl Gates {
    fn gate(&self, name: &str) -> watch::Sender<bool> {
        lock(&self.0).entry(name.to_string()).or_insert_with(|| watch::Sender::new(false)).clone()
    }

    async fn pass(&self, name: &str) {
        let mut open = self.gate(name).subscribe();
        // The sender lives in the map as long as the fake, so this only ends when opened.
        let _ = open.wait_for(|open| *open).await;
    }
}

struct Shared {
    gates: Arc<Gates>,
    turns: Mutex<VecDeque<Turn>>,
    handler: Mutex<Option<Arc<Handler>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_count: watch::Sender<usize>,
}

/// A running fake provider. The server stops accepting connections when this is dropped.
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeLlm {
    /// Starts a fake on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no local port can be bound, which in a test is a broken environment.
    pub async fn start() -> FakeLlm {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the fake LLM server on 127.0.0.1")
    }

    /// Starts a fake on `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<FakeLlm> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            gates: Arc::default(),
            turns: Mutex::new(VecDeque::new()),
            handler: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            request_count: watch::Sender::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(shared.clone());
        // Small writes go out at once, as from a real provider's servers (TCP_NODELAY): with
        // Nagle's algorithm a token written while the previous one is unacknowledged waits for
        // that acknowledgement. (`FAKELLM_NAGLE=1` keeps Nagle on, for comparison.)
        let nagle = std::env::var("FAKELLM_NAGLE").is_ok_and(|v| v == "1");
        let listener = axum::serve::ListenerExt::tap_io(listener, move |s: &mut tokio::net::TcpStream| {
            if !nagle {
                let _ = s.set_nodelay(true);
            }
        });
        let server = tokio::spawn(async move {
            // serve only returns on listener errors, which end the fake like dropping it does.
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeLlm {
            addr,
            shared,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for an OpenAI(-compatible) client: `http://127.0.0.1:PORT/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for an Anthropic client: `http://127.0.0.1:PORT/v1`.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a turn; queued turns answer requests in order, whatever their protocol.
    pub fn push_turn(&self, turn: Turn) {
        lock(&self.shared.turns).push_back(turn);
    }

    /// Queues several turns.
    pub fn push_turns(&self, turns: impl IntoIterator<Item = Turn>) {
        lock(&self.shared.turns).extend(turns);
    }

    /// How many queued turns have not been played yet.
    pub fn pending_turns(&self) -> usize {
        lock(&self.shared.turns).len()
    }

    /// Sets the handler consulted when the queue is empty; `None` from it means the default turn.
    pub fn set_handler(
        &self,
        handler: impl Fn(&RecordedRequest) -> Option<Turn> + Send + Sync + 'static,
    ) {
        *lock(&self.shared.handler) = Some(Arc::new(handler));
    }

    /// Opens the gate `name`: every turn waiting at a [`Step::Gate`] of that name goes on, and
    /// later ones pass without waiting.
    pub fn open_gate(&self, name: &str) {
        self.shared.gates.gate(name).send_replace(true);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until at least `n` requests have arrived and returns them all.
    ///
    /// # Panics
    /// When `timeout` passes first; the message says how many requests did arrive.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let mut count = self.shared.request_count.subscribe();
        if tokio::time::timeout(timeout, count.wait_for(|c| *c >= n))
            .await
            .is_err()
        {
            panic!(
                "fake LLM: expected {n} requests within {timeout:?}, got {}",
                self.requests().len()
            );
        }
        self.requests()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A panic in a test's handler poisons the lock; the data is still fine for the other tests'
/// assertions, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn openai(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(shared, Protocol::OpenAi, uri, headers, body).await
}

async fn anthropic(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(shared, Protocol::Anthropic, uri, headers, body).await
}

async fn respond(
    shared: Arc<Shared>,
    protocol: Protocol,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return json_error(
                protocol,
                StatusCode::BAD_REQUEST,
                &format!("the body is not JSON: {e}"),
                None,
            );
        }
    };
    let request = RecordedRequest {
        protocol,
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let sequence = {
        let mut requests = lock(&shared.requests);
        requests.push(request.clone());
        requests.len()
    };
    shared.request_count.send_replace(sequence);

    if request.body.get("stream").and_then(Value::as_bool) != Some(true) {
        return json_error(
            protocol,
            StatusCode::BAD_REQUEST,
            "the fake LLM only answers streaming requests",
            None,
        );
    }

    let queued = lock(&shared.turns).pop_front();
    let turn = queued
        .or_else(|| {
            let handler = lock(&shared.handler).clone();
            handler.and_then(|handler| handler(&request))
        })
        .unwrap_or_else(|| Turn::text(DEFAULT_TEXT));

    if let Some((status, error_body, retry_after)) = turn.http_error() {
        for step in &turn.steps {
            match step {
                Step::Delay { duration } => tokio::time::sleep(*duration).await,
                Step::Gate { name } => shared.gates.pass(name).await,
                Step::Error { .. } => break,
                _ => {}
            }
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return match error_body {
            Value::Object(fields)
                if fields.len() == 1 && fields.get("message").is_some_and(Value::is_string) =>
            {
                json_error(
                    protocol,
                    status,
                    fields["message"].as_str().unwrap_or_default(),
                    retry_after,
                )
            }
            Value::Null => json_error(
                protocol,
                status,
                &format!("fake error {}", status.as_u16()),
                retry_after,
            ),
            other => with_retry_after(
                (status, axum::Json(other.clone())).into_response(),
                retry_after,
            ),
        };
    }

    let message_id = match protocol {
        Protocol::OpenAi => format!("chatcmpl-fake-{sequence}"),
        Protocol::Anthropic => format!("msg_fake_{sequence}"),
    };
    let encoder = wire::encoder(protocol, &request.body, message_id);
    let input_estimate = (request.body.to_string().len() / 4) as u64;
    let (tx, mut rx) = mpsc::channel::<std::io::Result<String>>(16);
    tokio::spawn(play(turn, encoder, tx, protocol, sequence, input_estimate, shared.gates.clone()));
    let frames = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(frames))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn json_error(
    protocol: Protocol,
    status: StatusCode,
    message: &str,
    retry_after: Option<u64>,
) -> Response {
    let body = wire::error_body(protocol, status.as_u16(), message);
    with_retry_after((status, axum::Json(body)).into_response(), retry_after)
}

fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

/// Plays a turn into the response body. Returns as soon as the client is gone (a send fails).
async fn play(
    turn: Turn,
    mut encoder: Box<dyn Encoder>,
    tx: mpsc::Sender<std::io::Result<String>>,
    protocol: Protocol,
    sequence: usize,
    input_estimate: u64,
    gates: Arc<Gates>,
) {
    async fn send(tx: &mpsc::Sender<std::io::Result<String>>, frames: Vec<String>) -> bool {
        for frame in frames {
            if tx.send(Ok(frame)).await.is_err() {
                return false;
            }
        }
        true
    }

    let mut output_tokens = 0u64;
    let mut usage: Option<(u64, u64)> = None;
    let mut tool_calls = 0usize;
    let mut finish = Finish::Stop;
    if !send(&tx, encoder.start()).await {
        return;
    }
    for step in turn.steps {
        let frames = match step {
            Step::Text { text } => {
                let chunks = script::chunk_text(&text);
                output_tokens += chunks.len() as u64;
                chunks.into_iter().flat_map(|c| encoder.text(c)).collect()
            }
            Step::Reasoning { text } => {
                let chunks = script::chunk_text(&text);
                output_tokens += chunks.len() as u64;
                chunks
                    .into_iter()
                    .flat_map(|c| encoder.reasoning(c))
                    .collect()
            }
            Step::TextTokens {
                count,
                delay,
                embed_timestamp,
            } => {
                for i in 0..count {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let token = if embed_timestamp {
                        format!("⟨{}⟩ ", unix_micros())
                    } else {
                        format!("tok{i} ")
                    };
                    output_tokens += 1;
                    if !send(&tx, encoder.text(&token)).await {
                        return;
                    }
                }
                Vec::new()
            }
            Step::ToolCall {
                id,
                name,
                arguments,
            } => {
                let id = id.unwrap_or_else(|| match protocol {
                    Protocol::OpenAi => format!("call_fake_{sequence}_{tool_calls}"),
                    Protocol::Anthropic => format!("toolu_fake_{sequence}_{tool_calls}"),
                });
                let json = arguments.to_string();
                let frames =
                    encoder.tool_call(tool_calls, &id, &name, &script::fragment_arguments(&json));
                tool_calls += 1;
                output_tokens += 1;
                finish = Finish::ToolCalls;
                frames
            }
            Step::Delay { duration } => {
                tokio::time::sleep(duration).await;
                Vec::new()
            }
            Step::Gate { name } => {
                // A client that goes away while the turn waits ends it.
                tokio::select! {
                    _ = gates.pass(&name) => {}
                    _ = tx.closed() => return,
                }
                Vec::new()
            }
            Step::StreamError {
                message,
                error_type,
            } => {
                send(&tx, encoder.stream_error(&message, error_type.as_deref())).await;
                return;
            }
            Step::EndStream => return,
            Step::Reset => {
                // A body that fails makes the server abort the connection mid-response.
                let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake reset");
                let _ = tx.send(Err(reset)).await;
                return;
            }
            Step::Hang => {
                tx.closed().await;
                return;
            }
            Step::Usage {
                input_tokens,
                output_tokens,
            } => {
                usage = Some((input_tokens, output_tokens));
                Vec::new()
            }
            Step::MaxTokens => {
                finish = Finish::Length;
                Vec::new()
            }
            Step::Raw { event, data } => match event {
                Some(event) => vec![format!("event: {event}\ndata: {data}\n\n")],
                None => vec![format!("data: {data}\n\n")],
            },
            // Handled before streaming starts; unreachable for a turn that gets here.
            Step::Error { .. } => Vec::new(),
        };
        if !send(&tx, frames).await {
            return;
        }
    }
    let (input, output) = usage.unwrap_or((input_estimate, output_tokens));
    send(&tx, encoder.finish(finish, input, output)).await;
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}
