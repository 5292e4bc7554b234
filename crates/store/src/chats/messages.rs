//! Chat history and the queue: listing, sending, editing, promoting, interrupting, and client
//! tool results. Each change is one transaction under the chat's row lock.

use agentry_rbac::Action;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{Chat, ChatStatus, MAX_QUEUED, change, chat_by_id, lock_chat};
use crate::pubsub::{self, ChangeKind};
use agentry_types::{MessageRole, Part, Visibility, notices};
use crate::{Actor, ClientError, Result, StoreError};

#[derive(Debug, Clone, FromRow)]
pub struct Message {
    pub id: i64,
    pub chat_id: Uuid,
    pub created_by: Option<Uuid>,
    pub model_config_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub role: MessageRole,
    #[sqlx(try_from = "String")]
    pub visibility: Visibility,
    pub content: Json<serde_json::Value>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub context_limit: Option<i64>,
    pub total_cost_micros: Option<i64>,
    pub runtime_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The user stopped this answer before the model finished it.
    pub stopped: bool,
}

#[derive(Debug, Clone, FromRow)]
pub struct QueuedMessage {
    pub id: i64,
    pub chat_id: Uuid,
    pub content: Json<serde_json::Value>,
    pub created_by: Option<Uuid>,
    pub model_config_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const MESSAGE_COLUMNS: &str = "id, chat_id, created_by, model_config_id, role, visibility, content,
    input_tokens, output_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
    context_limit, total_cost_micros, runtime_ms, created_at, stopped";

/// Token usage and cost of one model step, stored on its assistant message.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub context_limit: Option<i64>,
    pub total_cost_micros: Option<i64>,
    pub runtime_ms: Option<i64>,
}

/// A message to insert.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: MessageRole,
    pub visibility: Visibility,
    pub content: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub model_config_id: Option<Uuid>,
    pub usage: Usage,
    /// An assistant message cut short by the user's Stop.
    pub stopped: bool,
}

impl NewMessage {
    pub fn user(content: serde_json::Value, by: Uuid, model: Option<Uuid>) -> NewMessage {
        NewMessage { role: MessageRole::User, visibility: Visibility::Both, content, created_by: Some(by), model_config_id: model, usage: Usage::default(), stopped: false }
    }

    /// Instructions for the model, hidden from the history the user sees.
    pub fn system(content: serde_json::Value) -> NewMessage {
        NewMessage { role: MessageRole::System, visibility: Visibility::Model, content, created_by: None, model_config_id: None, usage: Usage::default(), stopped: false }
    }

    pub fn assistant(content: serde_json::Value, model: Option<Uuid>, usage: Usage) -> NewMessage {
        NewMessage { role: MessageRole::Assistant, visibility: Visibility::Both, content, created_by: None, model_config_id: model, usage, stopped: false }
    }

    pub fn tool(content: serde_json::Value) -> NewMessage {
        NewMessage { role: MessageRole::Tool, visibility: Visibility::Both, content, created_by: None, model_config_id: None, usage: Usage::default(), stopped: false }
    }
}

pub(crate) async fn insert(conn: &mut PgConnection, chat_id: Uuid, m: NewMessage) -> Result<Message> {
    let sql = format!(
        "INSERT INTO chat_messages (chat_id, created_by, model_config_id, role, visibility, content,
             input_tokens, output_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
             context_limit, total_cost_micros, runtime_ms, stopped)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING {MESSAGE_COLUMNS}"
    );
    let u = &m.usage;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(chat_id)
        .bind(m.created_by)
        .bind(m.model_config_id)
        .bind(m.role.as_str())
        .bind(m.visibility.as_str())
        .bind(Json(&m.content))
        .bind(u.input_tokens)
        .bind(u.output_tokens)
        .bind(u.reasoning_tokens)
        .bind(u.cache_creation_tokens)
        .bind(u.cache_read_tokens)
        .bind(u.context_limit)
        .bind(u.total_cost_micros)
        .bind(u.runtime_ms)
        .bind(m.stopped)
        .fetch_one(conn)
        .await?)
}

pub(crate) async fn queue(conn: impl sqlx::PgExecutor<'_>, chat_id: Uuid) -> Result<Vec<QueuedMessage>> {
    Ok(sqlx::query_as("SELECT * FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id")
        .bind(chat_id)
        .fetch_all(conn)
        .await?)
}

