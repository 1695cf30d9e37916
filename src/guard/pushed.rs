//! Series budgets for pushed data: a [`SourceGuard`] holds one remote-write
//! source to a budget with the semantics of a scrape target's, driving the
//! same [`TargetGuard`] in interval mode ([`TargetGuard::defer_folded`]);
//! [`SourceGuards`] keeps one per source with its settings
//! ([`SourcePolicy`]) and its share of the whole-agent ceiling.
//!
//! A request is cut into **passes**, each with at most one sample per
//! series: pass `k` holds the `k`-th sample of every series of the request
//! by timestamp. Each pass is one `begin` … `merge_member` … `finish` of the
//! engine, at the request's arrival time: the samples that pass keep their
//! own timestamps and are returned at once (they go to the WAL before the
//! answer), folded members are merged in timestamp order (so every increase
//! is counted, reset-aware), and the folded series the passes touched wait
//! for the end of the fold interval, when [`SourceGuard::tick`] (or the
//! first push after it) writes each once, stamped at the interval's end.
//! Intervals are aligned to multiples of the fold interval since the epoch,
//! as stream aggregation aligns them.
//!
//! Active series are counted by **arrival time**: a series is active while
//! a request carried it within the staleness window. Sample timestamps are
//! the sender's and may be old (a sender catching up after an outage) or
//! skewed; the guard's clock must only go forward.

use super::ceiling::{Ceiling, CeilingShare};
use super::engine::{MemberHit, TargetGuard};
use super::persist::{Encoder, Sink, TargetState};
use super::pushed_metrics::SourceMetrics;
use super::report::{Offender, TargetCardinality};
use super::settings::{BudgetAction, GuardSettings};
use super::state::{GuardState, RestoreError};
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::{Metadata, Sample};
use crate::series_key::SeriesKey;
use crate::value::is_stale_nan;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a push did: every sample of the request is accounted for in one of
/// `forwarded`, `folded`, `dropped_budget`, `dropped_quantile`,
/// `out_of_order`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushReport {
    /// Samples in the request.
    pub samples: u64,
    /// Samples passed on as they are (staleness markers included).
    pub forwarded: u64,
    /// Samples merged into folded series.
    pub folded: u64,
    /// Samples dropped for the budget (`budget_action: drop`).
    pub dropped_budget: u64,
    /// Summary quantile samples dropped because their summary is folded.
    pub dropped_quantile: u64,
    /// Samples not newer than their series' last one (a resent batch, a
    /// duplicate): not written, and not merged again.
    pub out_of_order: u64,
    /// New series dropped for the budget.
    pub dropped_series: u64,
    /// Samples the guard wrote of its own: staleness markers of series
    /// that became folded, folded series of an interval that ended.
    pub written: u64,
    /// New offenders (folds started or drops begun): one log line each.
    pub offenders: Vec<Offender>,
    /// Automatic folds lifted, by their label.
    pub lifted: Vec<String>,
    /// Active series of the source after the push.
    pub active_series: usize,
    /// The budget in force.
    pub budget: u64,
    /// Series of the source merged into folded series.
    pub folded_series: usize,
}

/// Why a push was refused (`budget_action: fail`); nothing of it was
/// written, and the guard is as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The request would take the source past its budget.
    #[error(
        "series budget exceeded for source {name:?}: the request would make {series} active \
         series ({new} new), budget {budget}; nothing of the request was written"
    )]
    BudgetExceeded {
        /// The source.
        name: String,
        /// The budget in force.
        budget: u64,
        /// Active series the source would have with the request.
        series: u64,
        /// Series of the request the source does not have.
        new: u64,
    },
    /// A new source while `max_sources` sources have guards.
    #[error(
        "too many sources: {max} are held to series budgets (receiver.max_sources); \
         source {name:?} is refused until one goes idle; nothing of the request was written"
    )]
    TooManySources {
        /// The source refused.
        name: String,
        /// The limit.
        max: usize,
    },
}

/// One source's guard. See the module docs.
#[derive(Debug)]
pub struct SourceGuard {
    name: String,
    guard: TargetGuard,
    interval_ms: i64,
    /// The end of the interval in progress (`None`: nothing waits).
    interval_end: Option<i64>,
    share: Option<CeilingShare>,
    /// The newest sample timestamp of each series the guard keeps
    /// ([`SourceGuard::push`] skips older ones), swept with the window.
    newest: HashMap<SeriesKey, i64>,
    /// When `newest` was last swept (arrival time).
    swept_ms: i64,
}

