//! Postings of the head: for every label pair the set of series that carry
//! it, for every label name the set of series that have the name at all, and
//! the set of all series; each a croaring [`Bitmap`] of series ids.
//!
//! Names and values are kept in sorted maps keyed by the symbol table's
//! shared strings, so label names and values iterate in order and a literal
//! prefix is a range scan. A pair whose set becomes empty is removed with
//! it, and a name with no values left goes too.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::ops::Bound;
use std::sync::Arc;

use croaring::Bitmap;

use super::select::{PostingsList, PostingsSource};
use super::series::{SeriesId, bitmap_heap_bytes};

/// The postings of one label name.
#[derive(Debug, Default)]
pub struct NamePostings {
    /// Every series that has this label (any value).
    all: Bitmap,
    /// Per value, the series with `name=value`.
    values: BTreeMap<Arc<str>, Bitmap>,
}

impl NamePostings {
    /// Every series that has the label.
    pub fn all(&self) -> &Bitmap {
        &self.all
    }

    /// The series with this exact value.
    pub fn get(&self, value: &str) -> Option<&Bitmap> {
        self.values.get(value)
    }

    /// Values in order with their series.
    pub fn values(&self) -> impl Iterator<Item = (&str, &Bitmap)> + '_ {
        self.values.iter().map(|(v, b)| (&**v, b))
    }

    /// Values starting with `prefix`, in order, with their series.
    pub fn values_with_prefix<'s, 'p>(
        &'s self,
        prefix: &'p str,
    ) -> impl Iterator<Item = (&'s str, &'s Bitmap)> + use<'s, 'p> {
        self.values
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(v, b)| (&**v, b))
            .take_while(move |(v, _)| v.starts_with(prefix))
    }

    /// Number of distinct values.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }
}

/// Label pair → series, label name → series, and all series.
#[derive(Debug, Default)]
pub struct Postings {
    all: Bitmap,
    names: BTreeMap<Arc<str>, NamePostings>,
    /// Number of (name, value) entries across names.
    pair_count: usize,
}

impl Postings {
    /// Empty postings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds series `id` with the given label pairs.
    pub fn add<'a>(
        &mut self,
        id: SeriesId,
        pairs: impl IntoIterator<Item = (&'a Arc<str>, &'a Arc<str>)>,
    ) {
        self.all.add(id);
        for (name, value) in pairs {
            let np = match self.names.get_mut(&**name) {
                Some(np) => np,
                None => self.names.entry(Arc::clone(name)).or_default(),
            };
            np.all.add(id);
            match np.values.get_mut(&**value) {
                Some(b) => b.add(id),
                None => {
                    np.values.insert(Arc::clone(value), Bitmap::of(&[id]));
                    self.pair_count += 1;
                }
            }
        }
    }

    /// Removes series `id` with the given label pairs (the ones it was added
    /// with). Pairs and names left without series are dropped.
    pub fn remove<'a>(
        &mut self,
        id: SeriesId,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.all.remove(id);
        for (name, value) in pairs {
            let Some(np) = self.names.get_mut(name) else {
                continue;
            };
            np.all.remove(id);
            if let Some(b) = np.values.get_mut(value) {
                b.remove(id);
                if b.is_empty() {
                    np.values.remove(value);
                    self.pair_count -= 1;
                }
            }
            if np.values.is_empty() {
                self.names.remove(name);
            }
        }
    }

    /// Every series.
    pub fn all(&self) -> &Bitmap {
        &self.all
    }

    /// The postings of one label name.
    pub fn name(&self, name: &str) -> Option<&NamePostings> {
        self.names.get(name)
    }

    /// The series with `name=value`.
    pub fn get(&self, name: &str, value: &str) -> Option<&Bitmap> {
        self.names.get(name)?.get(value)
    }

    /// Label names in order with their postings.
    pub fn names(&self) -> impl Iterator<Item = (&str, &NamePostings)> + '_ {
        self.names.iter().map(|(n, p)| (&**n, p))
    }

    /// Number of distinct label names.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// Number of distinct label pairs.
    pub fn pair_count(&self) -> usize {
        self.pair_count
    }

    /// Compacts the bitmaps (run containers where smaller, spare capacity
    /// released). Worth calling after bulk loads such as WAL replay.
    pub fn optimize(&mut self) {
        fn tidy(b: &mut Bitmap) {
            b.run_optimize();
            b.shrink_to_fit();
        }
        tidy(&mut self.all);
        for np in self.names.values_mut() {
            tidy(&mut np.all);
            for b in np.values.values_mut() {
                tidy(b);
            }
        }
    }

    /// Estimated heap bytes: bitmap containers and the map entries (the
    /// strings themselves belong to the symbol table).
    pub fn heap_bytes(&self) -> usize {
        // A B-tree node holds up to 11 entries; assume it is 2/3 full.
        let entry = size_of::<Arc<str>>() + size_of::<Bitmap>();
        let names = self.names.len() * (size_of::<Arc<str>>() + size_of::<NamePostings>()) * 3 / 2;
        let values = self.pair_count * entry * 3 / 2;
        let bitmaps: usize = self
            .names
            .values()
            .map(|np| {
                bitmap_heap_bytes(&np.all)
                    + np.values.values().map(bitmap_heap_bytes).sum::<usize>()
            })
            .sum();
        names + values + bitmaps + bitmap_heap_bytes(&self.all)
    }
}

