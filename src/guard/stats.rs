//! Per-target label statistics maintained on admission: for every metric
//! family and label name, the distinct values among the target's active
//! series (a reference count per value, [`super::value_counts`]) and how many new values
//! appeared per minute recently.
//!
//! Updated only when a series enters or leaves the active set, never per
//! sample, so a repeated series costs nothing here.

use super::hash::value_hash;
use super::value_counts::ValueCounts;
use crate::labels::{Labels, METRIC_NAME};
use rustc_hash::FxHashMap;

/// Minutes of history kept for growth rates.
const GROWTH_MINUTES: usize = 5;

/// Distinct values of one label in one family.
#[derive(Debug, Default, Clone)]
pub struct LabelStat {
    values: ValueCounts,
    /// New distinct values per minute: (minute since epoch, count), newest last.
    recent: Vec<(i64, u32)>,
}

impl LabelStat {
    /// Distinct values among active series.
    pub fn distinct(&self) -> usize {
        self.values.len()
    }

    /// New distinct values per minute over the last few minutes (as of
    /// `now_ms`).
    pub fn growth_per_min(&self, now_ms: i64) -> f64 {
        let now_min = now_ms.div_euclid(60_000);
        let from = now_min - GROWTH_MINUTES as i64 + 1;
        let new: u32 = self
            .recent
            .iter()
            .filter(|(m, _)| *m >= from)
            .map(|(_, n)| n)
            .sum();
        let first = self.recent.first().map_or(now_min, |(m, _)| *m).max(from);
        let minutes = (now_min - first + 1).max(1);
        f64::from(new) / minutes as f64
    }

    fn add(&mut self, value: u64, now_ms: i64) {
        if self.values.add(value) {
            let minute = now_ms.div_euclid(60_000);
            match self.recent.last_mut() {
                Some((m, n)) if *m == minute => *n += 1,
                _ => {
                    self.recent.push((minute, 1));
                    if self.recent.len() > GROWTH_MINUTES {
                        self.recent.remove(0);
                    }
                }
            }
        }
    }

    fn remove(&mut self, value: u64) {
        self.values.remove(value);
    }
}

/// Interned names: families and label names get small ids.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// The id of `name`, interning it on first use.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// The id of `name`, if interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// All names, by id.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    /// The name of an id.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

/// All label statistics of one target.
#[derive(Debug, Default, Clone)]
pub struct LabelStats {
    /// Family names.
    pub families: Interner,
    /// Label names.
    pub names: Interner,
    by_pair: FxHashMap<(u32, u32), LabelStat>,
}

/// Statistics of one label name in one family.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSummary {
    /// The family.
    pub family: String,
    /// The label name.
    pub label: String,
    /// Distinct values among active series.
    pub distinct: usize,
    /// New distinct values per minute, recently.
    pub growth_per_min: f64,
}

impl LabelStats {
    /// Counts the labels of a series entering the active set.
    pub fn add_series(&mut self, family: u32, labels: &Labels, now_ms: i64) {
        for l in labels {
            if l.name == METRIC_NAME {
                continue;
            }
            let name = self.names.intern(l.name);
            self.by_pair
                .entry((family, name))
                .or_default()
                .add(value_hash(l.value), now_ms);
        }
    }

    /// Uncounts the labels of a series leaving the active set.
    pub fn remove_series(&mut self, family: u32, labels: &Labels) {
        for l in labels {
            let Some(name) = self.names.get(l.name) else {
                continue;
            };
            if let Some(stat) = self.by_pair.get_mut(&(family, name)) {
                stat.remove(value_hash(l.value));
                if stat.values.is_empty() {
                    self.by_pair.remove(&(family, name));
                }
            }
        }
    }

    /// The recent growth history of every (family, label) pair: (minute,
    /// new distinct values), oldest first.
    pub fn growth(&self) -> impl Iterator<Item = (u32, u32, &[(i64, u32)])> {
        self.by_pair
            .iter()
            .map(|(&(f, l), s)| (f, l, s.recent.as_slice()))
    }

