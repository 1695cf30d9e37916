//! Admission: each scraped sample finds (or becomes) its series in the
//! guard's table, is routed through the current folds, and, with
//! `budget_action: drop`, a new series past the budget is dropped.

use super::engine::TargetGuard;
use super::hash::labels_hash;
use super::report::ScrapeReport;
use super::role::classify;
use super::route::Planned;
use super::settings::BudgetAction;
use super::table::{DropReason, NONE, Route, Series};
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::series_key::SeriesKey;
use std::sync::Arc;

impl TargetGuard {
    pub(super) fn admit(
        &mut self,
        s: &Sample,
        key: Option<SeriesKey>,
        slot: u32,
        kind: MetricType,
        ts_ms: i64,
        report: &mut ScrapeReport,
    ) -> u32 {
        let found = key.and_then(|k| {
            self.series
                .find_key_at(&k, slot)
                .or_else(|| self.series.find_key(&k))
        });
        let (id, created) = match found {
            Some(id) => (id, false),
            None => {
                let hash = labels_hash(&s.labels);
                match self.series.find_content(&s.labels, hash) {
                    Some(id) => {
                        // A series restored without a key gets this one; two
                        // series relabeled alike keep the first one's.
                        if let Some(k) = key
                            && self.series.get(id).is_some_and(|s| s.key.is_none())
                        {
                            self.series.set_key(id, k);
                        }
                        (id, false)
                    }
                    None => (self.create(&s.labels, key, hash, kind, ts_ms, report), true),
                }
            }
        };
        let generation = self.generation;
        let Some(series) = self.series.get_mut(id) else {
            return NONE;
        };
        if series.seen_gen == generation {
            report.duplicate_samples += 1;
            return NONE;
        }
        series.seen_gen = generation;
        series.last_seen_ms = ts_ms;
        series.explicit_ts = s.timestamp_ms != ts_ms;
        if !created && series.route == Route::Dropped(DropReason::Budget) {
            self.readmit(id);
        }
        id
    }

    pub(super) fn create(
        &mut self,
        labels: &Arc<Labels>,
        key: Option<SeriesKey>,
        hash: u64,
        kind: MetricType,
        ts_ms: i64,
        report: &mut ScrapeReport,
    ) -> u32 {
        let name = labels.metric_name().unwrap_or("");
        let (family_name, role) = classify(name, kind);
        let family = self.stats.families.intern(family_name);
        self.stats.add_series(family, labels, ts_ms);
        let id = self.series.insert(Series {
            labels: labels.clone(),
            key,
            hash,
            next: NONE,
            family,
            role,
            route: Route::Dropped(DropReason::Budget),
            explicit_ts: false,
            counted: false,
            has_value: false,
            last_value: 0.0,
            last_seen_ms: ts_ms,
            seen_gen: 0,
            emitted_gen: 0,
            rank_fold: NONE,
            rank_value: 0,
        });
        self.scrape.push_created(id);
        self.set_rank(id);
        let planned = self.plan(id);
        let budget = self.budget();
        let adds_output = matches!(planned, Planned::Raw | Planned::NewGroup { .. });
        if self.settings.action == BudgetAction::Drop
            && budget > 0
            && adds_output
            && self.active_series() as u64 >= budget
        {
            report.dropped_series += 1;
            if self.decisions.note_drop(ts_ms, self.series.len()) {
                report.offenders.push(self.drop_offender());
            }
            return id;
        }
        let route = self.materialize(id, planned);
        self.set_route(id, route);
        id
    }

    /// A series dropped for the budget gets in when there is room again.
    pub(super) fn readmit(&mut self, id: u32) {
        let budget = self.budget();
        let planned = self.plan(id);
        let fits = match planned {
            Planned::Group(_) | Planned::Quantile => true,
            Planned::Raw | Planned::NewGroup { .. } => {
                budget == 0 || (self.active_series() as u64) < budget
            }
        };
        if fits {
            let route = self.materialize(id, planned);
            self.set_route(id, route);
            if let Some(s) = self.series.get_mut(id) {
                s.counted = false;
            }
        }
    }
}
