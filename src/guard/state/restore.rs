//! A guard built from a decoded [`GuardState`], one step per part of the
//! state: folds (with the unresolved breach and the last sweep), families, folded series, labeled series (in their saved
//! slots), the member clock, folded members, growth, and what the last
//! scrape forwarded. Every reference between the state's lists is checked
//! as it is followed ([`RestoreError`]), so a damaged file that decodes is
//! refused, never a panic or a guard whose tables disagree.

use super::{Emitted, FoldState, GuardState, MAX_SLOT, RestoreError, RouteState};
use crate::guard::engine::{GROUP_BIT, TargetGuard};
use crate::guard::fold::{Activity, Fold, MAX_FOLDS};
use crate::guard::fold_decisions::FoldDecisions;
use crate::guard::hash::{labels_hash, value_hash};
use crate::guard::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, MAX_GROUP, MAX_TUPLE};
use crate::guard::settings::GuardSettings;
use crate::guard::table::{DropReason, Group, NONE, Route, Series};
use crate::series_key::{SeriesKey, SeriesKeyer};
use regex::Regex;
use rustc_hash::FxHashMap;

/// The guard's ids of what the state numbers by position.
struct Ids {
    /// Family position → the guard's family id.
    families: Vec<u32>,
    /// Folded-series position → the guard's group id.
    groups: Vec<u32>,
    /// Saved series slot → the guard's slot.
    slots: Slots,
}

/// Where saved series slots go: kept, so series are visited in the same
/// order; or, for a table that is mostly holes, renumbered densely in the
/// same order.
enum Slots {
    Kept,
    Renumbered(FxHashMap<u32, u32>),
}

impl Slots {
    /// The guard's slot of saved slot `saved` (`NONE`: no series had it).
    fn get(&self, saved: u32) -> u32 {
        match self {
            Slots::Kept => saved,
            Slots::Renumbered(m) => m.get(&saved).copied().unwrap_or(NONE),
        }
    }
}

/// `ids[i]`, when `i` is a position of `ids`.
fn lookup(what: &'static str, i: u32, ids: &[u32]) -> Result<u32, RestoreError> {
    ids.get(i as usize).copied().ok_or(RestoreError::Index {
        what,
        index: u64::from(i),
        limit: ids.len() as u64,
    })
}

impl TargetGuard {
    /// A guard continuing from `state` and enforcing `settings`. When the
    /// settings differ from the state's, the guard is restored under the
    /// old ones and then reconfigured, as a config reload would do.
    pub fn restore(
        settings: GuardSettings,
        state: &GuardState,
    ) -> Result<TargetGuard, RestoreError> {
        let mut g = TargetGuard::new(state.settings.clone());
        if let Some(secret) = state.key_secret {
            g.keyer = SeriesKeyer::from_bytes(secret);
        }
        g.restore_folds(state)?;
        let families = g.intern_families(state);
        let groups = g.restore_groups(state);
        let slots = g.restore_series(state, &families, &groups)?;
        let ids = Ids {
            families,
            groups,
            slots,
        };
        g.restore_clock(state);
        g.restore_members(state, &ids)?;
        g.restore_growth(state);
        g.restore_emitted(state, &ids)?;
        if settings != g.settings {
            g.reconfigure(settings);
        }
        Ok(g)
    }

    /// The folds, the unresolved breach and the last sweep.
    fn restore_folds(&mut self, state: &GuardState) -> Result<(), RestoreError> {
        let folds = &state.folds;
        if folds.len() > MAX_FOLDS {
            return Err(RestoreError::TooManyFolds {
                got: folds.len(),
                max: MAX_FOLDS,
            });
        }
        self.decisions = FoldDecisions::restore(
            folds.iter().map(restore_fold).collect::<Result<_, _>>()?,
            state.unresolved.map(|(t, n)| (t, n as usize)),
            state.last_sweep_ms,
        );
        Ok(())
    }

    /// The guard's id of each family name. A name listed twice (never
    /// written by levee) gets one id: the state's indexes go through this.
    fn intern_families(&mut self, state: &GuardState) -> Vec<u32> {
        state
            .families
            .iter()
            .map(|f| self.stats.families.intern(f))
            .collect()
    }

