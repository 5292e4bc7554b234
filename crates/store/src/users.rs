//! Users, their site roles, sessions and API keys, and building a request's [`Subject`].

use agentry_rbac::{
    Action, Columns, Object, OrgRole, ResourceType, SiteRole, Subject, may_assign_site_role,
};
use chrono::{DateTime, Duration, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::args::Args;
use crate::audit::{self, Entry};
use crate::error::unique_violation;
use crate::{Actor, ClientError, Result, StoreError, AuthTasks};

/// A user as the API shows it.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub name: String,
    pub status: String,
    /// Stored site roles (the implicit `member` is not stored).
    pub site_roles: Vec<String>,
    /// Organizations the user belongs to, oldest membership first.
    pub organization_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last authenticated request, to the minute; `None` before the first one.
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.username, u.name, u.status, u.site_roles, u.created_at,
    u.updated_at, u.last_seen_at,
    ARRAY(SELECT m.organization_id FROM organization_members m
          WHERE m.user_id = u.id ORDER BY m.created_at, m.organization_id) AS organization_ids";

/// The RBAC object for a user: users own themselves and belong to no organization.
pub fn user_object(id: Uuid) -> Object {
    Object::new(ResourceType::User).with_id(id).owned_by(id)
}

/// How a user is named in a path: an id, a username, or `me`.
pub enum UserRef<'a> {
    Id(Uuid),
    Username(&'a str),
    Me,
}

impl<'a> UserRef<'a> {
    pub fn parse(s: &'a str) -> UserRef<'a> {
        if s == "me" {
            UserRef::Me
        } else if let Ok(id) = Uuid::parse_str(s) {
            UserRef::Id(id)
        } else {
            UserRef::Username(s)
        }
    }
}

/// What a users list is narrowed to (`GET /api/v2/users?q=`); the default matches everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Words that must each appear in the username or the email, ignoring case.
    pub words: Vec<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    /// A site role the user must hold; `member` (which everyone holds) narrows nothing.
    pub role: Option<SiteRole>,
}

impl UserQuery {
    /// The query's conditions as SQL over `u`, its values added to `args`.
    fn to_sql(&self, args: &mut Args) -> String {
        let mut sql = String::new();
        for w in &self.words {
            let p = args.push(w.to_lowercase());
            sql.push_str(&format!(
                " AND (strpos(lower(u.username), {p}) > 0 OR strpos(lower(u.email), {p}) > 0)"
            ));
        }
        if let Some(status) = &self.status {
            let p = args.push(status.clone());
            sql.push_str(&format!(" AND u.status = {p}"));
        }
        if let Some(role) = self.role.filter(|r| *r != SiteRole::Member) {
            let p = args.push(role.name());
            sql.push_str(&format!(" AND {p} = ANY(u.site_roles)"));
        }
        sql
    }
}

/// A new user's fields, already validated by the caller.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub name: &'a str,
    pub hashed_password: String,
}

