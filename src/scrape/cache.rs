//! The per-target scrape cache: series key → the series' final label set
//! (or "dropped by relabeling"), and, for a guarded target, where the guard
//! keeps the series (so the guard does not look the key up again).
//!
//! The key is the target's keyed 128-bit hash of the series as the target
//! wrote it (`name{labels}`), computed once per sample by the scrape loop;
//! the cache never keeps the series text, so an entry costs its key, a
//! shared label set and a few flags, whatever the length of the line. A
//! series seen in the previous scrape costs that hash and one lookup
//! instead of a relabel and a label-set build. Two series sharing a key
//! would be taken for one; with a secret random key per target that needs
//! a 128-bit collision nobody can aim at (see [`crate::series_key`]).
//!
//! The cache holds exactly the series of the current and last scrape, so it
//! also tells which series vanished (they get staleness markers) and its
//! memory follows the target's size.

use crate::guard::NO_SLOT;
use crate::labels::Labels;
use crate::series_key::{KeyMap, SeriesKey};
use std::sync::Arc;

/// What a cached series resolves to.
#[derive(Debug)]
pub struct Entry {
    /// Final labels, or `None` when metric relabeling drops the series.
    pub labels: Option<Arc<Labels>>,
    /// The target gave an explicit timestamp (no staleness tracking then,
    /// as in Prometheus).
    pub explicit_timestamp: bool,
    /// Where the target's guard keeps the series ([`NO_SLOT`]: not known),
    /// so the guard reaches it without a second lookup of the key; the
    /// guard checks it before trusting it.
    pub guard_slot: u32,
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
    map: KeyMap<Entry>,
    iteration: u64,
}

impl ScrapeCache {
    /// Starts a new scrape.
    pub fn begin(&mut self) {
        self.iteration += 1;
    }

