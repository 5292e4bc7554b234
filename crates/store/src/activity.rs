//! When each user was last active (`users.last_seen_at`), recorded at most once a minute.
//!
//! Every authenticated request reports its user here. Writing on every request would turn each
//! read into a row update; instead each process remembers when it last wrote for a user and
//! skips that user for [`INTERVAL`], and the `UPDATE` itself only moves a timestamp older than
//! that, so several replicas serving one user still write about once a minute between them.
//! The one request per minute that is due waits for its single-row update, so once a request
//! has been answered its activity is stored (no background task to race). A failed write is
//! only logged: activity is informational, never a reason to refuse a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;


/// The finest grain `last_seen_at` is kept at.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Users remembered at most; past that the memory starts over (costing one early write each).
const MAX_ENTRIES: usize = 100_000;

/// Per-process memory of the last write for each user.
#[derive(Default)]
pub struct Seen {
    last_write: Mutex<HashMap<Uuid, Instant>>,
}

impl Seen {
    /// True when `user` is due a write now (and notes that it happens).
    fn due(&self, user: Uuid, now: Instant) -> bool {
        let mut map = self.last_write.lock().expect("activity lock");
        if map.get(&user).is_some_and(|t| now.duration_since(*t) < INTERVAL) {
            return false;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(user, now);
        true
    }
}

impl crate::AuthTasks<'_> {
    /// Notes that `user` just made an authenticated request: stores the time when a write is
    /// due (see the module docs), otherwise returns at once.
    pub async fn record_activity(&self, user: Uuid) {
        if !self.seen.due(user, Instant::now()) {
            return;
        }
        let r = sqlx::query(
            "UPDATE users SET last_seen_at = now()
             WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute')",
        )
        .bind(user)
        .execute(self.pool)
        .await;
        if let Err(e) = r {
            tracing::warn!(%user, error = %e, "recording activity failed");
        }
    }
}

impl crate::System<'_> {
    /// This deployment's id, generated when its database was created.
    pub async fn deployment_id(&self) -> crate::Result<String> {
        Ok(sqlx::query_scalar("SELECT value FROM site_config WHERE key = 'deployment_id'")
            .fetch_one(self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_due_once_a_minute() {
        let seen = Seen::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t0 = Instant::now();
        assert!(seen.due(a, t0));
        assert!(!seen.due(a, t0 + Duration::from_secs(59)));
        assert!(seen.due(b, t0 + Duration::from_secs(1)), "users are counted apart");
        assert!(seen.due(a, t0 + Duration::from_secs(60)));
        assert!(!seen.due(a, t0 + Duration::from_secs(61)));
    }
}
