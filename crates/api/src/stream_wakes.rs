//! Wake-ups for chat streams: their chat's change hints and their user's auth changes, routed
//! to just the streams they concern.
//!
//! The change hub (`agentry_store::pubsub::Hub`) broadcasts every committed chat change, and
//! the store every auth change, to every subscriber. A chat stream only cares about its own
//! chat and its own user. As a subscriber of both it was woken for every change of every chat
//! (with 500 chats streaming, each turn's end woke all 500 stream tasks: the tail of the
//! per-token latency in `docs/benchmarks/chatd.md`), and polling a broadcast receiver takes the
//! channel's one shared lock, which every stream did twice per token it sent (issue 18).
//!
//! One task per process now holds both subscriptions and wakes only the streams concerned. A
//! stream's wake-up is a set of reasons ([`Woken`]) and a [`Notify`] permit: several changes
//! before the stream runs fold into one wake-up, and none is lost. Hints or auth changes that
//! may have been missed (the hub's `Resync`, the store's `Everyone`, or this task falling
//! behind) wake every stream for that reason. When either source closes, every stream is told
//! (`closed`) and ends: the process no longer hears of changes, and a stream holding access
//! must not outlive its revocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use agentry_store::auth_cache::AuthChange;
use agentry_store::pubsub::ChatHint;
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

const CHAT: u8 = 1;
const AUTH: u8 = 2;
const CLOSED: u8 = 4;

/// Why a stream was woken (one or more reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Woken(u8);

impl Woken {
    /// Its chat may have changed. (A stream re-reads its chat on every wake-up, so only the
    /// tests ask.)
    #[cfg(test)]
    pub(crate) fn chat(self) -> bool {
        self.0 & CHAT != 0
    }
    /// Its user's access may have changed: re-check the token.
    pub(crate) fn auth(self) -> bool {
        self.0 & AUTH != 0
    }
    /// No more wake-ups will come: end the stream.
    pub(crate) fn closed(self) -> bool {
        self.0 & CLOSED != 0
    }
}

/// One stream's pending reasons and its wake-up.
#[derive(Default)]
struct Slot {
    reasons: AtomicU8,
    ready: Notify,
}

impl Slot {
    fn wake(&self, reason: u8) {
        self.reasons.fetch_or(reason, Ordering::SeqCst);
        self.ready.notify_one();
    }
}

/// Streams by a key (their chat, their user).
type Slots = Mutex<HashMap<Uuid, Vec<Arc<Slot>>>>;

#[derive(Default)]
struct Inner {
    /// Every stream, under its chat and under its user.
    chats: Slots,
    users: Slots,
    /// Wake every stream for every chat change, as before issue 18 (the benchmark toggle
    /// `AGENTRY_BENCH_BEFORE=stream-wake`, see `agentry_store::bench_before`).
    wake_all: bool,
    /// A source has closed: no wake-up will come any more.
    closed: AtomicBool,
}

impl Inner {
    fn wake_all(&self, reason: u8) {
        // Every stream is under its chat, so the chats reach them all.
        for list in self.chats.lock().expect("stream wakes lock").values() {
            for slot in list {
                slot.wake(reason);
            }
        }
    }

    fn wake(&self, map: &Slots, key: &Uuid, reason: u8) {
        if let Some(list) = map.lock().expect("stream wakes lock").get(key) {
            for slot in list {
                slot.wake(reason);
            }
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_all(CLOSED);
    }

    fn on_hint(&self, hint: Result<ChatHint, RecvError>) -> bool {
        match hint {
            Ok(ChatHint::Changed(_)) if self.wake_all => self.wake_all(CHAT),
            Ok(ChatHint::Changed(c)) => self.wake(&self.chats, &c.chat_id, CHAT),
            Ok(ChatHint::Resync) | Err(RecvError::Lagged(_)) => self.wake_all(CHAT),
            Err(RecvError::Closed) => return false,
        }
        true
    }

    fn on_auth(&self, change: Result<AuthChange, RecvError>) -> bool {
        match change {
            Ok(AuthChange::User(user)) => self.wake(&self.users, &user, AUTH),
            Ok(AuthChange::Everyone) | Err(RecvError::Lagged(_)) => self.wake_all(AUTH),
            Err(RecvError::Closed) => return false,
        }
        true
    }
}

/// The per-process router (see the module docs). Cheap to clone.
#[derive(Clone)]
pub(crate) struct StreamWakes {
    inner: Arc<Inner>,
}

impl StreamWakes {
    /// Starts routing `hints` and `auth_changes` (subscriptions taken now).
    pub(crate) fn start(mut hints: broadcast::Receiver<ChatHint>, mut auth_changes: broadcast::Receiver<AuthChange>) -> StreamWakes {
        let inner = Arc::new(Inner { wake_all: agentry_store::bench_before("stream-wake"), ..Default::default() });
        let router = inner.clone();
        tokio::spawn(async move {
            loop {
                // Auth changes first: a revocation must not wait behind a burst of hints.
                let open = tokio::select! {
                    biased;
                    change = auth_changes.recv() => router.on_auth(change),
                    hint = hints.recv() => router.on_hint(hint),
                };
                if !open {
                    router.close();
                    return;
                }
            }
        });
        StreamWakes { inner }
    }

