//! [`HeadIndex`]: the in-memory index of the head, tying symbols, the
//! series registry and the postings together behind one API.
//!
//! # Locking
//!
//! `HeadIndex` has no interior locking: reads take `&self`, changes take
//! `&mut self`, and it is `Send + Sync`. The head is meant to hold it in a
//! `parking_lot::RwLock<HeadIndex>`:
//!
//! - The scrape path (many tasks) maps a repeated series to its id through
//!   its scrape cache and never touches the index. For a series not in the
//!   cache it calls [`HeadIndex::get`] under the read lock, and only when that
//!   misses takes the write lock for [`HeadIndex::get_or_create`] (which looks
//!   again, so two tasks racing on one new series get the same id).
//! - Queries take the read lock for [`HeadIndex::select`] and the
//!   [`HeadIndex::labels_of`] calls on its result, so an id they hold cannot
//!   be removed and reused under them.
//! - Removal (head cut) takes the write lock once per batch.
//!
//! New series are rare next to samples (which go to per-series chunks, not
//! here), so one lock is enough for the write rate the guard allows. If it
//! ever is not, the registry can be striped by label-set hash with the
//! postings behind their own lock; the API stays the same.

use croaring::Bitmap;

use super::matcher::Matcher;
use super::postings::Postings;
use super::select::select;
use super::series::{SeriesError, SeriesId, SeriesRegistry};
use crate::labels::Labels;

// The head shares the index between scrape tasks and queries behind a lock.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HeadIndex>();
};

/// Heap bytes of the index by part (estimates from the structures' sizes
/// and capacities; allocator overhead not included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexHeapStats {
    /// Interned strings, their lookup map and slots.
    pub symbols: usize,
    /// Stored label pairs, slot pages and the label-set hash index.
    pub series: usize,
    /// Postings bitmaps and their maps.
    pub postings: usize,
}

impl IndexHeapStats {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.symbols + self.series + self.postings
    }
}

/// The head's series index: label sets ↔ series ids, and postings.
#[derive(Debug, Default)]
pub struct HeadIndex {
    series: SeriesRegistry,
    postings: Postings,
}

