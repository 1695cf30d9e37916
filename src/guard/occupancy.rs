//! How many series a guard forwards: the labeled series forwarded raw,
//! the folded series with at least one member (each counts once, however
//! many it merges), and the members of folded series that replaced a
//! label (`levee_guard_folded_series`).
//!
//! Invariant: `raw` is the number of labeled series routed raw,
//! `nonempty_groups` the number of folded series whose `members` is not
//! zero, `folded_members` the sum of `members` over folded series that
//! replaced a label; a folded series' `members` and `compact` count its
//! members (with labels or kept by key, and the latter alone). It holds
//! because every change of a series' route or a folded series'
//! membership goes through [`Occupancy::leave`] and [`Occupancy::join`]
//! (`TargetGuard::move_counts`), which update the folded series' own
//! counts with it. A member that stays in its folded series and only
//! turns from labeled to kept by key, or back (`compact.rs`, `route.rs`),
//! moves within that series' `compact` and changes none of these counts.

use super::table::{Group, Route};

/// The forwarded-series counts of one guard. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Occupancy {
    raw: usize,
    nonempty_groups: usize,
    folded_members: usize,
}

impl Occupancy {
    /// Active series as forwarded (a folded series counts once).
    pub fn active(&self) -> usize {
        self.raw + self.nonempty_groups
    }

    /// Scraped series merged into folded series that replaced a label.
    pub fn folded_members(&self) -> usize {
        self.folded_members
    }

    /// A series (a member kept by key when `compact`) leaves route
    /// `route`; `group` is the folded series when that is one.
    pub fn leave(&mut self, route: Route, group: Option<&mut Group>, compact: bool) {
        match (route, group) {
            (Route::Raw, _) => self.raw -= 1,
            (Route::Group(_), Some(g)) => {
                g.members -= 1;
                if compact {
                    g.compact -= 1;
                }
                if g.members == 0 {
                    self.nonempty_groups -= 1;
                }
                if g.folded {
                    self.folded_members -= 1;
                }
            }
            _ => {}
        }
    }

    /// A series (a member kept by key when `compact`) joins route
    /// `route`; `group` is the folded series when that is one.
    pub fn join(&mut self, route: Route, group: Option<&mut Group>, compact: bool) {
        match (route, group) {
            (Route::Raw, _) => self.raw += 1,
            (Route::Group(_), Some(g)) => {
                if g.members == 0 {
                    self.nonempty_groups += 1;
                }
                g.members += 1;
                if compact {
                    g.compact += 1;
                }
                if g.folded {
                    self.folded_members += 1;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::role::Role;
    use crate::guard::table::{DropReason, NONE};
    use crate::labels::Labels;
    use std::sync::Arc;

    fn group(folded: bool) -> Group {
        Group {
            labels: Arc::new(Labels::empty()),
            hash: 0,
            next: NONE,
            role: Role::Cumulative,
            folded,
            value: 0.0,
            acc: Default::default(),
            replaced: Box::default(),
            family: 0,
            rank_fold: NONE,
            members: 0,
            compact: 0,
            touched_gen: 0,
            emitted_gen: 0,
        }
    }

    #[test]
    fn a_folded_series_counts_once_however_many_it_merges() {
        let mut o = Occupancy::default();
        let mut g = group(true);
        for _ in 0..3 {
            o.join(Route::Group(0), Some(&mut g), false);
        }
        o.join(Route::Raw, None, false);
        assert_eq!((o.active(), o.folded_members()), (2, 3));
        assert_eq!((g.members, g.compact), (3, 0));
        for _ in 0..3 {
            o.leave(Route::Group(0), Some(&mut g), false);
        }
        assert_eq!((o.active(), o.folded_members()), (1, 0));
        assert_eq!(g.members, 0);
    }

    #[test]
    fn compact_members_are_counted_in_their_folded_series_too() {
        let mut o = Occupancy::default();
        let mut g = group(true);
        o.join(Route::Group(0), Some(&mut g), true);
        o.join(Route::Group(0), Some(&mut g), false);
        assert_eq!((g.members, g.compact), (2, 1));
        o.leave(Route::Group(0), Some(&mut g), true);
        assert_eq!((g.members, g.compact), (1, 0));
        assert_eq!((o.active(), o.folded_members()), (1, 1));
    }

    #[test]
    fn a_kept_value_is_active_but_not_folded_and_dropped_series_are_nothing() {
        let mut o = Occupancy::default();
        // A `keep_top` value's own folded series replaced no label.
        let mut kept = group(false);
        o.join(Route::Group(1), Some(&mut kept), false);
        o.join(Route::Dropped(DropReason::Budget), None, false);
        assert_eq!((o.active(), o.folded_members()), (1, 0));
        o.leave(Route::Dropped(DropReason::Quantile), None, false);
        assert_eq!(o.active(), 1);
    }
}
