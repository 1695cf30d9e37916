//! Finding the offender on a budget breach, and lifting automatic folds.
//!
//! Candidates come from the label statistics kept on admission: the label
//! names with the most distinct values (`le` and `quantile` left out).
//! Labels that carry the same information (one-to-one with each other over
//! the active series, like Istio's `destination_service` and
//! `destination_workload`) are folded together, since folding one alone
//! would merge nothing. Each candidate is then tried exactly: the active
//! series are projected through the current folds plus the candidate and
//! the distinct results counted (the label of a group whose values take
//! the most bytes names it). The first round picks, among candidates
//! that bring the target under budget, the one folding the fewest series
//! (ties: the most distinct values); when none does, the one that reduces
//! most is taken and another round tries to add to it (at most three).
//!
//! This runs only when a scrape breaks the budget, not per sample; its cost
//! is a few passes over the target's active series. A breach that no fold
//! can resolve is not re-examined until the target grew by a tenth or a
//! staleness window passed; meanwhile new series past the budget are
//! dropped.

use super::engine::TargetGuard;
use super::fold::{Fold, FoldOrigin, masks, replaced};
use super::hash::{folded_hash, labels_hash, value_hash};
use super::report::{Offender, ScrapeReport};
use super::role::{Role, counts_events};
use super::settings::BudgetAction;
use super::table::{DropReason, Route};
use crate::labels::Labels;
use crate::pipeline::Sample;
use rustc_hash::{FxHashMap, FxHashSet};

/// Label names tried per breach.
const CANDIDATES: usize = 6;
/// Rounds of the greedy search.
const ROUNDS: usize = 3;

impl TargetGuard {
    /// The scrape took the target over `budget` under `fold`.
    pub(super) fn on_breach(
        &mut self,
        ts_ms: i64,
        samples: &[Sample],
        budget: u64,
        report: &mut ScrapeReport,
    ) {
        let before = self.active_series();
        let window = self.settings.staleness_window_ms;
        let throttled = self
            .decisions
            .throttled(ts_ms, window, self.scraped_series());
        if !throttled {
            let chosen = self.choose_folds(ts_ms, samples, budget);
            if !chosen.is_empty() {
                let mut offenders = Vec::new();
                for f in &chosen {
                    offenders.push(self.offender(f, ts_ms, before));
                }
                self.decisions.add_auto(chosen);
                self.reroute_all();
                let after = self.active_series();
                for mut o in offenders {
                    o.active_after = after;
                    report.offenders.push(o);
                }
            }
            self.decisions.settle(
                (self.active_series() as u64 > budget).then(|| (ts_ms, self.scraped_series())),
            );
        }
        if self.active_series() as u64 <= budget {
            return;
        }
        // No fold resolves it: new series past the budget are dropped.
        for i in (0..self.scrape.created().len()).rev() {
            let id = self.scrape.created()[i];
            if self.active_series() as u64 <= budget {
                break;
            }
            let route = self.series.get(id).map(|s| s.route);
            let frees = match route {
                Some(Route::Raw) => true,
                Some(Route::Group(g)) => self.groups.get(g).is_some_and(|g| g.members == 1),
                _ => false,
            };
            if frees {
                self.set_route(id, Route::Dropped(DropReason::Budget));
                report.dropped_series += 1;
            }
        }
        if report.offenders.is_empty() && !throttled {
            report.offenders.push(self.drop_offender());
        }
    }

    /// The offender line for new series dropped past the budget: the label
    /// with the most distinct values, if any.
    pub(super) fn drop_offender(&self) -> Offender {
        let now = self.last_ts();
        let top = self.stats.ranked_labels().into_iter().next();
        let (label, distinct, growth, families) = match top {
            Some((lid, d)) => (
                self.stats.names.name(lid).to_string(),
                d,
                self.stats.max_distinct(lid, now).1,
                self.families_of(lid),
            ),
            None => (String::new(), 0, 0.0, Vec::new()),
        };
        Offender {
            label,
            with: Vec::new(),
            families,
            distinct,
            growth_per_min: growth,
            action: BudgetAction::Drop,
            active_before: self.active_series(),
            active_after: self.active_series(),
        }
    }

    fn offender(&self, f: &Fold, now_ms: i64, before: usize) -> Offender {
        let lid = self.stats.names.get(f.primary());
        let (distinct, growth) = lid.map_or((0, 0.0), |l| self.stats.max_distinct(l, now_ms));
        Offender {
            label: f.primary().to_string(),
            with: f.labels.iter().skip(1).cloned().collect(),
            families: lid.map(|l| self.families_of(l)).unwrap_or_default(),
            distinct,
            growth_per_min: growth,
            action: BudgetAction::Fold,
            active_before: before,
            active_after: before,
        }
    }

    fn families_of(&self, label: u32) -> Vec<String> {
        let mut v: Vec<String> = self
            .stats
            .families_of(label)
            .map(|(f, _)| self.stats.families.name(f).to_string())
            .collect();
        v.sort();
        v
    }