/// Makes a chat runnable again: pending, no worker, no error, new version.
async fn set_pending(conn: &mut PgConnection, chat_id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE chats SET status = 'pending', worker_id = NULL, started_at = NULL, heartbeat_at = NULL,
             last_error = NULL, queue_held = false, version = version + 1, updated_at = now()
         WHERE id = $1",
    )
    .bind(chat_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pops the queue head into history and makes the chat pending. `None` when the queue is empty.
async fn promote_head(conn: &mut PgConnection, chat: &Chat) -> Result<Option<Message>> {
    let head: Option<QueuedMessage> = sqlx::query_as(
        "DELETE FROM chat_queued_messages WHERE id = (
             SELECT id FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id LIMIT 1)
         RETURNING *",
    )
    .bind(chat.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(head) = head else { return Ok(None) };
    let by = head.created_by.unwrap_or(chat.owner_id);
    let msg = insert(&mut *conn, chat.id, NewMessage::user(head.content.0, by, head.model_config_id)).await?;
    set_pending(&mut *conn, chat.id).await?;
    Ok(Some(msg))
}

/// What [`promote_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Promotion {
    /// The queue was empty; nothing changed.
    Empty,
    /// The head is in history and the chat is pending.
    Promoted,
    /// The owner may no longer start AI work here: the chat is in `error` with
    /// [`super::no_ai_access`] and the queue is untouched.
    Refused,
}

/// Promotes the queue head after a turn, an interrupt or stale recovery — the promotions no
/// user request asked for — after checking, with the owner's subject rebuilt from the database,
/// that the owner may still start AI work in the chat's organization. Queued messages of an
/// owner who lost access stay stored and never reach the model.
pub(crate) async fn promote_next(conn: &mut PgConnection, chat: &Chat) -> Result<Promotion> {
    let queued: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chat_queued_messages WHERE chat_id = $1)")
        .bind(chat.id)
        .fetch_one(&mut *conn)
        .await?;
    if !queued {
        return Ok(Promotion::Empty);
    }
    if !super::owner_may_start_ai_work(&mut *conn, chat).await? {
        sqlx::query(
            "UPDATE chats SET status = 'error', last_error = $2, worker_id = NULL, started_at = NULL,
                 heartbeat_at = NULL, version = version + 1, updated_at = now()
             WHERE id = $1",
        )
        .bind(chat.id)
        .bind(super::no_ai_access())
        .execute(&mut *conn)
        .await?;
        return Ok(Promotion::Refused);
    }
    promote_head(&mut *conn, chat).await?;
    pubsub::notify(&mut *conn, change(chat, ChangeKind::Message)).await?;
    pubsub::notify(&mut *conn, change(chat, ChangeKind::Queue)).await?;
    Ok(Promotion::Promoted)
}

/// How a message sent to a busy chat is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyBehavior {
    /// Wait in the queue for the current turn to end.
    Queue,
    /// Stop the current turn; the message runs next.
    Interrupt,
}

/// Where a sent message went.
#[derive(Debug, Clone)]
pub enum Sent {
    Message(Message),
    Queued(QueuedMessage),
}

/// A client tool's answer.
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub tool_call_id: String,
    pub output: serde_json::Value,
    pub is_error: bool,
}