impl SourceGuard {
    /// A guard for source `name` enforcing `settings`, writing folded
    /// series every `interval_ms`, holding a share of `ceiling` if given.
    pub fn new(
        name: &str,
        settings: GuardSettings,
        interval_ms: i64,
        ceiling: Option<&Arc<Ceiling>>,
    ) -> SourceGuard {
        SourceGuard::from_guard(name, TargetGuard::new(settings), interval_ms, ceiling)
    }

    /// A guard for source `name` from its saved state (see
    /// [`TargetGuard::restore`]); folded series merged before the save go
    /// out with the first flush.
    pub fn restore(
        name: &str,
        settings: GuardSettings,
        state: &GuardState,
        interval_ms: i64,
        ceiling: Option<&Arc<Ceiling>>,
    ) -> Result<SourceGuard, RestoreError> {
        let guard = TargetGuard::restore(settings, state)?;
        let mut g = SourceGuard::from_guard(name, guard, interval_ms, ceiling);
        g.guard.defer_all_folded();
        g.interval_end = Some(g.next_end(g.guard.last_ts()));
        Ok(g)
    }

    fn from_guard(
        name: &str,
        mut guard: TargetGuard,
        interval_ms: i64,
        ceiling: Option<&Arc<Ceiling>>,
    ) -> SourceGuard {
        guard.defer_folded();
        let mut share = ceiling.map(|c| c.join());
        if let Some(s) = share.as_mut() {
            s.report(guard.active_series());
        }
        SourceGuard {
            name: name.to_string(),
            guard,
            interval_ms: interval_ms.max(1),
            interval_end: None,
            share,
            newest: HashMap::new(),
            swept_ms: 0,
        }
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine (for saving its state: [`super::persist::Encoder`]).
    pub fn guard(&self) -> &TargetGuard {
        &self.guard
    }

    /// Applies new settings and fold interval (a config reload).
    pub fn reconfigure(&mut self, settings: GuardSettings, interval_ms: i64) {
        if settings != *self.guard.settings() {
            self.guard.reconfigure(settings);
        }
        self.interval_ms = interval_ms.max(1);
    }

    /// The fold interval.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Runs one decoded request through the guard at arrival time
    /// `now_ms`: `samples` in any order (several per series allowed),
    /// `kinds[i]` the family type of sample `i` when the sender said it
    /// (missing or `Unknown`: inferred from the name, see [`infer_kind`]).
    /// What to write is appended to `out`: the samples that pass (their own
    /// timestamps), staleness markers of series that became folded, and the
    /// folded series of an interval that ended before `now_ms`.
    ///
    /// With `budget_action: fail`, a request that would take the source
    /// past its budget is refused whole ([`PushError`]); `out` is left as
    /// it was (folded series of an interval that ended wait for the next
    /// tick).
    pub fn push(
        &mut self,
        now_ms: i64,
        samples: &[Sample],
        kinds: &[MetricType],
        out: &mut Vec<Sample>,
    ) -> Result<PushReport, PushError> {
        let mut report = PushReport {
            samples: samples.len() as u64,
            ..PushReport::default()
        };
        if let Some(s) = self.share.as_mut() {
            self.guard.set_ceiling(s.hold(self.guard.active_series()));
        }
        let keyer = self.guard.keyer();
        let mut scratch = Vec::new();
        // A series' samples share one label set: keyed once.
        let mut keys: Vec<SeriesKey> = Vec::with_capacity(samples.len());
        for (i, s) in samples.iter().enumerate() {
            let key = match (i.checked_sub(1), keys.last()) {
                (Some(p), Some(&k)) if Arc::ptr_eq(&samples[p].labels, &s.labels) => k,
                _ => keyer.key_labels_in(&s.labels, &mut scratch),
            };
            keys.push(key);
        }
        let fresh = self.fresh(samples, &keys);
        report.out_of_order = fresh.iter().filter(|&&f| !f).count() as u64;
        self.check_fail(samples, &keys, &fresh)?;
        report.written += self.tick(now_ms, out) as u64;
        self.note_newest(samples, &keys, &fresh);
        if self.interval_end.is_none() {
            self.interval_end = Some(self.next_end(now_ms));
        }
        let kinds: Vec<MetricType> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| infer_kind(kinds.get(i).copied(), &s.labels))
            .collect();
        let before = out.len();
        for pass in passes(samples, &keys, &fresh) {
            self.pass(now_ms, samples, &kinds, &keys, &pass, out, &mut report);
        }
        let input_forwarded = report.forwarded;
        report.written += (out.len() - before) as u64 - input_forwarded;
        report.folded = report.samples.saturating_sub(
            report.forwarded
                + report.dropped_budget
                + report.dropped_quantile
                + report.out_of_order,
        );
        self.sweep_newest(now_ms);
        report.active_series = self.guard.active_series();
        report.budget = self.guard.budget();
        report.folded_series = self.guard.folded_series();
        if let Some(s) = self.share.as_mut() {
            s.report(report.active_series);
        }
        Ok(report)
    }

