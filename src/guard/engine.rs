//! [`TargetGuard`]: one target's guard, fed one scrape at a time. It admits
//! the scrape's series into its active set, enforces the budget (folding,
//! dropping or failing), merges folded members, and writes the staleness
//! markers of everything it forwarded and no longer forwards.
//!
//! A scrape goes through in two passes: admission (find or create each
//! series, route it through the current folds, check the budget, decide a
//! new fold when it is broken) and forwarding (raw samples as they are,
//! folded members merged into one sample per folded series at the scrape's
//! timestamp). Then staleness, `keep_top` re-ranking, fold lifting and
//! window expiry. Admission lives in `admit.rs`, routing in `route.rs`,
//! forwarding and staleness in `emit.rs` (the lists of what the previous
//! and the current scrape forwarded, with their invariant, in
//! `forwarded.rs`; the counts of what is forwarded in `occupancy.rs`),
//! offender search and lifting in `decide.rs`; the folded members kept by
//! key, with their tuples and clock, in `folded_members.rs` (their use in
//! `compact.rs`); the active folds, the unresolved breach and the last
//! sweep in `fold_decisions.rs`.
//!
//! One way in: [`TargetGuard::begin`], [`TargetGuard::merge_member`] for
//! each sample as it is parsed (a folded member is merged by key before
//! its labels are built), [`TargetGuard::finish`] with the rest, or
//! [`TargetGuard::abort`] for a failed scrape. [`TargetGuard::apply`] is
//! that sequence for a caller holding the whole scrape with its labels.

use super::GuardError;
use super::emit::stale;
use super::fold::{Fold, FoldOrigin};
use super::fold_decisions::FoldDecisions;
use super::folded_members::FoldedMembers;
use super::forwarded::Forwarded;
use super::interval::DeferredFolds;
use super::occupancy::Occupancy;
use super::report::{FoldInfo, ScrapeReport, TargetCardinality};
use super::settings::{BudgetAction, GuardSettings};
use super::so_far::ScrapeSoFar;
use super::stats::LabelStats;
use super::table::{GroupTable, NONE, SeriesTable};
use crate::exposition::MetricType;
use crate::pipeline::Sample;
use crate::series_key::{SeriesKey, SeriesKeyer};
use crate::value::is_stale_nan;

/// Marks a folded series in the emitted lists.
pub(super) const GROUP_BIT: u32 = 1 << 31;

/// No series slot remembered ([`TargetGuard::finish`]).
pub const NO_SLOT: u32 = NONE;

/// The guard of one target. See the module docs of [`crate::guard`].
#[derive(Debug)]
pub struct TargetGuard {
    pub(super) settings: GuardSettings,
    pub(super) ceiling: Option<u64>,
    pub(super) series: SeriesTable,
    pub(super) groups: GroupTable,
    pub(super) stats: LabelStats,
    /// The active folds, the unresolved breach and the last sweep
    /// ([`super::fold_decisions`]).
    pub(super) decisions: FoldDecisions,
    pub(super) generation: u32,
    /// The forwarded-series counts ([`super::occupancy`]).
    pub(super) occupancy: Occupancy,
    /// What the previous scrape forwarded, and this one ([`super::forwarded`]).
    pub(super) forwarded: Forwarded,
    pub(super) touched: Vec<u32>,
    pub(super) last_ts_ms: i64,
    /// The secret of the target's series keys.
    pub(super) keyer: SeriesKeyer,
    /// Folded members kept as keys, their tuples and clock
    /// ([`super::folded_members`]).
    pub(super) members: FoldedMembers,
    /// What the scrape in progress has seen so far ([`super::so_far`]).
    pub(super) scrape: ScrapeSoFar,
    /// Pushed data only: the folded series waiting for the end of the
    /// fold interval ([`super::interval`]); `None` for a scrape target.
    pub(super) deferred: Option<DeferredFolds>,
}

/// What [`TargetGuard::merge_member`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberHit {
    /// The key is a folded member's: the sample is merged.
    Merged,
    /// A folded member's second sample in this scrape: ignored.
    Duplicate,
    /// Not a member: the sample goes to [`TargetGuard::finish`] with its
    /// labels.
    NotMember,
}

