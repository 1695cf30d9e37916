//! The guard in the scrape path: each guarded target's [`TargetGuard`]
//! with the family types of the current scrape, its self-metrics
//! (`levee_target_*`, `levee_guard_*` by job and instance), its log lines
//! (one WARN per new offender), and its share of the whole-agent ceiling
//! (`guard.max_series`, whose policy is [`crate::guard::Ceiling`]'s).

use super::target::Target;
use crate::exposition::MetricType;
use crate::guard::{Ceiling, CeilingShare, GuardError, Offender, ScrapeReport, TargetGuard};
use crate::pipeline::Sample;
use crate::selfmon::{Counter, Family, Gauge, Registry};
use crate::series_key::{SeriesKey, SeriesKeyer};
use parking_lot::Mutex;
use std::sync::Arc;

/// The guard's self-metrics, shared by every scrape loop.
pub struct GuardMetrics {
    /// `levee_target_active_series{job,instance}`.
    pub active_series: Arc<Family<Gauge>>,
    /// `levee_target_series_budget{job,instance}`.
    pub series_budget: Arc<Family<Gauge>>,
    /// `levee_guard_folded_series{job,instance}`.
    pub folded_series: Arc<Family<Gauge>>,
    /// `levee_guard_fold_events_total{job,instance,label}`.
    pub fold_events: Arc<Family<Counter>>,
    /// `levee_guard_dropped_series_total{job,instance}`.
    pub dropped_series: Arc<Family<Counter>>,
    /// `levee_guard_dropped_samples_total{job,instance,reason}`.
    pub dropped_samples: Arc<Family<Counter>>,
}

impl GuardMetrics {
    /// Registers the guard metrics in `reg`.
    pub fn new(reg: &Registry) -> Self {
        GuardMetrics {
            active_series: reg.gauge_vec(
                "levee_target_active_series",
                "Active series of a guarded target as forwarded (a folded series counts once).",
                &["job", "instance"],
            ),
            series_budget: reg.gauge_vec(
                "levee_target_series_budget",
                "Series budget in force for a target (0: none).",
                &["job", "instance"],
            ),
            folded_series: reg.gauge_vec(
                "levee_guard_folded_series",
                "Scraped series currently merged into folded series.",
                &["job", "instance"],
            ),
            fold_events: reg.counter_vec(
                "levee_guard_fold_events_total",
                "Folds started on a budget breach, by folded label.",
                &["job", "instance", "label"],
            ),
            dropped_series: reg.counter_vec(
                "levee_guard_dropped_series_total",
                "New series dropped for the series budget.",
                &["job", "instance"],
            ),
            dropped_samples: reg.counter_vec(
                "levee_guard_dropped_samples_total",
                "Samples not forwarded by the guard, by reason.",
                &["job", "instance", "reason"],
            ),
        }
    }
}

/// One target's guard in its scrape loop.
pub struct GuardedTarget {
    guard: Arc<Mutex<TargetGuard>>,
    /// Family type of each sample of the scrape in progress.
    pub kinds: Vec<MetricType>,
    /// Series key of each sample of the scrape in progress (same order and
    /// length as `kinds` and the batch the guard sees).
    pub keys: Vec<SeriesKey>,
    /// The guard's slot of each sample's series as the scrape cache
    /// remembers it (`guard::NO_SLOT`: none), same order as `keys`.
    pub slots: Vec<u32>,
    job: String,
    instance: String,
    metrics: Arc<GuardMetrics>,
    ceiling: Option<CeilingShare>,
}

impl GuardedTarget {
    /// The guard of `target`, when its job or target label asks for one.
    pub fn for_target(target: &Target, metrics: Arc<GuardMetrics>) -> Option<GuardedTarget> {
        let cfg = &target.job.guard;
        if !cfg.is_active() && target.series_budget.is_none() {
            return None;
        }
        let settings = cfg.settings(target.series_budget);
        let job = target.job.name.clone();
        let instance = target
            .labels
            .get("instance")
            .unwrap_or_default()
            .to_string();
        metrics
            .series_budget
            .with(&[&job, &instance])
            .set(settings.series_budget as f64);
        Some(GuardedTarget {
            guard: Arc::new(Mutex::new(TargetGuard::new(settings))),
            kinds: Vec::new(),
            keys: Vec::new(),
            slots: Vec::new(),
            job,
            instance,
            metrics,
            ceiling: None,
        })
    }

    /// Continues from a saved state (a restart). A state that cannot be
    /// restored is logged and the guard starts empty.
    pub fn restore(&mut self, state: &crate::guard::GuardState) {
        let mut guard = self.guard.lock();
        match TargetGuard::restore(guard.settings().clone(), state) {
            Ok(restored) => *guard = restored,
            Err(e) => tracing::error!(
                job = %self.job,
                instance = %self.instance,
                error = %e,
                "guard state not restored; the target's guard starts empty"
            ),
        }
    }

