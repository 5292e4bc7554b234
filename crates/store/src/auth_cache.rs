//! A per-process cache of authenticated sessions.
//!
//! Authenticating every request against the database costs a round trip that dominates cheap
//! requests. The cache keeps the result of [`System::authenticate`](crate::System) per key id,
//! and is emptied whenever anything that could change a session's rights commits: database
//! triggers (migration 0006) NOTIFY `agentry_auth` on every change to a user's status or roles,
//! a membership, or a key, and every process listening drops everything it cached. The process
//! that made the change also empties its own cache before answering, so its next request never
//! sees the old rights, even before the notification arrives.
//!
//! Correctness rules:
//! - the cache is off until the listener runs, and turns itself off when the listener fails
//!   (nothing could tell it about changes);
//! - an entry read from the database is stored only if no invalidation happened while it was
//!   being read (a generation counter), so a stale read never outlives the change that made it
//!   stale;
//! - the secret is checked against the cached hash on every hit, key expiry is checked on every
//!   hit, and entries live at most [`MAX_AGE`] anyway.
//!
//! The same listener also tells the rest of the process *whose* rights changed (migration 0010
//! puts the user id in the payload): [`AuthChange`]s go out on a broadcast channel
//! ([`crate::Store::auth_changes`]) that the chat daemon uses to stop the runs of an owner who
//! lost access and WebSockets use to re-check their user at once.
//!
//! It also keeps the `organizations` table (while it is small, [`MAX_ORGS`] rows), which nearly
//! every request reads — the organization list, and every `/organizations/{org}/…` route looking
//! up its organization — so those reads run no SQL on a hit. Migration 0075's trigger NOTIFYs
//! `agentry_orgs` on any change to the table; hearing it (or any auth change, or losing the
//! listener) empties the organizations, with the same generation rule as sessions.
//!
//! And it keeps each organization's members (while the organization has at most
//! [`MAX_CACHED_MEMBERS`]), which the member list pages through in memory, filtered for the
//! caller as the SQL filter would. A membership or its roles and a user's status or site roles
//! change through the auth triggers; a user's username, name or email (the other user columns a
//! member row shows) through migration 0095's trigger on `agentry_members`. Hearing either, any
//! auth change, or losing the listener empties the members, with the same generation rule.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentry_rbac::Subject;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::members::Member;
use crate::orgs::Organization;
use crate::users::User;

const CHANNEL: &str = "agentry_auth";
const ORG_CHANNEL: &str = "agentry_orgs";
const MEMBER_CHANNEL: &str = "agentry_members";
/// The organizations table is cached while it has at most this many rows.
pub const MAX_ORGS: usize = 2_000;
/// An organization's members are cached while it has at most this many; a larger
/// organization's member list pages in SQL.
pub const MAX_CACHED_MEMBERS: usize = 1_000;
/// Member rows cached at most, over all organizations; past that the member cache starts over.
const MAX_MEMBER_ROWS: usize = 100_000;
/// The longest any session result is reused, whatever else happens.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// How often a key's `last_used` is written, at most, per process.
const USE_RECORD_EVERY: Duration = Duration::from_secs(60);
/// Entries kept at most; past that the cache starts over.
const MAX_ENTRIES: usize = 50_000;

pub(crate) struct Cached {
    pub(crate) hashed_secret: Vec<u8>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) user: User,
    pub(crate) subject: Subject,
    stored: Instant,
}

/// Whose rights may have changed, as committed in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChange {
    /// This user's status, site roles, memberships, org roles or keys changed.
    User(uuid::Uuid),
    /// Notifications may have been missed (the listener reconnected): anyone's may have.
    Everyone,
}

impl AuthChange {
    /// Whether this change may concern `user`.
    pub fn concerns(&self, user: uuid::Uuid) -> bool {
        match self {
            AuthChange::User(u) => *u == user,
            AuthChange::Everyone => true,
        }
    }
}

pub struct AuthCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Cached>>,
    changes: tokio::sync::broadcast::Sender<AuthChange>,
    /// When this process last recorded each key's use.
    used: Mutex<HashMap<String, Instant>>,
    /// Bumped whenever the cached organizations are emptied.
    org_generation: AtomicU64,
    /// Every organization, default first, then by `lower(name)`, and when it was read.
    orgs: Mutex<Option<(std::sync::Arc<Vec<Organization>>, Instant)>>,
    /// Bumped whenever the cached members are emptied.
    member_generation: AtomicU64,
    members: Mutex<MemberCache>,
}

/// An organization's members as the member list orders them; `None` when it has more than
/// [`MAX_CACHED_MEMBERS`] (its list pages in SQL; remembered so that it is not read in full on
/// every request).
type OrgMembers = Option<std::sync::Arc<Vec<Member>>>;

/// Each organization's members, and when they were read.
#[derive(Default)]
struct MemberCache {
    orgs: HashMap<uuid::Uuid, (OrgMembers, Instant)>,
    rows: usize,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            enabled: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            changes: tokio::sync::broadcast::channel(1024).0,
            used: Mutex::new(HashMap::new()),
            org_generation: AtomicU64::new(0),
            orgs: Mutex::new(None),
            member_generation: AtomicU64::new(0),
            members: Mutex::new(MemberCache::default()),
        }
    }
}

impl AuthCache {
    /// Whether to record a use of `key_id` now (the first in [`USE_RECORD_EVERY`] in this
    /// process), noting that it is being recorded.
    pub(crate) fn should_mark_used(&self, key_id: &str) -> bool {
        let mut used = self.used.lock().expect("key use lock");
        if used.get(key_id).is_some_and(|t| t.elapsed() < USE_RECORD_EVERY) {
            return false;
        }
        if used.len() >= MAX_ENTRIES {
            used.clear();
        }
        used.insert(key_id.to_string(), Instant::now());
        true
    }