    /// One pass: at most one sample per series (`idx` into `samples`).
    #[expect(
        clippy::too_many_arguments,
        reason = "one pass of a request: its samples, their kinds and keys, the pass, and where its results go"
    )]
    fn pass(
        &mut self,
        now_ms: i64,
        samples: &[Sample],
        kinds: &[MetricType],
        keys: &[SeriesKey],
        idx: &[usize],
        out: &mut Vec<Sample>,
        report: &mut PushReport,
    ) {
        self.guard.begin(now_ms);
        let mut batch = Vec::with_capacity(idx.len());
        let mut batch_kinds = Vec::with_capacity(idx.len());
        let mut batch_keys = Vec::with_capacity(idx.len());
        for &i in idx {
            let s = &samples[i];
            if self.guard.merge_member(keys[i], s.value, true) == MemberHit::NotMember {
                batch.push(s.clone());
                batch_kinds.push(kinds[i]);
                batch_keys.push(keys[i]);
            }
        }
        // `check_fail` already held the whole request to the budget, so a
        // pass (a subset of its series) cannot break it.
        if let Ok(r) = self.guard.finish(
            now_ms,
            &mut batch,
            &batch_kinds,
            &batch_keys,
            &[],
            |_, _| {},
        ) {
            // The sender's staleness markers pass as they are (the
            // guard's own, for series it folded, are not the request's).
            let stale_in = idx
                .iter()
                .filter(|&&i| is_stale_nan(samples[i].value))
                .count() as u64;
            report.forwarded += r.samples_out + stale_in;
            report.dropped_budget += r.dropped_budget_samples;
            report.dropped_quantile += r.dropped_quantile_samples;
            report.dropped_series += r.dropped_series;
            report.offenders.extend(r.offenders);
            report.lifted.extend(r.lifted);
        }
        out.append(&mut batch);
    }

    /// `budget_action: fail`: the request is refused when the source's
    /// active series plus the request's new series exceed the budget.
    fn check_fail(
        &self,
        samples: &[Sample],
        keys: &[SeriesKey],
        fresh: &[bool],
    ) -> Result<(), PushError> {
        let budget = self.guard.budget();
        if self.guard.settings().action != BudgetAction::Fail || budget == 0 {
            return Ok(());
        }
        let new: HashSet<&SeriesKey> = keys
            .iter()
            .zip(samples)
            .zip(fresh)
            .filter(|((k, s), f)| **f && !is_stale_nan(s.value) && !self.guard.knows(k))
            .map(|((k, _), _)| k)
            .collect();
        let series = self.guard.active_series() as u64 + new.len() as u64;
        if series > budget {
            return Err(PushError::BudgetExceeded {
                name: self.name.clone(),
                budget,
                series,
                new: new.len() as u64,
            });
        }
        Ok(())
    }

    /// Which samples are newer than their series' newest so far (in this
    /// request too: of two samples of a series at one timestamp the first
    /// is kept). A folded member has no timestamp of its own, and an older
    /// sample merged after a newer one would count as a counter reset: a
    /// batch a sender resends after a lost answer would be counted twice.
    fn fresh(&self, samples: &[Sample], keys: &[SeriesKey]) -> Vec<bool> {
        let mut newest: HashMap<SeriesKey, i64> = HashMap::new();
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.sort_by_key(|&i| samples[i].timestamp_ms);
        let mut fresh = vec![false; samples.len()];
        for i in order {
            let (k, ts) = (keys[i], samples[i].timestamp_ms);
            let before = newest
                .get(&k)
                .or_else(|| self.newest.get(&k))
                .copied()
                .unwrap_or(i64::MIN);
            if ts > before {
                newest.insert(k, ts);
                fresh[i] = true;
            }
        }
        fresh
    }

    /// Remembers the newest timestamp of each series pushed.
    fn note_newest(&mut self, samples: &[Sample], keys: &[SeriesKey], fresh: &[bool]) {
        for ((k, s), &f) in keys.iter().zip(samples).zip(fresh) {
            if f {
                let e = self.newest.entry(*k).or_insert(i64::MIN);
                *e = (*e).max(s.timestamp_ms);
            }
        }
    }

    /// Series the guard no longer keeps (they left the window) are
    /// forgotten, every tenth of a window.
    fn sweep_newest(&mut self, now_ms: i64) {
        let window = self.guard.settings().staleness_window_ms.max(1);
        if now_ms.saturating_sub(self.swept_ms) >= window / 10 {
            self.swept_ms = now_ms;
            let guard = &self.guard;
            self.newest.retain(|k, _| guard.knows(k));
            self.newest.shrink_to_fit();
        }
    }

    /// Ends the interval in progress if `now_ms` is past its end: its
    /// folded series are appended to `out`, stamped at its end. Returns
    /// how many.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Sample>) -> usize {
        match self.interval_end {
            Some(end) if now_ms >= end => {
                self.interval_end = None;
                self.guard.flush_folded(end, out)
            }
            _ => 0,
        }
    }

    /// The end of the interval holding `now_ms`.
    fn next_end(&self, now_ms: i64) -> i64 {
        (now_ms.div_euclid(self.interval_ms) + 1).saturating_mul(self.interval_ms)
    }

    /// True when the source holds nothing: no series in the window, no
    /// folded series waiting (it can be let go).
    pub fn is_idle(&self) -> bool {
        self.guard.scraped_series() == 0 && self.guard.pending_folded() == 0
    }

    /// The source's cardinality for the API.
    pub fn snapshot(&self, now_ms: i64, top: usize) -> TargetCardinality {
        self.guard.snapshot(now_ms, top)
    }
}

