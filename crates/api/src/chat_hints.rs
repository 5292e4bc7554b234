//! Change hints routed to the streams of the chat they concern.
//!
//! The change hub (`agentry_store::pubsub::Hub`) broadcasts every committed chat change to every
//! subscriber. A chat stream only cares about its own chat, but as a hub subscriber it was woken
//! for every change of every chat: with 500 chats streaming, each turn's end (its message, its
//! status, its title) woke all 500 stream tasks, and as turns end together those wake-ups
//! (hundreds of thousands in a second) delayed the tokens of the turns still streaming — the
//! tail of the per-token latency in `docs/benchmarks/chatd.md` (issue 18).
//!
//! One task per process now holds the hub subscription and wakes only the streams of the
//! changed chat. A stream needs no more than "re-read your chat", so a wake-up is a
//! [`Notify`] permit: several changes before the stream runs fold into one re-read, and none is
//! lost. Hints that may have been missed (the hub's `Resync`, or this task falling behind)
//! wake every stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use agentry_store::pubsub::ChatHint;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

#[derive(Default)]
struct Inner {
    chats: Mutex<HashMap<Uuid, Vec<Arc<Notify>>>>,
    /// Wake every stream for every change, as before issue 18 (the benchmark toggle
    /// `AGENTRY_BENCH_BEFORE=stream-wake`, see `agentry_store::bench_before`).
    wake_all: bool,
    /// The hub has stopped: no hint will come any more.
    closed: AtomicBool,
}

impl Inner {
    fn wake_all(&self) {
        for list in self.chats.lock().expect("chat hints lock").values() {
            for n in list {
                n.notify_one();
            }
        }
    }
}

/// The per-process router (see the module docs). Cheap to clone.
#[derive(Clone)]
pub(crate) struct ChatHints {
    inner: Arc<Inner>,
}

impl ChatHints {
    /// Starts routing the hints of `hints` (a hub subscription taken now).
    pub(crate) fn start(mut hints: tokio::sync::broadcast::Receiver<ChatHint>) -> ChatHints {
        let inner = Arc::new(Inner { wake_all: agentry_store::bench_before("stream-wake"), ..Default::default() });
        let router = inner.clone();
        tokio::spawn(async move {
            loop {
                match hints.recv().await {
                    Ok(ChatHint::Changed(_)) if router.wake_all => router.wake_all(),
                    Ok(ChatHint::Changed(c)) => {
                        if let Some(list) = router.chats.lock().expect("chat hints lock").get(&c.chat_id) {
                            for n in list {
                                n.notify_one();
                            }
                        }
                    }
                    Ok(ChatHint::Resync) | Err(RecvError::Lagged(_)) => router.wake_all(),
                    Err(RecvError::Closed) => {
                        router.closed.store(true, Ordering::SeqCst);
                        router.wake_all();
                        return;
                    }
                }
            }
        });
        ChatHints { inner }
    }

    /// Wake-ups for changes of `chat` committed from now on (and possibly a few from just
    /// before, which only cost a re-read).
    pub(crate) fn watch(&self, chat: Uuid) -> ChatWatch {
        let notify = Arc::new(Notify::new());
        self.inner.chats.lock().expect("chat hints lock").entry(chat).or_default().push(notify.clone());
        ChatWatch { chat, notify, inner: self.inner.clone() }
    }
}

/// One stream's wake-ups for its chat; unregisters itself when dropped.
pub(crate) struct ChatWatch {
    chat: Uuid,
    notify: Arc<Notify>,
    inner: Arc<Inner>,
}

impl ChatWatch {
    /// Waits until the chat may have changed; `false` once no more hints will come.
    pub(crate) async fn changed(&self) -> bool {
        self.notify.notified().await;
        !self.inner.closed.load(Ordering::SeqCst)
    }
}

impl Drop for ChatWatch {
    fn drop(&mut self) {
        let mut chats = self.inner.chats.lock().expect("chat hints lock");
        if let Some(list) = chats.get_mut(&self.chat) {
            list.retain(|n| !Arc::ptr_eq(n, &self.notify));
            if list.is_empty() {
                chats.remove(&self.chat);
            }
        }
        // Give the map's capacity back after a burst of streams (issue 18's memory test).
        if chats.capacity() > 64 && chats.len() < chats.capacity() / 4 {
            chats.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_store::pubsub::{ChangeKind, ChatChange};

    fn change(chat: Uuid) -> ChatHint {
        ChatHint::Changed(ChatChange { chat_id: chat, owner_id: Uuid::nil(), kind: ChangeKind::Updated })
    }

    /// A stream is woken by its own chat's changes and by a resync, not by other chats'.
    #[tokio::test]
    async fn a_watch_wakes_for_its_own_chat_only() {
        let (tx, rx) = tokio::sync::broadcast::channel(16);
        let hints = ChatHints::start(rx);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = hints.watch(a);
        tx.send(change(b)).unwrap();
        tx.send(change(a)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed()).await.expect("woken by its chat");
        // The change of `b` was routed before `a`'s, so a permit it left would be there now.
        assert!(futures::FutureExt::now_or_never(watch.changed()).is_none(), "woken by another chat's change");
        tx.send(ChatHint::Resync).unwrap();
        assert!(tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed()).await.unwrap());
        drop(watch);
        assert!(hints.inner.chats.lock().unwrap().is_empty(), "a dropped watch stays registered");
        let watch = hints.watch(a);
        drop(tx);
        assert!(!tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed()).await.unwrap(), "closed hub");
    }
}
