//! A target guard's state as plain data ([`GuardState`]): exported from a
//! running [`TargetGuard`] and restored into a new one, so a restart
//! continues where the guard stopped: the same active series, folds,
//! `keep_top` members, member counter values and folded totals. The byte
//! encoding is `persist/` (`docs/format/guard-state.md`).
//!
//! Export clones shared label sets (`Arc`), not strings, so it is cheap
//! enough to run under the guard's lock. What is scratch within one scrape
//! (generations, per-scrape accumulators) is not exported; the restored
//! guard's first scrape behaves as the next scrape of the saved one.

use super::engine::{GROUP_BIT, TargetGuard};
use super::fold::{Activity, Fold, FoldOrigin, MAX_FOLDS};
use super::hash::{labels_hash, value_hash};
use super::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, MAX_GROUP, MAX_TUPLE, Member};
use super::role::Role;
use super::settings::GuardSettings;
use super::state_walk::ExportIndex;
use super::table::{DropReason, Group, NONE, Route, Series};
use crate::labels::Labels;
use crate::series_key::{SeriesKey, SeriesKeyer};
use regex::Regex;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Highest series slot id a restored state may use.
pub const MAX_SLOT: u32 = 1 << 28;

/// Everything a target's guard needs to continue after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardState {
    /// The settings the guard enforced when the state was taken.
    pub settings: GuardSettings,
    /// Timestamp of the last scrape applied.
    pub last_ts_ms: i64,
    /// When the staleness window was last swept.
    pub last_sweep_ms: Option<i64>,
    /// A breach no fold resolved: when, and the scraped series then.
    pub unresolved: Option<(i64, u64)>,
    /// Family names; [`SeriesState::family`] indexes this.
    pub families: Vec<String>,
    /// Active folds, rules and automatic ones.
    pub folds: Vec<FoldState>,
    /// Folded series.
    pub groups: Vec<GroupState>,
    /// Scraped series within the staleness window, by increasing slot.
    pub series: Vec<SeriesState>,
    /// What the last scrape forwarded, in order.
    pub emitted: Vec<Emitted>,
    /// Recent new distinct values per minute, per (family, label name).
    pub growth: Vec<GrowthState>,
    /// The secret of the target's series keys ([`crate::series_key`]), so
    /// saved keys stay valid; `None` in states saved before keys existed.
    pub key_secret: Option<[u8; 16]>,
    /// The values a folded member's labels had where its folded series has
    /// the overflow value (in [`GroupState::replaced`] order), shared by
    /// every member with the same values; [`MemberState::tuple`] indexes it.
    pub tuples: Vec<Vec<String>>,
    /// Folded members, kept as a key and a few numbers each.
    pub members: Vec<MemberState>,
}

/// A folded member: a series merged into a folded series, whose labels are
/// that series' labels with [`GroupState::replaced`] set to its tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberState {
    /// Its series key.
    pub key: u128,
    /// Index into [`GuardState::groups`].
    pub group: u32,
    /// Index into [`GuardState::tuples`].
    pub tuple: u32,
    /// Index into [`GuardState::families`].
    pub family: u32,
    /// Its part in its family.
    pub role: Role,
    /// The target gave an explicit timestamp.
    pub explicit_ts: bool,
    /// Its history is part of its folded series already.
    pub counted: bool,
    /// `last_value` is set.
    pub has_value: bool,
    /// The last value merged.
    pub last_value: f64,
    /// When it was last scraped.
    pub last_seen_ms: i64,
}

/// One fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldState {
    /// Folded labels; the first is ranked by `keep_top`.
    pub labels: Vec<String>,
    /// The anchored metric-name regex of a rule.
    pub metric: Option<String>,
    /// Rule or automatic.
    pub origin: FoldOrigin,
    /// When it started.
    pub started_ms: i64,
    /// Since when its label stayed under half the budget.
    pub quiet_since: Option<i64>,
    /// Values kept as they are (`keep_top`), sorted.
    pub keep: Vec<String>,
    /// Activity rank of the ranked label's values, sorted by value.
    pub activity: Vec<(String, f64)>,
}

/// One folded series.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupState {
    /// Its labels (the folded labels set to the overflow value).
    pub labels: Arc<Labels>,
    /// How its members merge.
    pub role: Role,
    /// Some label was replaced (false: a `keep_top` value kept as it is).
    pub folded: bool,
    /// Running total (counter-like groups).
    pub value: f64,
    /// Names of the labels set to the overflow value, in the order of a
    /// member's tuple.
    pub replaced: Vec<String>,
}

/// Where a series' samples go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// Forwarded as scraped.
    Raw,
    /// Merged into the folded series at this index of [`GuardState::groups`].
    Group(u32),
    /// Not forwarded.
    Dropped(DropReason),
}