    /// Looks the series with `key` up and marks it seen in this scrape.
    pub fn visit(&mut self, key: SeriesKey) -> Visit<'_> {
        let iteration = self.iteration;
        match self.map.get_mut(&key) {
            Some(e) if e.seen == iteration => Visit::Duplicate,
            Some(e) => {
                e.seen = iteration;
                Visit::Hit(e)
            }
            None => Visit::Miss,
        }
    }

    /// Adds the series with `key`, first seen in this scrape.
    pub fn insert(
        &mut self,
        key: SeriesKey,
        labels: Option<Arc<Labels>>,
        explicit_timestamp: bool,
    ) {
        self.map.insert(
            key,
            Entry {
                labels,
                explicit_timestamp,
                guard_slot: NO_SLOT,
                seen: self.iteration,
                committed: false,
            },
        );
    }

    /// Remembers the guard's slot of the series with `key` (when cached).
    pub fn remember_slot(&mut self, key: SeriesKey, slot: u32) {
        if let Some(e) = self.map.get_mut(&key) {
            e.guard_slot = slot;
        }
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

    /// Forgets the series with `key` (no staleness marker: whoever asks
    /// takes care of it).
    pub fn remove(&mut self, key: &SeriesKey) {
        self.map.remove(key);
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
    use crate::series_key::SeriesKeyer;

    fn labels(name: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs([("__name__", name)]))
    }

    fn key(series: &[u8]) -> SeriesKey {
        SeriesKeyer::from_bytes([3; 16]).key(series)
    }

    #[test]
    fn vanished_series_are_reported_once() {
        let mut c = ScrapeCache::default();
        c.begin();
        assert!(matches!(c.visit(key(b"a")), Visit::Miss));
        c.insert(key(b"a"), Some(labels("a")), false);
        c.insert(key(b"b"), Some(labels("b")), false);
        c.insert(key(b"dropped"), None, false);
        c.commit(|_| panic!("nothing vanished yet"));
        c.begin();
        assert!(matches!(c.visit(key(b"a")), Visit::Hit(_)));
        assert!(matches!(c.visit(key(b"a")), Visit::Duplicate));
        let mut gone = vec![];
        c.commit(|l| gone.push(l.metric_name().unwrap_or("").to_string()));
        assert_eq!(gone, vec!["b"]);
        assert_eq!(c.len(), 1);
        c.begin();
        assert!(matches!(c.visit(key(b"b")), Visit::Miss), "b was removed");
        c.commit(|l| gone.push(l.metric_name().unwrap_or("").to_string()));
        assert_eq!(gone, vec!["b", "a"], "a vanished now, b not again");
        assert!(c.is_empty());
    }

    #[test]
    fn a_hit_returns_what_was_inserted() {
        let mut c = ScrapeCache::default();
        c.begin();
        c.insert(key(b"kept"), Some(labels("kept")), true);
        c.insert(key(b"dropped"), None, false);
        c.commit(|_| {});
        c.begin();
        match c.visit(key(b"kept")) {
            Visit::Hit(e) => {
                assert_eq!(e.labels.as_deref(), Some(&*labels("kept")));
                assert!(e.explicit_timestamp);
            }
            _ => panic!("kept is cached"),
        }
        match c.visit(key(b"dropped")) {
            Visit::Hit(e) => assert!(e.labels.is_none(), "cached as dropped"),
            _ => panic!("dropped is cached"),
        }
    }

    #[test]
    fn a_remembered_slot_is_kept_until_the_entry_goes() {
        let mut c = ScrapeCache::default();
        c.begin();
        c.insert(key(b"a"), Some(labels("a")), false);
        c.remember_slot(key(b"a"), 7);
        c.remember_slot(key(b"not cached"), 9);
        c.commit(|_| {});
        c.begin();
        match c.visit(key(b"a")) {
            Visit::Hit(e) => assert_eq!(e.guard_slot, 7),
            _ => panic!("a is cached"),
        }
        assert_eq!(c.len(), 1, "remembering does not add entries");
        c.begin();
        c.commit(|_| {});
        c.begin();
        c.insert(key(b"a"), Some(labels("a")), false);
        c.begin();
        match c.visit(key(b"a")) {
            Visit::Hit(e) => assert_eq!(e.guard_slot, NO_SLOT, "a new entry knows none"),
            _ => panic!("a is cached"),
        }
        // The slot sits in what was padding: an entry is no bigger.
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn failed_scrape_marks_only_committed_series() {
        let mut c = ScrapeCache::default();
        c.begin();
        c.insert(key(b"a"), Some(labels("a")), false);
        c.insert(key(b"ts"), Some(labels("ts")), true);
        c.commit(|_| {});
        c.begin();
        c.insert(key(b"new"), Some(labels("new")), false);
        let mut gone = vec![];
        c.clear(|l| gone.push(l.metric_name().unwrap_or("").to_string()));
        assert_eq!(gone, vec!["a"]);
        assert!(c.is_empty());
    }

    /// Relabeling dropped the label that told two series apart: they are
    /// still two entries (one per series as written), neither a duplicate
    /// of the other, and each vanishes on its own.
    #[test]
    fn series_with_the_same_final_labels_stay_apart() {
        let (x1, x2) = (key(br#"m{x="1"}"#), key(br#"m{x="2"}"#));
        let same = labels("m");
        let mut c = ScrapeCache::default();
        c.begin();
        assert!(matches!(c.visit(x1), Visit::Miss));
        c.insert(x1, Some(same.clone()), false);
        assert!(matches!(c.visit(x2), Visit::Miss));
        c.insert(x2, Some(same.clone()), false);
        c.commit(|_| panic!("nothing vanished yet"));
        assert_eq!(c.len(), 2);
        c.begin();
        assert!(matches!(c.visit(x1), Visit::Hit(_)));
        assert!(
            matches!(c.visit(x2), Visit::Hit(_)),
            "not a duplicate of x1"
        );
        c.commit(|_| panic!("both seen"));
        c.begin();
        assert!(matches!(c.visit(x2), Visit::Hit(_)));
        let mut gone = vec![];
        c.commit(|l| gone.push(l.clone()));
        assert_eq!(gone, vec![same], "x1 vanished, reported with its labels");
        assert_eq!(c.len(), 1);
    }
}