/// The passes of a request: pass `k` holds the index of the `k`-th fresh
/// sample (by timestamp, then request order) of every series.
fn passes(samples: &[Sample], keys: &[SeriesKey], fresh: &[bool]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..samples.len()).filter(|&i| fresh[i]).collect();
    order.sort_by(|&a, &b| {
        keys[a]
            .cmp(&keys[b])
            .then(samples[a].timestamp_ms.cmp(&samples[b].timestamp_ms))
            .then(a.cmp(&b))
    });
    let mut passes: Vec<Vec<usize>> = Vec::new();
    let mut k = 0;
    for (n, &i) in order.iter().enumerate() {
        k = if n > 0 && keys[order[n - 1]] == keys[i] {
            k + 1
        } else {
            0
        };
        if passes.len() <= k {
            passes.push(Vec::new());
        }
        passes[k].push(i);
    }
    passes
}

/// The family type of a pushed sample: the sender's when it gave one,
/// else from its name as Prometheus' conventions have it (`_total` a
/// counter, `_bucket` with `le` a histogram part, `quantile` a summary
/// quantile, `_count`/`_sum` cumulative parts), else untyped. Remote write
/// 1.0 carries types only in metadata, which senders may not send, and a
/// counter merged as a gauge would not be exact.
pub fn infer_kind(given: Option<MetricType>, labels: &Labels) -> MetricType {
    match given {
        Some(k) if k != MetricType::Unknown => return k,
        _ => {}
    }
    let name = labels.metric_name().unwrap_or("");
    if labels.get("quantile").is_some() {
        MetricType::Summary
    } else if name.ends_with("_bucket") && labels.get("le").is_some()
        || name.ends_with("_count")
        || name.ends_with("_sum")
    {
        MetricType::Histogram
    } else if name.ends_with("_total") {
        MetricType::Counter
    } else {
        MetricType::Unknown
    }
}

