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
//! window expiry.

use super::GuardError;
use super::fold::{Activity, Fold, FoldOrigin, masks, replaced};
use super::hash::{folded_hash, labels_hash, value_hash};
use super::merge::member_increase;
use super::report::{FoldInfo, ScrapeReport, TargetCardinality};
use super::role::{Role, classify, counts_events};
use super::settings::{BudgetAction, GuardSettings};
use super::stats::LabelStats;
use super::table::{DropReason, Group, GroupTable, NONE, Route, Series, SeriesTable, shrink_vec};
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::remote::Sample;
use crate::value::{is_stale_nan, stale_nan};
use std::sync::Arc;

/// Marks a folded series in the emitted lists.
const GROUP_BIT: u32 = 1 << 31;

/// Where a series would go under the current folds.
pub(super) enum Planned {
    Raw,
    Quantile,
    Group(u32),
    NewGroup { hash: u64, replace: u64 },
}

/// The guard of one target. See the module docs of [`crate::guard`].
#[derive(Debug)]
pub struct TargetGuard {
    pub(super) settings: GuardSettings,
    pub(super) ceiling: Option<u64>,
    pub(super) series: SeriesTable,
    pub(super) groups: GroupTable,
    pub(super) stats: LabelStats,
    pub(super) folds: Vec<Fold>,
    pub(super) generation: u32,
    pub(super) raw: usize,
    pub(super) nonempty_groups: usize,
    pub(super) folded_members: usize,
    prev_emitted: Vec<u32>,
    cur_emitted: Vec<u32>,
    touched: Vec<u32>,
    pub(super) ids: Vec<u32>,
    pub(super) created: Vec<u32>,
    last_sweep_ms: Option<i64>,
    pub(super) unresolved: Option<(i64, usize)>,
    last_ts_ms: i64,
}

