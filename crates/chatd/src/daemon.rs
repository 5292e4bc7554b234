//! The daemon: claims pending chats, runs them, heartbeats, recovers stale chats, and hands
//! its chats back on shutdown.
//!
//! One [`Daemon`] runs per server process with a random worker id. Its control loop claims
//! chats (`FOR UPDATE SKIP LOCKED`, so replicas never take the same chat) every
//! `acquire_interval` and whenever a change hint says a chat may have become pending; refreshes
//! the heartbeat of every chat it runs in one statement every `heartbeat_interval`; and runs
//! stale recovery every `stale_after / 5`. A run learns that it must stop from a stop signal the
//! control loop sends when a status hint, the heartbeat's set difference or a failed lease check
//! says the chat is no longer its own; its writes are fenced anyway (see
//! `agentry_store::chats::worker`), so a late stop costs at most a wasted model call.
//!
//! The control loop also hears every committed auth change (`Store::auth_changes`): when a
//! user's status, roles or memberships change, it re-checks, with a subject rebuilt from the
//! database, every run it holds for a chat that user owns, and stops those whose owner may no
//! longer start AI work there ([`Stop::Revoked`]) — at once, not at the next step.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_llm::Client;
use agentry_provisioner::Provisioning;
use agentry_store::Store;
use agentry_store::auth_cache::AuthChange;
use agentry_store::chats::worker::{Lease, LeaseState};
use agentry_store::parts::Parts;
use agentry_store::pubsub::{ChangeKind, ChatHint, Hub};
use tokio::sync::{Notify, broadcast::error::RecvError, watch};
use uuid::Uuid;

use crate::run;
use crate::state::{RunControl, Shared, Stop};
pub use crate::config::DaemonConfig;

/// A running daemon. Dropping it does not stop it; call [`Daemon::shutdown`].
pub struct Daemon {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Daemon {
    /// Starts the control loop. `hub` and `parts` are the process's change and live-event hubs
    /// (the API uses the same ones).
    pub fn start(store: Store, hub: Hub, parts: Parts, provisioning: Provisioning, cfg: DaemonConfig) -> Result<Daemon, agentry_llm::LlmError> {
        Daemon::start_as(Uuid::new_v4(), store, hub, parts, provisioning, cfg)
    }

    /// [`Daemon::start`] claiming chats as `worker_id`: the server passes its replica id, so
    /// `chats.worker_id` names the process in the `replicas` table running each chat.
    pub fn start_as(
        worker_id: Uuid,
        store: Store,
        hub: Hub,
        parts: Parts,
        provisioning: Provisioning,
        cfg: DaemonConfig,
    ) -> Result<Daemon, agentry_llm::LlmError> {
        let llm = Client::new()?.with_idle_timeout(cfg.provider_idle_timeout);
        let shared = Arc::new(Shared {
            store,
            hub,
            parts,
            provisioning,
            llm,
            cfg,
            worker_id,
            runs: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            idle: Notify::new(),
            closing: watch::channel(false).0,
        });
        let task = tokio::spawn(control_loop(shared.clone()));
        tracing::info!(worker_id = %shared.worker_id, "chat daemon started");
        Ok(Daemon { shared, task: Mutex::new(Some(task)) })
    }

    pub fn worker_id(&self) -> Uuid {
        self.shared.worker_id
    }

    /// Chats this process is running right now.
    pub fn running(&self) -> usize {
        self.shared.runs.lock().expect("runs lock").len()
    }

    /// Stops claiming, tells every run to hand its chat back (`pending`) and waits for them.
    pub async fn shutdown(&self) {
        self.shared.closing.send_replace(true);
        let task = self.task.lock().expect("task lock").take();
        if let Some(t) = task {
            let _ = t.await;
        }
        let ids: Vec<Uuid> = self.shared.runs.lock().expect("runs lock").keys().copied().collect();
        for id in ids {
            self.shared.stop(id, Stop::Shutdown);
        }
        loop {
            let idle = self.shared.idle.notified();
            if self.shared.runs.lock().expect("runs lock").is_empty() {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), idle).await;
        }
        tracing::info!(worker_id = %self.shared.worker_id, "chat daemon stopped");
    }
}

