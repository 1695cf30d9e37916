//! [`WalWatch`]: the cheap "the WAL grew" signal the database gives the
//! tailers after each commit, so they send new samples without polling
//! delay, and optionally the WAL's synced position, which stored positions
//! never pass.

use crate::tsdb::wal::Position;
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
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    synced: Option<Position>,
}

impl WalWatch {
    /// A new watch.
    pub fn new() -> Arc<Self> {
        Arc::new(WalWatch::default())
    }

    /// Says the WAL grew (or segments were deleted): call after every
    /// successful `Wal::log` and after a head cut.
    pub fn notify(&self) {
        self.state.lock().generation += 1;
        self.cond.notify_all();
    }

    /// [`notify`](Self::notify), also saying what is durable: pass
    /// `Wal::synced_position()`. Position files then never record a
    /// position past it, so after a machine crash that cut the WAL back to
    /// its last sync, no endpoint resumes beyond what survived (at the cost
    /// of re-sending up to one sync interval). Use it when the WAL does not
    /// sync every commit (`SyncPolicy::Interval`, `Never`).
    pub fn notify_synced(&self, synced: Position) {
        {
            let mut st = self.state.lock();
            st.generation += 1;
            st.synced = Some(st.synced.map_or(synced, |s| s.max(synced)));
        }
        self.cond.notify_all();
    }

    /// The synced position last given to
    /// [`notify_synced`](Self::notify_synced).
    pub fn synced(&self) -> Option<Position> {
        self.state.lock().synced
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// Waits until the generation differs from `seen` or `timeout` passes;
    /// returns the generation then.
    pub(crate) fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let mut st = self.state.lock();
        if st.generation == seen {
            self.cond.wait_for(&mut st, timeout);
        }
        st.generation
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
