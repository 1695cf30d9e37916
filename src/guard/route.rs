//! Routing: where a series' samples go under the current folds (raw, a
//! folded series, or dropped), creating folded series as needed, keeping
//! the counts right, and moving counter history when folds change.

use super::engine::TargetGuard;
use super::fold::{masks, replaced};
use super::hash::{folded_hash, labels_hash, value_hash};
use super::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, MAX_GROUP};
use super::role::Role;
use super::table::{DropReason, Group, NONE, Route, Series};
use crate::labels::Labels;
use crate::series_key::SeriesKey;
use std::sync::Arc;

/// Something that moved between folded series in a reroute.
enum Moved {
    Series(u32),
    Member(SeriesKey),
}

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
        match self.series.get(id) {
            Some(s) => self.plan_labels(&s.labels, s.role),
            None => Planned::Raw,
        }
    }

    /// Where a series with these labels and role goes under the current
    /// folds.
    pub(super) fn plan_labels(&self, labels: &Labels, role: Role) -> Planned {
        let (scope, replace) = masks(self.decisions.folds(), labels);
        if scope == 0 {
            return Planned::Raw;
        }
        if role == Role::Quantile {
            return Planned::Quantile;
        }
        let folds = self.decisions.folds();
        let overflow = self.settings.overflow_value.as_str();
        let is_folded = |n: &str| replaced(folds, replace, n);
        let hash = folded_hash(labels, is_folded, overflow);
        let found = self
            .groups
            .find(hash, |g| folded_eq(g, labels, is_folded, overflow));
        match found {
            Some(g) => Planned::Group(g),
            None => Planned::NewGroup { hash, replace },
        }
    }

    /// Turns a plan into a route, creating its folded series if new.
    pub(super) fn materialize(&mut self, id: u32, planned: Planned) -> Route {
        let Some(s) = self.series.get(id) else {
            return Route::Raw;
        };
        let (labels, role, family) = (s.labels.clone(), s.role, s.family);
        self.materialize_labels(&labels, role, family, planned)
    }

    /// [`TargetGuard::materialize`] for a series given by labels and role.
    pub(super) fn materialize_labels(
        &mut self,
        labels: &Labels,
        role: Role,
        family: u32,
        planned: Planned,
    ) -> Route {
        match planned {
            Planned::Raw => Route::Raw,
            Planned::Quantile => Route::Dropped(DropReason::Quantile),
            Planned::Group(g) => Route::Group(g),
            Planned::NewGroup { hash, replace } => {
                let mut b = labels.to_builder();
                let mut names: Vec<Box<str>> = Vec::new();
                for l in labels.iter() {
                    if replaced(self.decisions.folds(), replace, l.name) {
                        b.set(l.name, &self.settings.overflow_value);
                        names.push(l.name.into());
                    }
                }
                let rank_fold = self.rank_of(labels).0;
                let g = self.groups.insert(Group {
                    family,
                    rank_fold,
                    labels: Arc::new(b.into_labels()),
                    hash,
                    next: NONE,
                    role,
                    folded: !names.is_empty(),
                    value: 0.0,
                    acc: Default::default(),
                    replaced: names.into_boxed_slice(),
                    members: 0,
                    compact: 0,
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
        if old == Route::Raw
            && matches!(route, Route::Group(_))
            && s.emitted_gen != 0
            && let Some(d) = self.deferred.as_mut()
        {
            // Interval mode: a series written as it is stops being.
            d.ended(s.labels.clone());
        }
        self.move_counts(old, route, false);
    }

    /// Keeps the counts right when a series (a compact member when
    /// `compact`) goes from route `old` to `new`.
    pub(super) fn move_counts(&mut self, old: Route, new: Route, compact: bool) {
        let group = |r: Route| match r {
            Route::Group(g) => Some(g),
            _ => None,
        };
        let left = group(old).and_then(|g| self.groups.get_mut(g));
        self.occupancy.leave(old, left, compact);
        let joined = group(new).and_then(|g| self.groups.get_mut(g));
        self.occupancy.join(new, joined, compact);
    }

    /// Which fold's `keep_top` ranks series `id` (the first in whose scope
    /// it is), and the hash of its value.
    pub(super) fn set_rank(&mut self, id: u32) {
        let Some(labels) = self.series.get(id).map(|s| s.labels.clone()) else {
            return;
        };
        let (fold, value) = self.rank_of(&labels);
        if let Some(s) = self.series.get_mut(id) {
            s.rank_fold = fold;
            s.rank_value = value;
        }
    }

    /// The fold ranking a series with these labels, and its value's hash
    /// (`NONE` and 0 without `keep_top`).
    pub(super) fn rank_of(&self, labels: &Labels) -> (u32, u64) {
        if self.settings.keep_top == 0 {
            return (NONE, 0);
        }
        for (i, f) in self.decisions.folds().iter().enumerate() {
            if f.in_scope(labels)
                && let Some(v) = labels.get(f.primary())
            {
                return (i as u32, value_hash(v));
            }
        }
        (NONE, 0)
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
        let ids: Vec<u32> = self.groups.iter().map(|(id, _)| id).collect();
        for id in ids {
            let rank = self.groups.get(id).map(|g| self.rank_of(&g.labels).0);
            if let (Some(rank), Some(g)) = (rank, self.groups.get_mut(id)) {
                g.rank_fold = rank;
            }
        }
        let mut moved: Vec<(Moved, u32)> = Vec::new();
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
                (Route::Group(g), Route::Group(_)) => moved.push((Moved::Series(id), g)),
                (_, Route::Group(_)) => self.carry_history(id),
                _ => {}
            }
        }
        for key in self.members.keys() {
            if let Some(m) = self.reroute_member(key) {
                moved.push(m);
            }
        }
        for (who, g) in moved {
            let keeps_members = self.groups.get(g).is_some_and(|g| g.members > 0);
            match who {
                Moved::Series(id) => {
                    if keeps_members {
                        if let Some(s) = self.series.get_mut(id) {
                            s.counted = s.has_value;
                        }
                    } else {
                        self.carry_history(id);
                    }
                }
                Moved::Member(key) => self.settle_member(key, keeps_members),
            }
        }
    }

    /// Routes compact member `key` again: it stays compact when it goes to
    /// a folded series (a move to report), and becomes a labeled series
    /// otherwise (raw, a dropped quantile, or a folded series whose id is
    /// past [`MAX_GROUP`]: a move to report too).
    fn reroute_member(&mut self, key: SeriesKey) -> Option<(Moved, u32)> {
        let m = *self.members.get(&key)?;
        let (family, role) = self.groups.get(m.group()).map(|g| (g.family, g.role))?;
        let labels = self.member_labels(&m);
        let planned = self.plan_labels(&labels, role);
        let new = self.materialize_labels(&labels, role, family, planned);
        let old = Route::Group(m.group());
        if new == old {
            return None;
        }
        if let Route::Group(g) = new
            && g <= MAX_GROUP
            && let Some(names) = self.groups.get(g).map(|g| g.replaced.clone())
            && {
                let values: Vec<&str> = names.iter().map(|n| labels.get(n).unwrap_or("")).collect();
                self.members.move_to(&key, g, &values)
            }
        {
            self.move_counts(old, new, true);
            return Some((Moved::Member(key), m.group()));
        }
        // Raw, dropped, or a folded series past the member group ids or
        // without room for its tuple.
        let seen_gen = if self.members.seen(&key) {
            self.generation
        } else {
            0
        };
        self.members.remove(&key);
        if let Some(g) = self.groups.get_mut(m.group()) {
            g.compact -= 1;
        }
        let last_seen_ms = self.last_seen_ms(&m);
        let id = self.series.insert(Series {
            hash: labels_hash(&labels),
            labels: Arc::new(labels),
            key: Some(key),
            next: NONE,
            family,
            role,
            route: old,
            explicit_ts: m.has(EXPLICIT_TS),
            counted: m.has(COUNTED),
            has_value: m.has(HAS_VALUE),
            last_value: m.last_value,
            last_seen_ms,
            seen_gen,
            emitted_gen: 0,
            rank_fold: NONE,
            rank_value: 0,
        });
        self.set_route(id, new);
        self.set_rank(id);
        // A labeled series moving between folded series is settled as one.
        matches!(new, Route::Group(_)).then_some((Moved::Series(id), m.group()))
    }

    /// A compact member moved between folded series: as for a series, its
    /// history stays behind when the one it left keeps members, and comes
    /// along otherwise.
    fn settle_member(&mut self, key: SeriesKey, left_keeps_members: bool) {
        let Some(&m) = self.members.get(&key) else {
            return;
        };
        if left_keeps_members {
            self.members.set_flag(&key, COUNTED, m.has(HAS_VALUE));
            return;
        }
        let (g, v, has) = (m.group(), m.last_value, m.has(HAS_VALUE));
        let carry = has
            && self
                .groups
                .get(g)
                .is_some_and(|g| g.role == Role::Cumulative);
        self.members.set_flag(&key, COUNTED, carry);
        if carry && let Some(g) = self.groups.get_mut(g) {
            g.value += v;
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
    let mut group = group.iter();
    labels.iter().all(|l| {
        group.next().is_some_and(|g| {
            g.name == l.name
                && if is_folded(l.name) {
                    g.value == overflow
                } else {
                    g.value == l.value
                }
        })
    }) && group.next().is_none()
}
