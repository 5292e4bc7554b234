//! The agent process (`agentry agent`): a [`LocalAgent`] for one directory, served to the
//! server over one outbound WebSocket (see [`protocol`](crate::protocol)).
//!
//! [`run`] dials the server, answers calls until the connection ends, and dials again with
//! exponential backoff and jitter, so it survives a server restart or the loss of the replica
//! it reached (a load balancer then sends it to another). Processes it started keep running
//! across reconnects; only [`Op::Shutdown`] (the workspace stops) or SIGTERM ends them, and
//! the agent exits after them. A refused token or protocol version is final: retrying cannot
//! help, so the agent exits with the server's message.
//!
//! The server URL is `http://host:port` (or `ws://…`) for an agent anywhere, or
//! `unix:/path/to/socket` for an agent in a local sandbox, which reaches its server through a
//! socket bound into the sandbox.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::protocol::{AgentFrame, CONNECT_PATH, Op, PROTOCOL_HEADER, PROTOCOL_VERSION, ServerFrame, VERSION_HEADER};
use crate::{AgentError, LocalAgent, WorkspaceAgent};

/// First pause before dialing again.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest pause between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How `agentry agent` is configured.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `http://…`, `ws://…` or `unix:/path`.
    pub url: String,
    pub token: String,
    /// The workspace directory (the agent's working directory by default).
    pub dir: PathBuf,
}

/// Why [`run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// The server asked the agent to shut down (the workspace stopped), or SIGTERM.
    Shutdown,
}

/// A failure no retry can fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