/// An API key or session as its owner may see it; never the secret.
#[derive(Debug, Clone, FromRow)]
pub struct ApiKey {
    pub id: String,
    pub user_id: Uuid,
    /// The key's name (`token_name`); sessions from a login have none.
    pub token_name: String,
    /// `password` (a login session) or `token` (an API token).
    pub login_type: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute per process.
    pub last_used: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A successfully authenticated request: who it is and what they may do.
pub struct Authenticated {
    pub user: User,
    pub subject: Subject,
    pub key_id: String,
}

#[derive(Deserialize)]
struct MembershipRoles {
    org: Uuid,
    roles: Vec<String>,
}

#[derive(FromRow)]
struct AuthRow {
    #[sqlx(flatten)]
    user: User,
    hashed_secret: Vec<u8>,
    expires_at: DateTime<Utc>,
    memberships: Json<Vec<MembershipRoles>>,
}

/// Builds the subject from stored role names. Unknown names (e.g. a role retired in a newer
/// release) grant nothing and are logged.
fn build_subject(user: &User, memberships: &[MembershipRoles]) -> Subject {
    let mut s = Subject::new(user.id);
    for name in &user.site_roles {
        match SiteRole::parse(name) {
            Some(r) => s = s.with_site_role(r),
            None => tracing::warn!(user = %user.id, role = %name, "ignoring unknown site role"),
        }
    }
    for m in memberships {
        let roles: Vec<OrgRole> = m
            .roles
            .iter()
            .filter_map(|name| {
                let r = OrgRole::parse(name);
                if r.is_none() {
                    tracing::warn!(user = %user.id, role = %name, "ignoring unknown org role");
                }
                r
            })
            .collect();
        s = s.with_org(m.org, &roles);
    }
    s
}

/// The subject of an active user as the database says now, built by the same code as a
/// request's subject (token authentication); `None` for a suspended or deleted user. Read
/// directly, never through the session cache, so it is never older than the last commit.
pub(crate) async fn stored_subject(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<Subject>> {
    let Some(user) = user_by_id(&mut *conn, user_id).await? else { return Ok(None) };
    if !user.is_active() {
        return Ok(None);
    }
    let memberships: Vec<(Uuid, Vec<String>)> =
        sqlx::query_as("SELECT organization_id, roles FROM organization_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let m: Vec<MembershipRoles> = memberships.into_iter().map(|(org, roles)| MembershipRoles { org, roles }).collect();
    Ok(Some(build_subject(&user, &m)))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Constant-time comparison, so response timing does not reveal how much of a secret matched.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Inserts a new key and returns the token (`<id>-<secret>`); only the secret's hash is kept.
async fn insert_api_key(
    conn: &mut PgConnection,
    user_id: Uuid,
    login_type: &str,
    lifetime: Duration,
    name: &str,
) -> Result<String> {
    // The thread-local RNG is not Send; finish with it before the first await.
    let (id, secret) = {
        let mut rng = rand::rng();
        (Alphanumeric.sample_string(&mut rng, 10), Alphanumeric.sample_string(&mut rng, 22))
    };
    // Tokens always have a name, so a list of them can be told apart.
    let default_name;
    let name = if name.trim().is_empty() && login_type == "token" {
        default_name = format!("token-{}", id.to_ascii_lowercase());
        default_name.as_str()
    } else {
        name.trim()
    };
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, hashed_secret, login_type, token_name, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(hash_secret(&secret))
    .bind(login_type)
    .bind(name)
    .bind(Utc::now() + lifetime)
    .execute(conn)
    .await?;
    Ok(format!("{id}-{secret}"))
}

fn map_user_conflict(e: sqlx::Error) -> StoreError {
    match unique_violation(&e) {
        Some("users_email_idx") => ClientError::EmailTaken.into(),
        Some("users_username_idx") => {
            ClientError::UsernameTaken.into()
        }
        _ => e.into(),
    }
}

async fn insert_user(conn: &mut PgConnection, new: &NewUser<'_>, site_roles: &[&str]) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, username, name, hashed_password, site_roles)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(new.email)
    .bind(new.username)
    .bind(new.name)
    .bind(&new.hashed_password)
    .bind(site_roles)
    .execute(conn)
    .await
    .map_err(map_user_conflict)?;
    Ok(id)
}

pub(crate) async fn user_by_id(conn: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?)
}

impl AuthTasks<'_> {
    /// Resolves a session token or API key. `None` for anything that is not a live key of an
    /// active user; the caller answers 401 without saying which.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>> {
        let Some((id, secret)) = token.split_once('-') else {
            return Ok(None);
        };
        if id.len() != 10 || secret.is_empty() {
            return Ok(None);
        }
        let hashed = hash_secret(secret);
        if let Some((cached_hash, expires_at, user, subject)) = self.auth.get(id) {
            let ok = same_bytes(&cached_hash, &hashed) && expires_at > Utc::now();
            if ok {
                self.mark_used(id);
            }
            return Ok(ok.then(|| Authenticated { user, subject, key_id: id.to_string() }));
        }
        let seen = self.auth.generation();
        let sql = format!(
            "SELECT {USER_COLUMNS}, k.hashed_secret, k.expires_at,
                COALESCE((SELECT jsonb_agg(jsonb_build_object('org', m.organization_id, 'roles', m.roles))
                          FROM organization_members m WHERE m.user_id = u.id), '[]'::jsonb) AS memberships
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.id = $1"
        );
        let row: Option<AuthRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        if !same_bytes(&row.hashed_secret, &hashed) || row.expires_at <= Utc::now() || !row.user.is_active() {
            return Ok(None);
        }
        let subject = build_subject(&row.user, &row.memberships.0);
        self.mark_used(id);
        // Only live sessions of active users are cached; a refused token is looked up again.
        self.auth.put(id, seen, row.hashed_secret, row.expires_at, row.user.clone(), subject.clone());
        Ok(Some(Authenticated { user: row.user, subject, key_id: id.to_string() }))
    }

    /// Records that a key was used, at most once a minute per key and process, in the
    /// background: authentication never waits for it.
    fn mark_used(&self, key_id: &str) {
        if !self.auth.should_mark_used(key_id) {
            return;
        }
        let pool = self.pool.clone();
        let key_id = key_id.to_string();
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("UPDATE api_keys SET last_used = now() WHERE id = $1").bind(&key_id).execute(&pool).await {
                tracing::debug!(error = %e, "recording key use failed");
            }
        });
    }

    /// Password hash and user for a login attempt, looked up by email (case-insensitive).
    pub async fn login_candidate(&self, email: &str) -> Result<Option<(User, String)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            hashed_password: String,
        }
        let sql = format!(
            "SELECT {USER_COLUMNS}, u.hashed_password FROM users u WHERE lower(u.email) = lower($1)"
        );
        let row: Option<Row> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(self.pool).await?;
        Ok(row.map(|r| (r.user, r.hashed_password)))
    }

    /// Records a failed login in the audit log: about the account when the email names one,
    /// else about "no user" (the nil id) with the email as typed. Only readers of every user
    /// (site-level `user read`) see either.
    pub async fn audit_failed_login(&self, email: &str, ip: Option<&str>) -> Result<()> {
        let user: Option<(Uuid, String)> =
            sqlx::query_as("SELECT id, username FROM users WHERE lower(email) = lower($1)")
                .bind(email)
                .fetch_optional(self.pool)
                .await?;
        let typed: String = email.chars().take(254).collect();
        let (id, target, known) = match &user {
            Some((id, username)) => (*id, username.as_str(), true),
            None => (Uuid::nil(), typed.as_str(), false),
        };
        let mut conn = self.pool.acquire().await?;
        audit::record(
            &mut conn,
            Entry {
                user_id: user.as_ref().map(|u| u.0),
                organization_id: None,
                action: "login",
                resource_type: "user",
                resource_id: id,
                resource_target: target,
                diff: serde_json::json!({"success": false, "known_user": known, "ip": ip}),
                description: format!("failed login for {target}"),
            },
        )
        .await
    }

    /// Issues a session token after a successful password check.
    pub async fn create_session(&self, user_id: Uuid, lifetime: Duration) -> Result<String> {
        let mut conn = self.pool.acquire().await?;
        insert_api_key(&mut conn, user_id, "password", lifetime, "").await
    }

    /// Ends the session or key with this id (logout).
    pub async fn delete_api_key(&self, key_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM api_keys WHERE id = $1").bind(key_id).execute(self.pool).await?;
        self.auth.clear();
        Ok(())
    }

    pub async fn has_users(&self) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(self.pool).await?)
    }

    /// Creates the first user as site owner and member of the default organization. Fails
    /// with a conflict once any user exists; concurrent calls are serialized by a lock.
    pub async fn create_first_user(&self, new: &NewUser<'_>) -> Result<(User, Uuid)> {
        let mut tx = self.pool.begin().await?;
        // Any constant key works: only this task takes it.
        sqlx::query("SELECT pg_advisory_xact_lock(7420001)").execute(&mut *tx).await?;
        if sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await?
        {
            return Err(ClientError::FirstUserExists.into());
        }
        let id = insert_user(&mut tx, new, &[SiteRole::Owner.name()]).await?;
        let org_id: Uuid = sqlx::query_scalar("SELECT id FROM organizations WHERE is_default")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO organization_members (organization_id, user_id) VALUES ($1, $2)")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(id),
                organization_id: None,
                action: "create",
                resource_type: "user",
                resource_id: id,
                resource_target: new.username,
                diff: serde_json::json!({"site_roles": ["owner"], "first_user": true}),
                description: format!("created the first user {}", new.username),
            },
        )
        .await?;
        let user = user_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok((user, org_id))
    }
}

