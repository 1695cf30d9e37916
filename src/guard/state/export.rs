//! A live guard's series, folds and folded series read out as a
//! [`GuardState`] for the state file's encoder (its tuples and members
//! are walked in place: `walk.rs`). Label sets are shared (`Arc`), not
//! copied, so this is cheap enough to run under the guard's lock.

use super::{
    Emitted, ExportIndex, FoldState, GroupState, GrowthState, GuardState, RouteState, SeriesState,
};
use crate::guard::engine::{GROUP_BIT, TargetGuard};
use crate::guard::fold::Fold;
use crate::guard::table::{DropReason, NONE, Route};
use crate::series_key::SeriesKey;

impl TargetGuard {
    /// The guard's state without its tuples and members (the state file's
    /// encoder takes those from the guard as it writes them: `walk.rs`),
    /// groups numbered by `ix`.
    pub(in crate::guard) fn state_head(&self, ix: &ExportIndex) -> GuardState {
        let group_index = &ix.groups;
        let groups = self
            .groups
            .iter()
            .map(|(_, g)| GroupState {
                labels: g.labels.clone(),
                role: g.role,
                folded: g.folded,
                value: g.value,
                replaced: g.replaced.iter().map(|n| n.to_string()).collect(),
            })
            .collect();
        let route_of = |r: Route| match r {
            Route::Raw => RouteState::Raw,
            Route::Group(g) => match group_index.get(g as usize) {
                Some(&i) if i != NONE => RouteState::Group(i),
                _ => RouteState::Dropped(DropReason::Budget),
            },
            Route::Dropped(d) => RouteState::Dropped(d),
        };
        let series = self
            .series
            .iter()
            .map(|(slot, s)| SeriesState {
                slot,
                key: s.key.map(SeriesKey::as_u128),
                labels: s.labels.clone(),
                family: s.family,
                role: s.role,
                route: route_of(s.route),
                explicit_ts: s.explicit_ts,
                counted: s.counted,
                has_value: s.has_value,
                last_value: s.last_value,
                last_seen_ms: s.last_seen_ms,
            })
            .collect();
        let emitted = self
            .forwarded
            .previous()
            .iter()
            .filter_map(|&r| {
                if r & GROUP_BIT != 0 {
                    let i = *group_index.get((r & !GROUP_BIT) as usize)?;
                    (i != NONE).then_some(Emitted::Group(i))
                } else {
                    self.series.get(r).map(|_| Emitted::Series(r))
                }
            })
            .collect();
        GuardState {
            settings: self.settings.clone(),
            last_ts_ms: self.last_ts_ms,
            last_sweep_ms: self.decisions.last_sweep_ms(),
            unresolved: self.decisions.unresolved().map(|(t, n)| (t, n as u64)),
            families: self.stats.families.names().map(str::to_string).collect(),
            folds: self.decisions.folds().iter().map(fold_state).collect(),
            groups,
            series,
            emitted,
            growth: self.growth(),
            key_secret: Some(self.keyer.to_bytes()),
            tuples: Vec::new(),
            members: Vec::new(),
        }
    }

    fn growth(&self) -> Vec<GrowthState> {
        let mut v: Vec<GrowthState> = self
            .stats
            .growth()
            .map(|(f, l, recent)| GrowthState {
                family: self.stats.families.name(f).to_string(),
                label: self.stats.names.name(l).to_string(),
                recent: recent.to_vec(),
            })
            .collect();
        v.sort_by(|a, b| (&a.family, &a.label).cmp(&(&b.family, &b.label)));
        v
    }
}

fn fold_state(f: &Fold) -> FoldState {
    let mut keep: Vec<String> = f.keep.values().map(|v| v.to_string()).collect();
    keep.sort();
    let mut activity: Vec<(String, f64)> = f
        .activity
        .values()
        .map(|a| (a.value.to_string(), a.rank))
        .collect();
    activity.sort_by(|a, b| a.0.cmp(&b.0));
    FoldState {
        labels: f.labels.clone(),
        metric: f.metric.as_ref().map(|r| r.as_str().to_string()),
        origin: f.origin,
        started_ms: f.started_ms,
        quiet_since: f.quiet_since,
        keep,
        activity,
    }
}
