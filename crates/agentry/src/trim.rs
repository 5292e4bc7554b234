//! Giving freed memory back to the operating system.
//!
//! glibc's allocator keeps memory a program frees in its per-thread arenas for reuse and returns
//! it to the kernel only from the top of a heap. A server's allocations interleave (sockets,
//! tasks, query buffers), so after a burst — 10,000 streams opened and closed — most of the
//! freed memory sits in the middle of the arenas and the resident size never comes down: the
//! server of `tests/memory.rs` stayed 180 MiB above where it started. `malloc_trim(0)` walks
//! every arena and hands whole free pages back (`madvise`). The server runs it every
//! [`TRIM_EVERY`] on the blocking pool; a pass costs about a millisecond per hundred MiB of heap.
//! Other allocators (musl) need nothing here.

use std::time::Duration;

/// How often freed memory is given back.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the periodic trim for the rest of the process's life (on glibc; a no-op elsewhere).
pub fn start() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim only releases memory the allocator holds free; any thread may
            // call it at any time.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
}