/// One page of users by username (the unique index on `lower(username)` gives the order, and a
/// cursor is a range on it).
fn users_page(
    filter: &agentry_rbac::Filter,
    query: &UserQuery,
    limit: i64,
    offset: i64,
    after_id: Option<Uuid>,
) -> (String, Args) {
    let mut args = Args::default();
    let f = args.filter(filter, Columns { org: None, owner: Some("u.id") });
    let q = query.to_sql(&mut args);
    let after = match after_id {
        Some(id) => {
            let p = args.push(id);
            format!(" AND lower(u.username) > (SELECT lower(username) FROM users WHERE id = {p})")
        }
        None => String::new(),
    };
    let (l, o) = (args.push(limit), args.push(offset));
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE {f}{q}{after}
         ORDER BY lower(u.username) LIMIT {l} OFFSET {o}"
    );
    (sql, args)
}

impl Actor<'_> {
    /// Finds a user the actor may read.
    pub async fn user(&self, user: &UserRef<'_>) -> Result<User> {
        let row = match user {
            UserRef::Me => user_by_id(self.pool, self.subject.user_id()).await?,
            UserRef::Id(id) => user_by_id(self.pool, *id).await?,
            UserRef::Username(name) => {
                let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE lower(u.username) = lower($1)");
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(*name).fetch_optional(self.pool).await?
            }
        };
        let row = row.ok_or(StoreError::NotFound)?;
        if !self.subject.can(Action::Read, &user_object(row.id)) {
            return Err(StoreError::NotFound);
        }
        Ok(self.visible(row))
    }

    /// The user as the actor may see it: only the organization ids the actor may read (an org
    /// admin finding people to add must not learn which other organizations exist and who is
    /// in them).
    fn visible(&self, mut user: User) -> User {
        user.organization_ids.retain(|&o| self.subject.can(Action::Read, &crate::orgs::org_object(o)));
        user
    }

    /// One page of the users the actor may read that match `query`, by username, and how many
    /// match in all; `after_id` continues after that user.
    pub async fn users(
        &self,
        query: &UserQuery,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<(Vec<User>, i64)> {
        let filter = self.subject.prepare(Action::Read, ResourceType::User);
        let cols = Columns { org: None, owner: Some("u.id") };

        let mut args = Args::default();
        let f = args.filter(&filter, cols);
        let q = query.to_sql(&mut args);
        let count_sql = format!("SELECT count(*) FROM users u WHERE {f}{q}");
        let count: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(count_sql), args.into_inner())
            .fetch_one(self.pool)
            .await?;

        let (sql, args) = users_page(&filter, query, limit, offset, after_id);
        let rows: Vec<User> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args.into_inner()).fetch_all(self.pool).await?;
        Ok((rows.into_iter().map(|u| self.visible(u)).collect(), count))
    }

    /// The PostgreSQL plan of the page query of [`Actor::users`] (for the plan tests).
    pub async fn explain_users(
        &self,
        query: &UserQuery,
        limit: i64,
        offset: i64,
        after_id: Option<Uuid>,
    ) -> Result<serde_json::Value> {
        let filter = self.subject.prepare(Action::Read, ResourceType::User);
        let (sql, args) = users_page(&filter, query, limit, offset, after_id);
        crate::explain::run(self.pool, &sql, args.into_inner()).await
    }

    /// Creates a user and adds them to `orgs` (the default organization when empty). Needs
    /// `user create`, and `organization_member create` in every organization joined.
    pub async fn create_user(&self, new: &NewUser<'_>, orgs: &[Uuid]) -> Result<User> {
        self.subject
            .authorize(Action::Create, &Object::new(ResourceType::User))
            .map_err(StoreError::Forbidden)?;
        let mut tx = self.pool.begin().await?;
        let orgs: Vec<Uuid> = if orgs.is_empty() {
            vec![sqlx::query_scalar("SELECT id FROM organizations WHERE is_default").fetch_one(&mut *tx).await?]
        } else {
            orgs.to_vec()
        };
        for &org in &orgs {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
                .bind(org)
                .fetch_one(&mut *tx)
                .await?;
            let readable = self.subject.can(Action::Read, &crate::orgs::org_object(org));
            if !exists || !readable {
                return Err(ClientError::UnknownOrganization { id: org }.into());
            }
            // The new user's id is not known yet; membership creation is decided per org.
            let membership = Object::new(ResourceType::OrganizationMember).in_org(org);
            self.subject.authorize(Action::Create, &membership).map_err(StoreError::Forbidden)?;
        }
        let id = insert_user(&mut tx, new, &[]).await?;
        for &org in &orgs {
            sqlx::query("INSERT INTO organization_members (organization_id, user_id) VALUES ($1, $2)")
                .bind(org)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: None,
                action: "create",
                resource_type: "user",
                resource_id: id,
                resource_target: new.username,
                diff: serde_json::json!({"email": new.email, "organization_ids": orgs}),
                description: format!("created user {}", new.username),
            },
        )
        .await?;
        let user = user_by_id(&mut *tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        // Rights may have changed: no cached session of this process may outlive that.
        self.auth.clear();
        Ok(self.visible(user))
    }

    /// Suspends or reactivates a user. Suspension takes effect on the user's next request:
    /// authentication refuses suspended users.
    pub async fn set_user_status(&self, user: &UserRef<'_>, active: bool) -> Result<User> {
        let target = self.user(user).await?;
        self.subject
            .authorize(Action::Update, &user_object(target.id))
            .map_err(StoreError::Forbidden)?;
        if !active && target.id == self.subject.user_id() {
            return Err(ClientError::CannotSuspendSelf.into());
        }
        // Only an owner changes an owner's status: a user admin must not lock the owner out.
        let target_is_owner = target.site_roles.iter().any(|r| r == SiteRole::Owner.name());
        if target_is_owner && !self.subject.has_site_role(SiteRole::Owner) {
            return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
        }
        let status = if active { "active" } else { "suspended" };
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET status = $2, updated_at = now() WHERE id = $1")
            .bind(target.id)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        let description = format!("{} user {}", if active { "activated" } else { "suspended" }, target.username);
        self.finish_user_write(tx, &target, serde_json::json!({"status": {"old": target.status, "new": status}}), description)
            .await
    }

    /// Replaces a user's site roles. Each role added needs `assign_role assign`, each removed
    /// `assign_role unassign`, and both must pass [`may_assign_site_role`].
    pub async fn set_site_roles(&self, user: &UserRef<'_>, roles: &[SiteRole]) -> Result<User> {
        let target = self.user(user).await?;
        let current: Vec<SiteRole> = target.site_roles.iter().filter_map(|r| SiteRole::parse(r)).collect();
        // `member` is implicit and never stored.
        let wanted: Vec<SiteRole> = {
            let mut v: Vec<SiteRole> = roles.iter().copied().filter(|r| *r != SiteRole::Member).collect();
            v.sort();
            v.dedup();
            v
        };
        let assign = Object::new(ResourceType::AssignRole);
        for r in wanted.iter().filter(|r| !current.contains(r)) {
            self.subject.authorize(Action::Assign, &assign).map_err(StoreError::Forbidden)?;
            if !may_assign_site_role(self.subject, *r) {
                return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
            }
        }
        for r in current.iter().filter(|r| !wanted.contains(r)) {
            self.subject.authorize(Action::Unassign, &assign).map_err(StoreError::Forbidden)?;
            if !may_assign_site_role(self.subject, *r) {
                return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
            }
        }
        let names: Vec<&str> = wanted.iter().map(|r| r.name()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET site_roles = $2, updated_at = now() WHERE id = $1")
            .bind(target.id)
            .bind(&names)
            .execute(&mut *tx)
            .await?;
        let diff = serde_json::json!({"site_roles": {"old": target.site_roles, "new": names}});
        self.finish_user_write(tx, &target, diff, format!("changed site roles of {}", target.username)).await
    }

    /// The common end of a change to a user: its audit entry, the user as it is now, commit, and
    /// — since the change may alter rights — this process's session cache emptied.
    async fn finish_user_write(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        target: &User,
        diff: serde_json::Value,
        description: String,
    ) -> Result<User> {
        audit::record(
            &mut tx,
            Entry {
                user_id: Some(self.subject.user_id()),
                organization_id: None,
                action: "write",
                resource_type: "user",
                resource_id: target.id,
                resource_target: &target.username,
                diff,
                description,
            },
        )
        .await?;
        let user = user_by_id(&mut *tx, target.id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        self.auth.clear();
        Ok(self.visible(user))
    }

    /// The caller's own password hash, to check the current password before a change.
    pub async fn own_password_hash(&self) -> Result<String> {
        Ok(sqlx::query_scalar("SELECT hashed_password FROM users WHERE id = $1")
            .bind(self.subject.user_id())
            .fetch_one(self.pool)
            .await?)
    }

    /// Sets a user's password (already hashed) and ends their sign-in sessions but `keep` (the
    /// session a user changing their own password is using); API tokens stay. Yourself
    /// (`update_personal`, the caller having checked your current password), or anyone for the
    /// site owner: a new password *is* access to the account, so as with API keys a user admin
    /// must not be able to take over other accounts (the owner's included) this way.
    pub async fn set_password(&self, user: &UserRef<'_>, hashed_password: &str, keep: Option<&str>) -> Result<User> {
        let target = self.user(user).await?;
        let own = target.id == self.subject.user_id();
        if own {
            self.subject
                .authorize(Action::UpdatePersonal, &user_object(target.id))
                .map_err(StoreError::Forbidden)?;
        } else if !self.subject.has_site_role(SiteRole::Owner) {
            return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET hashed_password = $2, updated_at = now() WHERE id = $1")
            .bind(target.id)
            .bind(hashed_password)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND login_type = 'password' AND id IS DISTINCT FROM $2")
            .bind(target.id)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let description = format!("changed the password of {}", target.username);
        self.finish_user_write(tx, &target, serde_json::json!({"password": "changed", "sessions_ended": ended}), description)
            .await
    }

    /// Issues an API key for a user: yourself (`update_personal` on your own user), or anyone
    /// for the site owner. A key *is* its user, so minting one for someone else is acting as
    /// them; a user admin, who may edit other users, must not be able to become the owner.
    pub async fn create_api_key(&self, user: &UserRef<'_>, lifetime: Duration, name: &str) -> Result<String> {
        let target = self.user(user).await?;
        self.subject
            .authorize(Action::UpdatePersonal, &user_object(target.id))
            .map_err(StoreError::Forbidden)?;
        if target.id != self.subject.user_id() && !self.subject.has_site_role(SiteRole::Owner) {
            return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
        }
        let mut conn = self.pool.acquire().await?;
        insert_api_key(&mut conn, target.id, "token", lifetime, name).await
    }

    /// Who may see and revoke a user's keys: the user (`read_personal` / `update_personal` on
    /// themselves), or the site owner for anyone — the same people who may mint them.
    async fn key_holder(&self, user: &UserRef<'_>, action: Action) -> Result<User> {
        let target = self.user(user).await?;
        self.subject.authorize(action, &user_object(target.id)).map_err(StoreError::Forbidden)?;
        if target.id != self.subject.user_id() && !self.subject.has_site_role(SiteRole::Owner) {
            return Err(StoreError::Forbidden(agentry_rbac::Denial::NoGrant));
        }
        Ok(target)
    }

    /// A user's keys and sessions that have not expired, newest first.
    pub async fn api_keys(&self, user: &UserRef<'_>) -> Result<Vec<ApiKey>> {
        let target = self.key_holder(user, Action::ReadPersonal).await?;
        Ok(sqlx::query_as(
            "SELECT id, user_id, token_name, login_type, created_at, last_used, expires_at FROM api_keys
             WHERE user_id = $1 AND expires_at > now() ORDER BY created_at DESC, id",
        )
        .bind(target.id)
        .fetch_all(self.pool)
        .await?)
    }

    /// Revokes one of a user's keys. Every process drops it at once: the deletion fires the
    /// auth-change trigger, which empties session caches and re-checks the user's sockets.
    pub async fn delete_user_api_key(&self, user: &UserRef<'_>, key_id: &str) -> Result<()> {
        let target = self.key_holder(user, Action::UpdatePersonal).await?;
        let gone = sqlx::query("DELETE FROM api_keys WHERE id = $1 AND user_id = $2")
            .bind(key_id)
            .bind(target.id)
            .execute(self.pool)
            .await?;
        self.auth.clear();
        if gone.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