    /// Wake-ups for changes of `chat` and auth changes of `user` from now on (and possibly a
    /// few from just before, which only cost a re-read).
    pub(crate) fn watch(&self, chat: Uuid, user: Uuid) -> StreamWatch {
        let slot = Arc::new(Slot::default());
        register(&self.inner.chats, chat, &slot);
        register(&self.inner.users, user, &slot);
        // Registered before this check: a close after it wakes the slot, one before is seen here.
        if self.inner.closed.load(Ordering::SeqCst) {
            slot.wake(CLOSED);
        }
        StreamWatch {
            chat,
            user,
            slot,
            inner: self.inner.clone(),
        }
    }
}

/// One stream's wake-ups; unregisters itself when dropped.
pub(crate) struct StreamWatch {
    chat: Uuid,
    user: Uuid,
    slot: Arc<Slot>,
    inner: Arc<Inner>,
}

impl StreamWatch {
    /// Waits for the next wake-up and says why. Cancel-safe: the reasons are taken only when
    /// returned.
    pub(crate) async fn changed(&self) -> Woken {
        loop {
            let reasons = self.slot.reasons.swap(0, Ordering::SeqCst);
            if reasons != 0 {
                return Woken(reasons);
            }
            // A wake between the swap and here leaves a permit, so this returns at once.
            self.slot.ready.notified().await;
        }
    }
}

fn register(map: &Slots, key: Uuid, slot: &Arc<Slot>) {
    map.lock().expect("stream wakes lock").entry(key).or_default().push(slot.clone());
}

fn unregister(map: &Slots, key: &Uuid, slot: &Arc<Slot>) {
    let mut map = map.lock().expect("stream wakes lock");
    if let Some(list) = map.get_mut(key) {
        list.retain(|s| !Arc::ptr_eq(s, slot));
        if list.is_empty() {
            map.remove(key);
        }
    }
    // Give the map's capacity back after a burst of streams (issue 18's memory test).
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        unregister(&self.inner.chats, &self.chat, &self.slot);
        unregister(&self.inner.users, &self.user, &self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_store::pubsub::{ChangeKind, ChatChange};
    use futures::FutureExt;
    use std::time::Duration;

    fn change(chat: Uuid) -> ChatHint {
        ChatHint::Changed(ChatChange { chat_id: chat, owner_id: Uuid::nil(), kind: ChangeKind::Updated })
    }

    /// A router and the senders of its two sources.
    fn router() -> (broadcast::Sender<ChatHint>, broadcast::Sender<AuthChange>, StreamWakes) {
        let (hints, hints_rx) = broadcast::channel(16);
        let (auth, auth_rx) = broadcast::channel(16);
        (hints, auth, StreamWakes::start(hints_rx, auth_rx))
    }

    async fn next(watch: &StreamWatch) -> Woken {
        tokio::time::timeout(Duration::from_secs(10), watch.changed()).await.expect("woken")
    }

    /// A stream is woken by its own chat's changes and by a resync, not by other chats'.
    #[tokio::test]
    async fn a_watch_wakes_for_its_own_chat_only() {
        let (hints, _auth, wakes) = router();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = wakes.watch(a, Uuid::new_v4());
        hints.send(change(b)).unwrap();
        hints.send(change(a)).unwrap();
        let woken = next(&watch).await;
        assert!(woken.chat() && !woken.auth() && !woken.closed(), "{woken:?}");
        // The change of `b` was routed before `a`'s, so a wake-up it left would be there now.
        assert!(watch.changed().now_or_never().is_none(), "woken by another chat's change");
        hints.send(ChatHint::Resync).unwrap();
        assert!(next(&watch).await.chat());
        drop(watch);
        let registered = |m: &Slots| !m.lock().unwrap().is_empty();
        assert!(!registered(&wakes.inner.chats) && !registered(&wakes.inner.users), "a dropped watch stays registered");
        let watch = wakes.watch(a, Uuid::new_v4());
        drop(hints);
        assert!(next(&watch).await.closed(), "closed hub");
        // A watch taken after the close ends at once too.
        assert!(next(&wakes.watch(b, Uuid::new_v4())).await.closed());
    }

    /// A stream is woken by its own user's auth changes and by `Everyone`, not by other users';
    /// and a closed auth source ends it (it would no longer hear of a revocation).
    #[tokio::test]
    async fn a_watch_wakes_for_its_own_users_auth_changes_only() {
        let (_hints, auth, wakes) = router();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = wakes.watch(Uuid::new_v4(), alice);
        auth.send(AuthChange::User(bob)).unwrap();
        auth.send(AuthChange::User(alice)).unwrap();
        let woken = next(&watch).await;
        assert!(woken.auth() && !woken.chat() && !woken.closed(), "{woken:?}");
        assert!(watch.changed().now_or_never().is_none(), "woken by another user's change");
        auth.send(AuthChange::Everyone).unwrap();
        assert!(next(&watch).await.auth());
        drop(auth);
        assert!(next(&watch).await.closed(), "closed auth source");
    }

    /// Reasons that arrive before the stream runs fold into one wake-up that names them all.
    #[tokio::test]
    async fn reasons_fold_into_one_wake_up() {
        let (hints, auth, wakes) = router();
        let (chat, user) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = wakes.watch(chat, user);
        hints.send(change(chat)).unwrap();
        hints.send(change(chat)).unwrap();
        auth.send(AuthChange::User(user)).unwrap();
        // Wait until the router has handled all three.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while watch.slot.reasons.load(Ordering::SeqCst) != CHAT | AUTH {
            assert!(std::time::Instant::now() < deadline, "not routed");
            tokio::task::yield_now().await;
        }
        let woken = next(&watch).await;
        assert!(woken.chat() && woken.auth());
        assert!(watch.changed().now_or_never().is_none(), "three changes gave more than one wake-up");
    }
}
