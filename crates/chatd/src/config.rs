//! The daemon's intervals and limits.

use std::time::Duration;

use agentry_llm::RetryPolicy;

/// Intervals and limits of the daemon.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// How often to look for pending chats without a hint (hints wake it sooner).
    pub acquire_interval: Duration,
    /// How often to refresh the heartbeat of running chats.
    pub heartbeat_interval: Duration,
    /// A running chat whose heartbeat is older than this is handed to another worker.
    pub stale_after: Duration,
    /// How long a chat waits in `requires_action` for client tool results.
    pub action_deadline: Duration,
    /// Most chats claimed per pass.
    pub max_per_acquire: i64,
    /// Most model steps in one turn.
    pub max_steps: usize,
    /// Provider retries.
    pub retry: RetryPolicy,
    /// How long a model call may send nothing before it counts as stalled (and is retried
    /// under `retry` if nothing was streamed yet).
    pub provider_idle_timeout: Duration,
    /// Ask the model for a title after a chat's first turn.
    pub generate_titles: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            acquire_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(30),
            stale_after: Duration::from_secs(300),
            action_deadline: Duration::from_secs(300),
            max_per_acquire: 10,
            max_steps: 200,
            retry: RetryPolicy::default(),
            provider_idle_timeout: agentry_llm::DEFAULT_IDLE_TIMEOUT,
            generate_titles: true,
        }
    }
}

