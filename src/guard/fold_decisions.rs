//! What a guard has decided about folding ([`FoldDecisions`]): the active
//! folds in order (a fold's position is its id in routes, folded series
//! and the scope masks of [`super::fold::masks`]), the breach no decision
//! has resolved yet (which throttles the next offender search), and when
//! the window expiry last swept.
//!
//! Invariant: automatic folds are added only by
//! [`FoldDecisions::add_auto`], never past [`MAX_FOLDS`] folds in all
//! (rule folds come from the config as they are: past [`MAX_FOLDS`] they
//! are kept but only the first [`MAX_FOLDS`] folds are applied);
//! `unresolved`, when set, is the time and the series count of the last
//! breach a decision left standing (the scraped series after a fold
//! search that left the target over budget, or the labeled series at the
//! first series dropped), and is cleared when
//! the folds are replaced by a reload ([`FoldDecisions::replace`]) or a
//! later search gets the target under budget; `last_sweep_ms` is the time
//! of the last sweep, and a sweep is due only a tenth of a window after
//! it unless forced ([`FoldDecisions::sweep_due`]). The folds' list
//! changes only through [`FoldDecisions::replace`],
//! [`FoldDecisions::add_auto`], [`FoldDecisions::lift`] and
//! [`FoldDecisions::restore`]; outside, a fold's ranking, kept values and
//! clocks are written in place ([`FoldDecisions::iter_mut`],
//! [`FoldDecisions::get_mut`]).
//!
//! The guard keeps the rest: after the list changes it routes every
//! series again, since fold ids are positions.

use super::fold::{Fold, FoldOrigin, MAX_FOLDS};

/// One guard's fold decisions. See the module docs.
#[derive(Debug, Default)]
pub(super) struct FoldDecisions {
    folds: Vec<Fold>,
    unresolved: Option<(i64, usize)>,
    last_sweep_ms: Option<i64>,
}

impl FoldDecisions {
    /// The folds `folds` (a new guard's rules): nothing unresolved, never
    /// swept.
    pub fn new(folds: Vec<Fold>) -> FoldDecisions {
        FoldDecisions {
            folds,
            unresolved: None,
            last_sweep_ms: None,
        }
    }

    /// A saved guard's decisions, as they were.
    pub fn restore(
        folds: Vec<Fold>,
        unresolved: Option<(i64, usize)>,
        last_sweep_ms: Option<i64>,
    ) -> FoldDecisions {
        FoldDecisions {
            folds,
            unresolved,
            last_sweep_ms,
        }
    }

    /// The active folds; a fold's position is its id.
    pub fn folds(&self) -> &[Fold] {
        &self.folds
    }

