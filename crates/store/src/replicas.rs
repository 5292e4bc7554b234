//! The deployment's operational surface (issue 16): the server processes sharing this database
//! and the counts `/metrics` reports. Site owners and site auditors only
//! ([`ResourceType::Deployment`]); anyone else is refused with `Forbidden` (the route is a
//! site-admin page, and refusing reveals nothing about any object).
//!
//! Each process writes its own socket counts into its `replicas` row with every heartbeat
//! ([`System::heartbeat_replica_stats`]); chats running are counted from `chats.worker_id`,
//! which is the replica's id (the chat daemon claims under the id of its process).

use agentry_rbac::{Action, Object, ResourceType};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::error::StoreError;
use crate::{Actor, Result, System};

/// WebSockets one process holds, as its heartbeat last recorded them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketCounts {
    pub stream: i32,
    pub watch: i32,
    pub agent: i32,
}

/// One server process, as the `replicas` table knows it.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct ReplicaRow {
    pub id: Uuid,
    pub hostname: String,
    pub relay_address: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// The heartbeat is recent (see [`crate::agents::REPLICA_DEAD_AFTER`]).
    pub alive: bool,
    pub chats_running: i64,
    pub stream_sockets: i32,
    pub watch_sockets: i32,
    pub agent_sockets: i32,
}

fn authorize(actor: &Actor<'_>) -> Result<()> {
    actor.subject.authorize(Action::Read, &Object::new(ResourceType::Deployment)).map_err(StoreError::Forbidden)
}

impl Actor<'_> {
    /// Whether the actor may see the deployment's processes and metrics; `Forbidden` if not.
    pub fn may_read_deployment(&self) -> Result<()> {
        authorize(self)
    }

    /// Every registered server process, newest first, with the chats it runs.
    pub async fn replicas(&self) -> Result<Vec<ReplicaRow>> {
        authorize(self)?;
        Ok(sqlx::query_as(
            "SELECT r.id, r.hostname, r.relay_address, r.version, r.started_at, r.last_heartbeat_at,
                    r.last_heartbeat_at > now() - make_interval(secs => $1) AS alive,
                    (SELECT count(*) FROM chats c WHERE c.worker_id = r.id AND c.status = 'running') AS chats_running,
                    r.stream_sockets, r.watch_sockets, r.agent_sockets
             FROM replicas r ORDER BY r.started_at DESC, r.id",
        )
        .bind(crate::agents::REPLICA_DEAD_AFTER.as_secs_f64())
        .fetch_all(self.pool)
        .await?)
    }

    /// How many chats are in each status, deployment-wide (one grouped count; for `/metrics`).
    pub async fn chats_by_status(&self) -> Result<Vec<(String, i64)>> {
        authorize(self)?;
        Ok(sqlx::query_as("SELECT status::text, count(*) FROM chats GROUP BY status ORDER BY status")
            .fetch_all(self.pool)
            .await?)
    }
}

impl System<'_> {
    /// A heartbeat that also records this process's socket counts.
    pub async fn heartbeat_replica_stats(&self, id: Uuid, sockets: SocketCounts) -> Result<()> {
        sqlx::query(
            "UPDATE replicas SET last_heartbeat_at = now(), stream_sockets = $2, watch_sockets = $3, agent_sockets = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(sockets.stream)
        .bind(sockets.watch)
        .bind(sockets.agent)
        .execute(self.pool)
        .await?;
        Ok(())
    }
}