impl Actor<'_> {
    /// History visible to the user (visibility `user` or `both`, not deleted), newest first,
    /// before `before_id`; fetches one extra row to report whether there is more.
    pub async fn messages(&self, chat: &Chat, before_id: Option<i64>, limit: i64) -> Result<(Vec<Message>, bool)> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both')
               AND ($2::bigint IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        );
        let mut rows: Vec<Message> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(chat.id)
            .bind(before_id)
            .bind(limit + 1)
            .fetch_all(self.pool)
            .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// Visible messages with id greater than `after_id`, oldest first (stream snapshots).
    pub async fn messages_after(&self, chat: &Chat, after_id: i64) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') AND id > $2
             ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(chat.id).bind(after_id).fetch_all(self.pool).await?)
    }

    pub async fn queued_messages(&self, chat: &Chat) -> Result<Vec<QueuedMessage>> {
        queue(self.pool, chat.id).await
    }

    /// Sends a user message. An idle chat takes it into history and becomes pending; a busy
    /// chat (or one that already has a queue, to keep order) queues it, and with
    /// [`BusyBehavior::Interrupt`] also stops the running turn.
    pub async fn send_message(
        &self,
        chat_id: Uuid,
        content: serde_json::Value,
        model_config_id: Option<Uuid>,
        busy: BusyBehavior,
        file_ids: &[Uuid],
    ) -> Result<Sent> {
        let me = self.subject.user_id();
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_ai_work_locked(&chat)?;
        super::budgets::check(&mut tx, chat.organization_id, chat.owner_id).await?;
        let model = model_config_id.unwrap_or(chat.last_model_config_id);
        super::org_models::check(&mut tx, model, chat.organization_id).await?;
        if model_config_id.is_some() {
            sqlx::query("UPDATE chats SET last_model_config_id = $2 WHERE id = $1")
                .bind(chat.id)
                .bind(model)
                .execute(&mut *tx)
                .await?;
        }
        let queued_count: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_queued_messages WHERE chat_id = $1")
            .bind(chat.id)
            .fetch_one(&mut *tx)
            .await?;
        super::files::link(&mut tx, chat.id, chat.organization_id, file_ids).await?;

        let sent = if chat.is_busy() || queued_count > 0 {
            if queued_count >= MAX_QUEUED {
                return Err(ClientError::QueueFull { max: MAX_QUEUED }.into());
            }
            let q: QueuedMessage = sqlx::query_as(
                "INSERT INTO chat_queued_messages (chat_id, content, created_by, model_config_id)
                 VALUES ($1, $2, $3, $4) RETURNING *",
            )
            .bind(chat.id)
            .bind(Json(&content))
            .bind(me)
            .bind(model)
            .fetch_one(&mut *tx)
            .await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::Queue)).await?;
            if busy == BusyBehavior::Interrupt {
                // Interrupt *to send this*: the queue goes on after the stop.
                interrupt_locked(&mut tx, &chat, QueueAfterStop::Continue).await?;
            } else if !chat.is_busy() {
                // Idle with a queue held by a Stop: sending again resumes it, oldest first.
                promote_next(&mut tx, &chat).await?;
                pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            }
            Sent::Queued(q)
        } else {
            let msg = insert(&mut tx, chat.id, NewMessage::user(content, me, Some(model))).await?;
            set_pending(&mut tx, chat.id).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::Message)).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            Sent::Message(msg)
        };
        tx.commit().await?;
        Ok(sent)
    }

    /// Replaces a user message: it and everything after it are soft-deleted, the replacement is
    /// appended, the queue is cleared and the chat runs again from there.
    pub async fn edit_message(&self, chat_id: Uuid, message_id: i64, content: serde_json::Value, file_ids: &[Uuid]) -> Result<Message> {
        let me = self.subject.user_id();
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_ai_work_locked(&chat)?;
        let old: Option<Message> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE id = $1 AND chat_id = $2 AND NOT deleted"
        )))
        .bind(message_id)
        .bind(chat.id)
        .fetch_optional(&mut *tx)
        .await?;
        let old = old.ok_or(ClientError::ChatMessageNotFound)?;
        if old.role != MessageRole::User {
            return Err(ClientError::OnlyUserMessagesEditable.into());
        }
        super::budgets::check(&mut tx, chat.organization_id, chat.owner_id).await?;
        super::org_models::check(&mut tx, chat.last_model_config_id, chat.organization_id).await?;
        sqlx::query("UPDATE chat_messages SET deleted = true WHERE chat_id = $1 AND id >= $2")
            .bind(chat.id)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM chat_queued_messages WHERE chat_id = $1").bind(chat.id).execute(&mut *tx).await?;
        super::files::link(&mut tx, chat.id, chat.organization_id, file_ids).await?;
        let msg = insert(&mut tx, chat.id, NewMessage::user(content, me, old.model_config_id)).await?;
        set_pending(&mut tx, chat.id).await?;
        for kind in [ChangeKind::Message, ChangeKind::Queue, ChangeKind::StatusChange] {
            pubsub::notify(&mut tx, change(&chat, kind)).await?;
        }
        tx.commit().await?;
        Ok(msg)
    }

    /// Drops a queued message. Needs `chat update` (no model run is started).
    pub async fn delete_queued(&self, chat_id: Uuid, queued_id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_locked(&chat, Action::Update)?;
        let gone = sqlx::query("DELETE FROM chat_queued_messages WHERE id = $1 AND chat_id = $2")
            .bind(queued_id)
            .bind(chat.id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Err(ClientError::QueuedMessageNotFound.into());
        }
        pubsub::notify(&mut tx, change(&chat, ChangeKind::Queue)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a queued message now: it leaves the queue, enters history, and the chat runs it
    /// (a turn in progress is superseded; its worker's next fenced write fails and it stops).
    pub async fn promote_queued(&self, chat_id: Uuid, queued_id: i64) -> Result<Message> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_ai_work_locked(&chat)?;
        let q: Option<QueuedMessage> =
            sqlx::query_as("DELETE FROM chat_queued_messages WHERE id = $1 AND chat_id = $2 RETURNING *")
                .bind(queued_id)
                .bind(chat.id)
                .fetch_optional(&mut *tx)
                .await?;
        let q = q.ok_or(ClientError::QueuedMessageNotFound)?;
        cancel_pending_tool_calls(&mut tx, &chat, notices::TOOL_CALL_CANCELLED_BY_MESSAGE).await?;
        let by = q.created_by.unwrap_or(chat.owner_id);
        let msg = insert(&mut tx, chat.id, NewMessage::user(q.content.0, by, q.model_config_id)).await?;
        set_pending(&mut tx, chat.id).await?;
        for kind in [ChangeKind::Message, ChangeKind::Queue, ChangeKind::StatusChange] {
            pubsub::notify(&mut tx, change(&chat, kind)).await?;
        }
        tx.commit().await?;
        Ok(msg)
    }

    /// Stops the current turn. Needs `chat update`: stopping the model is not AI work.
    pub async fn interrupt_chat(&self, chat_id: Uuid) -> Result<Chat> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_locked(&chat, Action::Update)?;
        interrupt_locked(&mut tx, &chat, QueueAfterStop::Hold).await?;
        let chat = chat_by_id(&mut *tx, chat_id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(chat)
    }

    /// Records the results of client-executed (dynamic) tool calls. The chat must be waiting
    /// for exactly these calls.
    pub async fn submit_tool_results(&self, chat_id: Uuid, results: &[ToolResult]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        self.authorize_ai_work_locked(&chat)?;
        if chat.status != ChatStatus::RequiresAction {
            return Err(ClientError::NotAwaitingToolResults.into());
        }
        let pending = pending_tool_calls(&mut tx, &chat).await?;
        let mut given: Vec<&str> = results.iter().map(|r| r.tool_call_id.as_str()).collect();
        given.sort_unstable();
        let dup = given.windows(2).any(|w| w[0] == w[1]);
        let mut wanted: Vec<&str> = pending.iter().map(|c| c.tool_call_id.as_str()).collect();
        wanted.sort_unstable();
        if dup || given != wanted {
            let expected = wanted.iter().map(|s| s.to_string()).collect();
            return Err(ClientError::ToolResultsMismatch { expected }.into());
        }
        for r in results {
            let name = pending.iter().find(|c| c.tool_call_id == r.tool_call_id).map(|c| c.tool_name.clone()).unwrap_or_default();
            let part = Part::content(&[Part::tool_result(r.tool_call_id.clone(), name, r.output.clone(), r.is_error)]);
            insert(&mut tx, chat.id, NewMessage::tool(part)).await?;
        }
        set_pending(&mut tx, chat.id).await?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::Message)).await?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The text of the first user message still in history (for titles).
    pub async fn first_user_text(&self, chat: &Chat) -> Result<Option<String>> {
        let content: Option<Json<serde_json::Value>> = sqlx::query_scalar(
            "SELECT content FROM chat_messages WHERE chat_id = $1 AND role = 'user' AND NOT deleted ORDER BY id LIMIT 1",
        )
        .bind(chat.id)
        .fetch_optional(self.pool)
        .await?;
        Ok(content.map(|c| {
            Part::parse_content(&c.0)
                .into_iter()
                .filter_map(|p| match p {
                    Part::Text { text } => Some(text),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        }))
    }

    /// Dynamic tool calls the chat is waiting on (for `action_required` events).
    pub async fn pending_tool_calls(&self, chat: &Chat) -> Result<Vec<PendingCall>> {
        let mut conn = self.pool.acquire().await?;
        pending_tool_calls(&mut conn, chat).await
    }

    fn authorize_locked(&self, chat: &Chat, action: Action) -> Result<()> {
        if !self.subject.can(Action::Read, &chat.object()) {
            return Err(StoreError::NotFound);
        }
        self.subject.authorize(action, &chat.object()).map_err(StoreError::Forbidden)
    }

    fn authorize_ai_work_locked(&self, chat: &Chat) -> Result<()> {
        if !self.subject.can(Action::Read, &chat.object()) {
            return Err(StoreError::NotFound);
        }
        self.may_start_ai_work(chat)
    }
}

/// Stops a turn under the row lock: a running turn's worker sees the new version and stops
/// (persisting its partial step, then promoting the queue head); a chat with no worker promotes
/// the queue head at once.
/// What a stopped turn leaves behind for the queued messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueAfterStop {
    /// The user pressed Stop: nothing more runs until they send or promote a message.
    Hold,
    /// The stop makes room for a message just queued (`busy_behavior: interrupt`).
    Continue,
}