    /// The folds to add so the target gets under `budget` losing least.
    fn choose_folds(&self, ts_ms: i64, samples: &[Sample], budget: u64) -> Vec<Fold> {
        let folded: FxHashSet<&str> = self
            .decisions
            .folds()
            .iter()
            .flat_map(|f| f.labels.iter().map(String::as_str))
            .collect();
        let ranked: Vec<(String, usize)> = self
            .stats
            .ranked_labels()
            .into_iter()
            .map(|(l, d)| (self.stats.names.name(l).to_string(), d))
            .filter(|(name, _)| !folded.contains(name.as_str()))
            .take(CANDIDATES)
            .collect();
        let room = self.decisions.room();
        let mut candidates: Vec<Fold> = self
            .clusters(&ranked)
            .into_iter()
            .map(|labels| {
                let mut f = Fold::new(labels, None, FoldOrigin::Auto, ts_ms);
                f.keep = self.top_values(samples, f.primary(), self.settings.keep_top);
                f
            })
            .collect();
        let mut chosen: Vec<Fold> = Vec::new();
        let mut current = self.project(self.decisions.folds());
        for _ in 0..ROUNDS.min(room) {
            let mut tried: Vec<(usize, usize, usize)> = Vec::new();
            for (i, c) in candidates.iter().enumerate() {
                let mut trial = self.decisions.folds().to_vec();
                trial.extend(chosen.iter().cloned());
                trial.push(c.clone());
                tried.push((i, self.project(&trial), self.loss(c)));
            }
            let fitting = tried
                .iter()
                .filter(|(_, p, _)| *p as u64 <= budget)
                .min_by_key(|(i, _, loss)| (*loss, *i));
            if let Some(&(i, _, _)) = fitting {
                chosen.push(candidates.remove(i));
                break;
            }
            match tried.iter().min_by_key(|(i, p, _)| (*p, *i)) {
                Some(&(i, p, _)) if p < current => {
                    current = p;
                    chosen.push(candidates.remove(i));
                }
                _ => break,
            }
        }
        chosen
    }

    /// Groups ranked labels that are one-to-one with each other.
    fn clusters(&self, ranked: &[(String, usize)]) -> Vec<Vec<String>> {
        let mut used = vec![false; ranked.len()];
        let mut out = Vec::new();
        for i in 0..ranked.len() {
            if used[i] {
                continue;
            }
            used[i] = true;
            let mut cluster = vec![ranked[i].0.clone()];
            for j in i + 1..ranked.len() {
                if !used[j]
                    && ranked[j].1 == ranked[i].1
                    && self.one_to_one(&ranked[i].0, &ranked[j].0)
                {
                    used[j] = true;
                    cluster.push(ranked[j].0.clone());
                }
            }
            if cluster.len() > 1 {
                self.order_by_value_bytes(&mut cluster);
            }
            out.push(cluster);
        }
        out
    }

    /// Orders labels carrying the same information by the bytes their
    /// values take (most first, then by name): the costliest one names the
    /// fold and is the one `keep_top` ranks.
    fn order_by_value_bytes(&self, labels: &mut [String]) {
        let mut bytes: FxHashMap<&str, usize> = FxHashMap::default();
        for (_, s) in self.series.iter() {
            for l in labels.iter() {
                *bytes.entry(l.as_str()).or_insert(0) += s.labels.get(l).map_or(0, str::len);
            }
        }
        // Candidates are never folded already: compact members have the
        // values of their folded series for them.
        for (_, g) in self.groups.with_compact_members() {
            for l in labels.iter() {
                *bytes.entry(l.as_str()).or_insert(0) +=
                    g.labels.get(l).map_or(0, str::len) * g.compact as usize;
            }
        }
        let mut keyed: Vec<(usize, String)> = labels
            .iter()
            .map(|l| (bytes.get(l.as_str()).copied().unwrap_or(0), l.clone()))
            .collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (slot, (_, l)) in labels.iter_mut().zip(keyed) {
            *slot = l;
        }
    }