impl TargetGuard {
    /// A guard enforcing `settings`; explicit fold rules apply from the
    /// first scrape.
    pub fn new(settings: GuardSettings) -> TargetGuard {
        let members = FoldedMembers::new(settings.staleness_window_ms);
        let decisions = FoldDecisions::new(rule_folds(&settings, 0));
        TargetGuard {
            settings,
            ceiling: None,
            series: SeriesTable::default(),
            groups: GroupTable::default(),
            stats: LabelStats::default(),
            decisions,
            generation: 0,
            occupancy: Occupancy::default(),
            forwarded: Forwarded::default(),
            touched: Vec::new(),
            last_ts_ms: 0,
            keyer: SeriesKeyer::random(),
            members,
            scrape: ScrapeSoFar::default(),
            deferred: None,
        }
    }

    /// The keyer of the target's series keys (the scrape cache and the
    /// member table use the same keys; saved with the guard state).
    pub fn keyer(&self) -> SeriesKeyer {
        self.keyer
    }

    /// The settings in force.
    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    /// Applies new settings (a config reload). Rule folds are replaced;
    /// automatic folds stay while the budget and action are unchanged and
    /// are lifted otherwise (a later breach decides again).
    pub fn reconfigure(&mut self, settings: GuardSettings) {
        let keep_auto = settings.series_budget == self.settings.series_budget
            && settings.action == self.settings.action
            && settings.action == BudgetAction::Fold
            && settings.overflow_value == self.settings.overflow_value;
        let mut folds = rule_folds(&settings, self.last_ts_ms);
        if keep_auto {
            folds.extend(
                self.decisions
                    .folds()
                    .iter()
                    .filter(|f| f.origin == FoldOrigin::Auto)
                    .cloned(),
            );
        }
        for f in &mut folds {
            f.trim_keep(settings.keep_top);
        }
        if settings.staleness_window_ms != self.settings.staleness_window_ms {
            self.members.restamp(settings.staleness_window_ms);
        }
        self.settings = settings;
        self.decisions.replace(folds);
        self.reroute_all();
    }

    /// Holds the target to a tighter budget than its own (the whole-agent
    /// ceiling), or lifts that with `None`.
    pub fn set_ceiling(&mut self, ceiling: Option<u64>) {
        self.ceiling = ceiling;
    }

    /// The budget in force: the target's own, tightened by the ceiling.
    pub fn budget(&self) -> u64 {
        match (self.settings.series_budget, self.ceiling) {
            (0, Some(c)) => c,
            (b, Some(c)) => b.min(c),
            (b, None) => b,
        }
    }

    /// Active series as forwarded (a folded series counts once).
    pub fn active_series(&self) -> usize {
        self.occupancy.active()
    }

    /// Timestamp of the last scrape applied.
    pub(super) fn last_ts(&self) -> i64 {
        self.last_ts_ms
    }

    /// Scraped series within the staleness window.
    pub fn scraped_series(&self) -> usize {
        self.series.len() + self.members.len()
    }

    /// Scraped series kept as folded members without labels.
    pub fn compact_members(&self) -> usize {
        self.members.len()
    }

    /// Takes the keys of the series the last scrape turned into compact
    /// members: from the next scrape on they are merged by key
    /// ([`TargetGuard::merge_member`]), so a cache of their labels can let
    /// them go now. Keys not taken are dropped when the next scrape begins.
    pub fn take_demoted(&mut self) -> Vec<SeriesKey> {
        self.members.take_demoted()
    }

    /// Scraped series currently merged into folded series.
    pub fn folded_series(&self) -> usize {
        self.occupancy.folded_members()
    }

