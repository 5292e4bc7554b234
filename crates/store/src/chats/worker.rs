//! The chat daemon's named system tasks: claiming pending chats, heartbeats, stale recovery,
//! and the fenced writes a worker makes while it runs a chat.
//!
//! A worker holds a chat through a **lease**: the claim sets `status = 'running'`, `worker_id`
//! and `started_at`, and bumps `version`. Every transition that takes a run away from its
//! worker (interrupt, edit, promote, archive, stale recovery) clears `worker_id` or
//! `started_at`, and a new claim sets a new `started_at`, so `(worker_id, started_at)` names one
//! run exactly. Each fenced write locks the row and checks that lease — not the raw `version`,
//! which non-transition patches (title, labels, pin, the workspace binding the agent itself
//! makes) also bump and which must not end a run. The worker also carries a **watermark**, the
//! newest message id of the history it is extending; an interrupted run may still save its
//! partial step while the chat sits in `waiting` with no worker and no newer message (nobody
//! has written after it), which is the one exception to "only the owner writes".
//!
//! No row lock is held across a model call: each function here is one short transaction.

use agentry_rbac::Subject;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::messages::{self, Message, NewMessage};
use super::models::ModelConfig;
use agentry_types::Part;

use super::{CHAT_COLUMNS, Chat, ChatStatus, change, chat_by_id, lock_chat, owner_may_start_ai_work};
use crate::pubsub::{self, ChangeKind};
use crate::{Actor, ClientError, Result, StoreError, WorkerTasks};

/// One run of one chat by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub chat_id: Uuid,
    pub worker_id: Uuid,
    pub started_at: DateTime<Utc>,
}

/// A chat this worker just claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub chat: Chat,
    pub lease: Lease,
}

/// Where a lease stands, read under the row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Still ours: running, same worker, same claim.
    Held,
    /// An interrupt set the chat `waiting` and nobody wrote after us: the partial step may be
    /// saved and the turn finished (which promotes the queue head).
    Interrupted,
    /// Someone else owns what happens next (an edit, a steal, archive, a new message).
    Lost,
}

/// A fenced write's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced<T> {
    Done(T),
    Lost,
}

/// One model step to save: the assistant message and one tool message per local tool result.
/// A step whose tools run is saved in two writes: the assistant message (with its tool calls)
/// before any tool starts, then the results (`assistant: None`), so a run that dies in between
/// leaves calls without results, which the next run answers as interrupted instead of calling
/// the tool again.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub assistant: Option<NewMessage>,
    pub tool_results: Vec<NewMessage>,
    /// The run was interrupted; saving is also allowed in [`LeaseState::Interrupted`].
    pub partial: bool,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The model answered without calling tools: `waiting`, then the queue head is promoted.
    Done,
    /// The run was interrupted by the user: the status (`waiting`) stays; the queue head is
    /// promoted.
    Interrupted,
    /// A failure the model cannot recover from: `error` with this text in `last_error`.
    Error(String),
    /// The model called client-side tools: `requires_action` until results arrive.
    RequiresAction,
    /// The server is shutting down: back to `pending` for any replica.
    Shutdown,
}

/// What stale recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Running chats whose worker stopped heartbeating, now pending again.
    pub requeued: Vec<Uuid>,
    /// Chats that waited too long for client tool results, now in `error`.
    pub timed_out: Vec<Uuid>,
    /// Waiting chats with a queue whose interrupted worker vanished, now running the head.
    pub promoted: Vec<Uuid>,
}

/// The text recorded when a client tool never answered.
/// The `last_error` (and each call's result) when a client did not answer dynamic tool calls.
pub fn dynamic_tool_timeout() -> String {
    agentry_types::ChatFailure::DynamicToolTimeout.to_string()
}

