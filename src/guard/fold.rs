//! Active folds: which labels of which series are replaced by the overflow
//! value, which values `keep_top` keeps as they are, and the activity
//! ranking (with hysteresis) that chooses them.

use super::hash::value_hash;
use crate::labels::{Labels, METRIC_NAME};
use regex::Regex;
use rustc_hash::FxHashMap;

/// Why a fold exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldOrigin {
    /// An explicit `fold_labels` rule: always on.
    Rule,
    /// Chosen by the guard on a budget breach; lifted after the cool-down.
    Auto,
}

impl FoldOrigin {
    /// `rule` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            FoldOrigin::Rule => "rule",
            FoldOrigin::Auto => "auto",
        }
    }
}

/// Share of a new scrape's activity in a value's running rank.
const ACTIVITY_ALPHA: f64 = 0.3;
/// A challenger replaces the weakest kept value only when it is this many
/// times as active: members do not flap between scrapes.
pub const HYSTERESIS: f64 = 2.0;

/// How active one value of a ranked label is.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The value.
    pub value: Box<str>,
    /// Counter increases per scrape, exponentially averaged.
    pub rank: f64,
    /// Increases seen in the current scrape.
    pub scrape: f64,
}

/// One active fold.
#[derive(Debug, Clone)]
pub struct Fold {
    /// Labels folded together; the first is ranked by `keep_top`.
    pub labels: Vec<String>,
    /// Metric names it applies to (`None`: all).
    pub metric: Option<Regex>,
    /// Rule or automatic.
    pub origin: FoldOrigin,
    /// Values of the first label kept as they are, by value hash.
    pub keep: FxHashMap<u64, Box<str>>,
    /// Activity of the first label's values (only with `keep_top` > 0).
    pub activity: FxHashMap<u64, Activity>,
    /// When the fold started.
    pub started_ms: i64,
    /// Since when the label has stayed under half the budget.
    pub quiet_since: Option<i64>,
}

impl Fold {
    /// A fold of `labels` on metrics matching `metric`.
    pub fn new(
        labels: Vec<String>,
        metric: Option<Regex>,
        origin: FoldOrigin,
        started_ms: i64,
    ) -> Fold {
        Fold {
            labels,
            metric,
            origin,
            keep: FxHashMap::default(),
            activity: FxHashMap::default(),
            started_ms,
            quiet_since: None,
        }
    }

    /// The ranked (first) label.
    pub fn primary(&self) -> &str {
        self.labels.first().map_or("", String::as_str)
    }

    /// True when a series with these labels is within the fold's scope:
    /// its metric matches and it carries one of the folded labels.
    pub fn in_scope(&self, labels: &Labels) -> bool {
        let name_ok = match &self.metric {
            Some(r) => r.is_match(labels.get(METRIC_NAME).unwrap_or("")),
            None => true,
        };
        name_ok && self.labels.iter().any(|l| labels.get(l).is_some())
    }

    /// True when a series in scope keeps its labels (a `keep_top` value).
    pub fn keeps(&self, labels: &Labels) -> bool {
        !self.keep.is_empty()
            && labels
                .get(self.primary())
                .is_some_and(|v| self.keep.contains_key(&value_hash(v)))
    }

    /// Keeps at most `keep_top` kept values (the most active ones), after
    /// `keep_top` was lowered by a reload.
    pub fn trim_keep(&mut self, keep_top: usize) {
        while self.keep.len() > keep_top {
            let rank_of = |h: &u64| self.activity.get(h).map_or(0.0, |a| a.rank);
            let weakest = self
                .keep
                .keys()
                .min_by(|a, b| rank_of(a).total_cmp(&rank_of(b)).then(a.cmp(b)))
                .copied();
            match weakest {
                Some(w) => {
                    self.keep.remove(&w);
                }
                None => break,
            }
        }
    }