/// One scraped series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesState {
    /// Its slot in the guard's table.
    pub slot: u32,
    /// Its series key, once one was seen (`None`: found by labels).
    pub key: Option<u128>,
    /// Its labels.
    pub labels: Arc<Labels>,
    /// Index into [`GuardState::families`].
    pub family: u32,
    /// Its part in its family.
    pub role: Role,
    /// Where it goes.
    pub route: RouteState,
    /// The target gave an explicit timestamp.
    pub explicit_ts: bool,
    /// Its history is part of its folded series already.
    pub counted: bool,
    /// `last_value` is set.
    pub has_value: bool,
    /// The last value forwarded or merged.
    pub last_value: f64,
    /// When it was last scraped.
    pub last_seen_ms: i64,
}

/// Something the last scrape forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// The series in this slot.
    Series(u32),
    /// The folded series at this index of [`GuardState::groups`].
    Group(u32),
}

/// Recent growth of one (family, label name) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthState {
    /// The family.
    pub family: String,
    /// The label name.
    pub label: String,
    /// (minute since the epoch, new distinct values), oldest first.
    pub recent: Vec<(i64, u32)>,
}

/// Why a state could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// An index points outside its list, or a slot repeats.
    #[error("guard state: {what} {index} out of range (limit {limit})")]
    Index {
        /// Which reference.
        what: &'static str,
        /// Its value.
        index: u64,
        /// The bound it broke.
        limit: u64,
    },
    /// A rule or fold regex does not compile.
    #[error("guard state: metric regex {pattern:?}: {message}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// Two members, or a member and a series, share a key.
    #[error("guard state: series key {key:032x} appears twice")]
    RepeatedKey {
        /// The key.
        key: u128,
    },
    /// More folds than a guard can have.
    #[error("guard state: {got} folds, at most {max}")]
    TooManyFolds {
        /// Folds in the state.
        got: usize,
        /// The limit.
        max: usize,
    },
}

fn regex(pattern: &str) -> Result<Regex, RestoreError> {
    Regex::new(pattern).map_err(|e| RestoreError::Regex {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })
}

impl TargetGuard {
    /// The guard's state, for [`TargetGuard::restore`] after a restart.
    /// Members are listed in the member table's order (`state_walk.rs`).
    pub fn export_state(&self) -> GuardState {
        let ix = self.export_index();
        let mut state = self.export_without_members(&ix);
        state.tuples = self
            .tuple_values()
            .map(|t| t.iter().map(|v| v.to_string()).collect())
            .collect();
        let mut members = Vec::with_capacity(self.members.len());
        self.walk_members(&ix, |m| members.push(m.clone()));
        state.members = members;
        state
    }

