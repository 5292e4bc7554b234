//! What the control loop (`daemon`) and the runs (`run`) share: the process's handles, the
//! table of runs, and the stop signal. Both depend on this module and neither on the other's
//! internals, so `daemon` → `run` is the only edge between them.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use agentry_llm::Client;
use agentry_provisioner::Provisioning;
use agentry_store::Store;
use agentry_store::chats::worker::Lease;
use agentry_store::parts::Parts;
use agentry_store::pubsub::Hub;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::config::DaemonConfig;

/// Why a run must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Go,
    /// The chat is no longer this run's: save what may be saved and end.
    Interrupted,
    /// The server is shutting down: hand the chat back.
    Shutdown,
    /// The owner may no longer start AI work in the chat's organization: save what may be
    /// saved and end in `error`.
    Revoked,
}

pub(crate) struct RunControl {
    pub lease: Lease,
    /// The chat as claimed (its owner and organization decide who may keep it running).
    pub chat: agentry_store::chats::Chat,
    /// Dropping it (a newer claim of the same chat replaced this entry) also stops the run,
    /// as [`Stop::Interrupted`].
    pub stop: watch::Sender<Stop>,
    pub watermark: Arc<AtomicI64>,
}

impl RunControl {
    /// Asks the run to stop for `why`; the first reason given wins.
    pub(crate) fn signal(&self, why: Stop) {
        self.stop.send_if_modified(|s| {
            if *s == Stop::Go {
                *s = why;
                true
            } else {
                false
            }
        });
    }
}

pub(crate) struct Shared {
    pub store: Store,
    pub hub: Hub,
    pub parts: Parts,
    pub provisioning: Provisioning,
    pub llm: Client,
    pub cfg: DaemonConfig,
    pub worker_id: Uuid,
    pub runs: Mutex<HashMap<Uuid, RunControl>>,
    pub wake: Arc<Notify>,
    pub idle: Notify,
    pub closing: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn stop(&self, chat_id: Uuid, why: Stop) {
        if let Some(r) = self.runs.lock().expect("runs lock").get(&chat_id) {
            r.signal(why);
        }
    }

    /// Stops the run holding `lease`, and only that one: a lease check that finds an old lease
    /// lost must not stop a newer run of the same chat claimed in the meantime.
    pub(crate) fn stop_lease(&self, lease: &Lease, why: Stop) {
        if let Some(r) = self.runs.lock().expect("runs lock").get(&lease.chat_id)
            && r.lease == *lease
        {
            r.signal(why);
        }
    }

    /// A run ended. A newer run of the same chat (claimed while this one was finishing) keeps
    /// its entry.
    pub(crate) fn finished(&self, lease: &Lease) {
        let mut runs = self.runs.lock().expect("runs lock");
        if runs.get(&lease.chat_id).is_some_and(|r| r.lease == *lease) {
            runs.remove(&lease.chat_id);
        }
        drop(runs);
        self.idle.notify_waiters();
    }
}