    /// All folds, to write their ranking, kept values or clocks.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Fold> {
        self.folds.iter_mut()
    }

    /// Fold `i`, to write its ranking, kept values or clocks.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Fold> {
        self.folds.get_mut(i)
    }

    /// A reload's folds replace these; what was unresolved is forgotten
    /// (a later breach decides again).
    pub fn replace(&mut self, folds: Vec<Fold>) {
        self.folds = folds;
        self.unresolved = None;
    }

    /// Automatic folds that may still be added.
    pub fn room(&self) -> usize {
        MAX_FOLDS.saturating_sub(self.folds.len())
    }

    /// Adds automatic folds chosen on a breach, at most [`Self::room`] of
    /// them (the search offers no more).
    pub fn add_auto(&mut self, chosen: Vec<Fold>) {
        debug_assert!(chosen.iter().all(|f| f.origin == FoldOrigin::Auto));
        let room = self.room();
        self.folds.extend(chosen.into_iter().take(room));
    }

    /// Removes fold `i` (lifted) and returns it.
    pub fn lift(&mut self, i: usize) -> Fold {
        self.folds.remove(i)
    }

    /// The unresolved breach: its time and series count.
    pub fn unresolved(&self) -> Option<(i64, usize)> {
        self.unresolved
    }

    /// True while a breach at `at` with `n` scraped series is unresolved
    /// and a new search would not help: less than `window_ms` ago, and
    /// the scraped series (`scraped` now) grew by less than a tenth.
    pub fn throttled(&self, ts_ms: i64, window_ms: i64, scraped: usize) -> bool {
        matches!(self.unresolved,
            Some((at, n)) if ts_ms.saturating_sub(at) < window_ms && scraped < n + n / 10)
    }

    /// What a fold search left: the time and scraped-series count when
    /// the target stays over budget, `None` when it got under.
    pub fn settle(&mut self, left: Option<(i64, usize)>) {
        self.unresolved = left;
    }

    /// The first series dropped at `ts_ms` with `labeled` series: true
    /// when no breach was unresolved before (it is now).
    pub fn note_drop(&mut self, ts_ms: i64, labeled: usize) -> bool {
        if self.unresolved.is_some() {
            return false;
        }
        self.unresolved = Some((ts_ms, labeled));
        true
    }

    /// When the window expiry last swept.
    pub fn last_sweep_ms(&self) -> Option<i64> {
        self.last_sweep_ms
    }

    /// True, and the sweep recorded at `ts_ms`, when a sweep is due: a
    /// tenth of `window_ms` after the last, or `force`d.
    pub fn sweep_due(&mut self, ts_ms: i64, window_ms: i64, force: bool) -> bool {
        if !force
            && let Some(last) = self.last_sweep_ms
            && ts_ms.saturating_sub(last) < window_ms / 10
        {
            return false;
        }
        self.last_sweep_ms = Some(ts_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(label: &str) -> Fold {
        Fold::new(vec![label.into()], None, FoldOrigin::Auto, 0)
    }

    #[test]
    fn automatic_folds_never_pass_max_folds() {
        let mut d = FoldDecisions::new(vec![Fold::new(
            vec!["rule".into()],
            None,
            FoldOrigin::Rule,
            0,
        )]);
        assert_eq!(d.room(), MAX_FOLDS - 1);
        d.add_auto((0..MAX_FOLDS + 5).map(|i| auto(&format!("l{i}"))).collect());
        assert_eq!(d.folds().len(), MAX_FOLDS);
        assert_eq!(d.room(), 0);
        d.add_auto(vec![auto("more")]);
        assert_eq!(d.folds().len(), MAX_FOLDS);
        let lifted = d.lift(1);
        assert_eq!(lifted.primary(), "l0");
        assert_eq!(d.room(), 1);
        assert_eq!(d.folds()[0].origin, FoldOrigin::Rule);
    }

    #[test]
    fn unresolved_throttles_until_replaced_or_settled() {
        let mut d = FoldDecisions::default();
        assert!(!d.throttled(0, 1000, 0));
        assert!(d.note_drop(100, 50));
        assert!(!d.note_drop(200, 80), "only the first drop is noted");
        assert_eq!(d.unresolved(), Some((100, 50)));
        assert!(d.throttled(500, 1000, 54));
        assert!(!d.throttled(500, 1000, 55), "a tenth more series");
        assert!(!d.throttled(1100, 1000, 50), "a window later");
        d.replace(Vec::new());
        assert_eq!(d.unresolved(), None);
        d.settle(Some((7, 9)));
        assert_eq!(d.unresolved(), Some((7, 9)));
        d.settle(None);
        assert!(!d.throttled(7, 1000, 0));
    }

    #[test]
    fn sweeps_a_tenth_of_a_window_apart_unless_forced() {
        let mut d = FoldDecisions::default();
        assert!(d.sweep_due(0, 1000, false));
        assert!(!d.sweep_due(99, 1000, false));
        assert!(d.sweep_due(99, 1000, true));
        assert_eq!(d.last_sweep_ms(), Some(99));
        assert!(d.sweep_due(199, 1000, false));
    }
}
