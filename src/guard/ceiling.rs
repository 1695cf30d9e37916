//! The whole-agent ceiling (`guard.max_series`): one [`Ceiling`] shared
//! by every guarded target holds the sum of their active series, and each
//! target's [`CeilingShare`] applies the rule that splits it.
//!
//! When the total gets near `max_series` (90%), targets above their fair
//! share (`max_series` / targets) are held to that share, so the largest
//! offenders give way first; a held target is released once the total is
//! below 80%, so a target does not flip between held and free at the edge.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The ceiling: `max_series` (0: none), and the guarded targets' active
/// series and count as their shares report them.
#[derive(Debug, Default)]
pub struct Ceiling {
    max: AtomicU64,
    total: AtomicI64,
    targets: AtomicI64,
}

impl Ceiling {
    /// Sets `guard.max_series` (0: none).
    pub fn set_max(&self, max: u64) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// Active series over all guarded targets.
    pub fn total(&self) -> i64 {
        self.total.load(Ordering::Relaxed)
    }

    /// A share for one more guarded target; it leaves the ceiling (with
    /// the series it reported) when dropped.
    pub fn join(self: &Arc<Self>) -> CeilingShare {
        self.targets.fetch_add(1, Ordering::Relaxed);
        CeilingShare {
            ceiling: Arc::clone(self),
            counted: 0,
            held: false,
        }
    }

    /// The budget a target with `active` series is held to now, if any
    /// (`held`: it was held at its last scrape).
    fn hold(&self, active: usize, held: bool) -> Option<u64> {
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 {
            return None;
        }
        let total = self.total().max(0) as u64;
        let fair = max / self.targets.load(Ordering::Relaxed).max(1) as u64;
        let near = total.saturating_mul(10) >= max.saturating_mul(9);
        let relaxed = total.saturating_mul(10) < max.saturating_mul(8);
        if (near && active as u64 > fair) || (held && !relaxed) {
            Some(fair.max(1))
        } else {
            None
        }
    }
}

/// One guarded target's part of the [`Ceiling`]: the series it reported
/// and whether it is held.
#[derive(Debug)]
pub struct CeilingShare {
    ceiling: Arc<Ceiling>,
    counted: i64,
    held: bool,
}

impl CeilingShare {
    /// The budget the target, with `active` series before its scrape, is
    /// held to for that scrape (`None`: its own budget applies).
    pub fn hold(&mut self, active: usize) -> Option<u64> {
        let hold = self.ceiling.hold(active, self.held);
        self.held = hold.is_some();
        hold
    }

    /// Reports the target's active series after a scrape.
    pub fn report(&mut self, active: usize) {
        let active = active as i64;
        self.ceiling
            .total
            .fetch_add(active - self.counted, Ordering::Relaxed);
        self.counted = active;
    }
}

impl Drop for CeilingShare {
    fn drop(&mut self) {
        self.ceiling
            .total
            .fetch_sub(self.counted, Ordering::Relaxed);
        self.ceiling.targets.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_holds_the_largest_targets_near_the_limit() {
        let c = Ceiling::default();
        assert_eq!(c.hold(1_000_000, false), None, "no ceiling set");
        c.set_max(1000);
        c.targets.store(4, Ordering::Relaxed);
        c.total.store(800, Ordering::Relaxed);
        assert_eq!(c.hold(600, false), None, "80%: not near yet");
        c.total.store(900, Ordering::Relaxed);
        assert_eq!(c.hold(600, false), Some(250), "90%: above the fair share");
        assert_eq!(c.hold(100, false), None, "under its share: untouched");
        c.total.store(850, Ordering::Relaxed);
        assert_eq!(c.hold(240, true), Some(250), "held until under 80%");
        c.total.store(700, Ordering::Relaxed);
        assert_eq!(c.hold(240, true), None, "released");
    }

    #[test]
    fn shares_report_their_series_and_leave_with_them() {
        let c = Arc::new(Ceiling::default());
        c.set_max(100);
        let mut a = c.join();
        let mut b = c.join();
        a.report(60);
        b.report(30);
        assert_eq!(c.total(), 90);
        assert_eq!(a.hold(60), Some(50), "near the ceiling, above half");
        assert_eq!(b.hold(30), None, "under its share");
        a.report(40);
        assert_eq!(c.total(), 70);
        assert_eq!(a.hold(40), None, "below 80%: released");
        drop(a);
        assert_eq!(c.total(), 30, "a's series left with it");
        assert_eq!(c.targets.load(Ordering::Relaxed), 1);
    }
}