async fn lease_state(conn: &mut PgConnection, lease: &Lease, watermark: i64) -> Result<(LeaseState, Chat)> {
    let chat = lock_chat(conn, lease.chat_id).await?;
    let started: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT started_at FROM chats WHERE id = $1")
        .bind(lease.chat_id)
        .fetch_one(&mut *conn)
        .await?;
    if chat.status == ChatStatus::Running && chat.worker_id == Some(lease.worker_id) && started == Some(lease.started_at) {
        return Ok((LeaseState::Held, chat));
    }
    if chat.status == ChatStatus::Waiting && chat.worker_id.is_none() {
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT max(id) FROM chat_messages WHERE chat_id = $1 AND NOT deleted")
                .bind(lease.chat_id)
                .fetch_one(&mut *conn)
                .await?;
        // Deleted rows count too: an edit soft-deletes and inserts, so any change moves max(id).
        let newest_any: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM chat_messages WHERE chat_id = $1")
            .bind(lease.chat_id)
            .fetch_one(&mut *conn)
            .await?;
        if newest.unwrap_or(0) <= watermark && newest_any.unwrap_or(0) <= watermark {
            return Ok((LeaseState::Interrupted, chat));
        }
    }
    Ok((LeaseState::Lost, chat))
}

/// Ends a worker's hold on `chat`, moving it to `status` (a move the state machine allows).
async fn release(conn: &mut PgConnection, chat: &Chat, status: ChatStatus, last_error: Option<&str>) -> Result<()> {
    debug_assert!(chat.status.allows(status), "chat {} cannot go from {} to {status}", chat.id, chat.status);
    sqlx::query(
        "UPDATE chats SET status = $2, last_error = $3, worker_id = NULL, started_at = NULL,
             heartbeat_at = NULL, version = version + 1, updated_at = now()
         WHERE id = $1",
    )
    .bind(chat.id)
    .bind(status.as_str())
    .bind(last_error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Promotes the queue head of an idle, unarchived chat, with its hints — if the owner may still
/// start AI work there (else the chat goes to `error` and the queue stays). True when the chat
/// changed.
async fn promote_if_queued(conn: &mut PgConnection, chat: &Chat) -> Result<bool> {
    if chat.archived {
        return Ok(false);
    }
    // After the user's Stop the queue waits for them (see `interrupt_chat`).
    let held: bool = sqlx::query_scalar("SELECT queue_held FROM chats WHERE id = $1").bind(chat.id).fetch_one(&mut *conn).await?;
    if held {
        return Ok(false);
    }
    Ok(messages::promote_next(conn, chat).await? != messages::Promotion::Empty)
}

impl WorkerTasks<'_> {
    /// Claims up to `limit` pending chats for `worker_id`, oldest first. `SKIP LOCKED` lets
    /// several replicas claim at once without ever taking the same row.
    pub async fn claim_pending(&self, worker_id: Uuid, limit: i64) -> Result<Vec<Claimed>> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE chats SET status = 'running', worker_id = $1, started_at = clock_timestamp(),
                 heartbeat_at = now(), last_error = NULL, version = version + 1
             WHERE id IN (SELECT id FROM chats WHERE status = 'pending' AND NOT archived
                          ORDER BY updated_at FOR UPDATE SKIP LOCKED LIMIT $2)
             RETURNING id, started_at",
        )
        .bind(worker_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (id, started_at) in rows {
            let chat = chat_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            // A chat whose owner lost the right to start AI work here never runs: it stops
            // with an error instead, its queue kept.
            if !owner_may_start_ai_work(&mut tx, &chat).await? {
                release(&mut tx, &chat, ChatStatus::Error, Some(&super::no_ai_access())).await?;
                continue;
            }
            claimed.push(Claimed { chat, lease: Lease { chat_id: id, worker_id, started_at } });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Refreshes the heartbeat of the chats this worker runs, in one statement. Returns the ids
    /// still held: any other id was interrupted, stolen or finished, and its run must stop.
    pub async fn heartbeat(&self, worker_id: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "UPDATE chats SET heartbeat_at = now()
             WHERE id = ANY($1) AND worker_id = $2 AND status = 'running' RETURNING id",
        )
        .bind(ids)
        .bind(worker_id)
        .fetch_all(self.pool)
        .await?)
    }

    /// Recovers chats whose worker vanished: `running` with a heartbeat older than
    /// `stale_after` goes back to `pending`; `requires_action` older than `action_deadline` gets
    /// error results for its open calls and goes to `error`; `waiting` with a queue and no
    /// activity for `stale_after` (an interrupted worker died before promoting) promotes its
    /// head. Every candidate is re-checked under its row lock before it changes.
    pub async fn recover_stale(&self, stale_after: std::time::Duration, action_deadline: std::time::Duration) -> Result<Recovered> {
        let stale = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        let deadline = chrono::Duration::from_std(action_deadline).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let mut out = Recovered::default();

        let running: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM chats WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $1)")
                .bind(now - stale)
                .fetch_all(self.pool)
                .await?;
        for id in running {
            let mut tx = self.pool.begin().await?;
            let chat = lock_chat(&mut tx, id).await?;
            let hb: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT heartbeat_at FROM chats WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if chat.status != ChatStatus::Running || hb.is_some_and(|h| h >= now - stale) {
                continue;
            }
            release(&mut tx, &chat, ChatStatus::Pending, None).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            tx.commit().await?;
            out.requeued.push(id);
        }

        let parked: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM chats WHERE status = 'requires_action' AND updated_at < $1")
                .bind(now - deadline)
                .fetch_all(self.pool)
                .await?;
        for id in parked {
            let mut tx = self.pool.begin().await?;
            let chat = lock_chat(&mut tx, id).await?;
            if chat.status != ChatStatus::RequiresAction || chat.updated_at >= now - deadline {
                continue;
            }
            for call in messages::pending_tool_calls(&mut tx, &chat).await? {
                let result = serde_json::json!({"error": dynamic_tool_timeout()});
                let part = Part::content(&[Part::tool_result(call.tool_call_id, call.tool_name, result, true)]);
                messages::insert(&mut tx, id, NewMessage::tool(part)).await?;
            }
            release(&mut tx, &chat, ChatStatus::Error, Some(&dynamic_tool_timeout())).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::Message)).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            tx.commit().await?;
            out.timed_out.push(id);
        }

        let idle: Vec<Uuid> = sqlx::query_scalar(
            "SELECT c.id FROM chats c WHERE c.status = 'waiting' AND NOT c.archived AND NOT c.queue_held
               AND c.updated_at < $1 AND EXISTS (SELECT 1 FROM chat_queued_messages q WHERE q.chat_id = c.id)",
        )
        .bind(now - stale)
        .fetch_all(self.pool)
        .await?;
        for id in idle {
            let mut tx = self.pool.begin().await?;
            let chat = lock_chat(&mut tx, id).await?;
            if chat.status != ChatStatus::Waiting || chat.archived || chat.updated_at >= now - stale {
                continue;
            }
            match messages::promote_next(&mut tx, &chat).await? {
                messages::Promotion::Empty => continue,
                messages::Promotion::Promoted => out.promoted.push(id),
                messages::Promotion::Refused => {}
            }
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Where `lease` stands now (one short locking read).
    pub async fn lease_state(&self, lease: &Lease, watermark: i64) -> Result<LeaseState> {
        let mut tx = self.pool.begin().await?;
        let (state, _) = lease_state(&mut tx, lease, watermark).await?;
        tx.rollback().await?;
        Ok(state)
    }

    /// Saves one step atomically under the lease: the assistant message (with usage and cost)
    /// and the tool results. Returns the inserted messages; the caller moves its watermark to
    /// the newest of them.
    pub async fn persist_step(&self, lease: &Lease, watermark: i64, step: StepRecord) -> Result<Fenced<Vec<Message>>> {
        let mut tx = self.pool.begin().await?;
        let (state, chat) = lease_state(&mut tx, lease, watermark).await?;
        let allowed = state == LeaseState::Held || (step.partial && state == LeaseState::Interrupted);
        if !allowed {
            return Ok(Fenced::Lost);
        }
        let mut saved = Vec::with_capacity(1 + step.tool_results.len());
        if let Some(assistant) = step.assistant {
            super::budgets::record_message(&mut tx, &chat, &assistant).await?;
            saved.push(messages::insert(&mut tx, chat.id, assistant).await?);
        }
        for m in step.tool_results {
            saved.push(messages::insert(&mut tx, chat.id, m).await?);
        }
        sqlx::query("UPDATE chats SET version = version + 1, updated_at = now() WHERE id = $1")
            .bind(chat.id)
            .execute(&mut *tx)
            .await?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::Message)).await?;
        tx.commit().await?;
        Ok(Fenced::Done(saved))
    }

    /// Ends a turn under the lease: writes the final status and clears the worker; a chat that
    /// ends `waiting` (done or interrupted) and is not archived promotes its queue head in the
    /// same transaction. Returns the chat as it is after the commit.
    pub async fn finish_turn(&self, lease: &Lease, watermark: i64, outcome: Outcome) -> Result<Fenced<Chat>> {
        let mut tx = self.pool.begin().await?;
        let (state, chat) = lease_state(&mut tx, lease, watermark).await?;
        match (state, &outcome) {
            (LeaseState::Held, _) => {}
            // An interrupt already set `waiting`; the worker only has the queue left to do.
            (LeaseState::Interrupted, Outcome::Interrupted | Outcome::Done | Outcome::Error(_)) => {
                promote_if_queued(&mut tx, &chat).await?;
                pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
                let after = chat_by_id(&mut *tx, chat.id).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                return Ok(Fenced::Done(after));
            }
            _ => return Ok(Fenced::Lost),
        }
        match &outcome {
            Outcome::Done | Outcome::Interrupted => {
                release(&mut tx, &chat, ChatStatus::Waiting, None).await?;
                promote_if_queued(&mut tx, &chat).await?;
            }
            Outcome::Error(e) => release(&mut tx, &chat, ChatStatus::Error, Some(e)).await?,
            Outcome::RequiresAction => {
                release(&mut tx, &chat, ChatStatus::RequiresAction, None).await?;
                pubsub::notify(&mut tx, change(&chat, ChangeKind::ActionRequired)).await?;
            }
            Outcome::Shutdown => release(&mut tx, &chat, ChatStatus::Pending, None).await?,
        }
        pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
        let after = chat_by_id(&mut *tx, chat.id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Fenced::Done(after))
    }

    /// Server shutdown: hands a held chat back (`pending`) so another replica picks it up.
    pub async fn release_on_shutdown(&self, lease: &Lease) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, lease.chat_id).await?;
        let started: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT started_at FROM chats WHERE id = $1")
            .bind(lease.chat_id)
            .fetch_one(&mut *tx)
            .await?;
        if chat.status == ChatStatus::Running && chat.worker_id == Some(lease.worker_id) && started == Some(lease.started_at) {
            release(&mut tx, &chat, ChatStatus::Pending, None).await?;
            pubsub::notify(&mut tx, change(&chat, ChangeKind::StatusChange)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The subject of a user as the database says now, so tools act as the chat owner with
    /// exactly the owner's current roles. A suspended or deleted owner is `NotFound`.
    pub async fn subject_for(&self, user_id: Uuid) -> Result<Subject> {
        let mut conn = self.pool.acquire().await?;
        crate::users::stored_subject(&mut conn, user_id).await?.ok_or(StoreError::NotFound)
    }

    /// The subject the worker acts as for `chat`, rebuilt from the database now, when its owner
    /// may still start AI work in the chat's organization; `None` when not (the run must stop
    /// with [`super::no_ai_access`]). Asked before every model call and every tool call.
    pub async fn ai_work_subject(&self, chat: &Chat) -> Result<Option<Subject>> {
        let mut conn = self.pool.acquire().await?;
        let Some(owner) = crate::users::stored_subject(&mut conn, chat.owner_id).await? else { return Ok(None) };
        Ok(super::ai_work_rule(&owner, chat).is_ok().then_some(owner))
    }

    /// A chat by id, unauthorized (the worker already holds it).
    pub async fn chat_for_worker(&self, id: Uuid) -> Result<Chat> {
        chat_by_id(self.pool, id).await?.ok_or(StoreError::NotFound)
    }

    /// The history the model sees: every message not deleted, any visibility, oldest first.
    pub async fn prompt_history(&self, chat_id: Uuid) -> Result<Vec<Message>> {
        Ok(sqlx::query_as(
            "SELECT id, chat_id, created_by, model_config_id, role, visibility, content,
                 input_tokens, output_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
                 context_limit, total_cost_micros, runtime_ms, created_at, stopped
             FROM chat_messages WHERE chat_id = $1 AND NOT deleted ORDER BY id",
        )
        .bind(chat_id)
        .fetch_all(self.pool)
        .await?)
    }

    /// A model config by id, enabled or not (a chat keeps the model it was created with).
    pub async fn model_config(&self, id: Uuid) -> Result<Option<ModelConfig>> {
        let sql = format!("SELECT {} FROM chat_model_configs WHERE id = $1", super::models::MODEL_COLUMNS);
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?)
    }

    /// Sets a generated title, unless someone renamed the chat meanwhile (`expected` is the
    /// title the generator started from). Not a status transition: the version stays.
    pub async fn set_generated_title(&self, chat_id: Uuid, expected: &str, title: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, chat_id).await?;
        if chat.title != expected {
            return Ok(false);
        }
        sqlx::query("UPDATE chats SET title = $2 WHERE id = $1").bind(chat_id).bind(title).execute(&mut *tx).await?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::TitleChange)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Chats whose worker is `worker_id` and that are still running (for shutdown bookkeeping
    /// and tests).
    pub async fn chats_held_by(&self, worker_id: Uuid) -> Result<Vec<Chat>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.worker_id = $1 AND c.status = 'running'");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(worker_id).fetch_all(self.pool).await?)
    }
}

