//! Retry policy: exponential backoff with a cap, overridden by the provider's `Retry-After`.
//!
//! The policy only computes delays; the decision of *whether* to retry is
//! [`LlmError::is_retryable`](crate::LlmError::is_retryable) plus the rule in `client` that a
//! stream which already emitted content is never restarted.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// How often and how patiently to retry a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry; each further retry doubles it.
    pub initial: Duration,
    /// Upper bound for any delay, including one requested through `Retry-After`.
    pub max: Duration,
    /// Total attempts, the first one included. `1` disables retries.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 60 s, 25 attempts: the schedule chatd uses, which rides out provider
    /// incidents of a few minutes without hammering the provider.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_attempts: 25,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based). A `Retry-After` from the provider wins
    /// over the backoff schedule, but is still capped at `max` so one header cannot park a chat
    /// for an hour.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(requested) = retry_after {
            return requested.min(self.max);
        }
        let exponent = retry.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << exponent).min(self.max)
    }
}

/// Reads `retry-after-ms` (sent by OpenAI) or `retry-after` in seconds. The HTTP-date form of
/// `Retry-After` is not used by either provider and is ignored, falling back to backoff.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return finite_duration(ms / 1000.0);
    }
    header("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(finite_duration)
}

fn finite_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn default_schedule_doubles_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=8).map(|n| policy.delay(n, None).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(policy.delay(25, None), Duration::from_secs(60));
        assert_eq!(policy.delay(u32::MAX, None), Duration::from_secs(60));
        assert_eq!(policy.max_attempts, 25);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn parses_retry_after_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(
            parse_retry_after(&headers),
            Some(Duration::from_millis(250))
        );
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&dated), None);
    }
}
