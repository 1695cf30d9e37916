//! [`WalWatch`]: the cheap "the WAL grew" signal the database gives the
//! tailers after each commit, so they send new samples without polling
//! delay.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Duration;

/// A generation counter the writer bumps after every commit; tailers wait
/// for it to change. One [`WalWatch`] per WAL, shared by the database and
/// every endpoint.
///
/// Cost per [`notify`](Self::notify): one uncontended mutex and a condvar
/// broadcast (a futex wake only when a tailer is waiting). Tailers also poll
/// every `poll_interval`, so a missed or absent notification only delays
/// sending, it never stalls it.
#[derive(Debug, Default)]
pub struct WalWatch {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl WalWatch {
    /// A new watch.
    pub fn new() -> Arc<Self> {
        Arc::new(WalWatch::default())
    }

    /// Says the WAL grew (or segments were deleted): call after every
    /// successful `Wal::log` and after a head cut.
    pub fn notify(&self) {
        *self.generation.lock() += 1;
        self.cond.notify_all();
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Waits until the generation differs from `seen` or `timeout` passes;
    /// returns the generation then.
    pub(crate) fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let mut g = self.generation.lock();
        if *g == seen {
            self.cond.wait_for(&mut g, timeout);
        }
        *g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_a_waiter() {
        let w = WalWatch::new();
        let seen = w.generation();
        let w2 = w.clone();
        let t = std::thread::spawn(move || w2.wait(seen, Duration::from_secs(600)));
        // Keep notifying until the waiter has returned: it may not be
        // waiting yet when the first notification goes out.
        while !t.is_finished() {
            w.notify();
            std::thread::yield_now();
        }
        assert!(t.join().unwrap() > seen);
    }
}