    /// Folds the current scrape's activity into the ranks and applies the
    /// hysteresis rule once: fills a free `keep_top` slot with the most
    /// active value, or replaces the weakest kept value with a challenger
    /// at least [`HYSTERESIS`] times as active. True when `keep` changed.
    pub fn rerank(&mut self, keep_top: usize) -> bool {
        for a in self.activity.values_mut() {
            a.rank = a.rank * (1.0 - ACTIVITY_ALPHA) + a.scrape * ACTIVITY_ALPHA;
            a.scrape = 0.0;
        }
        let keep = &self.keep;
        self.activity
            .retain(|h, a| a.rank > 1e-9 || keep.contains_key(h));
        if keep_top == 0 {
            return false;
        }
        let challenger = self
            .activity
            .iter()
            .filter(|(h, a)| !self.keep.contains_key(*h) && a.rank > 0.0)
            .max_by(|a, b| a.1.rank.total_cmp(&b.1.rank).then(b.0.cmp(a.0)));
        let Some((&ch, ca)) = challenger else {
            return false;
        };
        if self.keep.len() < keep_top {
            self.keep.insert(ch, ca.value.clone());
            return true;
        }
        let rank_of = |h: &u64| self.activity.get(h).map_or(0.0, |a| a.rank);
        let weakest = self
            .keep
            .keys()
            .min_by(|a, b| rank_of(a).total_cmp(&rank_of(b)).then(a.cmp(b)))
            .copied();
        match weakest {
            Some(w) if ca.rank > HYSTERESIS * rank_of(&w) => {
                let value = ca.value.clone();
                self.keep.remove(&w);
                self.keep.insert(ch, value);
                true
            }
            _ => false,
        }
    }
}

/// Most folds one target can have (they are tracked in a 64-bit mask).
pub const MAX_FOLDS: usize = 64;

/// Which folds take a series in (`scope`, bit `i` = `folds[i]`) and which
/// of those replace its labels (`replace`: the ones that do not keep it).
pub fn masks(folds: &[Fold], labels: &Labels) -> (u64, u64) {
    let (mut scope, mut replace) = (0u64, 0u64);
    for (i, f) in folds.iter().enumerate().take(MAX_FOLDS) {
        if f.in_scope(labels) {
            scope |= 1 << i;
            if !f.keeps(labels) {
                replace |= 1 << i;
            }
        }
    }
    (scope, replace)
}

/// True when one of the folds in `replace` folds label `name`.
pub fn replaced(folds: &[Fold], replace: u64, name: &str) -> bool {
    folds
        .iter()
        .enumerate()
        .take(MAX_FOLDS)
        .any(|(i, f)| replace & (1 << i) != 0 && f.labels.iter().any(|l| l == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold() -> Fold {
        Fold::new(vec!["host".into()], None, FoldOrigin::Auto, 0)
    }

    fn act(f: &mut Fold, value: &str, inc: f64) {
        f.activity
            .entry(value_hash(value))
            .or_insert_with(|| Activity {
                value: value.into(),
                rank: 0.0,
                scrape: 0.0,
            })
            .scrape += inc;
    }

    #[test]
    fn scope_and_keep() {
        let mut f = fold();
        let a = Labels::from_pairs([("__name__", "m"), ("host", "a")]);
        let none = Labels::from_pairs([("__name__", "m")]);
        assert!(f.in_scope(&a));
        assert!(!f.in_scope(&none));
        assert!(!f.keeps(&a));
        f.keep.insert(value_hash("a"), "a".into());
        assert!(f.keeps(&a));
        f.metric = Some(Regex::new("^(?s:other)$").unwrap());
        assert!(!f.in_scope(&a));
    }

    #[test]
    fn hysteresis_keeps_members_from_flapping() {
        let mut f = fold();
        act(&mut f, "a", 10.0);
        act(&mut f, "b", 9.0);
        assert!(f.rerank(1));
        assert!(f.keep.contains_key(&value_hash("a")));
        // b a little busier than a: not enough to replace it.
        for _ in 0..20 {
            act(&mut f, "a", 10.0);
            act(&mut f, "b", 15.0);
            assert!(!f.rerank(1));
        }
        // b far busier: it takes the slot.
        let mut changed = false;
        for _ in 0..20 {
            act(&mut f, "a", 1.0);
            act(&mut f, "b", 30.0);
            changed |= f.rerank(1);
        }
        assert!(changed);
        assert!(f.keep.contains_key(&value_hash("b")));
        assert_eq!(f.keep.len(), 1);
        // keep_top lowered to 0 by a reload: nothing kept.
        f.trim_keep(0);
        assert!(f.keep.is_empty());
    }
}