    /// Replaces the growth history of a pair that has series (a restore).
    pub fn set_growth(&mut self, family: u32, label: u32, mut recent: Vec<(i64, u32)>) {
        if let Some(stat) = self.by_pair.get_mut(&(family, label)) {
            let drop = recent.len().saturating_sub(GROWTH_MINUTES);
            recent.drain(..drop);
            stat.recent = recent;
        }
    }

    /// Gives back the memory of values that left.
    pub fn compact(&mut self) {
        for stat in self.by_pair.values_mut() {
            stat.values.shrink();
        }
        super::table::shrink_map(&mut self.by_pair);
    }

    /// The statistics of `label` in `family`.
    #[cfg(test)]
    pub fn get(&self, family: u32, label: u32) -> Option<&LabelStat> {
        self.by_pair.get(&(family, label))
    }

    /// Families in which `label` has more than one distinct value, with
    /// their statistics.
    pub fn families_of(&self, label: u32) -> impl Iterator<Item = (u32, &LabelStat)> {
        self.by_pair
            .iter()
            .filter(move |((_, l), s)| *l == label && s.distinct() > 1)
            .map(|((f, _), s)| (*f, s))
    }

    /// The largest distinct-value count of `label` over all families and
    /// the growth of that family.
    pub fn max_distinct(&self, label: u32, now_ms: i64) -> (usize, f64) {
        self.by_pair
            .iter()
            .filter(|((_, l), _)| *l == label)
            .map(|(_, s)| (s.distinct(), s.growth_per_min(now_ms)))
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .unwrap_or((0, 0.0))
    }

    /// Label ids with their largest distinct count, largest first (ties by
    /// name), leaving out `le`, `quantile` and labels with one value.
    pub fn ranked_labels(&self) -> Vec<(u32, usize)> {
        let mut best: FxHashMap<u32, usize> = FxHashMap::default();
        for ((_, l), s) in &self.by_pair {
            let e = best.entry(*l).or_insert(0);
            *e = (*e).max(s.distinct());
        }
        let mut out: Vec<(u32, usize)> = best
            .into_iter()
            .filter(|(l, d)| *d > 1 && !matches!(self.names.name(*l), "le" | "quantile"))
            .collect();
        out.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| self.names.name(a.0).cmp(self.names.name(b.0)))
        });
        out
    }

    /// The `n` (family, label) pairs with the most distinct values.
    pub fn top(&self, n: usize, now_ms: i64) -> Vec<LabelSummary> {
        let mut all: Vec<LabelSummary> = self
            .by_pair
            .iter()
            .map(|((f, l), s)| LabelSummary {
                family: self.families.name(*f).to_string(),
                label: self.names.name(*l).to_string(),
                distinct: s.distinct(),
                growth_per_min: s.growth_per_min(now_ms),
            })
            .collect();
        all.sort_by(|a, b| {
            b.distinct
                .cmp(&a.distinct)
                .then_with(|| (&a.family, &a.label).cmp(&(&b.family, &b.label)))
        });
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_values_follow_the_active_series() {
        let mut s = LabelStats::default();
        let f = s.families.intern("req");
        let a = Labels::from_pairs([("__name__", "req"), ("host", "a"), ("code", "200")]);
        let b = Labels::from_pairs([("__name__", "req"), ("host", "b"), ("code", "200")]);
        s.add_series(f, &a, 0);
        s.add_series(f, &b, 30_000);
        let host = s.names.get("host").unwrap();
        let code = s.names.get("code").unwrap();
        assert_eq!(s.get(f, host).unwrap().distinct(), 2);
        assert_eq!(s.get(f, code).unwrap().distinct(), 1);
        assert!(s.names.get("__name__").is_none());
        assert_eq!(s.ranked_labels(), vec![(host, 2)]);
        assert_eq!(s.get(f, host).unwrap().growth_per_min(59_000), 2.0);
        s.remove_series(f, &a);
        assert_eq!(s.get(f, host).unwrap().distinct(), 1);
        assert_eq!(s.get(f, code).unwrap().distinct(), 1);
        s.remove_series(f, &b);
        assert!(s.get(f, code).is_none());
    }
}
