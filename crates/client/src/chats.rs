//! Chats: CRUD, messages, the queue, files, administration, and the two WebSockets.

use agentry_sdk as sdk;
use futures::StreamExt;
use reqwest::Method;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use uuid::Uuid;

use crate::{Client, Error, Result};

const BASE: &str = "/api/experimental/chats";

/// A one-way event socket: each frame is a batch of events.
pub struct EventStream<T> {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    _marker: std::marker::PhantomData<T>,
}

impl<T: serde::de::DeserializeOwned> EventStream<T> {
    /// The next batch, or `None` when the server closed the socket.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<T>>> {
        loop {
            match self.ws.next().await? {
                Ok(tungstenite::Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).map_err(|e| Error::Url(format!("bad event frame: {e}"))));
                }
                Ok(tungstenite::Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(Error::Url(format!("websocket: {e}")))),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

impl Client {
    pub async fn chats(&self, q: &str) -> Result<Vec<sdk::Chat>> {
        self.send(self.request(Method::GET, BASE).query(&[("q", q)])).await
    }

    /// Lists with any query parameters (`q`, `label`, `limit`, `offset`, `after_id`).
    pub async fn chats_with(&self, params: &[(&str, &str)]) -> Result<Vec<sdk::Chat>> {
        self.send(self.request(Method::GET, BASE).query(params)).await
    }

    pub async fn create_chat(&self, req: &sdk::CreateChatRequest) -> Result<sdk::Chat> {
        self.json(Method::POST, BASE, req).await
    }

    pub async fn chat(&self, id: Uuid) -> Result<sdk::Chat> {
        self.get(&format!("{BASE}/{id}")).await
    }

    pub async fn update_chat(&self, id: Uuid, req: &sdk::UpdateChatRequest) -> Result<()> {
        self.send_empty(self.request(Method::PATCH, &format!("{BASE}/{id}")).json(req)).await
    }

    pub async fn chat_messages(&self, id: Uuid, before_id: Option<i64>, limit: Option<i64>) -> Result<sdk::ChatMessagesResponse> {
        let mut rb = self.request(Method::GET, &format!("{BASE}/{id}/messages"));
        if let Some(b) = before_id {
            rb = rb.query(&[("before_id", b)]);
        }
        if let Some(l) = limit {
            rb = rb.query(&[("limit", l)]);
        }
        self.send(rb).await
    }

    pub async fn send_chat_message(&self, id: Uuid, req: &sdk::CreateChatMessageRequest) -> Result<sdk::CreateChatMessageResponse> {
        self.json(Method::POST, &format!("{BASE}/{id}/messages"), req).await
    }

    pub async fn edit_chat_message(&self, id: Uuid, message: i64, req: &sdk::EditChatMessageRequest) -> Result<sdk::EditChatMessageResponse> {
        self.json(Method::PATCH, &format!("{BASE}/{id}/messages/{message}"), req).await
    }