/// A subagent chat to create under a parent.
#[derive(Debug, Clone)]
pub struct NewChildChat {
    pub title: String,
    pub prompt: String,
    /// Instructions for the child, stored as a model-only system message.
    pub instructions: String,
}

impl Actor<'_> {
    /// Creates a child (subagent) chat of `parent`, acting as the parent's owner: it inherits
    /// the organization, owner, workspace and model, starts `pending`, and may not itself have
    /// children. Needs `chat create` in the organization and passes the usage limit.
    pub async fn spawn_child_chat(&self, parent: &Chat, new: NewChildChat) -> Result<Chat> {
        if parent.parent_chat_id.is_some() {
            return Err(ClientError::NestedSubagent.into());
        }
        self.may_start_ai_work(parent)?;
        let me = self.subject.user_id();
        let mut tx = self.pool.begin().await?;
        super::budgets::check(&mut tx, parent.organization_id, me).await?;
        super::org_models::check(&mut tx, parent.last_model_config_id, parent.organization_id).await?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO chats (id, organization_id, owner_id, workspace_id, parent_chat_id, root_chat_id,
                 last_model_config_id, title, status, version, labels)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 1, '{}')",
        )
        .bind(id)
        .bind(parent.organization_id)
        .bind(parent.owner_id)
        .bind(parent.workspace_id)
        .bind(parent.id)
        .bind(parent.root_id())
        .bind(parent.last_model_config_id)
        .bind(&new.title)
        .execute(&mut *tx)
        .await?;
        let system = Part::content(&[Part::text(new.instructions.clone())]);
        messages::insert(&mut tx, id, NewMessage::system(system)).await?;
        let content = Part::content(&[Part::text(new.prompt.clone())]);
        messages::insert(&mut tx, id, NewMessage::user(content, me, Some(parent.last_model_config_id))).await?;
        let chat = chat_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::Created)).await?;
        tx.commit().await?;
        Ok(chat)
    }

    /// The text of the newest assistant message the user can see (a subagent's report).
    pub async fn last_assistant_text(&self, chat: &Chat) -> Result<Option<String>> {
        let rows: Vec<Json<serde_json::Value>> = sqlx::query_scalar(
            "SELECT content FROM chat_messages WHERE chat_id = $1 AND role = 'assistant' AND NOT deleted
               AND visibility IN ('user', 'both') ORDER BY id DESC LIMIT 20",
        )
        .bind(chat.id)
        .fetch_all(self.pool)
        .await?;
        for content in rows {
            let text: String = content
                .0
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect();
            if !text.trim().is_empty() {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }
}

/// What [`System::apply_env_provider`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProvider {
    pub provider: String,
    /// `true` when the row was created, `false` when an existing row was refreshed.
    pub created: bool,
    /// The model config created as the default, when there was none.
    pub default_model: Option<String>,
}