/// The family type of each sample from a request's metadata (one entry per
/// family: a sample named `<family>`, or `<family>_bucket`, `_count`,
/// `_sum`, `_total`, `_created`, has its type); `Unknown` when none says
/// ([`infer_kind`] then reads the name).
pub fn kinds_from_metadata(samples: &[Sample], metadata: &[Metadata]) -> Vec<MetricType> {
    if metadata.is_empty() {
        return vec![MetricType::Unknown; samples.len()];
    }
    let by_family: HashMap<&str, MetricType> = metadata
        .iter()
        .map(|m| (m.family.as_str(), m.kind))
        .collect();
    const SUFFIXES: [&str; 5] = ["_bucket", "_count", "_sum", "_total", "_created"];
    samples
        .iter()
        .map(|s| {
            let name = s.labels.metric_name().unwrap_or("");
            by_family
                .get(name)
                .or_else(|| {
                    SUFFIXES
                        .iter()
                        .find_map(|x| name.strip_suffix(x).and_then(|f| by_family.get(f)))
                })
                .copied()
                .unwrap_or(MetricType::Unknown)
        })
        .collect()
}

/// Whose settings a source gets: the receiver's, or its own override.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePolicy {
    /// Settings of every source without an override.
    pub default: GuardSettings,
    /// Per-source settings.
    pub sources: HashMap<String, GuardSettings>,
    /// How often folded series are written (ms).
    pub fold_interval_ms: i64,
    /// True when the whole-agent ceiling is set: every source gets a guard.
    pub ceiling: bool,
    /// Most sources with a guard at once (0: no limit). Each source has a
    /// budget of its own, so without a limit a sender inventing source
    /// names would multiply the budget.
    pub max_sources: usize,
}

impl SourcePolicy {
    /// The settings of source `name`.
    pub fn settings(&self, name: &str) -> &GuardSettings {
        self.sources.get(name).unwrap_or(&self.default)
    }

    /// True when source `name` needs a guard at all.
    pub fn guards(&self, name: &str) -> bool {
        self.ceiling || self.settings(name).is_active()
    }
}

/// Every source's guard, created on its first push. Thread-safe: each
/// source has its own lock, held for one push.
#[derive(Debug)]
pub struct SourceGuards {
    policy: Mutex<Arc<SourcePolicy>>,
    ceiling: Option<Arc<Ceiling>>,
    sources: Mutex<HashMap<String, Arc<Mutex<SourceGuard>>>>,
    metrics: Option<Arc<SourceMetrics>>,
}

