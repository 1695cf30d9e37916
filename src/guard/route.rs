//! Routing: where a series' samples go under the current folds (raw, a
//! folded series, or dropped), creating folded series as needed, keeping
//! the counts right, and moving counter history when folds change.

use super::engine::TargetGuard;
use super::fold::{masks, replaced};
use super::hash::{folded_hash, value_hash};
use super::role::Role;
use super::table::{DropReason, Group, NONE, Route};
use crate::labels::Labels;
use std::sync::Arc;

/// Where a series would go under the current folds.
pub(super) enum Planned {
    Raw,
    Quantile,
    Group(u32),
    NewGroup { hash: u64, replace: u64 },
}

impl TargetGuard {
    /// Where series `id` goes under the current folds.
    pub(super) fn plan(&self, id: u32) -> Planned {
        let Some(s) = self.series.get(id) else {
            return Planned::Raw;
        };
        let (scope, replace) = masks(&self.folds, &s.labels);
        if scope == 0 {
            return Planned::Raw;
        }
        if s.role == Role::Quantile {
            return Planned::Quantile;
        }
        let folds = &self.folds;
        let overflow = self.settings.overflow_value.as_str();
        let is_folded = |n: &str| replaced(folds, replace, n);
        let hash = folded_hash(&s.labels, is_folded, overflow);
        let found = self
            .groups
            .find(hash, |g| folded_eq(g, &s.labels, is_folded, overflow));
        match found {
            Some(g) => Planned::Group(g),
            None => Planned::NewGroup { hash, replace },
        }
    }

    /// Turns a plan into a route, creating its folded series if new.
    pub(super) fn materialize(&mut self, id: u32, planned: Planned) -> Route {
        match planned {
            Planned::Raw => Route::Raw,
            Planned::Quantile => Route::Dropped(DropReason::Quantile),
            Planned::Group(g) => Route::Group(g),
            Planned::NewGroup { hash, replace } => {
                let Some(s) = self.series.get(id) else {
                    return Route::Raw;
                };
                let mut b = s.labels.to_builder();
                let mut folded = false;
                for l in s.labels.iter() {
                    if replaced(&self.folds, replace, &l.name) {
                        b.set(&l.name, &self.settings.overflow_value);
                        folded = true;
                    }
                }
                let g = self.groups.insert(Group {
                    labels: Arc::new(b.into_labels()),
                    hash,
                    next: NONE,
                    role: s.role,
                    folded,
                    value: 0.0,
                    acc: Default::default(),
                    members: 0,
                    touched_gen: 0,
                    emitted_gen: 0,
                });
                Route::Group(g)
            }
        }
    }

    /// Moves series `id` to `route`, keeping the counts right.
    pub(super) fn set_route(&mut self, id: u32, route: Route) {
        let Some(s) = self.series.get_mut(id) else {
            return;
        };
        let old = s.route;
        if old == route {
            return;
        }
        s.route = route;
        match old {
            Route::Raw => self.raw -= 1,
            Route::Group(g) => {
                if let Some(g) = self.groups.get_mut(g) {
                    g.members -= 1;
                    if g.members == 0 {
                        self.nonempty_groups -= 1;
                    }
                    if g.folded {
                        self.folded_members -= 1;
                    }
                }
            }
            Route::Dropped(_) => {}
        }
        match route {
            Route::Raw => self.raw += 1,
            Route::Group(g) => {
                if let Some(g) = self.groups.get_mut(g) {
                    if g.members == 0 {
                        self.nonempty_groups += 1;
                    }
                    g.members += 1;
                    if g.folded {
                        self.folded_members += 1;
                    }
                }
            }
            Route::Dropped(_) => {}
        }
    }

    /// Which fold's `keep_top` ranks series `id` (the first in whose scope
    /// it is), and the hash of its value.
    pub(super) fn set_rank(&mut self, id: u32) {
        let keep_top = self.settings.keep_top;
        let Some(s) = self.series.get_mut(id) else {
            return;
        };
        s.rank_fold = NONE;
        s.rank_value = 0;
        if keep_top == 0 {
            return;
        }
        for (i, f) in self.folds.iter().enumerate() {
            if f.in_scope(&s.labels)
                && let Some(v) = s.labels.get(f.primary())
            {
                s.rank_fold = i as u32;
                s.rank_value = value_hash(v);
                return;
            }
        }
    }

    /// Routes every series again after the folds changed.
    ///
    /// A counter's history moves with it when it enters a folded series
    /// from raw, or when the folded series it leaves is left empty: its last
    /// forwarded value is added to the folded series it joins at once, and
    /// its next sample adds its increase since (so a member absent at that
    /// moment is neither lost nor counted twice when it returns). When the
    /// folded series it leaves keeps other members (a value promoted into
    /// `keep_top`), its history stays there and it adds only increases from
    /// now on. Either way the sum over forwarded series stays exact.
    pub(super) fn reroute_all(&mut self) {
        let mut moved = Vec::new();
        for id in self.series.ids() {
            self.set_rank(id);
            let Some(old) = self.series.get(id).map(|s| s.route) else {
                continue;
            };
            if old == Route::Dropped(DropReason::Budget) {
                continue;
            }
            let planned = self.plan(id);
            let new = self.materialize(id, planned);
            if new == old {
                continue;
            }
            self.set_route(id, new);
            match (old, new) {
                (Route::Group(g), Route::Group(_)) => moved.push((id, g)),
                (_, Route::Group(_)) => self.carry_history(id),
                _ => {}
            }
        }
        for (id, g) in moved {
            if self.groups.get(g).is_some_and(|g| g.members > 0) {
                if let Some(s) = self.series.get_mut(id) {
                    s.counted = s.has_value;
                }
            } else {
                self.carry_history(id);
            }
        }
    }

    /// Adds series `id`'s last value to the folded series it is now in.
    pub(super) fn carry_history(&mut self, id: u32) {
        let Some(s) = self.series.get_mut(id) else {
            return;
        };
        s.counted = s.has_value && s.role == Role::Cumulative;
        if !s.counted {
            return;
        }
        if let Route::Group(g) = s.route
            && let Some(g) = self.groups.get_mut(g)
        {
            g.value += s.last_value;
        }
    }
}

/// True when `group` is `labels` with the labels `is_folded` selects set to
/// `overflow`.
pub(super) fn folded_eq(
    group: &Labels,
    labels: &Labels,
    is_folded: impl Fn(&str) -> bool,
    overflow: &str,
) -> bool {
    group.len() == labels.len()
        && group.iter().zip(labels.iter()).all(|(g, l)| {
            g.name == l.name
                && if is_folded(&l.name) {
                    g.value == overflow
                } else {
                    g.value == l.value
                }
        })
}