impl WorkerTasks<'_> {
    /// Start-up task for provider keys from the environment: creates the provider row of
    /// `provider` (`openai` or `anthropic`) or refreshes its key (and base URL, when given) and
    /// enables it; then, when the deployment has no default model config, creates one for
    /// `default_model` on this provider. Existing model configs are never changed.
    pub async fn apply_env_provider(
        &self,
        provider: &str,
        api_key: &str,
        base_url: Option<&str>,
        default_model: &str,
    ) -> Result<EnvProvider> {
        let mut tx = self.pool.begin().await?;
        // One starting process at a time: refreshes the oldest site-wide provider of this type
        // (several may exist since issue 14), or creates it.
        sqlx::query("SELECT pg_advisory_xact_lock(7243002)").execute(&mut *tx).await?;
        let existing: Option<Uuid> = sqlx::query_scalar(
            "UPDATE chat_providers SET api_key = $2, base_url = COALESCE($3, base_url), enabled = true, updated_at = now()
             WHERE id = (SELECT id FROM chat_providers WHERE provider = $1 AND organization_id IS NULL
                         ORDER BY created_at, id LIMIT 1)
             RETURNING id",
        )
        .bind(provider)
        .bind(api_key)
        .bind(base_url)
        .fetch_optional(&mut *tx)
        .await?;
        let created = existing.is_none();
        let provider_id = match existing {
            Some(id) => id,
            None => {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO chat_providers (id, provider, display_name, api_key, base_url, enabled)
                     VALUES ($1, $2, $2, $3, $4, true)",
                )
                .bind(id)
                .bind(provider)
                .bind(api_key)
                .bind(base_url)
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        // One starting process at a time decides about the default model.
        sqlx::query("SELECT pg_advisory_xact_lock(7243001)").execute(&mut *tx).await?;
        let has_default: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chat_model_configs WHERE is_default AND NOT deleted)")
                .fetch_one(&mut *tx)
                .await?;
        let mut default = None;
        if !has_default {
            sqlx::query(
                "INSERT INTO chat_model_configs (id, provider, model, display_name, enabled, is_default, provider_id)
                 VALUES ($1, $2, $3, $3, true, true, $4)",
            )
            .bind(Uuid::now_v7())
            .bind(provider)
            .bind(default_model)
            .bind(provider_id)
            .execute(&mut *tx)
            .await?;
            default = Some(default_model.to_string());
        }
        tx.commit().await?;
        Ok(EnvProvider { provider: provider.to_string(), created, default_model: default })
    }
}