    pub async fn delete_queued_message(&self, id: Uuid, queued: i64) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("{BASE}/{id}/queue/{queued}"))).await
    }

    pub async fn promote_queued_message(&self, id: Uuid, queued: i64) -> Result<sdk::ChatMessage> {
        self.send(self.request(Method::POST, &format!("{BASE}/{id}/queue/{queued}/promote"))).await
    }

    pub async fn interrupt_chat(&self, id: Uuid) -> Result<sdk::Chat> {
        self.send(self.request(Method::POST, &format!("{BASE}/{id}/interrupt"))).await
    }

    pub async fn submit_tool_results(&self, id: Uuid, req: &sdk::SubmitToolResultsRequest) -> Result<()> {
        self.send_empty(self.request(Method::POST, &format!("{BASE}/{id}/tool-results")).json(req)).await
    }

    pub async fn regenerate_chat_title(&self, id: Uuid) -> Result<sdk::Chat> {
        self.send(self.request(Method::POST, &format!("{BASE}/{id}/title/regenerate"))).await
    }

    pub async fn upload_chat_file(&self, org: Uuid, name: &str, content_type: &str, data: Vec<u8>) -> Result<sdk::UploadChatFileResponse> {
        let rb = self
            .request(Method::POST, &format!("{BASE}/files"))
            .query(&[("organization", org.to_string())])
            .header("Content-Type", content_type)
            .header("Content-Disposition", format!("attachment; filename=\"{name}\""))
            .body(data);
        self.send(rb).await
    }

    /// The file's bytes and content type.
    pub async fn download_chat_file(&self, id: Uuid) -> Result<(Vec<u8>, String)> {
        let resp = self.request(Method::GET, &format!("{BASE}/files/{id}")).send().await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(crate::error_from(status, resp).await);
        }
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok((resp.bytes().await?.to_vec(), ct))
    }

    pub async fn chat_models(&self) -> Result<sdk::ChatModelsResponse> {
        self.get(&format!("{BASE}/models")).await
    }

    /// The models usable in `org` (`None`: the site-wide ones).
    pub async fn chat_models_in(&self, org: Option<Uuid>) -> Result<sdk::ChatModelsResponse> {
        let q = sdk::ChatModelsQuery { organization_id: org };
        self.send(self.request(Method::GET, &format!("{BASE}/models")).query(&q)).await
    }

    /// An organization's default chat model.
    pub async fn org_chat_default_model(&self, org: &str) -> Result<sdk::OrgChatDefaultModel> {
        self.get(&format!("/api/v2/organizations/{org}/chat-default-model")).await
    }

    pub async fn set_org_chat_default_model(&self, org: &str, model: Option<Uuid>) -> Result<sdk::OrgChatDefaultModel> {
        let req = sdk::OrgChatDefaultModel { model_config_id: model };
        self.json(Method::PUT, &format!("/api/v2/organizations/{org}/chat-default-model"), &req).await
    }

    /// What new organizations may use of the site-wide models (`all` or `none`).
    pub async fn chat_model_access(&self) -> Result<sdk::ChatModelAccessConfig> {
        self.get(&format!("{BASE}/model-access")).await
    }

    pub async fn set_chat_model_access(&self, new_organizations: &str) -> Result<sdk::ChatModelAccessConfig> {
        let req = sdk::ChatModelAccessConfig { new_organizations: new_organizations.to_string() };
        self.json(Method::PUT, &format!("{BASE}/model-access"), &req).await
    }

    pub async fn chat_providers(&self) -> Result<Vec<sdk::ChatProviderConfig>> {
        self.get(&format!("{BASE}/providers")).await
    }

    pub async fn create_chat_provider(&self, req: &sdk::CreateChatProviderRequest) -> Result<sdk::ChatProviderConfig> {
        self.json(Method::POST, &format!("{BASE}/providers"), req).await
    }

    pub async fn update_chat_provider(&self, id: Uuid, req: &sdk::UpdateChatProviderRequest) -> Result<sdk::ChatProviderConfig> {
        self.json(Method::PATCH, &format!("{BASE}/providers/{id}"), req).await
    }

    pub async fn delete_chat_provider(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("{BASE}/providers/{id}"))).await
    }

    pub async fn chat_model_configs(&self) -> Result<Vec<sdk::ChatModelConfig>> {
        self.get(&format!("{BASE}/model-configs")).await
    }

    pub async fn create_chat_model_config(&self, req: &sdk::CreateChatModelConfigRequest) -> Result<sdk::ChatModelConfig> {
        self.json(Method::POST, &format!("{BASE}/model-configs"), req).await
    }

    pub async fn update_chat_model_config(&self, id: Uuid, req: &sdk::UpdateChatModelConfigRequest) -> Result<sdk::ChatModelConfig> {
        self.json(Method::PATCH, &format!("{BASE}/model-configs/{id}"), req).await
    }

    pub async fn delete_chat_model_config(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("{BASE}/model-configs/{id}"))).await
    }

    pub async fn usage_limits(&self) -> Result<sdk::UsageLimitConfig> {
        self.get(&format!("{BASE}/usage-limits")).await
    }

    pub async fn set_usage_limits(&self, req: &sdk::UsageLimitConfig) -> Result<sdk::UsageLimitConfig> {
        self.json(Method::PUT, &format!("{BASE}/usage-limits"), req).await
    }

    pub async fn usage_status(&self) -> Result<sdk::UsageLimitStatus> {
        self.get(&format!("{BASE}/usage-limits/status")).await
    }

    /// An organization's chat budget (`user` = `None`) or a member's (`user`: id, name or `me`).
    pub async fn chat_budget(&self, org: &str, user: Option<&str>) -> Result<sdk::ChatBudget> {
        self.get(&budget_path(org, user)).await
    }

    pub async fn set_chat_budget(&self, org: &str, user: Option<&str>, req: &sdk::ChatBudgetRequest) -> Result<sdk::ChatBudget> {
        self.json(Method::PUT, &budget_path(org, user), req).await
    }

    /// `GET /api/experimental/chats/usage` with the given query parameters.
    pub async fn chat_usage(&self, params: &[(&str, String)]) -> Result<sdk::ChatUsageReport> {
        self.send(self.request(Method::GET, &format!("{BASE}/usage")).query(params)).await
    }

    /// The same report as CSV (`format=csv`).
    pub async fn chat_usage_csv(&self, params: &[(&str, String)]) -> Result<String> {
        let resp = self.request(Method::GET, &format!("{BASE}/usage")).query(params).query(&[("format", "csv")]).send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.text().await?);
        }
        Err(crate::error_from(status, resp).await)
    }

    async fn websocket<T>(&self, path: &str) -> Result<EventStream<T>> {
        let mut url = self.base_url().join(path.trim_start_matches('/')).map_err(|e| Error::Url(e.to_string()))?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|_| Error::Url("cannot use a websocket scheme".into()))?;
        let mut req = url.as_str().into_client_request().map_err(|e| Error::Url(e.to_string()))?;
        if let Some(t) = self.token() {
            req.headers_mut().insert("Coder-Session-Token", t.parse().map_err(|_| Error::Url("bad token".into()))?);
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| match e {
            tungstenite::Error::Http(resp) => {
                let status = reqwest::StatusCode::from_u16(resp.status().as_u16()).unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
                let body = resp.body().as_deref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(sdk::Response {
                    message: status.to_string(),
                    ..Default::default()
                });
                Error::Api { status, body }
            }
            e => Error::Url(format!("websocket: {e}")),
        })?;
        Ok(EventStream { ws, _marker: std::marker::PhantomData })
    }

    /// `GET /chats/{id}/stream?after_id=`.
    pub async fn stream_chat(&self, id: Uuid, after_id: i64) -> Result<EventStream<sdk::ChatStreamEvent>> {
        self.websocket(&format!("{BASE}/{id}/stream?after_id={after_id}")).await
    }

    /// `GET /chats/watch`.
    pub async fn watch_chats(&self) -> Result<EventStream<sdk::ChatWatchEvent>> {
        self.websocket(&format!("{BASE}/watch")).await
    }
}

fn budget_path(org: &str, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("/api/v2/organizations/{org}/members/{u}/chat-budget"),
        None => format!("/api/v2/organizations/{org}/chat-budget"),
    }
}