    /// The guard's state without its tuples and members (the state file's
    /// encoder takes those from the guard as it writes them).
    pub(super) fn export_without_members(&self, ix: &ExportIndex) -> GuardState {
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
            .prev_emitted
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
            last_sweep_ms: self.last_sweep_ms,
            unresolved: self.unresolved.map(|(t, n)| (t, n as u64)),
            families: self.stats.families.names().map(str::to_string).collect(),
            folds: self.folds.iter().map(fold_state).collect(),
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

    /// A guard continuing from `state` and enforcing `settings`. When the
    /// settings differ from the state's, the guard is restored under the
    /// old ones and then reconfigured, as a config reload would do.
    pub fn restore(
        settings: GuardSettings,
        state: &GuardState,
    ) -> Result<TargetGuard, RestoreError> {
        if state.folds.len() > MAX_FOLDS {
            return Err(RestoreError::TooManyFolds {
                got: state.folds.len(),
                max: MAX_FOLDS,
            });
        }
        let mut g = TargetGuard::new(state.settings.clone());
        if let Some(secret) = state.key_secret {
            g.keyer = SeriesKeyer::from_bytes(secret);
        }
        g.folds = state
            .folds
            .iter()
            .map(restore_fold)
            .collect::<Result<_, _>>()?;
        // A name listed twice (never written by levee) gets one id: the
        // file's indexes go through this map.
        let family_ids: Vec<u32> = state
            .families
            .iter()
            .map(|f| g.stats.families.intern(f))
            .collect();
        let mut group_ids = Vec::with_capacity(state.groups.len());
        for gs in &state.groups {
            let labels = gs.labels.clone();
            let rank_fold = g.rank_of(&labels).0;
            group_ids.push(g.groups.insert(Group {
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
        let index = |what, i: u32, len: usize| -> Result<u32, RestoreError> {
            if (i as usize) < len {
                Ok(i)
            } else {
                Err(RestoreError::Index {
                    what,
                    index: u64::from(i),
                    limit: len as u64,
                })
            }
        };
        // Slots are kept (so series are visited in the same order); a table
        // that is mostly holes is renumbered densely, in the same order.
        let n = state.series.len() as u64;
        let max_slot = state.series.last().map_or(0, |s| u64::from(s.slot));
        let dense = max_slot >= 4 * n + 1024;
        let mut renumbered: FxHashMap<u32, u32> = FxHashMap::default();
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
            let slot = if dense {
                renumbered.insert(s.slot, i as u32);
                i as u32
            } else {
                s.slot
            };
            let family = family_ids[index("family", s.family, family_ids.len())? as usize];
            let route = match s.route {
                RouteState::Raw => Route::Raw,
                RouteState::Group(i) => {
                    Route::Group(group_ids[index("group", i, group_ids.len())? as usize])
                }
                RouteState::Dropped(d) => Route::Dropped(d),
            };
            g.stats.add_series(family, &s.labels, state.last_ts_ms);
            g.series.insert_at(
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
            g.set_route(slot, route);
            g.set_rank(slot);
        }
        g.series.finish_restore();
        // Members' ages count from the saved scrape's time, on a clock that
        // is at least every saved scrape's (a sweep's time included).
        g.last_ts_ms = state.last_ts_ms;
        g.epochs.set_now_ms(
            state
                .last_ts_ms
                .max(state.last_sweep_ms.unwrap_or(i64::MIN)),
        );
        g.restore_members(state, &group_ids, &family_ids)?;
        for gr in &state.growth {
            if let (Some(f), Some(l)) = (
                g.stats.families.get(&gr.family),
                g.stats.names.get(&gr.label),
            ) {
                g.stats.set_growth(f, l, gr.recent.clone());
            }
        }
        // The restored guard's next scrape is its generation 2; what the
        // saved one forwarded last is generation 1.
        g.generation = 1;
        for e in &state.emitted {
            match *e {
                Emitted::Series(saved) => {
                    let slot = if dense {
                        renumbered.get(&saved).copied().unwrap_or(NONE)
                    } else {
                        saved
                    };
                    let Some(s) = g.series.get_mut(slot) else {
                        return Err(RestoreError::Index {
                            what: "emitted series",
                            index: u64::from(saved),
                            limit: u64::from(MAX_SLOT),
                        });
                    };
                    s.emitted_gen = 1;
                    g.prev_emitted.push(slot);
                }
                Emitted::Group(i) => {
                    let id = group_ids[index("emitted group", i, group_ids.len())? as usize];
                    if let Some(gr) = g.groups.get_mut(id) {
                        gr.emitted_gen = 1;
                    }
                    g.prev_emitted.push(id | GROUP_BIT);
                }
            }
        }
        g.last_ts_ms = state.last_ts_ms;
        g.last_sweep_ms = state.last_sweep_ms;
        g.unresolved = state.unresolved.map(|(t, n)| (t, n as usize));
        if settings != g.settings {
            g.reconfigure(settings);
        }
        Ok(g)
    }
}

impl TargetGuard {
    fn restore_members(
        &mut self,
        state: &GuardState,
        group_ids: &[u32],
        family_ids: &[u32],
    ) -> Result<(), RestoreError> {
        for ms in &state.members {
            let check = |what, i: u32, len: usize| {
                if (i as usize) < len {
                    Ok(i)
                } else {
                    Err(RestoreError::Index {
                        what,
                        index: u64::from(i),
                        limit: len as u64,
                    })
                }
            };
            let group = group_ids[check("member group", ms.group, group_ids.len())? as usize];
            if group > MAX_GROUP {
                return Err(RestoreError::Index {
                    what: "member group",
                    index: u64::from(group),
                    limit: u64::from(MAX_GROUP),
                });
            }
            let values =
                &state.tuples[check("member tuple", ms.tuple, state.tuples.len())? as usize];
            let family = family_ids[check("member family", ms.family, family_ids.len())? as usize];
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
            let tuple = self.tuples.acquire(values).ok_or(RestoreError::Index {
                what: "member tuple",
                index: u64::from(ms.tuple),
                limit: u64::from(MAX_TUPLE),
            })?;
            let epoch = self.epoch_of(ms.last_seen_ms);
            let mut m = Member::new(group, tuple, 0, epoch, ms.last_value);
            m.set(EXPLICIT_TS, ms.explicit_ts);
            m.set(COUNTED, ms.counted);
            m.set(HAS_VALUE, ms.has_value);
            if let Some(g) = self.groups.get_mut(group) {
                g.family = family;
            }
            let labels = self.member_labels(&m);
            self.stats.add_series(family, &labels, state.last_ts_ms);
            self.members.insert(key, m);
            self.move_counts(
                Route::Dropped(DropReason::Budget),
                Route::Group(group),
                true,
            );
        }
        Ok(())
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

fn restore_fold(s: &FoldState) -> Result<Fold, RestoreError> {
    let metric = s.metric.as_deref().map(regex).transpose()?;
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

/// A role's byte in the state file.
pub fn role_byte(r: Role) -> u8 {
    match r {
        Role::Cumulative => 0,
        Role::Gauge => 1,
        Role::Quantile => 2,
        Role::Created => 3,
    }
}

/// The role of a byte of the state file.
pub fn role_of(b: u8) -> Option<Role> {
    Some(match b {
        0 => Role::Cumulative,
        1 => Role::Gauge,
        2 => Role::Quantile,
        3 => Role::Created,
        _ => return None,
    })
}
