//! Chats: organization-scoped, user-owned agent conversations.
//!
//! Every chat has an organization, fixed at creation. The RBAC object of a chat is
//! `chat(id) owned by owner in organization`, so the same engine answers single reads, list
//! filters and the "may start AI work here" question (`chat create` owned by the caller in the
//! chat's organization). Every state change locks the chat row (`SELECT … FOR UPDATE`), bumps
//! `version`, writes its audit entry if any, and queues its change hint — all in one
//! transaction.

pub mod budgets;
pub mod files;
pub mod limits;
pub mod messages;
pub mod models;
pub mod org_models;
pub mod worker;

use std::collections::BTreeMap;

use agentry_rbac::{Action, Columns, Denial, Object, ResourceType};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::args::Args;
use crate::audit::{self, Entry};
use crate::pubsub::{self, ChangeKind, ChatChange};
use crate::{Actor, ClientError, Result, StoreError};
pub use agentry_types::ChatStatus;
use agentry_types::Part;

/// `last_error` of a chat stopped because its owner may no longer start AI work in its
/// organization (access taken away, removed from the organization, suspended). One text for
/// every place that checks: promotion, claim, model calls and tool calls.
pub fn no_ai_access() -> String {
    ClientError::NoAiAccess.message()
}

/// The longest queue a chat may have.
pub const MAX_QUEUED: i64 = 20;

/// How long a title regeneration may hold its lease (a crashed one frees the chat by then).
const TITLE_LEASE_SECONDS: f64 = 60.0;

#[derive(Debug, Clone, FromRow)]
pub struct Chat {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub parent_chat_id: Option<Uuid>,
    pub root_chat_id: Option<Uuid>,
    pub last_model_config_id: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: ChatStatus,
    pub version: i64,
    pub worker_id: Option<Uuid>,
    pub archived: bool,
    pub pin_order: i32,
    pub labels: Json<BTreeMap<String, String>>,
    pub last_error: Option<String>,
    pub dynamic_tools: Option<Json<serde_json::Value>>,
    pub last_read_message_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub has_unread: bool,
}

impl Chat {
    pub fn object(&self) -> Object {
        chat_object(self.id, self.owner_id, self.organization_id)
    }

    /// Busy chats queue new messages instead of taking them.
    pub fn is_busy(&self) -> bool {
        self.status.is_busy()
    }

    pub fn root_id(&self) -> Uuid {
        self.root_chat_id.unwrap_or(self.id)
    }
}

pub fn chat_object(id: Uuid, owner: Uuid, org: Uuid) -> Object {
    Object::new(ResourceType::Chat).with_id(id).owned_by(owner).in_org(org)
}

/// Every column of a chat (extra columns such as the heartbeat are ignored by `FromRow`) plus
/// whether it has an assistant message newer than the owner's read cursor.
pub(crate) const CHAT_COLUMNS: &str = "c.*,
    EXISTS (SELECT 1 FROM chat_messages m WHERE m.chat_id = c.id AND m.role = 'assistant'
            AND NOT m.deleted AND m.id > COALESCE(c.last_read_message_id, 0)) AS has_unread";

const CHAT_FILTER_COLUMNS: Columns = Columns { org: Some("c.organization_id"), owner: Some("c.owner_id") };

pub(crate) async fn chat_by_id(conn: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<Chat>> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?)
}

