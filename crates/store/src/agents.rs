//! Workspace agents and the replicas they connect to (migration 0030).
//!
//! - **Agent tokens** are minted per build ([`System::mint_agent_token`]), stored as SHA-256
//!   hashes, and authenticate only the agent routes of their workspace
//!   ([`System::authenticate_agent`]); user authentication never looks at them. Requesting a
//!   stop or delete build revokes every token of the workspace in the same transaction
//!   (`workspaces::Actor::create_build`).
//! - **Replicas** register with a relay address and heartbeat; a replica whose heartbeat is
//!   older than [`REPLICA_DEAD_AFTER`] is dead.
//! - **Connections**: the replica holding an agent's WebSocket records it
//!   ([`System::agent_connected`]); [`System::agent_route`] tells another replica where to relay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use uuid::Uuid;

use crate::workspaces::Workspace;
use crate::{Actor, Result, System};

/// A replica whose last heartbeat is older than this is considered gone.
pub const REPLICA_DEAD_AFTER: Duration = Duration::from_secs(15);

/// Prefix of agent tokens, so a leaked one is recognisable (and never mistaken for an API key).
pub const AGENT_TOKEN_PREFIX: &str = "agentry-agent-";

/// What an agent token proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentAuth {
    pub token_id: Uuid,
    pub workspace_id: Uuid,
}

/// A live replica another one can relay through.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AgentRoute {
    pub replica_id: Uuid,
    pub relay_address: String,
}

/// A workspace agent's connection state, for status displays.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AgentState {
    pub workspace_id: Uuid,
    /// A connection is open on a live replica.
    pub connected: bool,
    pub version: String,
    pub replica_id: Option<Uuid>,
    pub relay_address: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn dead_after_secs() -> f64 {
    REPLICA_DEAD_AFTER.as_secs_f64()
}