impl PostingsSource for Postings {
    fn all_series(&self) -> PostingsList<'_> {
        PostingsList::Borrowed(&self.all)
    }

    fn name_postings(&self, name: &str) -> Option<PostingsList<'_>> {
        Some(PostingsList::Borrowed(self.name(name)?.all()))
    }

    fn value_postings(&self, name: &str, value: &str) -> Option<PostingsList<'_>> {
        self.get(name, value).map(PostingsList::Borrowed)
    }

    fn prefix_postings(&self, name: &str, prefix: &str) -> Vec<PostingsList<'_>> {
        self.name(name).map_or_else(Vec::new, |np| {
            np.values_with_prefix(prefix)
                .map(|(_, b)| PostingsList::Borrowed(b))
                .collect()
        })
    }

    fn filtered_postings(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Vec<PostingsList<'_>> {
        self.name(name).map_or_else(Vec::new, |np| {
            np.values()
                .filter(|(v, _)| keep(v))
                .map(|(_, b)| PostingsList::Borrowed(b))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arcs(pairs: &[(&str, &str)]) -> Vec<(Arc<str>, Arc<str>)> {
        pairs
            .iter()
            .map(|&(n, v)| (Arc::from(n), Arc::from(v)))
            .collect()
    }

    fn add(p: &mut Postings, id: SeriesId, pairs: &[(&str, &str)]) {
        let a = arcs(pairs);
        p.add(id, a.iter().map(|(n, v)| (n, v)));
    }

    #[test]
    fn add_lookup_remove() {
        let mut p = Postings::new();
        add(&mut p, 1, &[("job", "a"), ("x", "1")]);
        add(&mut p, 2, &[("job", "a")]);
        add(&mut p, 3, &[("job", "b")]);
        assert_eq!(p.all().to_vec(), vec![1, 2, 3]);
        assert_eq!(p.get("job", "a").unwrap().to_vec(), vec![1, 2]);
        assert_eq!(p.name("job").unwrap().all().to_vec(), vec![1, 2, 3]);
        assert_eq!(p.name("x").unwrap().all().to_vec(), vec![1]);
        assert_eq!(p.pair_count(), 3);
        let names: Vec<_> = p.names().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["job", "x"]);

        p.remove(1, [("job", "a"), ("x", "1")]);
        assert!(p.name("x").is_none(), "name without series is dropped");
        assert_eq!(p.get("job", "a").unwrap().to_vec(), vec![2]);
        p.remove(2, [("job", "a")]);
        assert!(p.get("job", "a").is_none());
        assert_eq!(p.pair_count(), 1);
        // Removing what is not there is harmless.
        p.remove(9, [("nope", "x"), ("job", "zzz")]);
        assert_eq!(p.all().to_vec(), vec![3]);
    }

    #[test]
    fn values_in_order_and_by_prefix() {
        let mut p = Postings::new();
        for (i, v) in ["b", "ab", "abc", "a", "abd", "ac", "b"].iter().enumerate() {
            add(&mut p, i as SeriesId, &[("n", v)]);
        }
        let np = p.name("n").unwrap();
        let vals: Vec<_> = np.values().map(|(v, _)| v).collect();
        assert_eq!(vals, vec!["a", "ab", "abc", "abd", "ac", "b"]);
        let pre: Vec<_> = np.values_with_prefix("ab").map(|(v, _)| v).collect();
        assert_eq!(pre, vec!["ab", "abc", "abd"]);
        assert_eq!(np.values_with_prefix("zz").count(), 0);
        assert_eq!(np.values_with_prefix("").count(), 6);
        assert_eq!(np.get("b").unwrap().to_vec(), vec![0, 6]);
        assert_eq!(np.value_count(), 6);
        p.optimize();
        assert_eq!(p.get("n", "b").unwrap().to_vec(), vec![0, 6]);
        assert!(p.heap_bytes() > 0);
    }
}