/// Locks the chat row for a state change and returns it.
pub(crate) async fn lock_chat(conn: &mut PgConnection, id: Uuid) -> Result<Chat> {
    sqlx::query("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *conn).await?;
    chat_by_id(&mut *conn, id).await?.ok_or(StoreError::NotFound)
}

/// The rule for AI work on `chat`, for `subject`: see [`Actor::may_start_ai_work`].
pub(crate) fn ai_work_rule(subject: &agentry_rbac::Subject, chat: &Chat) -> Result<()> {
    ai_work_rule_for(subject, chat.owner_id, chat.organization_id)
}

/// The AI-work rule, written once: model work for a chat owned by `owner` in `org` runs only
/// for the owner, and only while they hold `chat create` there (which includes membership:
/// `ResourceType::needs_membership`). Creating a chat, sending, editing, promoting, claiming,
/// every model and tool call, titles and subagents all ask this.
pub(crate) fn ai_work_rule_for(subject: &agentry_rbac::Subject, owner: Uuid, org: Uuid) -> Result<()> {
    if owner != subject.user_id() {
        return Err(StoreError::Forbidden(Denial::NoGrant));
    }
    let obj = Object::new(ResourceType::Chat).owned_by(owner).in_org(org);
    subject.authorize(Action::Create, &obj).map_err(StoreError::Forbidden)
}

/// Whether the chat's owner, as the database says right now (status, site roles, memberships),
/// may start AI work in the chat's organization. The worker's promotions and claims ask this
/// inside their transaction, so no queued message runs for an owner who lost access. A
/// subagent has its root's owner and organization, so it follows its root.
pub(crate) async fn owner_may_start_ai_work(conn: &mut PgConnection, chat: &Chat) -> Result<bool> {
    match crate::users::stored_subject(&mut *conn, chat.owner_id).await? {
        Some(owner) => Ok(ai_work_rule(&owner, chat).is_ok()),
        None => Ok(false),
    }
}

pub(crate) fn change(chat: &Chat, kind: ChangeKind) -> ChatChange {
    ChatChange { chat_id: chat.id, owner_id: chat.owner_id, kind }
}

/// Whose chats a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter {
    /// The caller's own chats (the default).
    Me,
    /// Every chat the caller may read.
    All,
    User(Uuid),
}

/// A list request; RBAC is always applied on top.
#[derive(Debug, Clone)]
pub struct ChatQuery {
    pub owner: OwnerFilter,
    pub archived: Option<bool>,
    pub organization_id: Option<Uuid>,
    pub labels: BTreeMap<String, String>,
    /// Words the title must contain, each case-insensitively (all of them).
    pub title_words: Vec<String>,
    pub limit: i64,
    pub offset: i64,
    pub after_id: Option<Uuid>,
}

