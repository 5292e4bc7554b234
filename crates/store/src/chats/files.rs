//! Chat attachments. A file is stamped with the organization it was uploaded for and can only be
//! attached to chats of that organization. Uploading is AI work (`chat create` in the org);
//! reading needs what reading the uploader's chats in that org needs, or a readable chat the
//! file is attached to.

use agentry_rbac::{Action, Object, ResourceType};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use agentry_types::{Part, Problem};

use crate::{Actor, ClientError, Result, StoreError, WorkerTasks};

/// Most files one chat may have attached.
pub const MAX_FILES_PER_CHAT: i64 = 50;

#[derive(Debug, Clone, FromRow)]
pub struct FileMeta {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub mimetype: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
}

pub struct FileData {
    pub meta: FileMeta,
    pub data: Vec<u8>,
}

const META_COLUMNS: &str = "f.id, f.owner_id, f.organization_id, f.name, f.mimetype,
    octet_length(f.data)::bigint AS size_bytes, f.created_at";

/// Links files to a chat of organization `org`. A file of another organization is refused
/// here too, inside the transaction that links it, whatever the caller checked before.
pub(crate) async fn link(conn: &mut PgConnection, chat_id: Uuid, org: Uuid, file_ids: &[Uuid]) -> Result<()> {
    if file_ids.is_empty() {
        return Ok(());
    }
    let foreign: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM chat_files WHERE id = ANY($1) AND organization_id <> $2 LIMIT 1",
    )
    .bind(file_ids)
    .bind(org)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(f) = foreign {
        let index = file_ids.iter().position(|id| *id == f).unwrap_or_default();
        return Err(ClientError::FileInOtherOrganization { index }.into());
    }
    sqlx::query("INSERT INTO chat_file_links (chat_id, file_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING")
        .bind(chat_id)
        .bind(file_ids)
        .execute(&mut *conn)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_file_links WHERE chat_id = $1")
        .bind(chat_id)
        .fetch_one(&mut *conn)
        .await?;
    if count > MAX_FILES_PER_CHAT {
        return Err(ClientError::TooManyChatFiles { max: MAX_FILES_PER_CHAT }.into());
    }
    Ok(())
}

impl Actor<'_> {
    /// Every file part must name a file the caller can read, uploaded for `org`; fills in each
    /// file part's media type and name. Returns the files' ids, to link.
    pub async fn check_files(&self, org: Uuid, parts: &mut [Part]) -> Result<Vec<Uuid>> {
        let mut ids = Vec::new();
        for (i, part) in parts.iter_mut().enumerate() {
            let Part::File { file_id, media_type, name } = part else { continue };
            let meta = match self.chat_file_meta(*file_id).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => {
                    return Err(ClientError::InvalidInputPart { problem: Problem::PartFileMissing { index: i } }.into());
                }
                Err(e) => return Err(e),
            };
            if meta.organization_id != org {
                return Err(ClientError::FileInOtherOrganization { index: i }.into());
            }
            *media_type = Some(meta.mimetype);
            *name = Some(meta.name);
            ids.push(meta.id);
        }
        Ok(ids)
    }

    pub async fn upload_chat_file(&self, org: Uuid, name: &str, mimetype: &str, data: &[u8]) -> Result<FileMeta> {
        let me = self.subject.user_id();
        if !self.subject.is_member_of(org) && !self.subject.can(Action::Read, &crate::orgs::org_object(org)) {
            return Err(StoreError::NotFound);
        }
        let obj = Object::new(ResourceType::Chat).owned_by(me).in_org(org);
        self.subject.authorize(Action::Create, &obj).map_err(StoreError::Forbidden)?;
        let sql = format!(
            "INSERT INTO chat_files AS f (id, owner_id, organization_id, name, mimetype, data)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {META_COLUMNS}"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(me)
            .bind(org)
            .bind(name)
            .bind(mimetype)
            .bind(data)
            .fetch_one(self.pool)
            .await?)
    }

    async fn may_read_file(&self, meta: &FileMeta) -> Result<bool> {
        let as_uploaders_chat = Object::new(ResourceType::Chat).owned_by(meta.owner_id).in_org(meta.organization_id);
        if self.subject.can(Action::Read, &as_uploaders_chat) {
            return Ok(true);
        }
        let linked: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
            "SELECT c.id, c.owner_id, c.organization_id FROM chat_file_links l JOIN chats c ON c.id = l.chat_id
             WHERE l.file_id = $1",
        )
        .bind(meta.id)
        .fetch_all(self.pool)
        .await?;
        Ok(linked.into_iter().any(|(id, owner, org)| self.subject.can(Action::Read, &super::chat_object(id, owner, org))))
    }

    pub async fn chat_file_meta(&self, id: Uuid) -> Result<FileMeta> {
        let sql = format!("SELECT {META_COLUMNS} FROM chat_files f WHERE f.id = $1");
        let meta: FileMeta =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?.ok_or(StoreError::NotFound)?;
        if !self.may_read_file(&meta).await? {
            return Err(StoreError::NotFound);
        }
        Ok(meta)
    }

    pub async fn chat_file(&self, id: Uuid) -> Result<FileData> {
        let meta = self.chat_file_meta(id).await?;
        let data: Vec<u8> =
            sqlx::query_scalar("SELECT data FROM chat_files WHERE id = $1").bind(id).fetch_one(self.pool).await?;
        Ok(FileData { meta, data })
    }

    /// Files attached to a chat the caller has already read.
    pub async fn chat_files_of(&self, chat: &super::Chat) -> Result<Vec<FileMeta>> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM chat_files f JOIN chat_file_links l ON l.file_id = f.id
             WHERE l.chat_id = $1 ORDER BY f.created_at, f.id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(chat.id).fetch_all(self.pool).await?)
    }
}

/// An attachment's bytes, for the chat daemon to show the model.
#[derive(Debug, Clone, FromRow)]
pub struct AttachedFile {
    pub id: Uuid,
    pub name: String,
    pub mimetype: String,
    pub data: Vec<u8>,
}

impl WorkerTasks<'_> {
    /// The files among `ids` that are attached to `chat_id`. Only attached files: a file id
    /// in a message that was never linked to this chat (it would have failed the same-org
    /// check) is not read.
    pub async fn attached_files(&self, chat_id: Uuid, ids: &[Uuid]) -> Result<Vec<AttachedFile>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT f.id, f.name, f.mimetype, f.data FROM chat_files f
             JOIN chat_file_links l ON l.file_id = f.id AND l.chat_id = $1
             WHERE f.id = ANY($2)",
        )
        .bind(chat_id)
        .bind(ids)
        .fetch_all(self.pool)
        .await?)
    }
}
