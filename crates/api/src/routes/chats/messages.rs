//! History, sending, editing, the queue, interrupt, client tool results and title regeneration.

use agentry_sdk as sdk;
use agentry_store::chats::messages::{BusyBehavior, Sent, ToolResult};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{chat_id, input};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ClientError};
use agentry_types::Part;
use crate::json::{ApiJson, ApiQuery};
use crate::{AppState, convert};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages older than this id.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub before_id: Option<String>,
    /// 1..=200, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

#[utoipa::path(get, path = "/api/experimental/chats/{chat}/messages", tag = "chats", params(("chat" = Uuid, Path), HistoryParams),
    responses((status = 200, body = sdk::ChatMessagesResponse), (status = 400, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> ApiResult<Json<sdk::ChatMessagesResponse>> {
    let id = chat_id(&id)?;
    let before = match p.before_id.as_deref() {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(ClientError::InvalidBeforeId.into()),
        },
    };
    let limit = match p.limit.as_deref() {
        None => 50,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(ClientError::InvalidMessageLimit.into()),
        },
    };
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(id).await?;
    let (messages, has_more) = actor.messages(&chat, before, limit).await?;
    let queued = if before.is_none() { actor.queued_messages(&chat).await? } else { Vec::new() };
    Ok(Json(sdk::ChatMessagesResponse {
        messages: messages.into_iter().map(convert::message).collect(),
        queued_messages: queued.into_iter().map(convert::queued).collect(),
        has_more,
    }))
}

#[utoipa::path(post, path = "/api/experimental/chats/{chat}/messages", tag = "chats", params(("chat" = Uuid, Path)),
    request_body = sdk::CreateChatMessageRequest,
    responses((status = 200, body = sdk::CreateChatMessageResponse), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 429, body = sdk::Response)))]
pub async fn send(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::CreateChatMessageRequest>,
) -> ApiResult<Json<sdk::CreateChatMessageResponse>> {
    let id = chat_id(&id)?;
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(id).await?;
    actor.may_start_ai_work(&chat)?;
    let busy = match req.busy_behavior.as_deref() {
        None | Some("") | Some("queue") => BusyBehavior::Queue,
        Some("interrupt") => BusyBehavior::Interrupt,
        Some(_) => return Err(ClientError::InvalidBusyBehavior.into()),
    };
    let (_, mut content) = input::parse_content(req.content.as_ref())?;
    input::check_files(&actor, chat.organization_id, &mut content).await?;
    if let Some(m) = req.model_config_id
        && (m.is_nil() || actor.usable_model_config(m).await?.is_none()) {
            return Err(ClientError::InvalidModelConfig.into());
        }
    let sent = actor.send_message(chat.id, Part::content(&content.parts), req.model_config_id, busy, &content.file_ids).await?;
    Ok(Json(match sent {
        Sent::Message(m) => sdk::CreateChatMessageResponse { queued: false, message: Some(convert::message(m)), queued_message: None },
        Sent::Queued(q) => sdk::CreateChatMessageResponse { queued: true, message: None, queued_message: Some(convert::queued(q)) },
    }))
}

#[utoipa::path(patch, path = "/api/experimental/chats/{chat}/messages/{message}", tag = "chats",
    params(("chat" = Uuid, Path), ("message" = i64, Path, minimum = 1)), request_body = sdk::EditChatMessageRequest,
    responses((status = 200, body = sdk::EditChatMessageResponse), (status = 400, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn edit(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, message)): Path<(String, String)>,
    ApiJson(req): ApiJson<sdk::EditChatMessageRequest>,
) -> ApiResult<Json<sdk::EditChatMessageResponse>> {
    let id = chat_id(&id)?;
    let message_id = match message.parse::<i64>() {
        Ok(n) if n > 0 => n,
        _ => return Err(ClientError::InvalidChatMessageId.into()),
    };
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(id).await?;
    actor.may_start_ai_work(&chat)?;
    let (_, mut content) = input::parse_content(req.content.as_ref())?;
    input::check_files(&actor, chat.organization_id, &mut content).await?;
    let m = actor.edit_message(chat.id, message_id, Part::content(&content.parts), &content.file_ids).await?;
    Ok(Json(sdk::EditChatMessageResponse { message: convert::message(m) }))
}

fn queued_id(s: &str) -> ApiResult<i64> {
    match s.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ClientError::InvalidQueuedMessageId.into()),
    }
}

#[utoipa::path(delete, path = "/api/experimental/chats/{chat}/queue/{queued}", tag = "chats",
    params(("chat" = Uuid, Path), ("queued" = i64, Path, minimum = 1)), responses((status = 204), (status = 404, body = sdk::Response)))]
pub async fn delete_queued(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, queued)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (id, queued) = (chat_id(&id)?, queued_id(&queued)?);
    s.store.actor(&auth.subject).delete_queued(id, queued).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/experimental/chats/{chat}/queue/{queued}/promote", tag = "chats",
    params(("chat" = Uuid, Path), ("queued" = i64, Path, minimum = 1)),
    responses((status = 200, body = sdk::ChatMessage), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn promote_queued(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, queued)): Path<(String, String)>,
) -> ApiResult<Json<sdk::ChatMessage>> {
    let (id, queued) = (chat_id(&id)?, queued_id(&queued)?);
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(id).await?;
    actor.may_start_ai_work(&chat)?;
    Ok(Json(convert::message(actor.promote_queued(chat.id, queued).await?)))
}

#[utoipa::path(post, path = "/api/experimental/chats/{chat}/interrupt", tag = "chats", params(("chat" = Uuid, Path)),
    responses((status = 200, body = sdk::Chat), (status = 404, body = sdk::Response)))]
pub async fn interrupt(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::Chat>> {
    let chat = s.store.actor(&auth.subject).interrupt_chat(chat_id(&id)?).await?;
    Ok(Json(convert::chat(chat, Vec::new())))
}

#[utoipa::path(post, path = "/api/experimental/chats/{chat}/tool-results", tag = "chats", params(("chat" = Uuid, Path)),
    request_body = sdk::SubmitToolResultsRequest,
    responses((status = 204), (status = 400, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn tool_results(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::SubmitToolResultsRequest>,
) -> ApiResult<StatusCode> {
    let id = chat_id(&id)?;
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(id).await?;
    actor.may_start_ai_work(&chat)?;
    if req.results.is_empty() {
        return Err(ClientError::ToolResultsRequired.into());
    }
    let results: Vec<ToolResult> = req
        .results
        .into_iter()
        .map(|r| ToolResult { tool_call_id: r.tool_call_id, output: r.output, is_error: r.is_error })
        .collect();
    actor.submit_tool_results(chat.id, &results).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/experimental/chats/{chat}/title/regenerate", tag = "chats", params(("chat" = Uuid, Path)),
    responses((status = 200, body = sdk::Chat), (status = 403, body = sdk::Response), (status = 404, body = sdk::Response), (status = 409, body = sdk::Response), (status = 502, body = sdk::Response)))]
pub async fn regenerate_title(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::Chat>> {
    let id = chat_id(&id)?;
    let chat = agentry_chatd::title::regenerate(&s.store, &auth.subject, id).await.map_err(|e| match e {
        agentry_chatd::title::RegenerateError::Store(e) => ApiError::from(e),
        agentry_chatd::title::RegenerateError::Setup(e) => ApiError::internal(e),
    })?;
    Ok(Json(convert::chat(chat, Vec::new())))
}