async fn interrupt_locked(conn: &mut PgConnection, chat: &Chat, queue: QueueAfterStop) -> Result<()> {
    if !chat.is_busy() {
        return Ok(());
    }
    cancel_pending_tool_calls(conn, chat, notices::TOOL_CALL_CANCELLED_BY_INTERRUPT).await?;
    sqlx::query(
        "UPDATE chats SET status = 'waiting', worker_id = NULL, started_at = NULL, heartbeat_at = NULL,
             queue_held = $2, version = version + 1, updated_at = now()
         WHERE id = $1",
    )
    .bind(chat.id)
    .bind(queue == QueueAfterStop::Hold)
    .execute(&mut *conn)
    .await?;
    // A running worker promotes when it has saved its partial step (`finish_turn`).
    if queue == QueueAfterStop::Continue && (chat.worker_id.is_none() || chat.status != ChatStatus::Running) {
        promote_next(conn, chat).await?;
    }
    pubsub::notify(conn, change(chat, ChangeKind::StatusChange)).await?;
    Ok(())
}

/// A tool call of the newest assistant message that has no result yet.
#[derive(Debug, Clone)]
pub struct PendingCall {
    pub tool_call_id: String,
    pub tool_name: String,
    pub args: serde_json::Value,
}

pub(crate) async fn pending_tool_calls(conn: &mut PgConnection, chat: &Chat) -> Result<Vec<PendingCall>> {
    let last: Option<(i64, Json<serde_json::Value>)> = sqlx::query_as(
        "SELECT id, content FROM chat_messages WHERE chat_id = $1 AND role = 'assistant' AND NOT deleted
         ORDER BY id DESC LIMIT 1",
    )
    .bind(chat.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((last_id, content)) = last else { return Ok(Vec::new()) };
    let calls: Vec<PendingCall> = content
        .0
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["type"] == "tool-call")
        .filter_map(|p| {
            Some(PendingCall {
                tool_call_id: p["tool_call_id"].as_str()?.to_string(),
                tool_name: p["tool_name"].as_str()?.to_string(),
                args: p.get("args").cloned().unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    let answered: Vec<String> = sqlx::query_scalar(
        "SELECT p->>'tool_call_id' FROM chat_messages m, jsonb_array_elements(m.content) p
         WHERE m.chat_id = $1 AND m.role = 'tool' AND NOT m.deleted AND m.id > $2 AND p->>'type' = 'tool-result'",
    )
    .bind(chat.id)
    .bind(last_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(calls.into_iter().filter(|c| !answered.contains(&c.tool_call_id)).collect())
}

/// Answers every unanswered dynamic tool call with an error, so history stays valid for every
/// provider (each call needs a result) before a user message follows.
async fn cancel_pending_tool_calls(conn: &mut PgConnection, chat: &Chat, why: &str) -> Result<()> {
    if chat.status != ChatStatus::RequiresAction {
        return Ok(());
    }
    for call in pending_tool_calls(conn, chat).await? {
        let result = serde_json::json!({"error": why});
        let part = Part::content(&[Part::tool_result(call.tool_call_id, call.tool_name, result, true)]);
        insert(&mut *conn, chat.id, NewMessage::tool(part)).await?;
    }
    Ok(())
}