impl System<'_> {
    /// A new agent token for `workspace_id` (and the build that runs it, if any). The token is
    /// returned once; only its hash is kept.
    pub async fn mint_agent_token(&self, workspace_id: Uuid, build_id: Option<Uuid>) -> Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{AGENT_TOKEN_PREFIX}{}", hex::encode(secret));
        sqlx::query(
            "INSERT INTO workspace_agent_tokens (id, workspace_id, build_id, hashed_secret) VALUES ($1, $2, $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(workspace_id)
        .bind(build_id)
        .bind(hash(&token))
        .execute(self.pool)
        .await?;
        Ok(token)
    }

    /// The workspace an agent token belongs to, if the token is live and the workspace not
    /// deleted.
    pub async fn authenticate_agent(&self, token: &str) -> Result<Option<AgentAuth>> {
        if !token.starts_with(AGENT_TOKEN_PREFIX) {
            return Ok(None);
        }
        let row: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT t.id, t.workspace_id FROM workspace_agent_tokens t JOIN workspaces w ON w.id = t.workspace_id
             WHERE t.hashed_secret = $1 AND t.revoked_at IS NULL AND NOT w.deleted",
        )
        .bind(hash(token))
        .fetch_optional(self.pool)
        .await?;
        Ok(row.map(|(token_id, workspace_id)| AgentAuth { token_id, workspace_id }))
    }

    /// Whether the token behind an open connection is still live.
    pub async fn agent_token_live(&self, token_id: Uuid) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM workspace_agent_tokens t JOIN workspaces w ON w.id = t.workspace_id
                            WHERE t.id = $1 AND t.revoked_at IS NULL AND NOT w.deleted)",
        )
        .bind(token_id)
        .fetch_one(self.pool)
        .await?)
    }

    /// Registers this server process as a replica (or refreshes its row).
    pub async fn register_replica(&self, id: Uuid, relay_address: &str, hostname: &str, version: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (id, relay_address, hostname, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET relay_address = $2, last_heartbeat_at = now()",
        )
        .bind(id)
        .bind(relay_address)
        .bind(hostname)
        .bind(version)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    pub async fn heartbeat_replica(&self, id: Uuid) -> Result<()> {
        sqlx::query("UPDATE replicas SET last_heartbeat_at = now() WHERE id = $1").bind(id).execute(self.pool).await?;
        Ok(())
    }

    /// A clean shutdown: the replica and the connections it held are gone.
    pub async fn remove_replica(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE workspace_agents SET connection_id = NULL, disconnected_at = now() WHERE replica_id = $1 AND connection_id IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(id).execute(&mut *tx).await?;
        // Rows of replicas dead for a day are only clutter.
        sqlx::query("DELETE FROM replicas WHERE last_heartbeat_at < now() - interval '1 day'").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The secret replicas present to each other on relay calls (migration 0030).
    pub async fn relay_secret(&self) -> Result<String> {
        Ok(sqlx::query_scalar("SELECT value FROM site_config WHERE key = 'replica_relay_secret'")
            .fetch_one(self.pool)
            .await?)
    }

    /// Records that the agent of `workspace_id` is connected to `replica_id` over the
    /// connection `connection_id` (replacing any earlier connection).
    pub async fn agent_connected(&self, workspace_id: Uuid, connection_id: Uuid, replica_id: Uuid, version: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workspace_agents (workspace_id, connection_id, replica_id, version, first_connected_at,
                                           connected_at, disconnected_at, last_seen_at)
             VALUES ($1, $2, $3, $4, now(), now(), NULL, now())
             ON CONFLICT (workspace_id) DO UPDATE SET connection_id = $2, replica_id = $3, version = $4,
                 connected_at = now(), disconnected_at = NULL, last_seen_at = now()",
        )
        .bind(workspace_id)
        .bind(connection_id)
        .bind(replica_id)
        .bind(version)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The connection is alive (a ping was answered).
    pub async fn agent_seen(&self, connection_id: Uuid) -> Result<()> {
        sqlx::query("UPDATE workspace_agents SET last_seen_at = now() WHERE connection_id = $1")
            .bind(connection_id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// The connection closed. A newer connection of the same agent is left alone.
    pub async fn agent_disconnected(&self, connection_id: Uuid) -> Result<()> {
        sqlx::query(
            "UPDATE workspace_agents SET connection_id = NULL, disconnected_at = now(), last_seen_at = now()
             WHERE connection_id = $1",
        )
        .bind(connection_id)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The live replica holding the agent's connection, if any.
    pub async fn agent_route(&self, workspace_id: Uuid) -> Result<Option<AgentRoute>> {
        Ok(sqlx::query_as(
            "SELECT r.id AS replica_id, r.relay_address FROM workspace_agents a JOIN replicas r ON r.id = a.replica_id
             WHERE a.workspace_id = $1 AND a.connection_id IS NOT NULL
               AND r.last_heartbeat_at > now() - make_interval(secs => $2)",
        )
        .bind(workspace_id)
        .bind(dead_after_secs())
        .fetch_optional(self.pool)
        .await?)
    }

    /// The last announced agent version of each workspace that has one.
    pub async fn agent_versions(&self, workspace_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        Ok(sqlx::query_as("SELECT workspace_id, version FROM workspace_agents WHERE workspace_id = ANY($1)")
            .bind(workspace_ids)
            .fetch_all(self.pool)
            .await?)
    }

    /// Whether an agent of the workspace is connected to a live replica.
    pub async fn agent_is_connected(&self, workspace_id: Uuid) -> Result<bool> {
        Ok(self.agent_route(workspace_id).await?.is_some())
    }
}

impl Actor<'_> {
    /// The agent states of workspaces the actor has read (workspaces that never had an agent
    /// connected have none).
    pub async fn agent_states(&self, workspaces: &[&Workspace]) -> Result<Vec<AgentState>> {
        let ids: Vec<Uuid> = workspaces.iter().map(|w| w.id).collect();
        Ok(sqlx::query_as(
            "SELECT a.workspace_id,
                    (a.connection_id IS NOT NULL AND r.last_heartbeat_at > now() - make_interval(secs => $2)) AS connected,
                    a.version, a.replica_id, r.relay_address, a.connected_at, a.last_seen_at
             FROM workspace_agents a LEFT JOIN replicas r ON r.id = a.replica_id
             WHERE a.workspace_id = ANY($1)",
        )
        .bind(&ids)
        .bind(dead_after_secs())
        .fetch_all(self.pool)
        .await?)
    }
}