impl HeadIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index whose label-set hash keeps only the bits in `mask` (tests:
    /// forces collisions).
    #[cfg(test)]
    pub(crate) fn with_hash_mask(mask: u32) -> Self {
        HeadIndex {
            series: SeriesRegistry::with_hash_mask(mask),
            postings: Postings::new(),
        }
    }

    /// The id of the series with exactly these labels, if it exists.
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        self.series.get(labels)
    }

    /// The id of the series with these labels, creating it (and its
    /// postings) if needed; `created` tells which happened.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<(SeriesId, bool), SeriesError> {
        let (id, created) = self.series.get_or_create(labels)?;
        if created {
            self.postings.add(id, self.series.shared_pairs(id));
        }
        Ok((id, created))
    }

    /// Restores a series under a given id (WAL replay). Returns the id the
    /// label set lives under, which differs from `id` when the label set was
    /// already present (see [`SeriesRegistry::insert_with_id`]).
    pub fn insert_with_id(
        &mut self,
        id: SeriesId,
        labels: &Labels,
    ) -> Result<SeriesId, SeriesError> {
        let existed = self.series.get(labels);
        let got = self.series.insert_with_id(id, labels)?;
        if existed.is_none() {
            self.postings.add(got, self.series.shared_pairs(got));
        }
        Ok(got)
    }

    /// Removes a series and its postings; false when `id` is not live. The
    /// id is reused only after [`Self::recycle_removed_ids`].
    pub fn remove(&mut self, id: SeriesId) -> bool {
        let Some(pairs) = self.series.pairs(id) else {
            return false;
        };
        let symbols = self.series.symbols();
        self.postings.remove(
            id,
            pairs.filter_map(|(n, v)| Some((symbols.resolve(n)?, symbols.resolve(v)?))),
        );
        self.series.remove(id)
    }

    /// Makes removed ids available to new series; call once nothing can
    /// refer to them any more (see [`SeriesRegistry::recycle_removed_ids`]).
    pub fn recycle_removed_ids(&mut self) {
        self.series.recycle_removed_ids();
    }

    /// The label set of a live series.
    pub fn labels_of(&self, id: SeriesId) -> Option<Labels> {
        self.series.labels_of(id)
    }

    /// The value of one label of a live series.
    pub fn value_of(&self, id: SeriesId, name: &str) -> Option<&str> {
        self.series.value_of(id, name)
    }

    /// The series selected by all `matchers`; an empty list selects every
    /// series. Semantics and evaluation: [`super::select`].
    pub fn select(&self, matchers: &[Matcher]) -> Bitmap {
        select(&self.postings, matchers)
    }

    /// Sorted label names of the series selected by `matchers` (all names
    /// when the list is empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.postings.names().map(|(n, _)| n.to_owned()).collect();
        }
        let selected = self.select(matchers);
        if selected.cardinality() <= self.postings.name_count() as u64 {
            self.label_names_by_series(&selected)
        } else {
            self.label_names_by_postings(&selected)
        }
    }

    /// Sorted values of label `name` among the series selected by
    /// `matchers` (all its values when the list is empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let Some(np) = self.postings.name(name) else {
            return Vec::new();
        };
        if matchers.is_empty() {
            return np.values().map(|(v, _)| v.to_owned()).collect();
        }
        let selected = self.select(matchers);
        if selected.cardinality() <= np.value_count() as u64 {
            self.label_values_by_series(name, &selected)
        } else {
            self.label_values_by_postings(name, &selected)
        }
    }

    /// Number of live series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Every live series.
    pub fn all_series(&self) -> &Bitmap {
        self.postings.all()
    }

    /// The postings, for callers that walk them (cardinality reports).
    pub fn postings(&self) -> &Postings {
        &self.postings
    }

    /// The series registry (and through it the symbol table).
    pub fn series(&self) -> &SeriesRegistry {
        &self.series
    }

    /// Compacts the postings bitmaps; worth it after WAL replay.
    pub fn optimize(&mut self) {
        self.postings.optimize();
    }

    /// Estimated heap bytes by part.
    pub fn heap_stats(&self) -> IndexHeapStats {
        IndexHeapStats {
            symbols: self.series.symbols().heap_bytes(),
            series: self.series.heap_bytes(),
            postings: self.postings.heap_bytes(),
        }
    }

    /// Estimated heap bytes in total.
    pub fn heap_bytes(&self) -> usize {
        self.heap_stats().total()
    }

    fn label_names_by_postings(&self, selected: &Bitmap) -> Vec<String> {
        self.postings
            .names()
            .filter(|(_, np)| np.all().intersect(selected))
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    fn label_names_by_series(&self, selected: &Bitmap) -> Vec<String> {
        let symbols = self.series.symbols();
        let mut names: Vec<String> = selected
            .iter()
            .filter_map(|id| self.series.pairs(id))
            .flat_map(|pairs| pairs.map(|(n, _)| n))
            .filter_map(|n| symbols.resolve(n))
            .map(str::to_owned)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn label_values_by_postings(&self, name: &str, selected: &Bitmap) -> Vec<String> {
        let Some(np) = self.postings.name(name) else {
            return Vec::new();
        };
        np.values()
            .filter(|(_, b)| b.intersect(selected))
            .map(|(v, _)| v.to_owned())
            .collect()
    }

    fn label_values_by_series(&self, name: &str, selected: &Bitmap) -> Vec<String> {
        let mut values: Vec<String> = selected
            .iter()
            .filter_map(|id| self.series.value_of(id, name))
            .map(str::to_owned)
            .collect();
        values.sort_unstable();
        values.dedup();
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::index::matcher::MatchOp;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// A small index: http_requests for two jobs and codes, plus `up`.
    fn fixture() -> (HeadIndex, Vec<Labels>) {
        let sets = vec![
            ls(&[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("code", "200"),
            ]),
            ls(&[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("code", "500"),
            ]),
            ls(&[
                ("__name__", "http_requests"),
                ("job", "web"),
                ("code", "200"),
            ]),
            ls(&[("__name__", "http_requests"), ("job", "web")]),
            ls(&[("__name__", "up"), ("job", "api")]),
            ls(&[("__name__", "up"), ("job", "web"), ("env", "")]),
            ls(&[
                ("__name__", "up"),
                ("job", "api-canary"),
                ("env", "prod\nx"),
            ]),
        ];
        let mut idx = HeadIndex::new();
        for (i, l) in sets.iter().enumerate() {
            assert_eq!(idx.get_or_create(l).unwrap(), (i as SeriesId, true));
        }
        (idx, sets)
    }

    /// The slow path: test every series against every matcher.
    fn naive(idx: &HeadIndex, ms: &[Matcher]) -> Vec<SeriesId> {
        idx.all_series()
            .iter()
            .filter(|&id| {
                let l = idx.labels_of(id).unwrap();
                ms.iter().all(|m| m.matches(l.get(m.name()).unwrap_or("")))
            })
            .collect()
    }

    fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).unwrap()
    }

    #[test]
    fn every_fast_path_agrees_with_the_slow_path() {
        use MatchOp::*;
        let (idx, _) = fixture();
        let values = [
            "",
            ".*",
            ".+",
            "api",
            "api|web",
            "|api",
            "api.*",
            "a.*",
            "(web|nope)",
            "w.b",
            "2..",
            "200",
            "prod.*",
            "prod\nx",
            "nope",
            "nope.*",
            "x?",
        ];
        let names = ["job", "code", "env", "__name__", "absent"];
        for op in [Equal, NotEqual, RegexMatch, RegexNoMatch] {
            for name in names {
                for value in values {
                    let ms = [m(op, name, value)];
                    assert_eq!(idx.select(&ms).to_vec(), naive(&idx, &ms), "{}", ms[0]);
                    // Paired with a positive matcher, and with a negative one.
                    let with = [m(Equal, "__name__", "http_requests"), m(op, name, value)];
                    assert_eq!(idx.select(&with).to_vec(), naive(&idx, &with), "{}", ms[0]);
                    let neg = [m(NotEqual, "job", "web"), m(op, name, value)];
                    assert_eq!(idx.select(&neg).to_vec(), naive(&idx, &neg), "{}", ms[0]);
                }
            }
        }
    }

    #[test]
    fn empty_matching_semantics() {
        use MatchOp::*;
        let (idx, _) = fixture();
        let cases: &[(Matcher, &[SeriesId])] = &[
            // Series lacking `code` have code="".
            (m(Equal, "code", ""), &[3, 4, 5, 6]),
            (m(NotEqual, "code", ""), &[0, 1, 2]),
            (m(RegexMatch, "code", ".*"), &[0, 1, 2, 3, 4, 5, 6]),
            (m(RegexMatch, "code", ".+"), &[0, 1, 2]),
            (m(RegexNoMatch, "code", ".+"), &[3, 4, 5, 6]),
            (m(RegexNoMatch, "code", ".*"), &[]),
            (m(RegexMatch, "code", "|500"), &[1, 3, 4, 5, 6]),
            (m(RegexNoMatch, "code", "|500"), &[0, 2]),
            (m(NotEqual, "code", "500"), &[0, 2, 3, 4, 5, 6]),
            (m(RegexMatch, "absent", ""), &[0, 1, 2, 3, 4, 5, 6]),
            (m(RegexMatch, "absent", ".+"), &[]),
            (m(NotEqual, "absent", "x"), &[0, 1, 2, 3, 4, 5, 6]),
            // `env=""` in a label set means absent.
            (m(Equal, "env", ""), &[0, 1, 2, 3, 4, 5]),
        ];
        for (matcher, want) in cases {
            assert_eq!(
                idx.select(std::slice::from_ref(matcher)).to_vec(),
                want.to_vec(),
                "{matcher}"
            );
        }
        assert_eq!(idx.select(&[]).cardinality(), 7, "empty list: everything");
    }

    #[test]
    fn label_names_and_values_by_both_strategies() {
        use MatchOp::*;
        let (idx, _) = fixture();
        assert_eq!(idx.label_names(&[]), vec!["__name__", "code", "env", "job"]);
        assert_eq!(
            idx.label_values("job", &[]),
            vec!["api", "api-canary", "web"]
        );
        assert!(idx.label_values("absent", &[]).is_empty());
        let matcher_lists = [
            vec![m(Equal, "__name__", "up")],
            vec![m(Equal, "__name__", "http_requests")],
            vec![m(RegexMatch, "job", "api.*")],
            vec![m(Equal, "job", "nope")],
            vec![m(NotEqual, "code", "")],
        ];
        for ms in &matcher_lists {
            let sel = idx.select(ms);
            let names = idx.label_names(ms);
            assert_eq!(idx.label_names_by_postings(&sel), names);
            assert_eq!(idx.label_names_by_series(&sel), names);
            for name in ["job", "code", "env", "absent"] {
                let values = idx.label_values(name, ms);
                assert_eq!(idx.label_values_by_postings(name, &sel), values);
                assert_eq!(idx.label_values_by_series(name, &sel), values);
            }
        }
        assert_eq!(
            idx.label_names(&[m(Equal, "__name__", "up")]),
            vec!["__name__", "env", "job"]
        );
        assert_eq!(
            idx.label_values("code", &[m(Equal, "job", "api")]),
            vec!["200", "500"]
        );
    }

    #[test]
    fn remove_takes_series_out_of_every_answer() {
        use MatchOp::*;
        let (mut idx, sets) = fixture();
        assert!(idx.remove(6));
        assert!(!idx.remove(6));
        assert_eq!(idx.num_series(), 6);
        assert_eq!(idx.get(&sets[6]), None);
        assert_eq!(idx.labels_of(6), None);
        assert!(idx.label_names(&[]).iter().all(|n| n != "env"));
        assert_eq!(idx.label_values("job", &[]), vec!["api", "web"]);
        assert_eq!(
            idx.select(&[m(RegexMatch, "job", ".+")]).to_vec(),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert!(idx.series().symbols().lookup("api-canary").is_none());
        // Re-adding gets a fresh id (the old one is parked).
        assert_eq!(idx.get_or_create(&sets[6]).unwrap(), (7, true));
        assert_eq!(idx.select(&[m(Equal, "env", "prod\nx")]).to_vec(), vec![7]);
    }

    #[test]
    fn insert_with_id_builds_postings_once() {
        let mut idx = HeadIndex::new();
        let a = ls(&[("a", "1")]);
        assert_eq!(idx.insert_with_id(3, &a), Ok(3));
        assert_eq!(idx.insert_with_id(4, &a), Ok(3));
        assert_eq!(idx.select(&[Matcher::equal("a", "1")]).to_vec(), vec![3]);
        assert_eq!(
            idx.postings().get("a", "1").map(Bitmap::cardinality),
            Some(1)
        );
        assert_eq!(idx.num_series(), 1);
    }

    #[test]
    fn heap_stats_grow_and_shrink() {
        let mut idx = HeadIndex::new();
        let empty = idx.heap_bytes();
        for i in 0..2000 {
            idx.get_or_create(&ls(&[("__name__", "m"), ("i", &i.to_string())]))
                .unwrap();
        }
        let full = idx.heap_stats();
        assert!(full.symbols > 0 && full.series > 0 && full.postings > 0);
        for i in 0..2000 {
            idx.remove(i);
        }
        assert!(idx.heap_bytes() < full.total() / 2);
        assert!(idx.heap_bytes() >= empty);
    }
}