    /// The folded series, empty (their members and series join them
    /// next); their ids by position.
    fn restore_groups(&mut self, state: &GuardState) -> Vec<u32> {
        let mut ids = Vec::with_capacity(state.groups.len());
        for gs in &state.groups {
            let labels = gs.labels.clone();
            let rank_fold = self.rank_of(&labels).0;
            ids.push(self.groups.insert(Group {
                family: 0,
                rank_fold,
                hash: labels_hash(&labels),
                labels,
                next: NONE,
                role: gs.role,
                folded: gs.folded,
                value: gs.value,
                acc: Default::default(),
                replaced: gs.replaced.iter().map(|n| n.as_str().into()).collect(),
                members: 0,
                compact: 0,
                touched_gen: 0,
                emitted_gen: 0,
            }));
        }
        ids
    }

    /// The labeled series, in increasing slots below [`MAX_SLOT`], each
    /// routed as saved and counted in the statistics.
    fn restore_series(
        &mut self,
        state: &GuardState,
        families: &[u32],
        groups: &[u32],
    ) -> Result<Slots, RestoreError> {
        let n = state.series.len() as u64;
        let max_slot = state.series.last().map_or(0, |s| u64::from(s.slot));
        let mut slots = if max_slot >= 4 * n + 1024 {
            Slots::Renumbered(FxHashMap::default())
        } else {
            Slots::Kept
        };
        let mut prev_slot: Option<u32> = None;
        for (i, s) in state.series.iter().enumerate() {
            if s.slot >= MAX_SLOT || prev_slot.is_some_and(|p| s.slot <= p) {
                return Err(RestoreError::Index {
                    what: "series slot",
                    index: u64::from(s.slot),
                    limit: u64::from(MAX_SLOT),
                });
            }
            prev_slot = Some(s.slot);
            let slot = match &mut slots {
                Slots::Kept => s.slot,
                Slots::Renumbered(m) => {
                    m.insert(s.slot, i as u32);
                    i as u32
                }
            };
            let family = lookup("family", s.family, families)?;
            let route = match s.route {
                RouteState::Raw => Route::Raw,
                RouteState::Group(i) => Route::Group(lookup("group", i, groups)?),
                RouteState::Dropped(d) => Route::Dropped(d),
            };
            self.stats.add_series(family, &s.labels, state.last_ts_ms);
            self.series.insert_at(
                slot,
                Series {
                    hash: labels_hash(&s.labels),
                    labels: s.labels.clone(),
                    key: s.key.map(SeriesKey::from_u128),
                    next: NONE,
                    family,
                    role: s.role,
                    route: Route::Dropped(DropReason::Budget),
                    explicit_ts: s.explicit_ts,
                    counted: s.counted,
                    has_value: s.has_value,
                    last_value: s.last_value,
                    last_seen_ms: s.last_seen_ms,
                    seen_gen: 0,
                    emitted_gen: 0,
                    rank_fold: NONE,
                    rank_value: 0,
                },
            );
            self.set_route(slot, route);
            self.set_rank(slot);
        }
        self.series.finish_restore();
        Ok(slots)
    }

    /// The saved scrape's time. Members' ages count from it, on a clock
    /// that is at least every saved scrape's (a sweep's time included).
    fn restore_clock(&mut self, state: &GuardState) {
        self.last_ts_ms = state.last_ts_ms;
        self.members.set_clock(
            state
                .last_ts_ms
                .max(state.last_sweep_ms.unwrap_or(i64::MIN)),
        );
    }