    /// A receiver of every auth change committed from now on (by any process).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AuthChange> {
        self.changes.subscribe()
    }

    /// Forgets everything (a change committed, or may have).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.lock().expect("auth cache lock").clear();
        self.clear_orgs();
        self.clear_members();
    }

    /// Forgets every organization's members (a membership, or a user shown in one, changed or
    /// may have).
    pub fn clear_members(&self) {
        let mut members = self.members.lock().expect("member cache lock");
        self.member_generation.fetch_add(1, Ordering::SeqCst);
        *members = MemberCache::default();
    }

    pub(crate) fn member_generation(&self) -> u64 {
        self.member_generation.load(Ordering::SeqCst)
    }

    /// An organization's members, if cached and fresh: `Some(None)` when it has too many to be
    /// cached, `None` when it must be read.
    pub(crate) fn members(&self, org: uuid::Uuid) -> Option<OrgMembers> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let members = self.members.lock().expect("member cache lock");
        members.orgs.get(&org).filter(|(_, stored)| stored.elapsed() <= MAX_AGE).map(|(all, _)| all.clone())
    }

    /// Stores an organization's members (`None`: too many), read while the member generation
    /// was `seen`.
    pub(crate) fn put_members(&self, seen: u64, org: uuid::Uuid, all: OrgMembers) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut members = self.members.lock().expect("member cache lock");
        // Checked under the lock `clear_members` also takes, as in `put`.
        if self.member_generation.load(Ordering::SeqCst) != seen {
            return;
        }
        let rows = all.as_ref().map_or(0, |a| a.len());
        if members.rows + rows > MAX_MEMBER_ROWS {
            *members = MemberCache::default();
        }
        if let Some((old, _)) = members.orgs.insert(org, (all, Instant::now())) {
            members.rows -= old.map_or(0, |a| a.len());
        }
        members.rows += rows;
    }

    /// Forgets the organizations (one changed, or may have).
    pub fn clear_orgs(&self) {
        let mut orgs = self.orgs.lock().expect("org cache lock");
        self.org_generation.fetch_add(1, Ordering::SeqCst);
        *orgs = None;
    }

    /// Whether the listener runs (else nothing is cached).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    pub(crate) fn org_generation(&self) -> u64 {
        self.org_generation.load(Ordering::SeqCst)
    }

    /// Every organization, if cached and fresh.
    pub(crate) fn orgs(&self) -> Option<std::sync::Arc<Vec<Organization>>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let orgs = self.orgs.lock().expect("org cache lock");
        orgs.as_ref().filter(|(_, stored)| stored.elapsed() <= MAX_AGE).map(|(all, _)| all.clone())
    }

    /// Stores every organization, read while the organization generation was `seen`.
    pub(crate) fn put_orgs(&self, seen: u64, all: std::sync::Arc<Vec<Organization>>) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut orgs = self.orgs.lock().expect("org cache lock");
        // Checked under the lock `clear_orgs` also takes, as in `put`.
        if self.org_generation.load(Ordering::SeqCst) == seen {
            *orgs = Some((all, Instant::now()));
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, key_id: &str) -> Option<(Vec<u8>, DateTime<Utc>, User, Subject)> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.entries.lock().expect("auth cache lock");
        let c = entries.get(key_id)?;
        if c.stored.elapsed() > MAX_AGE {
            return None;
        }
        Some((c.hashed_secret.clone(), c.expires_at, c.user.clone(), c.subject.clone()))
    }

    /// Stores a result read from the database while the generation was `seen`.
    pub(crate) fn put(&self, key_id: &str, seen: u64, hashed_secret: Vec<u8>, expires_at: DateTime<Utc>, user: User, subject: Subject) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut entries = self.entries.lock().expect("auth cache lock");
        // Checked under the lock `clear` also takes: an invalidation either came before (and
        // we skip) or comes after (and removes this entry).
        if self.generation.load(Ordering::SeqCst) != seen {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key_id.to_string(), Cached { hashed_secret, expires_at, user, subject, stored: Instant::now() });
    }

    /// Listens for change notifications and enables the cache while listening works.
    pub(crate) async fn run(cache: std::sync::Arc<AuthCache>, pool: PgPool) {
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "session cache listener cannot connect; caching off");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen_all([CHANNEL, ORG_CHANNEL, MEMBER_CHANNEL]).await {
                tracing::warn!(error = %e, "session cache cannot LISTEN; caching off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            cache.clear();
            cache.enabled.store(true, Ordering::SeqCst);
            // Changes made while nobody listened are unknown.
            let _ = cache.changes.send(AuthChange::Everyone);
            loop {
                // The cache is emptied before anyone hears of the change, so whoever re-checks
                // on hearing it reads the database.
                match listener.try_recv().await {
                    Ok(Some(n)) if n.channel() == ORG_CHANNEL => cache.clear_orgs(),
                    Ok(Some(n)) if n.channel() == MEMBER_CHANNEL => cache.clear_members(),
                    Ok(Some(n)) => {
                        cache.clear();
                        let change = match uuid::Uuid::parse_str(n.payload()) {
                            Ok(u) => AuthChange::User(u),
                            Err(_) => AuthChange::Everyone,
                        };
                        let _ = cache.changes.send(change);
                    }
                    // Reconnected: notifications may have been missed.
                    Ok(None) => {
                        cache.clear();
                        let _ = cache.changes.send(AuthChange::Everyone);
                    }
                    Err(e) => {
                        cache.enabled.store(false, Ordering::SeqCst);
                        cache.clear();
                        let _ = cache.changes.send(AuthChange::Everyone);
                        if pool.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "session cache listener failed; caching off until it is back");
                        break;
                    }
                }
            }
        }
    }
}
