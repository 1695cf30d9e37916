//! How `levee run` keeps its resident memory close to what it uses, on
//! glibc (elsewhere these are no-ops):
//!
//! - [`pin_mmap_threshold`]: allocations of 1 MiB and more get mappings of
//!   their own, given back to the system when freed. glibc raises that
//!   threshold each time such a block is freed (up to 32 MiB); after that,
//!   large short-lived buffers (a guard state save of a storm target, a
//!   big scrape's batch) are carved from the heap and their pages stay
//!   resident, so RSS ratchets up with every new high-water mark.
//! - [`Trimmer`]: every [`TRIM_EVERY`], free pages inside the heaps go back
//!   to the system (`malloc_trim`). The scrape path frees many small
//!   blocks (label sets of series that were folded, drained batches) on
//!   several threads' arenas; without a trim their pages stay resident
//!   as holes: measured in the Istio storm, 21 MiB of 107 MiB resident
//!   was free heap.

use crate::selfmon::{Counter, Gauge, Registry};
use std::time::{Duration, Instant};

/// How often free heap pages are given back.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Pins glibc's mmap threshold at 1 MiB. Call once, before other threads
/// exist.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn pin_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; the caller runs it
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Pins glibc's mmap threshold (not glibc: nothing to do).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn pin_mmap_threshold() {}

/// Gives free heap pages back to the system; true when any went.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn give_back_free_pages() -> bool {
    // SAFETY: malloc_trim is thread-safe (it locks each arena in turn) and
    // only releases pages no allocation uses.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Gives free heap pages back (not glibc: nothing to do).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back_free_pages() -> bool {
    false
}

/// The periodic trim and its self-metrics.
pub struct Trimmer {
    runs: std::sync::Arc<Counter>,
    seconds: std::sync::Arc<Gauge>,
}

impl Trimmer {
    /// A trimmer registering its metrics in `reg`.
    pub fn new(reg: &Registry) -> Trimmer {
        Trimmer {
            runs: reg.counter(
                "levee_memory_trims_total",
                "Times free heap pages were given back to the system (malloc_trim).",
            ),
            seconds: reg.gauge(
                "levee_memory_trim_duration_seconds",
                "How long the last trim of free heap pages took.",
            ),
        }
    }

    /// Trims every [`TRIM_EVERY`] on the blocking pool until `stop` fires.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut interval =
            tokio::time::interval_at(tokio::time::Instant::now() + TRIM_EVERY, TRIM_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.changed() => return,
            }
            let started = Instant::now();
            if tokio::task::spawn_blocking(give_back_free_pages)
                .await
                .is_ok()
            {
                self.runs.inc();
                self.seconds.set(started.elapsed().as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads this process's resident anonymous memory, in bytes.
    fn rss_anon() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_small_blocks_go_back_to_the_system() {
        // 64 MiB in small blocks, 15 of every 16 freed: holes the heap
        // keeps until trimmed (the kept ones pin the heap's top).
        let mut blocks: Vec<Vec<u8>> = (0..16_384).map(|_| vec![1u8; 4096]).collect();
        for (i, b) in blocks.iter_mut().enumerate() {
            if i % 16 != 0 {
                *b = Vec::new();
            }
        }
        let before = rss_anon().expect("RssAnon in /proc/self/status");
        give_back_free_pages();
        let after = rss_anon().expect("RssAnon in /proc/self/status");
        // Other tests run beside this one; about half of the 60 MiB freed
        // is a margin they cannot take.
        assert!(
            before.saturating_sub(after) >= 32 << 20,
            "trim gave back {} bytes (before {before}, after {after})",
            before.saturating_sub(after)
        );
        drop(blocks);
    }
}
