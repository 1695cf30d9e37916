//! Forwarding: raw samples pass, folded members are merged, folded series
//! are written once per scrape, staleness markers go out for what stopped,
//! `keep_top` is re-ranked, and series leave when the window passes.

use super::engine::{GROUP_BIT, TargetGuard};
use super::fold::Activity;
use super::merge::member_increase;
use super::report::ScrapeReport;
use super::role::{Role, counts_events};
use super::table::{DropReason, NONE, Route, shrink_vec};
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::value::stale_nan;
use std::sync::Arc;

/// A member's merge state, as [`TargetGuard::merge_sample`] reads and
/// updates it.
#[derive(Debug, Clone, Copy)]
pub(super) struct MergeState {
    pub counted: bool,
    pub has_value: bool,
    pub last_value: f64,
}

impl TargetGuard {
    /// Handles one admitted sample; true when it is forwarded as it is.
    pub(super) fn forward(&mut self, id: u32, sample: &Sample, report: &mut ScrapeReport) -> bool {
        let generation = self.generation;
        let Some(s) = self.series.get_mut(id) else {
            return false;
        };
        match s.route {
            Route::Raw => {
                if !sample.value.is_nan() {
                    s.last_value = sample.value;
                    s.has_value = true;
                }
                self.forwarded.forward(id, &mut s.emitted_gen, generation);
                report.samples_out += 1;
                return true;
            }
            Route::Dropped(DropReason::Budget) => report.dropped_budget_samples += 1,
            Route::Dropped(DropReason::Quantile) => report.dropped_quantile_samples += 1,
            Route::Group(g) => {
                let mut st = MergeState {
                    counted: s.counted,
                    has_value: s.has_value,
                    last_value: s.last_value,
                };
                let (role, rank_fold, rank_value) = (s.role, s.rank_fold, s.rank_value);
                let increase = self.merge_sample(g, role, &mut st, sample.value);
                if let Some(s) = self.series.get_mut(id) {
                    s.counted = st.counted;
                    s.has_value = st.has_value;
                    s.last_value = st.last_value;
                }
                if let Some(inc) = increase
                    && rank_fold != NONE
                    && counts_events(sample.labels.metric_name().unwrap_or(""), role)
                {
                    let value = self
                        .decisions
                        .folds()
                        .get(rank_fold as usize)
                        .and_then(|f| sample.labels.get(f.primary()))
                        .unwrap_or("");
                    self.add_activity(rank_fold, rank_value, value, inc);
                }
            }
        }
        false
    }

    /// Merges one member sample into folded series `g`: counters add their
    /// increase (returned when the member had a previous value, for the
    /// `keep_top` ranking), others join this scrape's accumulator.
    pub(super) fn merge_sample(
        &mut self,
        g: u32,
        role: Role,
        st: &mut MergeState,
        v: f64,
    ) -> Option<f64> {
        let generation = self.generation;
        let group = self.groups.get_mut(g)?;
        if group.touched_gen != generation {
            group.touched_gen = generation;
            group.acc = Default::default();
            self.touched.push(g);
        }
        if role != Role::Cumulative {
            group.acc.add(role, self.settings.gauge_fold, v);
            return None;
        }
        if v.is_nan() {
            return None;
        }
        let previous = st.counted.then_some(st.last_value);
        let increase = member_increase(previous, v);
        group.value += increase;
        st.last_value = v;
        st.has_value = true;
        st.counted = true;
        previous.map(|_| increase)
    }

    /// Adds a member's increase to the activity of its value in fold
    /// `fold` (by `hash`; `value` names it when it is new).
    pub(super) fn add_activity(&mut self, fold: u32, hash: u64, value: &str, inc: f64) {
        if let Some(fold) = self.decisions.get_mut(fold as usize) {
            fold.activity
                .entry(hash)
                .or_insert_with(|| Activity {
                    value: value.into(),
                    rank: 0.0,
                    scrape: 0.0,
                })
                .scrape += inc;
        }
    }

    pub(super) fn emit_groups(
        &mut self,
        ts_ms: i64,
        out: &mut Vec<Sample>,
        report: &mut ScrapeReport,
    ) {
        let generation = self.generation;
        let mut touched = std::mem::take(&mut self.touched);
        for &g in &touched {
            let Some(group) = self.groups.get_mut(g) else {
                continue;
            };
            let value = if group.role == Role::Cumulative {
                group.value
            } else {
                group.acc.value
            };
            out.push(Sample {
                labels: group.labels.clone(),
                timestamp_ms: ts_ms,
                value,
            });
            self.forwarded
                .forward(g | GROUP_BIT, &mut group.emitted_gen, generation);
            report.samples_out += 1;
        }
        touched.clear();
        self.touched = touched;
    }