async fn control_loop(shared: Arc<Shared>) {
    let cfg = shared.cfg.clone();
    let mut hints = shared.hub.subscribe();
    let mut auth_changes = shared.store.auth_changes();
    let mut closing = shared.closing.subscribe();
    let mut acquire = tokio::time::interval(cfg.acquire_interval);
    let mut heartbeat = tokio::time::interval(cfg.heartbeat_interval);
    heartbeat.reset();
    let mut stale = tokio::time::interval((cfg.stale_after / 5).max(Duration::from_millis(100)));
    for t in [&mut acquire, &mut heartbeat, &mut stale] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = closing.changed() => return,
            // The database work is boxed: debug builds keep whole futures on the stack of
            // whatever thread polls this loop.
            _ = acquire.tick() => Box::pin(acquire_chats(&shared)).await,
            _ = shared.wake.notified() => Box::pin(acquire_chats(&shared)).await,
            _ = heartbeat.tick() => Box::pin(beat(&shared)).await,
            _ = stale.tick() => Box::pin(recover(&shared)).await,
            change = auth_changes.recv() => match change {
                Ok(c) => check_access(&shared, Some(c)),
                Err(RecvError::Lagged(_)) => check_access(&shared, None),
                Err(RecvError::Closed) => return,
            },
            hint = hints.recv() => match hint {
                Ok(ChatHint::Changed(c)) => {
                    if matches!(c.kind, ChangeKind::Created | ChangeKind::StatusChange | ChangeKind::Unarchived) {
                        shared.wake.notify_one();
                    }
                    if matches!(c.kind, ChangeKind::StatusChange | ChangeKind::Archived) {
                        check_leases(&shared, Some(c.chat_id));
                    }
                }
                Ok(ChatHint::Resync) | Err(RecvError::Lagged(_)) => {
                    shared.wake.notify_one();
                    check_leases(&shared, None);
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn acquire_chats(shared: &Arc<Shared>) {
    if *shared.closing.borrow() {
        return;
    }
    loop {
        let claimed = match shared.store.worker().claim_pending(shared.worker_id, shared.cfg.max_per_acquire).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming pending chats failed");
                return;
            }
        };
        let n = claimed.len() as i64;
        for c in claimed {
            // Pending → claimed: a chat is set pending with `updated_at = now()` and the claim
            // stamps `started_at`.
            let waited = (c.lease.started_at - c.chat.updated_at).to_std().unwrap_or_default();
            metrics::histogram!("agentry_chat_claim_seconds").record(waited.as_secs_f64());
            let (stop, stop_rx) = watch::channel(Stop::Go);
            let watermark = Arc::new(AtomicI64::new(0));
            shared.runs.lock().expect("runs lock").insert(
                c.chat.id,
                RunControl { lease: c.lease.clone(), chat: c.chat.clone(), stop, watermark: watermark.clone() },
            );
            tokio::spawn(run::run_chat(shared.clone(), c, stop_rx, watermark));
        }
        if n < shared.cfg.max_per_acquire {
            return;
        }
    }
}

/// Re-checks the lease of one running chat (or all), stopping runs that lost theirs.
fn check_leases(shared: &Arc<Shared>, only: Option<Uuid>) {
    let leases: Vec<(Lease, i64)> = {
        let runs = shared.runs.lock().expect("runs lock");
        runs.values()
            .filter(|r| only.is_none_or(|id| id == r.lease.chat_id))
            .map(|r| (r.lease.clone(), r.watermark.load(std::sync::atomic::Ordering::Acquire)))
            .collect()
    };
    for (lease, watermark) in leases {
        let shared = shared.clone();
        tokio::spawn(async move {
            match shared.store.worker().lease_state(&lease, watermark).await {
                Ok(LeaseState::Held) => {}
                Ok(_) => shared.stop_lease(&lease, Stop::Interrupted),
                Err(e) => tracing::warn!(chat = %lease.chat_id, error = %e, "lease check failed"),
            }
        });
    }
}

/// Re-checks the owner's right to start AI work for the runs an auth change may concern (all
/// runs for `None`), stopping those that lost it.
fn check_access(shared: &Arc<Shared>, change: Option<AuthChange>) {
    let runs: Vec<(Lease, agentry_store::chats::Chat)> = {
        let runs = shared.runs.lock().expect("runs lock");
        runs.values()
            .filter(|r| change.is_none_or(|c| c.concerns(r.chat.owner_id)))
            .map(|r| (r.lease.clone(), r.chat.clone()))
            .collect()
    };
    for (lease, chat) in runs {
        let shared = shared.clone();
        tokio::spawn(async move {
            match shared.store.worker().ai_work_subject(&chat).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::info!(chat = %chat.id, owner = %chat.owner_id, "chat owner lost access to AI work; stopping the run");
                    shared.stop_lease(&lease, Stop::Revoked);
                }
                Err(e) => tracing::warn!(chat = %chat.id, error = %e, "access re-check failed"),
            }
        });
    }
}

async fn beat(shared: &Arc<Shared>) {
    let ids: Vec<Uuid> = shared.runs.lock().expect("runs lock").keys().copied().collect();
    if ids.is_empty() {
        return;
    }
    match shared.store.worker().heartbeat(shared.worker_id, &ids).await {
        Ok(held) => {
            let held: HashSet<Uuid> = held.into_iter().collect();
            for id in ids.into_iter().filter(|id| !held.contains(id)) {
                // Not running under us any more (or finishing right now): confirm, then stop.
                check_leases(shared, Some(id));
            }
        }
        Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
    }
}

async fn recover(shared: &Arc<Shared>) {
    match shared.store.worker().recover_stale(shared.cfg.stale_after, shared.cfg.action_deadline).await {
        Ok(r) => {
            if !r.requeued.is_empty() || !r.promoted.is_empty() {
                tracing::info!(requeued = r.requeued.len(), promoted = r.promoted.len(), "recovered stale chats");
                shared.wake.notify_one();
            }
            if !r.timed_out.is_empty() {
                tracing::info!(count = r.timed_out.len(), "client tool calls timed out");
            }
        }
        Err(e) => tracing::warn!(error = %e, "stale recovery failed"),
    }
}