impl TargetGuard {
    /// A guard enforcing `settings`; explicit fold rules apply from the
    /// first scrape.
    pub fn new(settings: GuardSettings) -> TargetGuard {
        let mut g = TargetGuard {
            settings,
            ceiling: None,
            series: SeriesTable::default(),
            groups: GroupTable::default(),
            stats: LabelStats::default(),
            folds: Vec::new(),
            generation: 0,
            raw: 0,
            nonempty_groups: 0,
            folded_members: 0,
            prev_emitted: Vec::new(),
            cur_emitted: Vec::new(),
            touched: Vec::new(),
            ids: Vec::new(),
            created: Vec::new(),
            last_sweep_ms: None,
            unresolved: None,
            last_ts_ms: 0,
        };
        g.folds = rule_folds(&g.settings, 0);
        g
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
                self.folds
                    .iter()
                    .filter(|f| f.origin == FoldOrigin::Auto)
                    .cloned(),
            );
        }
        self.settings = settings;
        self.folds = folds;
        self.unresolved = None;
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
        self.raw + self.nonempty_groups
    }

    /// Timestamp of the last scrape applied.
    pub(super) fn last_ts(&self) -> i64 {
        self.last_ts_ms
    }

    /// Scraped series within the staleness window.
    pub fn scraped_series(&self) -> usize {
        self.series.len()
    }

    /// Scraped series currently merged into folded series.
    pub fn folded_series(&self) -> usize {
        self.folded_members
    }

    /// Runs one successful scrape through the guard. `samples` are the
    /// scrape's samples after relabeling and limits (timestamps as the
    /// scrape loop set them) and `kinds` the family type of each (missing
    /// entries are read as untyped). Forwarded samples, merged folded
    /// series and staleness markers are appended to `out`.
    ///
    /// With `budget_action: fail`, a scrape with more series than the
    /// budget is refused whole ([`GuardError::BudgetExceeded`]); call
    /// [`TargetGuard::abort`] then, as for any failed scrape.
    pub fn apply(
        &mut self,
        ts_ms: i64,
        samples: &[Sample],
        kinds: &[MetricType],
        out: &mut Vec<Sample>,
    ) -> Result<ScrapeReport, GuardError> {
        self.check_fail(samples)?;
        let start = out.len();
        out.extend_from_slice(samples);
        Ok(self.run(ts_ms, out, start, kinds))
    }

    /// [`TargetGuard::apply`] rewriting `batch` in place: the samples
    /// forwarded as they are stay (in order, without being copied), the
    /// others go, folded series and staleness markers are appended. On
    /// error `batch` is untouched.
    pub fn apply_in_place(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
        kinds: &[MetricType],
    ) -> Result<ScrapeReport, GuardError> {
        self.check_fail(batch)?;
        Ok(self.run(ts_ms, batch, 0, kinds))
    }

    fn check_fail(&self, samples: &[Sample]) -> Result<(), GuardError> {
        let budget = self.budget();
        if self.settings.action == BudgetAction::Fail && budget > 0 {
            let series = samples.iter().filter(|s| !is_stale_nan(s.value)).count() as u64;
            if series > budget {
                return Err(GuardError::BudgetExceeded { budget, series });
            }
        }
        Ok(())
    }

    /// The scrape in `batch[start..]`, rewritten in place.
    fn run(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
        start: usize,
        kinds: &[MetricType],
    ) -> ScrapeReport {
        let budget = self.budget();
        self.generation = self.generation.wrapping_add(1).max(1);
        self.last_ts_ms = ts_ms;
        for f in &mut self.folds {
            // Rules start with the first scrape that sees them.
            if f.started_ms == 0 {
                f.started_ms = ts_ms;
            }
        }
        self.ids.clear();
        self.created.clear();
        self.expire(ts_ms);
        let mut report = ScrapeReport {
            budget,
            ..ScrapeReport::default()
        };
        for (i, s) in batch[start..].iter().enumerate() {
            if is_stale_nan(s.value) {
                self.ids.push(NONE);
                continue;
            }
            let kind = kinds.get(i).copied().unwrap_or(MetricType::Unknown);
            let id = self.admit(s, kind, ts_ms, &mut report);
            self.ids.push(id);
        }
        if budget > 0
            && self.settings.action == BudgetAction::Fold
            && self.active_series() as u64 > budget
        {
            self.on_breach(ts_ms, &batch[start..], budget, &mut report);
        }
        let mut kept = start;
        for i in start..batch.len() {
            let id = self.ids[i - start];
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
        self.emit_groups(ts_ms, batch, &mut report);
        self.mark_stale(ts_ms, batch, &mut report);
        self.rerank();
        self.check_lifts(ts_ms, &mut report);
        self.drop_empty_groups();
        report.active_series = self.active_series();
        report.folded_series = self.folded_members;
        report
    }

    /// A failed scrape, or the target went away: staleness markers for
    /// everything forwarded by the last scrape (series with explicit
    /// timestamps excepted, as in Prometheus). Folded counters keep their
    /// values for when the target comes back. Returns the markers written.
    pub fn abort(&mut self, ts_ms: i64, out: &mut Vec<Sample>) -> u64 {
        let mut n = 0;
        for r in std::mem::take(&mut self.prev_emitted) {
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
            scraped_series: self.series.len(),
            budget: self.budget(),
            action: self.settings.action,
            folded_series: self.folded_members,
            top_labels: self.stats.top(top, now_ms),
            folds: self
                .folds
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

    fn admit(
        &mut self,
        s: &Sample,
        kind: MetricType,
        ts_ms: i64,
        report: &mut ScrapeReport,
    ) -> u32 {
        let (id, created) = match self.series.find_ptr(&s.labels) {
            Some(id) => (id, false),
            None => {
                let hash = labels_hash(&s.labels);
                match self.series.find_and_repoint(&s.labels, hash) {
                    Some(id) => (id, false),
                    None => (self.create(&s.labels, hash, kind, ts_ms, report), true),
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

    fn create(
        &mut self,
        labels: &Arc<Labels>,
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
        self.created.push(id);
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
            if self.unresolved.is_none() {
                self.unresolved = Some((ts_ms, self.series.len()));
                report.offenders.push(self.drop_offender());
            }
            return id;
        }
        let route = self.materialize(id, planned);
        self.set_route(id, route);
        id
    }

    /// A series dropped for the budget gets in when there is room again.
    fn readmit(&mut self, id: u32) {
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

    /// Where series `id` goes under the current folds.
    pub(super) fn plan(&self, id: u32) -> Planned {
        let Some(s) = self.series.get(id) else {
            return Planned::Raw;
        };
        let (scope, replace) = masks(&self.folds, &s.labels);
        if scope == 0 {
            return Planned::Raw;
        }
        if s.role == Role::Quantile {
            return Planned::Quantile;
        }
        let folds = &self.folds;
        let overflow = self.settings.overflow_value.as_str();
        let is_folded = |n: &str| replaced(folds, replace, n);
        let hash = folded_hash(&s.labels, is_folded, overflow);
        let found = self
            .groups
            .find(hash, |g| folded_eq(g, &s.labels, is_folded, overflow));
        match found {
            Some(g) => Planned::Group(g),
            None => Planned::NewGroup { hash, replace },
        }
    }

    /// Turns a plan into a route, creating its folded series if new.
    pub(super) fn materialize(&mut self, id: u32, planned: Planned) -> Route {
        match planned {
            Planned::Raw => Route::Raw,
            Planned::Quantile => Route::Dropped(DropReason::Quantile),
            Planned::Group(g) => Route::Group(g),
            Planned::NewGroup { hash, replace } => {
                let Some(s) = self.series.get(id) else {
                    return Route::Raw;
                };
                let mut b = s.labels.to_builder();
                let mut folded = false;
                for l in s.labels.iter() {
                    if replaced(&self.folds, replace, &l.name) {
                        b.set(&l.name, &self.settings.overflow_value);
                        folded = true;
                    }
                }
                let g = self.groups.insert(Group {
                    labels: Arc::new(b.into_labels()),
                    hash,
                    next: NONE,
                    role: s.role,
                    folded,
                    value: 0.0,
                    acc: Default::default(),
                    members: 0,
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
        match old {
            Route::Raw => self.raw -= 1,
            Route::Group(g) => {
                if let Some(g) = self.groups.get_mut(g) {
                    g.members -= 1;
                    if g.members == 0 {
                        self.nonempty_groups -= 1;
                    }
                    if g.folded {
                        self.folded_members -= 1;
                    }
                }
            }
            Route::Dropped(_) => {}
        }
        match route {
            Route::Raw => self.raw += 1,
            Route::Group(g) => {
                if let Some(g) = self.groups.get_mut(g) {
                    if g.members == 0 {
                        self.nonempty_groups += 1;
                    }
                    g.members += 1;
                    if g.folded {
                        self.folded_members += 1;
                    }
                }
            }
            Route::Dropped(_) => {}
        }
    }

    /// Which fold's `keep_top` ranks series `id` (the first in whose scope
    /// it is), and the hash of its value.
    fn set_rank(&mut self, id: u32) {
        let keep_top = self.settings.keep_top;
        let Some(s) = self.series.get_mut(id) else {
            return;
        };
        s.rank_fold = NONE;
        s.rank_value = 0;
        if keep_top == 0 {
            return;
        }
        for (i, f) in self.folds.iter().enumerate() {
            if f.in_scope(&s.labels)
                && let Some(v) = s.labels.get(f.primary())
            {
                s.rank_fold = i as u32;
                s.rank_value = value_hash(v);
                return;
            }
        }
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
        let mut moved = Vec::new();
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
                (Route::Group(g), Route::Group(_)) => moved.push((id, g)),
                (_, Route::Group(_)) => self.carry_history(id),
                _ => {}
            }
        }
        for (id, g) in moved {
            if self.groups.get(g).is_some_and(|g| g.members > 0) {
                if let Some(s) = self.series.get_mut(id) {
                    s.counted = s.has_value;
                }
            } else {
                self.carry_history(id);
            }
        }
    }

    /// Adds series `id`'s last value to the folded series it is now in.
    fn carry_history(&mut self, id: u32) {
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

    /// Handles one admitted sample; true when it is forwarded as it is.
    fn forward(&mut self, id: u32, sample: &Sample, report: &mut ScrapeReport) -> bool {
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
                s.emitted_gen = generation;
                self.cur_emitted.push(id);
                report.samples_out += 1;
                return true;
            }
            Route::Dropped(DropReason::Budget) => report.dropped_budget_samples += 1,
            Route::Dropped(DropReason::Quantile) => report.dropped_quantile_samples += 1,
            Route::Group(g) => {
                let Some(group) = self.groups.get_mut(g) else {
                    return false;
                };
                if group.touched_gen != generation {
                    group.touched_gen = generation;
                    group.acc = Default::default();
                    self.touched.push(g);
                }
                let v = sample.value;
                if s.role != Role::Cumulative {
                    group.acc.add(s.role, self.settings.gauge_fold, v);
                    return false;
                }
                if v.is_nan() {
                    return false;
                }
                let previous = s.counted.then_some(s.last_value);
                let increase = member_increase(previous, v);
                group.value += increase;
                s.last_value = v;
                s.has_value = true;
                s.counted = true;
                if previous.is_some()
                    && s.rank_fold != NONE
                    && counts_events(s.labels.metric_name().unwrap_or(""), s.role)
                    && let Some(fold) = self.folds.get_mut(s.rank_fold as usize)
                {
                    let value = s.labels.get(fold.primary()).unwrap_or("");
                    fold.activity
                        .entry(s.rank_value)
                        .or_insert_with(|| Activity {
                            value: value.into(),
                            rank: 0.0,
                            scrape: 0.0,
                        })
                        .scrape += increase;
                }
            }
        }
        false
    }

    fn emit_groups(&mut self, ts_ms: i64, out: &mut Vec<Sample>, report: &mut ScrapeReport) {
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
            group.emitted_gen = generation;
            self.cur_emitted.push(g | GROUP_BIT);
            report.samples_out += 1;
        }
        touched.clear();
        self.touched = touched;
    }

    /// Staleness markers for what the previous scrape forwarded and this one
    /// did not (unless the same label set was forwarded the other way:
    /// a kept value switching between raw and its own folded series).
    fn mark_stale(&mut self, ts_ms: i64, out: &mut Vec<Sample>, report: &mut ScrapeReport) {
        let generation = self.generation;
        let mut prev = std::mem::take(&mut self.prev_emitted);
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
        prev.clear();
        self.prev_emitted = std::mem::replace(&mut self.cur_emitted, prev);
    }

    fn rerank(&mut self) {
        let keep_top = self.settings.keep_top;
        if keep_top == 0 {
            return;
        }
        let mut changed = false;
        for f in &mut self.folds {
            changed |= f.rerank(keep_top);
        }
        if changed {
            self.reroute_all();
        }
    }

    /// Folded series left without members go once their staleness marker
    /// is written.
    fn drop_empty_groups(&mut self) {
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
    /// scrape is admitted so their room is free for it.
    fn expire(&mut self, ts_ms: i64) {
        let window = self.settings.staleness_window_ms.max(1);
        if let Some(last) = self.last_sweep_ms
            && ts_ms.saturating_sub(last) < window / 10
        {
            return;
        }
        self.last_sweep_ms = Some(ts_ms);
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
        let (series, groups) = (&self.series, &self.groups);
        self.prev_emitted.retain(|&r| {
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
        for v in [
            &mut self.prev_emitted,
            &mut self.cur_emitted,
            &mut self.touched,
            &mut self.ids,
            &mut self.created,
        ] {
            shrink_vec(v);
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

/// True when `group` is `labels` with the labels `is_folded` selects set to
/// `overflow`.
fn folded_eq(
    group: &Labels,
    labels: &Labels,
    is_folded: impl Fn(&str) -> bool,
    overflow: &str,
) -> bool {
    group.len() == labels.len()
        && group.iter().zip(labels.iter()).all(|(g, l)| {
            g.name == l.name
                && if is_folded(&l.name) {
                    g.value == overflow
                } else {
                    g.value == l.value
                }
        })
}

fn stale(labels: Arc<Labels>, ts_ms: i64) -> Sample {
    Sample {
        labels,
        timestamp_ms: ts_ms,
        value: stale_nan(),
    }
}