/// `word` as a `LIKE` pattern matching it anywhere, its own `%`, `_` and `\` taken literally.
fn contains_pattern(word: &str) -> String {
    let mut p = String::from("%");
    for ch in word.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// A root chat with its (readable) children.
#[derive(Debug, Clone)]
pub struct ChatWithChildren {
    pub chat: Chat,
    pub children: Vec<Chat>,
}

/// What a new chat starts with. The API has already validated it in the spec's order.
/// A chat to create, as the request gave it. Decoding (JSON shapes) happens at the edge; what
/// the edge found wrong travels here as an `Err` so that [`Actor::create_chat`] reports it at
/// its place in the order of SPEC §3.1.
pub struct NewChat {
    pub organization_id: Option<Uuid>,
    /// The first message's parts and the title derived from it, or why the content is invalid.
    pub content: std::result::Result<NewContent, ClientError>,
    pub system_prompt: Option<String>,
    pub workspace_id: Option<Uuid>,
    pub model_config_id: Option<Uuid>,
    /// Labels and client-executed tools, or why they are invalid.
    pub extras: std::result::Result<ChatExtras, ClientError>,
}

pub struct NewContent {
    pub parts: Vec<Part>,
    pub title: String,
}

#[derive(Default)]
pub struct ChatExtras {
    pub labels: BTreeMap<String, String>,
    pub dynamic_tools: Option<serde_json::Value>,
}

/// Longest system prompt a chat may be created with, in characters.
pub const MAX_SYSTEM_PROMPT: usize = 10_000;

/// Changes to a chat; `None` leaves a field alone.
#[derive(Debug, Default, Clone)]
pub struct ChatPatch {
    pub title: Option<String>,
    pub archived: Option<bool>,
    pub pin_order: Option<i32>,
    pub labels: Option<BTreeMap<String, String>>,
    /// `Some(None)` clears the binding.
    pub workspace_id: Option<Option<Uuid>>,
}

/// A workspace as far as chats need to know it.
#[derive(Debug, Clone, FromRow)]
pub struct WorkspaceRef {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
}

/// `roots` in their order, each with its children from `children`, oldest first.
fn with_children(roots: Vec<Chat>, children: Vec<Chat>) -> Vec<ChatWithChildren> {
    let mut by_parent: BTreeMap<Uuid, Vec<Chat>> = BTreeMap::new();
    for c in children {
        by_parent.entry(c.parent_chat_id.expect("children have parents")).or_default().push(c);
    }
    roots
        .into_iter()
        .map(|chat| {
            let mut children = by_parent.remove(&chat.id).unwrap_or_default();
            children.sort_by_key(|c| (c.created_at, c.id));
            ChatWithChildren { chat, children }
        })
        .collect()
}

impl Actor<'_> {
    /// A chat the actor may read.
    pub async fn chat(&self, id: Uuid) -> Result<Chat> {
        let chat = chat_by_id(self.pool, id).await?.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &chat.object()) {
            return Err(StoreError::NotFound);
        }
        Ok(chat)
    }

    /// Checks the rule for AI work on an existing chat: only its owner starts model runs in it
    /// (an admin who may read a member's chat must not make the agent act with the member's
    /// workspace access), and only with `chat create` in the chat's organization.
    pub fn may_start_ai_work(&self, chat: &Chat) -> Result<()> {
        ai_work_rule(self.subject, chat)
    }

    /// The root-chat list query for `q` (RBAC filter included) and its arguments, or `None`
    /// when nothing can match (no readable chats, or a cursor that names no chat).
    ///
    /// The list order is pinned chats first (by `pin_order`), then the rest by `updated_at DESC,
    /// id DESC`. No single index can produce that order over the RBAC filter's OR, so the page
    /// is assembled from *branches*, each an ordered range of one index that stops after the
    /// page's rows: the pinned chats of a source (a small set), and its unpinned chats of the
    /// archived state asked for (`chats_*_list_idx`, migration 0040), or of both states in one
    /// range when none is (`chats_*_roots_idx`, 0076). A source is the owner named by
    /// `owner:`, or for `owner:all` each organization the caller reads as a whole plus the
    /// caller's own chats elsewhere, or the whole site. The final sort only sees at most
    /// `branches × (limit + offset)` rows, so the page costs the same at 200 or 100,000 chats.
    ///
    /// With `children`, the statement also returns the page's readable children (after the
    /// page's roots, in no particular order), so one round trip answers the whole list: the
    /// page is a materialized CTE, and each of its rows reads its children through
    /// `chats_parent_idx`. The lateral subquery's `OFFSET 0` keeps PostgreSQL from flattening
    /// it into a join or pushing the RBAC filter into it, so the filter cannot become an index
    /// condition (a generic plan once read all of the caller's chats by `owner_id` and
    /// hash-joined them to the page); it applies to the children read.
    async fn root_query(
        &self,
        q: &ChatQuery,
        filter: &agentry_rbac::Filter,
        children: bool,
    ) -> Result<Option<(String, Args)>> {
        if matches!(filter, agentry_rbac::Filter::Nothing) {
            return Ok(None);
        }
        // A cursor is the position of the chat it names; one that names no chat ends the list.
        let cursor: Option<(i32, DateTime<Utc>, Uuid)> = match q.after_id {
            Some(after) => {
                let row = sqlx::query_as("SELECT pin_order, updated_at, id FROM chats WHERE id = $1")
                    .bind(after)
                    .fetch_optional(self.pool)
                    .await?;
                match row {
                    Some(r) => Some(r),
                    None => return Ok(None),
                }
            }
            None => None,
        };
        let mut args = Args::default();
        let rbac = args.filter(filter, CHAT_FILTER_COLUMNS);
        let mut common = vec![rbac.clone()];
        if let Some(o) = q.organization_id {
            common.push(format!("c.organization_id = {}", args.push(o)));
        }
        if !q.labels.is_empty() {
            common.push(format!("c.labels @> {}", args.push(Json(q.labels.clone()))));
        }
        // Answered by the trigram index (migration 0014) when the words are selective.
        for w in &q.title_words {
            common.push(format!("c.title ILIKE {}", args.push(contains_pattern(w))));
        }
        // The pinned ranges after the cursor (each one ordered range of the pinned index: the
        // rest of the cursor's pin order, then the higher pin orders), and the unpinned one.
        let (pinned_after, unpinned_after) = match cursor {
            None => (vec![String::new()], Some(String::new())),
            Some((pin, updated, id)) => {
                let (u, i) = (args.push(updated), args.push(id));
                if pin > 0 {
                    let p = args.push(pin);
                    let rest = format!(" AND c.pin_order = {p} AND (c.updated_at, c.id) < ({u}, {i})");
                    let higher = format!(" AND c.pin_order > {p}");
                    if crate::bench_before("chat-list-plan") {
                        // As before: one range from the first pinned chat, filtered.
                        (vec![format!(" AND (c.pin_order > {p} OR (c.pin_order = {p} AND (c.updated_at, c.id) < ({u}, {i})))")], Some(String::new()))
                    } else {
                        (vec![rest, higher], Some(String::new()))
                    }
                } else {
                    (Vec::new(), Some(format!(" AND (c.updated_at, c.id) < ({u}, {i})")))
                }
            }
        };
        // Sources: (FROM clause, key condition). `o.id` is the organization of a lateral source.
        let mut sources: Vec<(Option<String>, String)> = Vec::new();
        match (q.owner, q.organization_id, filter) {
            (OwnerFilter::Me, ..) => sources.push((None, format!("c.owner_id = {}", args.push(self.subject.user_id())))),
            (OwnerFilter::User(u), ..) => sources.push((None, format!("c.owner_id = {}", args.push(u)))),
            (OwnerFilter::All, Some(o), _) => sources.push((None, format!("c.organization_id = {}", args.push(o)))),
            (OwnerFilter::All, None, agentry_rbac::Filter::All) => sources.push((None, "TRUE".into())),
            (OwnerFilter::All, None, agentry_rbac::Filter::Some(c)) => {
                if !c.orgs.is_empty() {
                    let orgs = args.push(c.orgs.clone());
                    sources.push((Some(format!("unnest({orgs}::uuid[]) AS o(id)")), "c.organization_id = o.id".into()));
                }
                if !c.owned_in_orgs.is_empty() {
                    // The caller's own chats in organizations not read as a whole (disjoint
                    // from the sources above, so no chat is listed twice).
                    let (me, orgs) = (args.push(c.me), args.push(c.owned_in_orgs.clone()));
                    sources.push((None, format!("c.owner_id = {me} AND c.organization_id = ANY({orgs}::uuid[])")));
                }
            }
            (OwnerFilter::All, None, agentry_rbac::Filter::Nothing) => return Ok(None),
        }
        if sources.is_empty() {
            return Ok(None);
        }
        // Unpinned chats: one range of the archived state asked for, or of both at once.
        let archived: &[Option<bool>] = match q.archived {
            Some(false) => &[Some(false)],
            Some(true) => &[Some(true)],
            None if crate::bench_before("chat-list") => &[Some(false), Some(true)],
            None => &[None],
        };
        let (limit, offset) = (q.limit.max(0), q.offset.max(0));
        let take = limit.saturating_add(offset);
        let common = common.join(" AND ");
        let mut branches = Vec::new();
        for (from, key) in &sources {
            let mut one = |conds: String, order: &str| {
                let inner = format!(
                    "SELECT c.* FROM chats c WHERE c.parent_chat_id IS NULL AND {key} AND {common} {conds}
                     ORDER BY {order} LIMIT {take}"
                );
                branches.push(match from {
                    Some(from) => format!("(SELECT x.* FROM {from} CROSS JOIN LATERAL ({inner}) x)"),
                    None => format!("({inner})"),
                });
            };
            for after in &pinned_after {
                let arch = match q.archived {
                    Some(a) => format!(" AND c.archived = {a}"),
                    None => String::new(),
                };
                one(format!("AND c.pin_order > 0{arch}{after}"), "c.pin_order, c.updated_at DESC, c.id DESC");
            }
            if let Some(after) = &unpinned_after {
                for a in archived {
                    let arch = a.map(|a| format!(" AND c.archived = {a}")).unwrap_or_default();
                    one(format!("AND c.pin_order = 0{arch}{after}"), "c.updated_at DESC, c.id DESC");
                }
            }
        }
        // The page is chosen first and `has_unread` computed for its rows only.
        let order = "(c.pin_order = 0), c.pin_order, c.updated_at DESC, c.id DESC";
        let page = format!(
            "SELECT c.* FROM ({}) c ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            branches.join(" UNION ALL ")
        );
        let sql = if children {
            let arch = q.archived.map(|a| format!(" AND c.archived = {a}")).unwrap_or_default();
            format!(
                "WITH page AS MATERIALIZED ({page})
                 SELECT {CHAT_COLUMNS} FROM (
                     SELECT p.* FROM page p
                     UNION ALL
                     SELECT c.* FROM page p CROSS JOIN LATERAL (
                         SELECT c.* FROM chats c WHERE c.parent_chat_id = p.id OFFSET 0
                     ) c WHERE {rbac}{arch}
                 ) c ORDER BY c.parent_chat_id IS NOT NULL, {order}"
            )
        } else {
            format!("SELECT {CHAT_COLUMNS} FROM ({page}) c ORDER BY {order}")
        };
        Ok(Some((sql, args)))
    }

    /// Whether the list for `q` runs on the list connections as a prepared statement with the
    /// page's children folded in (see the `lists` module): every list but a title search or a
    /// label filter, whose indexes only bitmap scans can use.
    fn generic_list(q: &ChatQuery) -> bool {
        q.title_words.is_empty() && q.labels.is_empty() && !crate::bench_before("chat-list-plan")
    }

    /// The PostgreSQL plan (`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`, so the query runs) of
    /// the chat list query for `q`, as the actor would run it (for most lists the generic plan
    /// of the statement on the list connections, children included). For the plan tests and
    /// the list benchmark, which check that no list sorts or reads all of a caller's chats.
    pub async fn explain_chats(&self, q: &ChatQuery) -> Result<serde_json::Value> {
        let filter = self.subject.prepare(Action::Read, ResourceType::Chat);
        let generic = Self::generic_list(q);
        match self.root_query(q, &filter, generic).await? {
            Some((sql, args)) if generic => crate::lists::explain_generic(self.lists, &sql, args).await,
            Some((sql, args)) => crate::explain::run(self.pool, &sql, args.into_inner()).await,
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Root chats the actor may read, pinned first (by pin order), then most recently updated,
    /// each with its readable children (oldest first).
    pub async fn chats(&self, q: &ChatQuery) -> Result<Vec<ChatWithChildren>> {
        let filter = self.subject.prepare(Action::Read, ResourceType::Chat);
        if Self::generic_list(q) {
            let Some((sql, args)) = self.root_query(q, &filter, true).await? else {
                return Ok(Vec::new());
            };
            // Prepared, and run with its generic plan (see the `lists` module).
            let rows: Vec<Chat> = crate::lists::fetch_all(self.lists, &sql, args.into_inner()).await?;
            let split = rows.iter().position(|c| c.parent_chat_id.is_some()).unwrap_or(rows.len());
            let mut rows = rows.into_iter();
            let roots: Vec<Chat> = rows.by_ref().take(split).collect();
            return Ok(with_children(roots, rows.collect()));
        }
        let Some((sql, args)) = self.root_query(q, &filter, false).await? else {
            return Ok(Vec::new());
        };
        // Planned for these values every time (see the `explain` module docs).
        let roots: Vec<Chat> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner())
            .persistent(false)
            .fetch_all(self.pool)
            .await?;
        if roots.is_empty() {
            return Ok(Vec::new());
        }

        let ids: Vec<Uuid> = roots.iter().map(|c| c.id).collect();
        let mut args = Args::default();
        let rbac = args.filter(&filter, CHAT_FILTER_COLUMNS);
        let p = args.push(ids);
        let archived = match q.archived {
            Some(a) => format!("AND c.archived = {}", args.push(a)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {CHAT_COLUMNS} FROM chats c WHERE c.parent_chat_id = ANY({p}) AND {rbac} {archived}
             ORDER BY c.created_at, c.id"
        );
        let children: Vec<Chat> =
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?;
        Ok(with_children(roots, children))
    }

    /// A workspace the actor may read *and* execute in (binding a chat to a workspace lets the
    /// agent run commands there). Anything else is `NotFound`, so an inaccessible workspace is
    /// never revealed.
    pub async fn workspace_for_chat(&self, id: Uuid) -> Result<WorkspaceRef> {
        let ws: Option<WorkspaceRef> = sqlx::query_as(
            "SELECT id, organization_id, owner_id, name FROM workspaces WHERE id = $1 AND NOT deleted",
        )
        .bind(id)
        .fetch_optional(self.pool)
        .await?;
        let ws = ws.ok_or(StoreError::NotFound)?;
        let obj = Object::new(ResourceType::Workspace).with_id(ws.id).owned_by(ws.owner_id).in_org(ws.organization_id);
        if !self.subject.can(Action::Read, &obj) || !self.subject.can(Action::Ssh, &obj) {
            return Err(StoreError::NotFound);
        }
        Ok(ws)
    }

    /// Creates a chat with its first messages, pending for the agent loop.
    ///
    /// The checks of SPEC §3.1 run here, in its order, so each failure has one answer: the
    /// organization, membership, the AI-work rule, the content, the system prompt, the
    /// workspace (access before organization, so an inaccessible workspace in another
    /// organization is not revealed), the model config, the files (each the caller may read and
    /// of this organization), labels and tools, and in the transaction the usage limit.
    pub async fn create_chat(&self, new: NewChat) -> Result<Chat> {
        let me = self.subject.user_id();
        let org = match new.organization_id {
            Some(o) if !o.is_nil() => o,
            _ => return Err(ClientError::OrganizationRequired.into()),
        };
        if !self.subject.is_member_of(org) {
            return Err(ClientError::NotAMember.into());
        }
        ai_work_rule_for(self.subject, me, org)?;
        let mut content = new.content?;
        if new.system_prompt.as_ref().is_some_and(|p| p.chars().count() > MAX_SYSTEM_PROMPT) {
            return Err(ClientError::SystemPromptTooLong.into());
        }
        if let Some(ws) = new.workspace_id {
            let ws = match self.workspace_for_chat(ws).await {
                Ok(ws) => ws,
                Err(StoreError::NotFound) => return Err(ClientError::WorkspaceNotFound { field: None }.into()),
                Err(e) => return Err(e),
            };
            if ws.organization_id != org {
                return Err(ClientError::WorkspaceInOtherOrganization.into());
            }
        }
        let model = match new.model_config_id {
            Some(id) if id.is_nil() => return Err(ClientError::InvalidModelConfig.into()),
            Some(id) => self.usable_model_config(id).await?.ok_or(ClientError::InvalidModelConfig)?,
            None => self.default_model_for_org(org).await?.ok_or(ClientError::NoDefaultModel)?,
        };
        if !self.model_usable_in_org(model.id, org).await? {
            return Err(ClientError::ModelNotInOrganization.into());
        }
        let file_ids = self.check_files(org, &mut content.parts).await?;
        let extras = new.extras?;
        let system_prompt = new.system_prompt.filter(|p| !p.trim().is_empty());
        let title = content.title;

        let mut tx = self.pool.begin().await?;
        budgets::check(&mut tx, org, me).await?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO chats (id, organization_id, owner_id, workspace_id, last_model_config_id,
                 title, status, version, labels, dynamic_tools)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1, $7, $8)",
        )
        .bind(id)
        .bind(org)
        .bind(me)
        .bind(new.workspace_id)
        .bind(model.id)
        .bind(&title)
        .bind(Json(&extras.labels))
        .bind(extras.dynamic_tools.as_ref().map(Json))
        .execute(&mut *tx)
        .await?;
        if let Some(prompt) = &system_prompt {
            let content = agentry_types::Part::content(&[agentry_types::Part::text(prompt.clone())]);
            messages::insert(&mut tx, id, messages::NewMessage::system(content)).await?;
        }
        messages::insert(
            &mut tx,
            id,
            messages::NewMessage::user(Part::content(&content.parts), me, Some(model.id)),
        )
        .await?;
        files::link(&mut tx, id, org, &file_ids).await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(me),
                organization_id: Some(org),
                action: "create",
                resource_type: "chat",
                resource_id: id,
                resource_target: &title,
                diff: serde_json::json!({"workspace_id": new.workspace_id, "model_config_id": model.id}),
                description: format!("created chat {title}"),
            },
        )
        .await?;
        let chat = chat_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        pubsub::notify(&mut tx, change(&chat, ChangeKind::Created)).await?;
        tx.commit().await?;
        Ok(chat)
    }

    /// Applies a patch. Needs `chat update`. Archiving cascades to the chat's family (it is
    /// root-only: children follow their root) and stops any run; a workspace binding must be a
    /// workspace the caller may execute in, in the chat's own organization.
    pub async fn update_chat(&self, id: Uuid, patch: &ChatPatch) -> Result<Chat> {
        let current = self.chat(id).await?;
        self.subject.authorize(Action::Update, &current.object()).map_err(StoreError::Forbidden)?;
        if let Some(Some(ws)) = patch.workspace_id {
            let ws = self.workspace_for_chat(ws).await.map_err(|e| match e {
                StoreError::NotFound => ClientError::WorkspaceNotFound { field: Some("workspace_id") }.into(),
                e => e,
            })?;
            if ws.organization_id != current.organization_id {
                return Err(ClientError::WorkspaceInOtherChatOrganization.into());
            }
        }

        let mut tx = self.pool.begin().await?;
        let chat = lock_chat(&mut tx, id).await?;
        let mut kinds = Vec::new();
        let mut diff = serde_json::Map::new();

        if let Some(title) = &patch.title {
            let regenerating: bool = sqlx::query_scalar(
                "SELECT COALESCE(title_regenerating_until > now(), false) FROM chats WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if regenerating {
                return Err(ClientError::TitleRegenerating.into());
            }
            sqlx::query("UPDATE chats SET title = $2 WHERE id = $1").bind(id).bind(title).execute(&mut *tx).await?;
            diff.insert("title".into(), serde_json::json!({"old": chat.title, "new": title}));
            kinds.push((chat.clone(), ChangeKind::TitleChange));
        }
        if let Some(labels) = &patch.labels {
            sqlx::query("UPDATE chats SET labels = $2 WHERE id = $1").bind(id).bind(Json(labels)).execute(&mut *tx).await?;
            diff.insert("labels".into(), serde_json::json!(labels));
            kinds.push((chat.clone(), ChangeKind::Updated));
        }
        if let Some(ws) = patch.workspace_id {
            sqlx::query("UPDATE chats SET workspace_id = $2 WHERE id = $1").bind(id).bind(ws).execute(&mut *tx).await?;
            diff.insert("workspace_id".into(), serde_json::json!({"old": chat.workspace_id, "new": ws}));
            kinds.push((chat.clone(), ChangeKind::Updated));
        }
        if let Some(archived) = patch.archived {
            if archived == chat.archived {
                return Err(if archived { ClientError::ChatAlreadyArchived } else { ClientError::ChatNotArchived }.into());
            }
            if !archived && chat.parent_chat_id.is_some() {
                let parent_archived: bool = sqlx::query_scalar("SELECT archived FROM chats WHERE id = $1")
                    .bind(chat.parent_chat_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if parent_archived {
                    return Err(ClientError::ParentChatArchived.into());
                }
            }
            // The family: the chat and every chat whose root it is. Locked in id order.
            let family: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM chats WHERE id = $1 OR root_chat_id = $1 ORDER BY id FOR UPDATE",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE chats SET archived = $2,
                     pin_order = CASE WHEN $2 THEN 0 ELSE pin_order END,
                     status = CASE WHEN $2 AND status IN ('pending', 'running') THEN 'waiting' ELSE status END,
                     worker_id = CASE WHEN $2 THEN NULL ELSE worker_id END,
                     version = version + 1
                 WHERE id = ANY($1)",
            )
            .bind(&family)
            .bind(archived)
            .execute(&mut *tx)
            .await?;
            diff.insert("archived".into(), serde_json::json!(archived));
            for member in &family {
                let c = chat_by_id(&mut *tx, *member).await?.ok_or(StoreError::NotFound)?;
                kinds.push((c, if archived { ChangeKind::Archived } else { ChangeKind::Unarchived }));
            }
        }
        if let Some(pin) = patch.pin_order {
            let archived_now = patch.archived.unwrap_or(chat.archived);
            if pin > 0 && archived_now {
                return Err(ClientError::CannotPinArchived.into());
            }
            set_pin_order(&mut tx, &chat, pin).await?;
            kinds.push((chat.clone(), ChangeKind::Updated));
        }
        sqlx::query("UPDATE chats SET updated_at = now(), version = version + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if !diff.is_empty() {
            let archive_only = diff.len() == 1 && diff.contains_key("archived");
            audit::record(
                &mut tx,
                Entry {
                    user_id: Some(self.subject.user_id()),
                    organization_id: Some(chat.organization_id),
                    action: if archive_only { "archive" } else { "write" },
                    resource_type: "chat",
                    resource_id: chat.id,
                    resource_target: &chat.title,
                    diff: serde_json::Value::Object(diff),
                    description: format!("updated chat {}", chat.title),
                },
            )
            .await?;
        }
        for (c, kind) in &kinds {
            pubsub::notify(&mut tx, change(c, *kind)).await?;
        }
        let updated = chat_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Takes the title-regeneration lease of a chat the actor may update; a conflict when
    /// another regeneration holds it.
    pub async fn begin_title_regeneration(&self, chat: &Chat) -> Result<()> {
        self.subject.authorize(Action::Update, &chat.object()).map_err(StoreError::Forbidden)?;
        let taken = sqlx::query(
            "UPDATE chats SET title_regenerating_until = now() + make_interval(secs => $2)
             WHERE id = $1 AND (title_regenerating_until IS NULL OR title_regenerating_until <= now())",
        )
        .bind(chat.id)
        .bind(TITLE_LEASE_SECONDS)
        .execute(self.pool)
        .await?;
        if taken.rows_affected() == 0 {
            return Err(ClientError::TitleRegenerating.into());
        }
        Ok(())
    }

    /// Releases the lease, setting the new title when there is one.
    pub async fn finish_title_regeneration(&self, chat: &Chat, title: Option<&str>) -> Result<Chat> {
        sqlx::query("UPDATE chats SET title_regenerating_until = NULL WHERE id = $1")
            .bind(chat.id)
            .execute(self.pool)
            .await?;
        match title {
            Some(t) => self.update_chat(chat.id, &ChatPatch { title: Some(t.to_string()), ..Default::default() }).await,
            None => self.chat(chat.id).await,
        }
    }

    /// Marks the chat read up to its newest assistant message (drives `has_unread`).
    pub async fn mark_chat_read(&self, chat: &Chat) -> Result<()> {
        sqlx::query(
            "UPDATE chats SET last_read_message_id = (
                 SELECT max(id) FROM chat_messages WHERE chat_id = $1 AND role = 'assistant' AND NOT deleted)
             WHERE id = $1",
        )
        .bind(chat.id)
        .execute(self.pool)
        .await?;
        Ok(())
    }
}

/// Pins (pin > 0, clamped to the number of pinned root chats of the owner) or unpins (0),
/// renumbering the owner's other pinned chats so the order stays 1..=n.
async fn set_pin_order(conn: &mut PgConnection, chat: &Chat, pin: i32) -> Result<()> {
    if pin < 0 {
        return Err(ClientError::NegativePinOrder.into());
    }
    let mut pinned: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM chats WHERE owner_id = $1 AND pin_order > 0 AND id <> $2 AND NOT archived
         ORDER BY pin_order, id FOR UPDATE",
    )
    .bind(chat.owner_id)
    .bind(chat.id)
    .fetch_all(&mut *conn)
    .await?;
    if pin > 0 {
        let at = (pin as usize - 1).min(pinned.len());
        pinned.insert(at, chat.id);
    } else {
        sqlx::query("UPDATE chats SET pin_order = 0 WHERE id = $1").bind(chat.id).execute(&mut *conn).await?;
    }
    for (i, id) in pinned.iter().enumerate() {
        sqlx::query("UPDATE chats SET pin_order = $2 WHERE id = $1")
            .bind(id)
            .bind(i as i32 + 1)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
