//! A typed client for agentry's HTTP API.
//!
//! One method per route, named after it, taking and returning `agentry_sdk` types. Errors keep
//! the server's status and JSON body so callers (the CLI, tests) can show or assert them.
//! Resource groups live in their own modules (`users`, `orgs`, ...), each adding methods to
//! [`Client`].

mod chats;
mod orgs;
mod templates;
mod users;
mod workspaces;

use agentry_sdk as sdk;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use agentry_sdk;
pub use chats::EventStream;

/// A failed call: the HTTP status and the server's error body, or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{status}: {}{}", body.message, body.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Api { status: StatusCode, body: sdk::Response },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("invalid server URL: {0}")]
    Url(String),
    /// The server answered with something that does not decode (e.g. a broken NDJSON line).
    #[error("invalid response: {0}")]
    Decode(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's message of an API error.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } => Some(&body.message),
            _ => None,
        }
    }

    /// The stable code of an API error (`agentry_sdk::ClientError::code`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } => body.code.as_deref(),
            _ => None,
        }
    }

    /// Whether this is the catalogue error `expected`: its status, code and message.
    pub fn is(&self, expected: &sdk::ClientError) -> bool {
        match self {
            Error::Api { status, body } => {
                status.as_u16() == expected.status()
                    && body.code.as_deref() == Some(expected.code())
                    && body.message == expected.message()
            }
            _ => false,
        }
    }

    pub fn body(&self) -> Option<&sdk::Response> {
        match self {
            Error::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

impl Client {
    /// A client for the deployment at `base` (e.g. `http://127.0.0.1:3000`), unauthenticated.
    pub fn new(base: &str) -> Result<Client> {
        // One TLS stack for the whole binary: rustls with ring. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = url::Url::parse(base).map_err(|e| Error::Url(e.to_string()))?;
        let http = reqwest::Client::builder().build()?;
        Ok(Client { http, base, token: None })
    }

    /// The same client, sending `token` as `Coder-Session-Token`.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client { token: Some(token.into()), ..self.clone() }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// A request builder for `path` with authentication applied, for routes without a method.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = self.base.join(path.trim_start_matches('/')).expect("path joins the base URL");
        let mut rb = self.http.request(method, url);
        if let Some(t) = &self.token {
            rb = rb.header("Coder-Session-Token", t);
        }
        rb
    }

    /// Sends a request and decodes a JSON answer, or the error body.
    pub async fn send<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T> {
        let resp = rb.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.json().await?);
        }
        Err(error_from(status, resp).await)
    }

    /// Sends a request whose success has no body of interest.
    pub async fn send_empty(&self, rb: reqwest::RequestBuilder) -> Result<()> {
        let resp = rb.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(error_from(status, resp).await)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)).await
    }

    pub(crate) async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.request(method, path).json(body)).await
    }

    pub async fn healthz(&self) -> Result<String> {
        let resp = self.request(Method::GET, "/healthz").send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(Error::Api { status, body: sdk::Response { message: text, ..Default::default() } })
        }
    }

    pub async fn buildinfo(&self) -> Result<sdk::BuildInfo> {
        self.get("/api/v2/buildinfo").await
    }

    pub async fn authcheck(&self, req: &sdk::AuthorizationRequest) -> Result<sdk::AuthorizationResponse> {
        self.json(Method::POST, "/api/v2/authcheck", req).await
    }

    pub async fn audit_logs(&self, limit: i64, offset: i64) -> Result<sdk::AuditLogResponse> {
        self.get(&format!("/api/v2/audit?limit={limit}&offset={offset}")).await
    }

    /// The deployment's server processes (site owners and auditors).
    pub async fn replicas(&self) -> Result<Vec<sdk::Replica>> {
        self.get("/api/v2/replicas").await
    }
}

pub(crate) async fn error_from(status: StatusCode, resp: reqwest::Response) -> Error {
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str::<sdk::Response>(&text)
        .unwrap_or(sdk::Response { message: text, ..Default::default() });
    Error::Api { status, body }
}
