//! Change notifications across server processes.
//!
//! Every write that changes a chat sends a small hint with `pg_notify` *inside its
//! transaction*, so PostgreSQL delivers it only if and after the transaction commits. Each
//! server process runs one [`Hub`], which LISTENs and fans hints out to local subscribers (chat
//! streams, watch sockets, the chat daemon). Hints carry ids, never content: receivers re-read
//! the database, which stays the only source of truth. When the listening connection drops,
//! hints may have been missed, so the hub sends [`ChatHint::Resync`] and subscribers re-read
//! everything they show.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{Result, Store};

const CHANNEL: &str = "agentry_chats";

/// What changed, for watchers that only want some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    StatusChange,
    TitleChange,
    Message,
    Queue,
    Archived,
    Unarchived,
    ActionRequired,
    Updated,
}

/// One committed change to a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatChange {
    pub chat_id: Uuid,
    pub owner_id: Uuid,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatHint {
    Changed(ChatChange),
    /// Notifications may have been lost; re-read everything.
    Resync,
}

/// Queues a hint in the current transaction; it is delivered on commit.
pub(crate) async fn notify(conn: &mut PgConnection, change: ChatChange) -> Result<()> {
    let payload = serde_json::to_string(&change).expect("hint serializes");
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(conn).await?;
    Ok(())
}

/// Fans hints out to this process's subscribers.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<ChatHint>,
}

impl Hub {
    /// Starts listening. The task ends when the store's pool closes.
    pub async fn start(store: &Store) -> Result<Hub> {
        let mut listener = PgListener::connect_with(&store.pool).await?;
        listener.listen(CHANNEL).await?;
        let (tx, _) = broadcast::channel(4096);
        let hub = Hub { tx: tx.clone() };
        let pool = store.pool.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => match serde_json::from_str::<ChatChange>(n.payload()) {
                        Ok(change) => {
                            let _ = tx.send(ChatHint::Changed(change));
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring malformed chat hint"),
                    },
                    // The connection dropped (`Ok(None)`), or failed in a way the listener
                    // does not recover from itself (a server that terminates its backends
                    // answers with an error first): listen on a new connection, and only
                    // then tell everyone to re-read, so nothing committed before the new
                    // LISTEN is missed.
                    lost => {
                        if let Err(e) = lost {
                            tracing::warn!(error = %e, "chat hint listener failed; listening again");
                        }
                        let _ = tx.send(ChatHint::Resync);
                        listener = loop {
                            if pool.is_closed() {
                                return;
                            }
                            match PgListener::connect_with(&pool).await {
                                Ok(mut l) => match l.listen(CHANNEL).await {
                                    Ok(()) => break l,
                                    Err(e) => tracing::warn!(error = %e, "chat hint listener cannot LISTEN; retrying"),
                                },
                                Err(e) => tracing::debug!(error = %e, "chat hint listener cannot connect; retrying"),
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        };
                        let _ = tx.send(ChatHint::Resync);
                    }
                }
            }
        });
        Ok(hub)
    }

    /// A receiver of every hint from now on. Subscribe *before* reading the state you will
    /// update from hints, so nothing committed in between is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<ChatHint> {
        self.tx.subscribe()
    }
}