    /// The folded members, each with its tuple, in its folded series
    /// (whose family is the members').
    fn restore_members(&mut self, state: &GuardState, ids: &Ids) -> Result<(), RestoreError> {
        for ms in &state.members {
            let group = lookup("member group", ms.group, &ids.groups)?;
            if group > MAX_GROUP {
                return Err(RestoreError::Index {
                    what: "member group",
                    index: u64::from(group),
                    limit: u64::from(MAX_GROUP),
                });
            }
            let values = state
                .tuples
                .get(ms.tuple as usize)
                .ok_or(RestoreError::Index {
                    what: "member tuple",
                    index: u64::from(ms.tuple),
                    limit: state.tuples.len() as u64,
                })?;
            let family = lookup("member family", ms.family, &ids.families)?;
            let names = self.groups.get(group).map_or(0, |g| g.replaced.len());
            if values.len() != names {
                return Err(RestoreError::Index {
                    what: "member tuple length",
                    index: values.len() as u64,
                    limit: names as u64,
                });
            }
            let key = SeriesKey::from_u128(ms.key);
            if self.members.get(&key).is_some() || self.series.find_key(&key).is_some() {
                return Err(RestoreError::RepeatedKey { key: ms.key });
            }
            let mut flags = 0;
            for (flag, on) in [
                (EXPLICIT_TS, ms.explicit_ts),
                (COUNTED, ms.counted),
                (HAS_VALUE, ms.has_value),
            ] {
                if on {
                    flags |= flag;
                }
            }
            let epoch = self.epoch_of(ms.last_seen_ms);
            let m = self
                .members
                .insert(key, group, values, flags, epoch, ms.last_value)
                .ok_or(RestoreError::Index {
                    what: "member tuple",
                    index: u64::from(ms.tuple),
                    limit: u64::from(MAX_TUPLE),
                })?;
            if let Some(g) = self.groups.get_mut(group) {
                g.family = family;
            }
            let labels = self.member_labels(&m);
            self.stats.add_series(family, &labels, state.last_ts_ms);
            self.move_counts(
                Route::Dropped(DropReason::Budget),
                Route::Group(group),
                true,
            );
        }
        Ok(())
    }

    /// The growth history of the (family, label) pairs the series and
    /// members brought; the others' is dropped.
    fn restore_growth(&mut self, state: &GuardState) {
        for gr in &state.growth {
            if let (Some(f), Some(l)) = (
                self.stats.families.get(&gr.family),
                self.stats.names.get(&gr.label),
            ) {
                self.stats.set_growth(f, l, gr.recent.clone());
            }
        }
    }

    /// What the saved guard forwarded last, as its generation 1: the
    /// restored guard's next scrape is generation 2 and writes the
    /// staleness markers the saved one's next scrape would have.
    fn restore_emitted(&mut self, state: &GuardState, ids: &Ids) -> Result<(), RestoreError> {
        self.generation = 1;
        for e in &state.emitted {
            match *e {
                Emitted::Series(saved) => {
                    let slot = ids.slots.get(saved);
                    let Some(s) = self.series.get_mut(slot) else {
                        return Err(RestoreError::Index {
                            what: "emitted series",
                            index: u64::from(saved),
                            limit: u64::from(MAX_SLOT),
                        });
                    };
                    s.emitted_gen = 1;
                    self.forwarded.restore_previous(slot);
                }
                Emitted::Group(i) => {
                    let id = lookup("emitted group", i, &ids.groups)?;
                    if let Some(gr) = self.groups.get_mut(id) {
                        gr.emitted_gen = 1;
                    }
                    self.forwarded.restore_previous(id | GROUP_BIT);
                }
            }
        }
        Ok(())
    }
}

fn restore_fold(s: &FoldState) -> Result<Fold, RestoreError> {
    let metric = s
        .metric
        .as_deref()
        .map(|pattern| {
            Regex::new(pattern).map_err(|source| RestoreError::Regex {
                pattern: pattern.to_string(),
                source,
            })
        })
        .transpose()?;
    let mut f = Fold::new(s.labels.clone(), metric, s.origin, s.started_ms);
    f.quiet_since = s.quiet_since;
    for v in &s.keep {
        f.keep.insert(value_hash(v), v.as_str().into());
    }
    for (v, rank) in &s.activity {
        f.activity.insert(
            value_hash(v),
            Activity {
                value: v.as_str().into(),
                rank: *rank,
                scrape: 0.0,
            },
        );
    }
    Ok(f)
}
