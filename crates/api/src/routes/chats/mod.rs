//! `/api/experimental/chats`: organization-scoped chats.
//!
//! One rule for AI work: creating a chat, posting or editing a message, promoting a queued
//! message, submitting tool results, regenerating a title and uploading a file all need
//! `chat create` in the chat's organization (the engine's answer, not a separate flag), and on
//! an existing chat the caller must be its owner. Reading, renaming, archiving and pinning need
//! only `chat read`/`update`.

pub mod admin;
pub mod files;
mod input;
pub mod messages;
pub mod stream;

use agentry_sdk as sdk;
use agentry_store::chats::{ChatExtras, ChatPatch, ChatQuery, NewChat, NewContent, OwnerFilter};
use agentry_store::users::UserRef;
use agentry_store::{Actor, StoreError};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::auth::Auth;
use agentry_types::Problem;
use crate::validate;
use crate::error::{ApiError, ApiResult, ClientError};
use crate::json::{ApiJson, ApiQuery, Pagination};
use crate::{AppState, convert};

/// Parses a chat id from the path: malformed is 400, not 404.
pub(crate) fn chat_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ClientError::InvalidChatId.into())
}

/// Reads a chat through the facade and converts it, with its files.
async fn chat_response(actor: &Actor<'_>, chat: agentry_store::chats::Chat) -> ApiResult<sdk::Chat> {
    let files = actor.chat_files_of(&chat).await?;
    let mut out = convert::chat(chat, Vec::new());
    out.files = Some(files.into_iter().map(convert::chat_file).collect());
    Ok(out)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Space-separated filters: `owner:me|all|<username>`, `archived:true|false`,
    /// `organization:<name or id>`, and `title:<word>` or plain words, each of which the title
    /// must contain (case-insensitively). Labels are filtered with repeated `label=key:value`.
    pub q: Option<String>,
    /// 1 to 1000; absent or 0 means the route's default.
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    pub after_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/experimental/chats", tag = "chats", params(ListParams),
    responses((status = 200, body = Vec<sdk::Chat>), (status = 400, body = sdk::Response)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(p): ApiQuery<ListParams>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<sdk::Chat>>> {
    let actor = s.store.actor(&auth.subject);
    // Not `#[serde(flatten)]`: flattened query structs lose their number parsing.
    let page = Pagination { limit: p.limit, offset: p.offset, after_id: p.after_id };
    let mut query = ChatQuery {
        owner: OwnerFilter::Me,
        archived: None,
        organization_id: None,
        labels: input::label_filter(raw.as_deref())?,
        title_words: Vec::new(),
        limit: page.limit(50)?,
        offset: page.offset()?,
        after_id: page.after_id,
    };
    let mut invalid = Vec::new();
    for term in p.q.as_deref().unwrap_or("").split_whitespace() {
        let t = term.to_string();
        match term.split_once(':') {
            Some(("owner", "me")) => query.owner = OwnerFilter::Me,
            Some(("owner", "all")) => query.owner = OwnerFilter::All,
            Some(("owner", name)) if !name.is_empty() => match actor.user(&UserRef::parse(name)).await {
                Ok(u) => query.owner = OwnerFilter::User(u.id),
                // An unreadable user owns no chats the caller can see.
                Err(StoreError::NotFound) => return Ok(Json(Vec::new())),
                Err(e) => return Err(e.into()),
            },
            Some(("archived", "true")) => query.archived = Some(true),
            Some(("archived", "false")) => query.archived = Some(false),
            Some(("archived", _)) => invalid.push(validate::entry("q", Problem::ChatSearchArchived { term: t })),
            Some(("organization", org)) if !org.is_empty() => match actor.organization(org).await {
                Ok(o) => query.organization_id = Some(o.id),
                Err(StoreError::NotFound) => return Ok(Json(Vec::new())),
                Err(e) => return Err(e.into()),
            },
            Some(("title", word)) if !word.is_empty() => query.title_words.push(word.to_string()),
            // A plain word searches titles too.
            None => query.title_words.push(t),
            _ => invalid.push(validate::entry("q", Problem::ChatSearchUnknown { term: t })),
        }
    }
    if !invalid.is_empty() {
        return Err(ApiError::with_validations(ClientError::InvalidChatSearch, invalid));
    }
    let chats = actor.chats(&query).await?;
    Ok(Json(
        chats
            .into_iter()
            .map(|c| {
                let children = c.children.into_iter().map(|ch| convert::chat(ch, Vec::new())).collect();
                convert::chat(c.chat, children)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/experimental/chats", tag = "chats", request_body = sdk::CreateChatRequest,
    responses((status = 201, body = sdk::Chat), (status = 400, body = sdk::Response), (status = 403, body = sdk::Response), (status = 409, body = sdk::Response)))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<sdk::CreateChatRequest>,
) -> ApiResult<(StatusCode, Json<sdk::Chat>)> {
    let actor = s.store.actor(&auth.subject);
    // Decoding only: the store runs the checks of SPEC §3.1 in their order and reports what
    // was found wrong here at its place in that order.
    let content = input::parse_content(req.content.as_ref())
        .map(|(_, c)| NewContent { title: input::title_from(c.first_text.as_deref()), parts: c.parts })
        .map_err(|e| *e.error);
    let labels = req.labels.clone().unwrap_or_default();
    let tools = req.unsafe_dynamic_tools.clone().unwrap_or_default();
    let extras = input::check_labels(&labels).and_then(|()| input::check_dynamic_tools(&tools)).map(|()| ChatExtras {
        labels,
        dynamic_tools: (!tools.is_empty()).then(|| serde_json::to_value(&tools).expect("tools serialize")),
    });
    let chat = actor
        .create_chat(NewChat {
            organization_id: req.organization_id,
            content,
            system_prompt: req.system_prompt.clone(),
            workspace_id: req.workspace_id,
            model_config_id: req.model_config_id,
            extras,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(chat_response(&actor, chat).await?)))
}

#[utoipa::path(get, path = "/api/experimental/chats/{chat}", tag = "chats", params(("chat" = Uuid, Path)),
    responses((status = 200, body = sdk::Chat), (status = 404, body = sdk::Response)))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<sdk::Chat>> {
    let actor = s.store.actor(&auth.subject);
    let chat = actor.chat(chat_id(&id)?).await?;
    Ok(Json(chat_response(&actor, chat).await?))
}

#[utoipa::path(patch, path = "/api/experimental/chats/{chat}", tag = "chats", params(("chat" = Uuid, Path)),
    request_body = sdk::UpdateChatRequest,
    responses((status = 204), (status = 400, body = sdk::Response), (status = 404, body = sdk::Response)))]
pub async fn patch(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<sdk::UpdateChatRequest>,
) -> ApiResult<StatusCode> {
    let id = chat_id(&id)?;
    let title = match &req.title {
        Some(t) => {
            let t = t.trim();
            if t.is_empty() || t.chars().count() > 200 {
                return Err(ApiError::validation(vec![validate::entry("title", Problem::TitleLength)]));
            }
            Some(t.to_string())
        }
        None => None,
    };
    if let Some(labels) = &req.labels {
        input::check_labels(labels).map_err(ApiError::from)?;
    }
    let patch = ChatPatch {
        title,
        archived: req.archived,
        pin_order: req.pin_order,
        labels: req.labels.clone(),
        workspace_id: req.workspace_id.map(|w| w.filter(|u| !u.is_nil())),
    };
    s.store.actor(&auth.subject).update_chat(id, &patch).await?;
    Ok(StatusCode::NO_CONTENT)
}