    /// Joins the whole-agent ceiling.
    pub fn join_ceiling(&mut self, ceiling: &Arc<Ceiling>) {
        self.ceiling = Some(ceiling.join());
    }

    /// The keyer of the target's series keys, as the guard holds it now
    /// (a [`restore`](Self::restore) replaces the guard, and its keyer).
    pub fn keyer(&self) -> SeriesKeyer {
        self.guard.lock().keyer()
    }

    /// The guard, for the cardinality API.
    pub fn shared(&self) -> Arc<Mutex<TargetGuard>> {
        self.guard.clone()
    }

    /// Runs a successful scrape's samples (in `batch`, with `self.kinds`,
    /// `self.keys` and `self.slots`) through the guard; `batch` becomes
    /// what is forwarded, staleness markers included. `remember(key, slot)`
    /// is called for each series whose slot in the guard is not the one
    /// given. Returns the markers written.
    pub fn apply(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
        mut remember: impl FnMut(SeriesKey, u32),
    ) -> Result<u64, GuardError> {
        let mut guard = self.guard.lock();
        if let Some(c) = &mut self.ceiling {
            let hold = c.hold(guard.active_series());
            guard.set_ceiling(hold);
        }
        let keys = &self.keys;
        let result = guard.finish(ts_ms, batch, &self.kinds, keys, &self.slots, |i, slot| {
            if let Some(&key) = keys.get(i) {
                remember(key, slot);
            }
        });
        let active = guard.active_series();
        drop(guard);
        self.clear();
        let report = result?;
        self.record(&report, active);
        Ok(report.stale_markers)
    }

    /// Calls `f` with the key of every series the last scrape made a
    /// compact member: its samples are merged by key from now on, so the
    /// scrape cache lets its labels go.
    pub fn for_each_demoted(&self, f: impl FnMut(&SeriesKey)) {
        let demoted = self.guard.lock().take_demoted();
        demoted.iter().for_each(f);
    }

    /// Starts a scrape: from now until [`GuardedTarget::apply`] or
    /// [`GuardedTarget::abort`], samples of folded members are merged as
    /// they are parsed (`TargetGuard::merge_member`).
    pub fn begin(&mut self, ts_ms: i64) {
        self.clear();
        self.guard.lock().begin(ts_ms);
    }

    /// Pushes one sample's family type, series key and remembered slot.
    pub fn push(&mut self, kind: MetricType, key: SeriesKey, slot: u32) {
        self.kinds.push(kind);
        self.keys.push(key);
        self.slots.push(slot);
    }

    fn clear(&mut self) {
        self.kinds.clear();
        self.keys.clear();
        self.slots.clear();
    }

    /// A failed scrape or a removed target: staleness markers for what the
    /// guard forwarded last, appended to `batch`.
    pub fn abort(&mut self, ts_ms: i64, batch: &mut Vec<Sample>) -> u64 {
        self.clear();
        self.guard.lock().abort(ts_ms, batch)
    }

    fn record(&mut self, r: &ScrapeReport, active: usize) {
        let (job, inst) = (self.job.as_str(), self.instance.as_str());
        let m = &self.metrics;
        m.active_series.with(&[job, inst]).set(active as f64);
        m.series_budget.with(&[job, inst]).set(r.budget as f64);
        m.folded_series
            .with(&[job, inst])
            .set(r.folded_series as f64);
        m.dropped_series.with(&[job, inst]).add(r.dropped_series);
        for (reason, n) in [
            ("budget", r.dropped_budget_samples),
            ("summary_quantile", r.dropped_quantile_samples),
        ] {
            if n > 0 {
                m.dropped_samples.with(&[job, inst, reason]).add(n);
            }
        }
        for o in &r.offenders {
            if o.action == crate::guard::BudgetAction::Fold {
                m.fold_events.with(&[job, inst, &o.label]).inc();
            }
            log_offender(job, inst, o);
        }
        for label in &r.lifted {
            tracing::info!(job, instance = inst, label = %label, "series budget: fold lifted");
        }
        if let Some(c) = &mut self.ceiling {
            c.report(active);
        }
    }
}

fn log_offender(job: &str, instance: &str, o: &Offender) {
    // No label at all: the target has more metric names than its budget.
    let label = if o.label.is_empty() { "-" } else { &o.label };
    tracing::warn!(
        job,
        instance,
        families = %o.families.join(","),
        label = %label,
        with = %o.with.join(","),
        distinct_values = o.distinct,
        growth_per_min = format!("{:.1}", o.growth_per_min),
        action = o.action.as_str(),
        active_before = o.active_before,
        active_after = o.active_after,
        "series budget exceeded: new offender"
    );
}

impl Drop for GuardedTarget {
    fn drop(&mut self) {
        let labels = [self.job.as_str(), self.instance.as_str()];
        self.metrics.active_series.remove(&labels);
        self.metrics.series_budget.remove(&labels);
        self.metrics.folded_series.remove(&labels);
    }
}
