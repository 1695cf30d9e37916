//! The self-metrics of pushed sources' budgets, by `source`, mirroring a
//! scrape target's (`levee_target_*`, `levee_guard_*` by job and instance):
//! active series, budget in force, series merged into folded series, fold
//! events, dropped series and samples, samples merged. Updated by
//! [`super::SourceGuards`] after every push; a source's gauges go when the
//! source does.

use super::pushed::PushReport;
use super::settings::BudgetAction;
use crate::selfmon::{Counter, Family, Gauge, Registry};
use std::sync::Arc;

/// Every `levee_source_*` metric.
pub struct SourceMetrics {
    /// `levee_source_active_series{source}`.
    pub active_series: Arc<Family<Gauge>>,
    /// `levee_source_series_budget{source}`.
    pub series_budget: Arc<Family<Gauge>>,
    /// `levee_source_folded_series{source}`.
    pub folded_series: Arc<Family<Gauge>>,
    /// `levee_source_fold_events_total{source,label}`.
    pub fold_events: Arc<Family<Counter>>,
    /// `levee_source_dropped_series_total{source}`.
    pub dropped_series: Arc<Family<Counter>>,
    /// `levee_source_dropped_samples_total{source,reason}`.
    pub dropped_samples: Arc<Family<Counter>>,
    /// `levee_source_folded_samples_total{source}`.
    pub folded_samples: Arc<Family<Counter>>,
}

impl std::fmt::Debug for SourceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceMetrics")
    }
}

impl SourceMetrics {
    /// Registers the metrics in `reg`.
    pub fn new(reg: &Registry) -> SourceMetrics {
        SourceMetrics {
            active_series: reg.gauge_vec(
                "levee_source_active_series",
                "Active series of a remote-write source as forwarded (a folded series counts once).",
                &["source"],
            ),
            series_budget: reg.gauge_vec(
                "levee_source_series_budget",
                "Series budget in force for a remote-write source (0: none).",
                &["source"],
            ),
            folded_series: reg.gauge_vec(
                "levee_source_folded_series",
                "Pushed series currently merged into folded series.",
                &["source"],
            ),
            fold_events: reg.counter_vec(
                "levee_source_fold_events_total",
                "Folds started on a source's budget breach, by folded label.",
                &["source", "label"],
            ),
            dropped_series: reg.counter_vec(
                "levee_source_dropped_series_total",
                "New pushed series dropped for the series budget.",
                &["source"],
            ),
            dropped_samples: reg.counter_vec(
                "levee_source_dropped_samples_total",
                "Pushed samples not forwarded by the guard, by reason.",
                &["source", "reason"],
            ),
            folded_samples: reg.counter_vec(
                "levee_source_folded_samples_total",
                "Pushed samples merged into folded series.",
                &["source"],
            ),
        }
    }

    /// Records one push of `source`.
    pub fn record(&self, source: &str, r: &PushReport) {
        let s = [source];
        self.active_series.with(&s).set(r.active_series as f64);
        self.series_budget.with(&s).set(r.budget as f64);
        self.folded_series.with(&s).set(r.folded_series as f64);
        self.dropped_series.with(&s).add(r.dropped_series);
        self.folded_samples.with(&s).add(r.folded);
        for (reason, n) in [
            ("budget", r.dropped_budget),
            ("summary_quantile", r.dropped_quantile),
        ] {
            if n > 0 {
                self.dropped_samples.with(&[source, reason]).add(n);
            }
        }
        for o in &r.offenders {
            if o.action == BudgetAction::Fold {
                self.fold_events.with(&[source, &o.label]).inc();
            }
        }
    }

    /// A source went (nothing left in its window): its gauges go.
    pub fn forget(&self, source: &str) {
        let s = [source];
        self.active_series.remove(&s);
        self.series_budget.remove(&s);
        self.folded_series.remove(&s);
    }
}