    /// Runs one successful scrape through the guard, as the scrape loop
    /// does ([`TargetGuard::begin`], [`TargetGuard::merge_member`] for each
    /// sample, [`TargetGuard::finish`]), for a caller that has the scrape's
    /// samples with their labels and no series keys (each is keyed by its
    /// labels, [`SeriesKeyer::key_labels`]). `samples` are the scrape's
    /// samples after relabeling and limits (timestamps as the scrape loop
    /// set them) and `kinds` the family type of each (missing entries are
    /// read as untyped). Forwarded samples, merged folded series and
    /// staleness markers are appended to `out`.
    ///
    /// With `budget_action: fail`, a scrape with more series than the
    /// budget is refused whole ([`GuardError::BudgetExceeded`]) and `out`
    /// is left as it was; call [`TargetGuard::abort`] then, as for any
    /// failed scrape.
    pub fn apply(
        &mut self,
        ts_ms: i64,
        samples: &[Sample],
        kinds: &[MetricType],
        out: &mut Vec<Sample>,
    ) -> Result<ScrapeReport, GuardError> {
        self.begin(ts_ms);
        let mut batch = Vec::with_capacity(samples.len());
        let mut keys = Vec::with_capacity(samples.len());
        let mut batch_kinds = Vec::with_capacity(samples.len());
        let mut scratch = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            let key = self.keyer.key_labels_in(&s.labels, &mut scratch);
            if self.merge_member(key, s.value, s.timestamp_ms != ts_ms) == MemberHit::NotMember {
                batch.push(s.clone());
                keys.push(key);
                batch_kinds.push(kinds.get(i).copied().unwrap_or(MetricType::Unknown));
            }
        }
        let report = self.finish(ts_ms, &mut batch, &batch_kinds, &keys, &[], |_, _| {})?;
        if out.is_empty() {
            *out = batch;
        } else {
            out.append(&mut batch);
        }
        Ok(report)
    }

    /// Starts a scrape at `ts_ms`: members may be merged
    /// ([`TargetGuard::merge_member`]) from now until
    /// [`TargetGuard::finish`] or [`TargetGuard::abort`].
    pub fn begin(&mut self, ts_ms: i64) {
        self.forwarded.begin(self.generation);
        self.generation = self.generation.wrapping_add(1).max(1);
        self.last_ts_ms = ts_ms;
        self.scrape.begin();
        // Folded series merged into by a scrape that was aborted are not
        // this scrape's: emitting them again would duplicate them (and a
        // slot reused since would emit another series' stale aggregate).
        self.touched.clear();
        let moved = self.members.new_scrape(ts_ms);
        for f in self.decisions.iter_mut() {
            // Rules start with the first scrape that sees them.
            if f.started_ms == 0 {
                f.started_ms = ts_ms;
            }
        }
        self.expire(ts_ms, moved);
    }

    /// Finishes a scrape begun with [`TargetGuard::begin`]: `batch` holds
    /// the samples that were not merged as members, `kinds` and `keys`
    /// their family types and series keys (same order). The batch is
    /// rewritten in place: the samples forwarded as they are stay (in
    /// order, without being copied), the others go, folded series and
    /// staleness markers are appended.
    ///
    /// `slots` is for a caller that remembers, beside each key, where the
    /// guard keeps its series (the scrape cache does): `slots[i]` is the
    /// slot remembered for `keys[i]` ([`NO_SLOT`], or no entry: none). A
    /// slot is trusted only when the series in it has that key, so a stale
    /// one costs the lookup it would have saved and nothing else; with a
    /// right one, a series seen again is reached without looking its key
    /// up. `moved(i, slot)` is called for each sample whose series is in
    /// another slot than `slots[i]` (new series, stale slots), so the
    /// caller can remember the new one; not at all when `slots` is empty.
    ///
    /// With `budget_action: fail`, a scrape with more series than the
    /// budget is refused whole ([`GuardError::BudgetExceeded`]; `batch`
    /// is left as given); call [`TargetGuard::abort`] then.
    pub fn finish(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
        kinds: &[MetricType],
        keys: &[SeriesKey],
        slots: &[u32],
        mut moved: impl FnMut(usize, u32),
    ) -> Result<ScrapeReport, GuardError> {
        if !self.scrape.is_open() {
            self.begin(ts_ms);
        }
        self.scrape.close();
        self.check_fail(batch)?;
        let report = self.run(ts_ms, batch, kinds, keys, slots);
        if !slots.is_empty() {
            for (i, &id) in self.scrape.ids().iter().enumerate() {
                if id != NONE && slots.get(i) != Some(&id) {
                    moved(i, id);
                }
            }
        }
        Ok(report)
    }

    fn check_fail(&self, samples: &[Sample]) -> Result<(), GuardError> {
        let budget = self.budget();
        if self.settings.action == BudgetAction::Fail && budget > 0 {
            let series = samples.iter().filter(|s| !is_stale_nan(s.value)).count() as u64
                + self.scrape.merged_samples();
            if series > budget {
                return Err(GuardError::BudgetExceeded { budget, series });
            }
        }
        Ok(())
    }

    /// The scrape in `batch`, rewritten in place.
    fn run(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
        kinds: &[MetricType],
        keys: &[SeriesKey],
        slots: &[u32],
    ) -> ScrapeReport {
        let budget = self.budget();
        let mut report = ScrapeReport {
            budget,
            duplicate_samples: self.scrape.duplicates(),
            ..ScrapeReport::default()
        };
        for (i, s) in batch.iter().enumerate() {
            if is_stale_nan(s.value) {
                self.scrape.push_id(NONE);
                continue;
            }
            let kind = kinds.get(i).copied().unwrap_or(MetricType::Unknown);
            let key = keys.get(i).copied();
            let slot = slots.get(i).copied().unwrap_or(NO_SLOT);
            let id = self.admit(s, key, slot, kind, ts_ms, &mut report);
            self.scrape.push_id(id);
        }
        if budget > 0
            && self.settings.action == BudgetAction::Fold
            && self.active_series() as u64 > budget
        {
            self.on_breach(ts_ms, batch, budget, &mut report);
        }
        let mut kept = 0;
        for i in 0..batch.len() {
            let id = self.scrape.id(i);
            let forward = if id != NONE {
                self.forward(id, &batch[i], &mut report)
            } else if is_stale_nan(batch[i].value) {
                report.stale_markers += 1;
                true
            } else {
                false
            };
            if forward {
                batch.swap(kept, i);
                kept += 1;
            }
        }
        batch.truncate(kept);
        if self.deferred.is_some() {
            self.defer_groups(ts_ms, batch, &mut report);
        } else {
            self.emit_groups(ts_ms, batch, &mut report);
            self.mark_stale(ts_ms, batch, &mut report);
        }
        self.rerank();
        self.check_lifts(ts_ms, &mut report);
        if self.groups.slot_count() > 0 {
            // Only series merged into a folded series become members.
            self.demote_members();
        }
        self.drop_empty_groups();
        report.active_series = self.active_series();
        report.folded_series = self.occupancy.folded_members();
        report
    }

    /// A failed scrape, or the target went away: staleness markers for
    /// everything forwarded by the last scrape (series with explicit
    /// timestamps excepted, as in Prometheus). Folded counters keep their
    /// values for when the target comes back. Returns the markers written.
    pub fn abort(&mut self, ts_ms: i64, out: &mut Vec<Sample>) -> u64 {
        self.scrape.close();
        let mut n = 0;
        for r in self.forwarded.take_previous() {
            let labels = if r & GROUP_BIT != 0 {
                self.groups.get(r & !GROUP_BIT).map(|g| g.labels.clone())
            } else {
                self.series
                    .get(r)
                    .filter(|s| !s.explicit_ts)
                    .map(|s| s.labels.clone())
            };
            if let Some(labels) = labels {
                out.push(stale(labels, ts_ms));
                n += 1;
            }
        }
        n
    }

    /// The target's cardinality for the API: active series, budget, the
    /// `top` most distinct labels, current folds.
    pub fn snapshot(&self, now_ms: i64, top: usize) -> TargetCardinality {
        TargetCardinality {
            active_series: self.active_series(),
            scraped_series: self.scraped_series(),
            budget: self.budget(),
            action: self.settings.action,
            folded_series: self.occupancy.folded_members(),
            top_labels: self.stats.top(top, now_ms),
            folds: self
                .decisions
                .folds()
                .iter()
                .map(|f| {
                    let mut kept: Vec<String> = f.keep.values().map(|v| v.to_string()).collect();
                    kept.sort();
                    FoldInfo {
                        labels: f.labels.clone(),
                        metric: f.metric.as_ref().map(|r| {
                            let s = r.as_str();
                            s.strip_prefix("^(?s:")
                                .and_then(|s| s.strip_suffix(")$"))
                                .unwrap_or(s)
                                .to_string()
                        }),
                        origin: f.origin.as_str(),
                        kept_values: kept,
                        started_ms: f.started_ms,
                    }
                })
                .collect(),
        }
    }
}

/// The folds of the explicit rules.
fn rule_folds(settings: &GuardSettings, now_ms: i64) -> Vec<Fold> {
    settings
        .fold_rules
        .iter()
        .map(|r| Fold::new(r.labels.clone(), r.metric.clone(), FoldOrigin::Rule, now_ms))
        .collect()
}