    /// True when labels `a` and `b` appear together and determine each
    /// other's values in every active series.
    fn one_to_one(&self, a: &str, b: &str) -> bool {
        let mut ab: FxHashMap<u64, u64> = FxHashMap::default();
        let mut ba: FxHashMap<u64, u64> = FxHashMap::default();
        let compact = self.groups.with_compact_members();
        let all = self
            .series
            .iter()
            .map(|(_, s)| &*s.labels)
            .chain(compact.map(|(_, g)| &*g.labels));
        for labels in all {
            match (labels.get(a), labels.get(b)) {
                (None, None) => {}
                (Some(x), Some(y)) => {
                    let (hx, hy) = (value_hash(x), value_hash(y));
                    if *ab.entry(hx).or_insert(hy) != hy || *ba.entry(hy).or_insert(hx) != hx {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        true
    }

    /// The `k` values of `label` with the most events (counter and `_count`
    /// values) in this scrape.
    fn top_values(&self, samples: &[Sample], label: &str, k: usize) -> FxHashMap<u64, Box<str>> {
        if k == 0 {
            return FxHashMap::default();
        }
        let mut sums: FxHashMap<u64, (f64, &str)> = FxHashMap::default();
        for (i, sample) in samples.iter().enumerate() {
            let id = self.scrape.id(i);
            let Some(s) = self.series.get(id) else {
                continue;
            };
            let name = s.labels.metric_name().unwrap_or("");
            if !counts_events(name, s.role) || sample.value.is_nan() {
                continue;
            }
            if let Some(v) = sample.labels.get(label) {
                sums.entry(value_hash(v)).or_insert((0.0, v)).0 += sample.value;
            }
        }
        let mut all: Vec<(u64, f64, &str)> =
            sums.into_iter().map(|(h, (s, v))| (h, s, v)).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.2.cmp(b.2)));
        all.into_iter()
            .take(k)
            .map(|(h, _, v)| (h, v.into()))
            .collect()
    }

    /// Active series the target would have under `folds`.
    pub(super) fn project(&self, folds: &[Fold]) -> usize {
        let mut seen: FxHashSet<u64> = FxHashSet::default();
        for (_, s) in self.series.iter() {
            self.project_one(folds, &s.labels, s.hash, s.role, &mut seen);
        }
        if self.members.is_empty() {
            return seen.len();
        }
        if self.extends_current(folds) {
            // More folds on top of the current ones: a compact member goes
            // where its folded series goes.
            for (_, g) in self.groups.with_compact_members() {
                self.project_one(folds, &g.labels, g.hash, g.role, &mut seen);
            }
        } else {
            for (_, m) in self.members.iter() {
                let Some(role) = self.groups.get(m.group()).map(|g| g.role) else {
                    continue;
                };
                let labels = self.member_labels(m);
                let hash = labels_hash(&labels);
                self.project_one(folds, &labels, hash, role, &mut seen);
            }
        }
        seen.len()
    }

    fn project_one(
        &self,
        folds: &[Fold],
        labels: &Labels,
        hash: u64,
        role: Role,
        seen: &mut FxHashSet<u64>,
    ) {
        let (scope, replace) = masks(folds, labels);
        if scope == 0 {
            seen.insert(hash);
        } else if role != Role::Quantile {
            let overflow = self.settings.overflow_value.as_str();
            seen.insert(folded_hash(
                labels,
                |n| replaced(folds, replace, n),
                overflow,
            ));
        }
    }

    /// True when `folds` are the current folds (same labels, scope and
    /// kept values) followed by more.
    fn extends_current(&self, folds: &[Fold]) -> bool {
        let current = self.decisions.folds();
        folds.len() >= current.len()
            && current.iter().zip(folds).all(|(a, b)| {
                a.labels == b.labels
                    && a.metric.as_ref().map(|r| r.as_str())
                        == b.metric.as_ref().map(|r| r.as_str())
                    && a.keep.len() == b.keep.len()
                    && a.keep.keys().all(|k| b.keep.contains_key(k))
            })
    }

    /// Series a fold would merge (in its scope, not kept).
    fn loss(&self, f: &Fold) -> usize {
        let labeled = self
            .series
            .iter()
            .filter(|(_, s)| f.in_scope(&s.labels) && !f.keeps(&s.labels))
            .count();
        // A candidate's labels are not folded yet: compact members carry
        // their folded series' values of them.
        let compact: usize = self
            .groups
            .with_compact_members()
            .filter(|(_, g)| f.in_scope(&g.labels) && !f.keeps(&g.labels))
            .map(|(_, g)| g.compact as usize)
            .sum();
        labeled + compact
    }

    /// Lifts automatic folds whose label stayed under half the budget for
    /// the cool-down, when the target without them stays under half the
    /// budget too.
    pub(super) fn check_lifts(&mut self, ts_ms: i64, report: &mut ScrapeReport) {
        let budget = self.budget();
        let cooldown = self.settings.cooldown_ms;
        let mut i = 0;
        while let Some(fold) = self.decisions.get_mut(i) {
            if fold.origin != FoldOrigin::Auto {
                i += 1;
                continue;
            }
            let distinct = self
                .stats
                .names
                .get(fold.primary())
                .map_or(0, |l| self.stats.max_distinct(l, ts_ms).0);
            if budget > 0 && (distinct as u64) * 2 >= budget {
                fold.quiet_since = None;
                i += 1;
                continue;
            }
            let since = *fold.quiet_since.get_or_insert(ts_ms);
            if ts_ms.saturating_sub(since) < cooldown {
                i += 1;
                continue;
            }
            let mut without = self.decisions.folds().to_vec();
            without.remove(i);
            if budget == 0 || (self.project(&without) as u64) * 2 <= budget {
                let lifted = self.decisions.lift(i);
                report.lifted.push(lifted.primary().to_string());
                self.reroute_all();
            } else {
                if let Some(f) = self.decisions.get_mut(i) {
                    f.quiet_since = Some(ts_ms);
                }
                i += 1;
            }
        }
    }
}
