//! Login throttling: failed password logins counted per account (the email as typed,
//! lowercased, known or not, so the limit itself reveals nothing) and per client IP, over a
//! sliding window. Past a limit, further attempts are refused with `429` and `Retry-After`
//! until the oldest counted failure leaves the window. Successes are never counted and other
//! accounts and addresses are unaffected.
//!
//! An attempt is counted as a failure from the moment it starts ([`LoginLimiter::begin`]) and
//! uncounted if it succeeds, so a burst of concurrent guesses cannot all pass the check before
//! any of them has failed.
//!
//! The counts live in this process: each replica throttles what it sees, which bounds the
//! guessing rate to the limit times the number of replicas.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures are allowed per window.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_account: usize,
    pub per_ip: usize,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits { per_account: 10, per_ip: 200, window: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Ip(IpAddr),
}

/// Tracked keys at most before a sweep drops every expired one.
const SWEEP_AT: usize = 10_000;

pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter { limits, failures: Mutex::new(HashMap::new()) }
    }

    fn keys(account: &str, ip: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::Account(account.trim().to_lowercase())).chain(ip.map(Key::Ip))
    }

    fn limit(&self, key: &Key) -> usize {
        match key {
            Key::Account(_) => self.limits.per_account,
            Key::Ip(_) => self.limits.per_ip,
        }
    }

    /// Starts an attempt: `Err(retry_after)` when the account or the address has used up its
    /// failures, else the attempt, counted as failed until [`LoginLimiter::succeeded`].
    pub(crate) fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("login limiter lock");
        let mut wait = Duration::ZERO;
        for key in Self::keys(account, ip) {
            let limit = self.limit(&key);
            if let Some(q) = failures.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.limits.window) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let oldest = q[q.len() - limit];
                    wait = wait.max(self.limits.window.saturating_sub(now.duration_since(oldest)));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait.max(Duration::from_secs(1)));
        }
        if failures.len() >= SWEEP_AT {
            let window = self.limits.window;
            failures.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let keys: Vec<Key> = Self::keys(account, ip).collect();
        for key in &keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Attempt { keys, at: now })
    }

    /// The attempt succeeded: it no longer counts.
    pub(crate) fn succeeded(&self, attempt: Attempt) {
        let mut failures = self.failures.lock().expect("login limiter lock");
        for key in attempt.keys {
            if let Some(q) = failures.get_mut(&key)
                && let Some(i) = q.iter().position(|t| *t == attempt.at)
            {
                q.remove(i);
            }
        }
    }
}

/// One login attempt in progress; dropping it leaves it counted as a failure.
pub(crate) struct Attempt {
    keys: Vec<Key>,
    at: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_refused_after_its_failures_and_others_are_not() {
        let l = LoginLimiter::new(LoginLimits { per_account: 3, per_ip: 100, window: Duration::from_secs(60) });
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            assert!(l.begin("A@example.com", ip).is_ok());
        }
        let wait = l.begin("a@example.com ", ip).err().unwrap();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(59));
        assert!(l.begin("b@example.com", ip).is_ok());
    }

    #[test]
    fn successes_do_not_count() {
        let l = LoginLimiter::new(LoginLimits { per_account: 2, per_ip: 100, window: Duration::from_secs(60) });
        for _ in 0..5 {
            let a = l.begin("a", None).unwrap();
            l.succeeded(a);
        }
        // Attempts in flight count: a burst cannot outrun the limit.
        let _first = l.begin("a", None).unwrap();
        let _second = l.begin("a", None).unwrap();
        assert!(l.begin("a", None).is_err());
    }

    #[test]
    fn an_address_is_refused_after_its_failures_whatever_the_account() {
        let l = LoginLimiter::new(LoginLimits { per_account: 100, per_ip: 2, window: Duration::from_secs(60) });
        let ip = Some("10.0.0.2".parse().unwrap());
        let _ = l.begin("x1", ip).unwrap();
        let _ = l.begin("x2", ip).unwrap();
        assert!(l.begin("x3", ip).is_err());
        assert!(l.begin("x3", Some("10.0.0.3".parse().unwrap())).is_ok());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = LoginLimiter::new(LoginLimits { per_account: 1, per_ip: 100, window: Duration::from_millis(50) });
        let _ = l.begin("a", None).unwrap();
        assert!(l.begin("a", None).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.begin("a", None).is_ok());
    }
}