    /// Staleness markers for what the previous scrape forwarded and this one
    /// did not (unless the same label set was forwarded the other way:
    /// a kept value switching between raw and its own folded series).
    pub(super) fn mark_stale(
        &mut self,
        ts_ms: i64,
        out: &mut Vec<Sample>,
        report: &mut ScrapeReport,
    ) {
        let generation = self.generation;
        let prev = self.forwarded.take_maybe_stale();
        for &r in &prev {
            let labels = if r & GROUP_BIT != 0 {
                let Some(g) = self.groups.get(r & !GROUP_BIT) else {
                    continue;
                };
                if g.emitted_gen == generation {
                    continue;
                }
                let raw_now = self
                    .series
                    .find_content(&g.labels, g.hash)
                    .and_then(|id| self.series.get(id))
                    .is_some_and(|s| s.emitted_gen == generation);
                if raw_now {
                    continue;
                }
                g.labels.clone()
            } else {
                let Some(s) = self.series.get(r) else {
                    continue;
                };
                if s.emitted_gen == generation || s.explicit_ts {
                    continue;
                }
                let group_now = self
                    .groups
                    .find(s.hash, |l| *l == *s.labels)
                    .and_then(|g| self.groups.get(g))
                    .is_some_and(|g| g.emitted_gen == generation);
                if group_now {
                    continue;
                }
                s.labels.clone()
            };
            out.push(stale(labels, ts_ms));
            report.stale_markers += 1;
        }
        self.forwarded.end(prev);
    }

    pub(super) fn rerank(&mut self) {
        let keep_top = self.settings.keep_top;
        if keep_top == 0 {
            return;
        }
        let mut changed = false;
        for f in self.decisions.iter_mut() {
            changed |= f.rerank(keep_top);
        }
        if changed {
            self.reroute_all();
        }
    }

    /// Folded series left without members go once their staleness marker
    /// is written.
    pub(super) fn drop_empty_groups(&mut self) {
        let generation = self.generation;
        let empty: Vec<u32> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members == 0 && g.emitted_gen != generation)
            .map(|(id, _)| id)
            .collect();
        for id in empty {
            self.groups.remove(id);
        }
    }

    /// Series not seen for the staleness window leave (checked every tenth
    /// of a window, so memory is freed within 1.1 windows), before the
    /// scrape is admitted so their room is free for it. `clock_moved`: how
    /// far the member clock moved at this scrape; more than a window, and
    /// every member goes (see [`super::epoch`] for why both keep members'
    /// 8-bit ages from wrapping).
    pub(super) fn expire(&mut self, ts_ms: i64, clock_moved: i64) {
        let window = self.settings.staleness_window_ms.max(1);
        let all_members = clock_moved > window;
        if !self.decisions.sweep_due(ts_ms, window, all_members) {
            return;
        }
        let cutoff = ts_ms.saturating_sub(window);
        let old: Vec<u32> = self
            .series
            .iter()
            .filter(|(_, s)| s.last_seen_ms < cutoff)
            .map(|(id, _)| id)
            .collect();
        for id in old {
            self.set_route(id, Route::Dropped(DropReason::Budget));
            if let Some(s) = self.series.remove(id) {
                self.stats.remove_series(s.family, &s.labels);
            }
        }
        self.expire_members(all_members);
        let (series, groups) = (&self.series, &self.groups);
        self.forwarded.retain_previous(|&r| {
            if r & GROUP_BIT != 0 {
                groups.get(r & !GROUP_BIT).is_some()
            } else {
                series.get(r).is_some()
            }
        });
        // Memory of what left goes back now, not when the target does.
        self.series.compact();
        self.groups.compact();
        self.stats.compact();
        self.forwarded.shrink();
        shrink_vec(&mut self.touched);
        self.scrape.shrink();
    }
}

/// A staleness marker for `labels`.
pub(super) fn stale(labels: Arc<Labels>, ts_ms: i64) -> Sample {
    Sample {
        labels,
        timestamp_ms: ts_ms,
        value: stale_nan(),
    }
}
