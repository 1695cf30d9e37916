//! The per-target scrape cache: series bytes as the target wrote them
//! (`name{labels}`) → the final label set (or "dropped by relabeling").
//!
//! A series seen in the previous scrape costs one hash lookup instead of a
//! relabel and a label-set build. The cache holds exactly the series of the
//! current and last scrape, so it also tells which series vanished (they get
//! staleness markers) and its memory follows the target's size.

use crate::labels::Labels;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// What a cached series resolves to.
#[derive(Debug)]
pub struct Entry {
    /// Final labels, or `None` when metric relabeling drops the series.
    pub labels: Option<Arc<Labels>>,
    /// The target gave an explicit timestamp (no staleness tracking then,
    /// as in Prometheus).
    pub explicit_timestamp: bool,
    /// The scrape iteration that last saw the series.
    seen: u64,
    /// Appended in a successful scrape and not yet marked stale.
    committed: bool,
}

/// Outcome of [`ScrapeCache::visit`].
pub enum Visit<'a> {
    /// Known series, first time in this scrape.
    Hit(&'a Entry),
    /// Known series, already seen in this scrape.
    Duplicate,
    /// Not in the cache: build its labels and [`ScrapeCache::insert`] them.
    Miss,
}

/// The cache of one target.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    map: FxHashMap<Box<[u8]>, Entry>,
    iteration: u64,
}

impl ScrapeCache {
    /// Starts a new scrape.
    pub fn begin(&mut self) {
        self.iteration += 1;
    }

    /// Looks a series up and marks it seen in this scrape.
    pub fn visit(&mut self, series: &[u8]) -> Visit<'_> {
        let iteration = self.iteration;
        match self.map.get_mut(series) {
            Some(e) if e.seen == iteration => Visit::Duplicate,
            Some(e) => {
                e.seen = iteration;
                Visit::Hit(e)
            }
            None => Visit::Miss,
        }
    }

    /// Adds a series first seen in this scrape.
    pub fn insert(&mut self, series: &[u8], labels: Option<Arc<Labels>>, explicit_timestamp: bool) {
        self.map.insert(
            series.into(),
            Entry {
                labels,
                explicit_timestamp,
                seen: self.iteration,
                committed: false,
            },
        );
    }

    /// Ends a successful scrape: series not seen in it are removed, and
    /// those that were appended before are passed to `vanished` (they need
    /// a staleness marker).
    pub fn commit(&mut self, mut vanished: impl FnMut(&Arc<Labels>)) {
        let iteration = self.iteration;
        self.map.retain(|_, e| {
            if e.seen == iteration {
                e.committed = true;
                return true;
            }
            if e.committed
                && !e.explicit_timestamp
                && let Some(l) = &e.labels
            {
                vanished(l);
            }
            false
        });
    }

    /// Ends a failed scrape or the target itself: every series appended
    /// before is passed to `vanished`, and the cache is emptied.
    pub fn clear(&mut self, mut vanished: impl FnMut(&Arc<Labels>)) {
        for e in self.map.values() {
            if e.committed
                && !e.explicit_timestamp
                && let Some(l) = &e.labels
            {
                vanished(l);
            }
        }
        self.map.clear();
        self.map.shrink_to(0);
    }

    /// Number of cached series (kept and dropped).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs([("__name__", name)]))
    }

    #[test]
    fn vanished_series_are_reported_once() {
        let mut c = ScrapeCache::default();
        c.begin();
        assert!(matches!(c.visit(b"a"), Visit::Miss));
        c.insert(b"a", Some(labels("a")), false);
        c.insert(b"b", Some(labels("b")), false);
        c.insert(b"dropped", None, false);
        c.commit(|_| panic!("nothing vanished yet"));
        c.begin();
        assert!(matches!(c.visit(b"a"), Visit::Hit(_)));
        assert!(matches!(c.visit(b"a"), Visit::Duplicate));
        let mut gone = vec![];
        c.commit(|l| gone.push(l.metric_name().unwrap_or("").to_string()));
        assert_eq!(gone, vec!["b"]);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn failed_scrape_marks_only_committed_series() {
        let mut c = ScrapeCache::default();
        c.begin();
        c.insert(b"a", Some(labels("a")), false);
        c.insert(b"ts", Some(labels("ts")), true);
        c.commit(|_| {});
        c.begin();
        c.insert(b"new", Some(labels("new")), false);
        let mut gone = vec![];
        c.clear(|l| gone.push(l.metric_name().unwrap_or("").to_string()));
        assert_eq!(gone, vec!["a"]);
        assert!(c.is_empty());
    }
}