/// Serves the workspace until shut down. Returns `Err` only for a failure no retry can fix
/// (bad URL, token refused, protocol mismatch).
pub async fn run(opts: AgentOptions) -> Result<Exit, Fatal> {
    forbid_inspection();
    let agent = Arc::new(LocalAgent::new(opts.dir.clone()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Fatal(format!("installing the SIGTERM handler: {e}")))?;
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        let attempt = async {
            match connect(&opts).await {
                Ok(Conn::Tcp(ws)) => session(ws, &agent).await,
                Ok(Conn::Unix(ws)) => session(ws, &agent).await,
                Err(Attempt::Fatal(msg)) => Err(Attempt::Fatal(msg)),
                Err(Attempt::Retry(msg)) => Err(Attempt::Retry(msg)),
            }
        };
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = term.recv() => {
                eprintln!("agentry agent: SIGTERM; ending the workspace's processes");
                agent.shutdown().await;
                return Ok(Exit::Shutdown);
            }
        };
        match outcome {
            Ok(Exit::Shutdown) => return Ok(Exit::Shutdown),
            Err(Attempt::Fatal(msg)) => {
                agent.shutdown().await;
                return Err(Fatal(msg));
            }
            Err(Attempt::Retry(msg)) => {
                if started.elapsed() >= STABLE_AFTER {
                    backoff = BACKOFF_MIN;
                }
                let pause = jitter(backoff);
                eprintln!("agentry agent: {msg}; reconnecting in {} ms", pause.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = term.recv() => {
                        agent.shutdown().await;
                        return Ok(Exit::Shutdown);
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Between half of `d` and all of it, so agents that lost the same server do not all return at
/// the same instant.
fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Makes this process non-dumpable: processes of the same user (everything the workspace runs)
/// cannot read its memory or `/proc/<pid>/environ`, where the token is.
fn forbid_inspection() {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers and changes only this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

enum Attempt {
    Fatal(String),
    Retry(String),
}

enum Conn {
    Tcp(WebSocketStream<tokio::net::TcpStream>),
    Unix(WebSocketStream<tokio::net::UnixStream>),
}

async fn connect(opts: &AgentOptions) -> Result<Conn, Attempt> {
    let url = opts.url.trim_end_matches('/');
    if let Some(path) = url.strip_prefix("unix:") {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| Attempt::Retry(format!("could not reach {url}: {e}")))?;
        let req = request(&format!("ws://localhost{CONNECT_PATH}"), &opts.token)?;
        return handshake(req, stream).await.map(Conn::Unix);
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| {
            Attempt::Fatal(format!(
                "unsupported server URL {url:?}: use http://host:port (TLS deployments: through a reverse proxy) or unix:/path"
            ))
        })?;
    let (authority, prefix) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
    let req = request(&format!("ws://{authority}{prefix}{CONNECT_PATH}"), &opts.token)?;
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| Attempt::Retry(format!("could not reach {url}: {e}")))?;
    let _ = stream.set_nodelay(true);
    handshake(req, stream).await.map(Conn::Tcp)
}

fn request(url: &str, token: &str) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, Attempt> {
    let mut req = url.into_client_request().map_err(|e| Attempt::Fatal(format!("bad server URL {url:?}: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Attempt::Fatal("the agent token contains characters a header cannot carry".into()))?;
    let h = req.headers_mut();
    h.insert(header::AUTHORIZATION, bearer);
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(VERSION_HEADER, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
    Ok(req)
}

async fn handshake<S>(
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: S,
) -> Result<WebSocketStream<S>, Attempt>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, resp)) => {
            let theirs = resp.headers().get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("none");
            if theirs != PROTOCOL_VERSION.to_string() {
                return Err(Attempt::Fatal(format!(
                    "workspace agent protocol mismatch: this agent speaks version {PROTOCOL_VERSION}, the server \
                     speaks {theirs}; run the `agentry agent` of the same agentry release as the server"
                )));
            }
            Ok(ws)
        }
        Err(WsError::Http(resp)) => {
            let status = resp.status();
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or_else(|| body.trim().to_string());
            let text = format!("the server refused the connection ({status}): {message}");
            // A refused token or protocol stays refused; anything else (a proxy's 502 while a
            // replica restarts) may pass.
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST) {
                Err(Attempt::Fatal(text))
            } else {
                Err(Attempt::Retry(text))
            }
        }
        Err(e) => Err(Attempt::Retry(format!("the WebSocket handshake failed: {e}"))),
    }
}

/// Answers calls on one connection until it ends.
async fn session<S>(ws: WebSocketStream<S>, agent: &Arc<LocalAgent>) -> Result<Exit, Attempt>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    eprintln!("agentry agent: connected");
    let (mut sink, mut stream) = ws.split();
    // (frame, whether the agent exits once it is sent)
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(AgentFrame, bool)>();
    let mut tasks = JoinSet::new();
    let mut running: HashMap<u64, tokio::task::AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => return Err(Attempt::Retry("the server closed the connection".into())),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(Attempt::Retry(format!("the connection failed: {e}"))),
                };
                match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(ServerFrame::Call { id, op }) => {
                        let (agent, out) = (Arc::clone(agent), out_tx.clone());
                        let handle = tasks.spawn(async move {
                            let last = op == Op::Shutdown;
                            let lines = out.clone();
                            let result = dispatch(&agent, op, move |line| {
                                let _ = lines.send((AgentFrame::Line { id, line }, false));
                            })
                            .await;
                            let frame = match result {
                                Ok(value) => AgentFrame::Ok { id, value },
                                Err(e) => AgentFrame::Err { id, message: e.to_string() },
                            };
                            let _ = out.send((frame, last));
                            id
                        });
                        running.insert(id, handle);
                    }
                    Ok(ServerFrame::Cancel { id }) => {
                        if let Some(h) = running.remove(&id) {
                            h.abort();
                        }
                    }
                    Err(e) => eprintln!("agentry agent: ignoring a frame it does not understand: {e}"),
                }
            }
            Some((frame, last)) = out_rx.recv() => {
                let text = serde_json::to_string(&frame).expect("frames serialize");
                if let Err(e) = sink.send(Message::text(text)).await {
                    return Err(Attempt::Retry(format!("the connection failed: {e}")));
                }
                if last {
                    let _ = sink.close().await;
                    return Ok(Exit::Shutdown);
                }
            }
            Some(done) = tasks.join_next() => {
                if let Ok(id) = done {
                    running.remove(&id);
                }
            }
        }
    }
}

/// Runs one operation on the agent. `on_line` receives a startup script's output lines.
pub async fn dispatch<F>(agent: &LocalAgent, op: Op, on_line: F) -> Result<serde_json::Value, AgentError>
where
    F: FnMut(String) + Send,
{
    fn json<T: serde::Serialize>(v: T) -> Result<serde_json::Value, AgentError> {
        serde_json::to_value(v).map_err(|e| AgentError::io("encoding the answer", std::io::Error::other(e)))
    }
    match op {
        Op::ReadFile(req) => json(agent.read_file(req).await?),
        Op::WriteFile { path, content } => json(agent.write_file(&path, &content).await?),
        Op::EditFiles { edits } => json(agent.edit_files(edits).await?),
        Op::Execute(req) => json(agent.execute(req).await?),
        Op::ProcessOutput { id, wait_ms } => json(agent.process_output(&id, Duration::from_millis(wait_ms)).await?),
        Op::ProcessList => json(agent.process_list().await?),
        Op::ProcessSignal { id, signal } => json(agent.process_signal(&id, signal).await?),
        Op::ListDir { path } => json(agent.list_dir(&path).await?),
        Op::ReadBytes { path, offset, length } => json(agent.read_bytes(&path, offset, length).await?),
        Op::RunScript { script, env } => json(agent.run_script(&script, &env, on_line).await?),
        Op::Shutdown => {
            agent.shutdown().await;
            json(())
        }
    }
}