impl SourceGuards {
    /// Guards for every source under `policy`, sharing `ceiling` with the
    /// scrape targets.
    pub fn new(policy: SourcePolicy, ceiling: Option<Arc<Ceiling>>) -> SourceGuards {
        SourceGuards {
            policy: Mutex::new(Arc::new(policy)),
            ceiling,
            sources: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Records every push in `metrics` ([`SourceMetrics`]).
    pub fn with_metrics(mut self, metrics: Arc<SourceMetrics>) -> SourceGuards {
        self.metrics = Some(metrics);
        self
    }

    fn policy(&self) -> Arc<SourcePolicy> {
        lock(&self.policy).clone()
    }

    /// Applies a new policy (a config reload) to every source.
    pub fn reconfigure(&self, policy: SourcePolicy) {
        let policy = Arc::new(policy);
        *lock(&self.policy) = policy.clone();
        for (name, g) in lock(&self.sources).iter() {
            lock(g).reconfigure(policy.settings(name).clone(), policy.fold_interval_ms);
        }
    }

    /// Source `name`'s guard (`None`: it has nothing to enforce and its
    /// samples pass as they are); a new source past `max_sources` is
    /// refused.
    pub fn source(&self, name: &str) -> Result<Option<Arc<Mutex<SourceGuard>>>, PushError> {
        let policy = self.policy();
        if !policy.guards(name) {
            return Ok(None);
        }
        let mut sources = lock(&self.sources);
        if let Some(g) = sources.get(name) {
            return Ok(Some(g.clone()));
        }
        if policy.max_sources > 0 && sources.len() >= policy.max_sources {
            return Err(PushError::TooManySources {
                name: name.to_string(),
                max: policy.max_sources,
            });
        }
        let g = Arc::new(Mutex::new(SourceGuard::new(
            name,
            policy.settings(name).clone(),
            policy.fold_interval_ms,
            self.ceiling.as_ref(),
        )));
        sources.insert(name.to_string(), g.clone());
        Ok(Some(g))
    }

    /// Pushes one request of source `name` ([`SourceGuard::push`]); a
    /// source without a guard passes everything (`out` gets `samples`).
    pub fn push(
        &self,
        name: &str,
        now_ms: i64,
        samples: Vec<Sample>,
        kinds: &[MetricType],
        out: &mut Vec<Sample>,
    ) -> Result<PushReport, PushError> {
        let Some(g) = self.source(name)? else {
            let n = samples.len() as u64;
            out.extend(samples);
            return Ok(PushReport {
                samples: n,
                forwarded: n,
                ..PushReport::default()
            });
        };
        let report = lock(&g).push(now_ms, &samples, kinds, out)?;
        if let Some(m) = &self.metrics {
            m.record(name, &report);
        }
        Ok(report)
    }

    /// Ends every source's interval that is over (call at least once per
    /// fold interval); appends their folded series to `out`. Sources left
    /// with nothing go. Returns, per source, the folded series written.
    pub fn tick(&self, now_ms: i64, out: &mut Vec<Sample>) -> Vec<(String, usize)> {
        let mut sources = lock(&self.sources);
        let mut written = Vec::new();
        sources.retain(|name, shared| {
            let mut g = lock(shared);
            let n = g.tick(now_ms, out);
            if n > 0 {
                written.push((name.clone(), n));
            }
            // A source a push holds right now is not let go.
            let idle = g.is_idle() && Arc::strong_count(shared) == 1;
            if idle && let Some(m) = &self.metrics {
                m.forget(name);
            }
            !idle
        });
        written
    }

    /// Restores source `name` from its saved state (at start, before the
    /// first push); a source the policy does not guard any more is
    /// dropped.
    pub fn restore(&self, name: &str, state: &GuardState) -> Result<(), RestoreError> {
        let policy = self.policy();
        if !policy.guards(name) {
            return Ok(());
        }
        let mut g = SourceGuard::restore(
            name,
            state.settings.clone(),
            state,
            policy.fold_interval_ms,
            self.ceiling.as_ref(),
        )?;
        g.reconfigure(policy.settings(name).clone(), policy.fold_interval_ms);
        lock(&self.sources).insert(name.to_string(), Arc::new(Mutex::new(g)));
        Ok(())
    }

    /// Adds every source's state to a guard state save (each source locked
    /// while it is encoded, as scrape targets are).
    pub fn save<S: Sink>(&self, enc: &mut Encoder<S>) {
        for (name, g) in self.all() {
            let g = lock(&g);
            enc.add_guard(SOURCE_JOB, SOURCE_URL, &source_labels(&name), g.guard());
        }
    }

    /// Restores the sources among saved states (at start, before the first
    /// push); returns how many. Scrape targets' states are left alone.
    pub fn restore_all(&self, saved: &[TargetState]) -> Result<usize, RestoreError> {
        let mut n = 0;
        for t in saved {
            if let Some(name) = source_name(t) {
                self.restore(name, &t.state)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every source's cardinality for the API, by name, with the `top`
    /// most distinct labels (growth as of `now_ms`).
    pub fn cardinality(&self, now_ms: i64, top: usize) -> Vec<(String, TargetCardinality)> {
        self.all()
            .into_iter()
            .map(|(name, g)| {
                let c = lock(&g).snapshot(now_ms, top);
                (name, c)
            })
            .collect()
    }

    /// Every source's guard, by name (sorted).
    pub fn all(&self) -> Vec<(String, Arc<Mutex<SourceGuard>>)> {
        let mut v: Vec<_> = lock(&self.sources)
            .iter()
            .map(|(n, g)| (n.clone(), g.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The job a source is saved under in the guard state file: no scrape job
/// has an empty name, so a source never matches a target.
pub const SOURCE_JOB: &str = "";
/// The URL a source is saved under in the guard state file.
pub const SOURCE_URL: &str = "";
/// The label naming a source in the guard state file.
pub const SOURCE_LABEL: &str = "source";

/// The labels source `name` is saved under in the guard state file.
pub fn source_labels(name: &str) -> Labels {
    Labels::from_pairs([(SOURCE_LABEL, name.to_string())])
}

/// The source a saved state belongs to (`None`: a scrape target's).
pub fn source_name(t: &TargetState) -> Option<&str> {
    (t.job == SOURCE_JOB && t.url == SOURCE_URL)
        .then(|| t.labels.get(SOURCE_LABEL))
        .flatten()
}

/// Locks `m`; a poisoned lock (a panic while held) is taken over: the
/// guard's tables stay consistent between passes.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
