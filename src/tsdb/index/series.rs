//! The series registry of the head: series id → label set, and label set →
//! series id.
//!
//! - A series is stored as its `(name, value)` symbol-id pairs in the order
//!   of [`Labels`] (by name), LEB128-encoded in a boxed byte slice: symbols
//!   seen early (label names, common values) have small ids, so a label
//!   takes 2–5 bytes instead of 8, plus 16 for the slot.
//! - Slots live in pages of [`PAGE_SLOTS`] allocated on demand and freed when
//!   empty, so ids far apart (a WAL replay after a long-running storm) cost
//!   nothing in between.
//! - The label-set index maps a 32-bit hash of the label set (SipHash keyed
//!   per process, folded) to the first series with that hash; further
//!   series with the same hash (a collision: about n²/2³³ of them, ~120 at
//!   1M series) are kept in a side map of short lists. Every hit is
//!   confirmed by comparing labels.
//! - Ids are handed out fresh (increasing); a removed id is *parked* and only
//!   reused after [`SeriesRegistry::recycle_removed_ids`], so the owner
//!   decides when no WAL record or cache can still name it. Reused ids are
//!   the lowest free ones, keeping the postings bitmaps dense.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::mem::size_of;
use std::sync::Arc;

use croaring::Bitmap;
use rustc_hash::FxHashMap;

use super::symbols::{SymbolError, SymbolId, SymbolTable, hash_map_bytes};
use crate::labels::Labels;
use crate::varint::{get_uvarint, put_uvarint};

/// Id of a series in the head. `u32` so that sets of series are roaring
/// bitmaps.
pub type SeriesId = u32;

/// One stored label pair: (name symbol, value symbol).
pub type SymbolPair = (SymbolId, SymbolId);

/// Slots per page of the id → series table.
pub const PAGE_SLOTS: usize = 1024;

/// A page of slots and how many of them are live.
#[derive(Debug)]
struct Page {
    slots: Box<[Option<Box<[u8]>>]>,
    live: u32,
}

/// Errors of the series registry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeriesError {
    /// A series must have at least one label.
    #[error("empty label set: a series needs at least one label")]
    EmptyLabelSet,
    /// Every fresh id has been handed out; removed ids are waiting to be
    /// recycled.
    #[error(
        "series ids exhausted: {live} live series, {parked} removed ids wait for recycle_removed_ids()"
    )]
    IdsExhausted {
        /// Live series.
        live: usize,
        /// Removed ids not yet recycled.
        parked: u64,
    },
    /// `insert_with_id` asked for an id that holds another series.
    #[error("series id {id} already holds {existing}, cannot insert {wanted}")]
    IdInUse {
        /// The id asked for.
        id: SeriesId,
        /// The series holding it.
        existing: String,
        /// The label set that was to be inserted.
        wanted: String,
    },
    /// The symbol table refused a label name or value.
    #[error(transparent)]
    Symbols(#[from] SymbolError),
}

/// Series id ↔ label set, with interned symbols.
#[derive(Debug)]
pub struct SeriesRegistry {
    symbols: SymbolTable,
    /// Page number → page; a page is freed when its last series goes.
    pages: FxHashMap<u32, Page>,
    by_hash: FxHashMap<u32, SeriesId>,
    conflicts: FxHashMap<u32, Vec<SeriesId>>,
    /// SipHash keyed per process: label values come from scrape targets, so
    /// collisions must not be computable from outside.
    hasher: RandomState,
    /// Only the bits of the hash kept by this mask are used (tests narrow it
    /// to force collisions).
    hash_mask: u32,
    /// The next never-used id; `None` once `u32::MAX` has been handed out.
    next_fresh: Option<SeriesId>,
    /// Removed ids that may be reused now.
    free: Bitmap,
    /// Removed ids waiting for `recycle_removed_ids`.
    parked: Bitmap,
    live: usize,
    /// Encoded bytes of the pairs of live series.
    pair_bytes: usize,
}

impl Default for SeriesRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl SeriesRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::with_hash_mask(u32::MAX)
    }

    /// A registry that uses only the hash bits in `mask`: with a small mask
    /// most label sets collide, which exercises the collision lists.
    pub(crate) fn with_hash_mask(mask: u32) -> Self {
        SeriesRegistry {
            symbols: SymbolTable::new(),
            pages: FxHashMap::default(),
            by_hash: FxHashMap::default(),
            conflicts: FxHashMap::default(),
            hasher: RandomState::new(),
            hash_mask: mask,
            next_fresh: Some(0),
            free: Bitmap::new(),
            parked: Bitmap::new(),
            live: 0,
            pair_bytes: 0,
        }
    }

    /// The symbol table the stored pairs refer to.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no series is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The id of the series with exactly these labels, if it exists.
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        let h = self.hash_labels(labels);
        let first = *self.by_hash.get(&h)?;
        if self.has_labels(first, labels) {
            return Some(first);
        }
        self.conflicts
            .get(&h)?
            .iter()
            .copied()
            .find(|&id| self.has_labels(id, labels))
    }

    /// The id of the series with these labels, creating it if needed;
    /// `created` tells which happened.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<(SeriesId, bool), SeriesError> {
        if let Some(id) = self.get(labels) {
            return Ok((id, false));
        }
        if labels.is_empty() {
            return Err(SeriesError::EmptyLabelSet);
        }
        let id = self.allocate_id()?;
        self.store(id, labels)?;
        Ok((id, true))
    }

    /// Stores `labels` under the given `id` (WAL replay restores the ids its
    /// records name). If the label set already exists, nothing changes and
    /// its existing id is returned, which may differ from `id` (a duplicate
    /// series record: map its samples to the returned id). Otherwise returns
    /// `id`.
    pub fn insert_with_id(
        &mut self,
        id: SeriesId,
        labels: &Labels,
    ) -> Result<SeriesId, SeriesError> {
        if let Some(existing) = self.get(labels) {
            return Ok(existing);
        }
        if labels.is_empty() {
            return Err(SeriesError::EmptyLabelSet);
        }
        if self.slot(id).is_some() {
            return Err(SeriesError::IdInUse {
                id,
                existing: self
                    .labels_of(id)
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                wanted: labels.to_string(),
            });
        }
        match self.next_fresh {
            Some(next) if id >= next => {
                // Ids skipped over were used by series the WAL no longer
                // holds: park them like removed ones.
                if id > next {
                    self.parked.add_range(next..id);
                }
                self.next_fresh = id.checked_add(1);
            }
            _ => {
                self.free.remove(id);
                self.parked.remove(id);
            }
        }
        self.store(id, labels)?;
        Ok(id)
    }

    /// Removes a series; returns false when `id` is not live. Its id is
    /// parked until [`Self::recycle_removed_ids`].
    pub fn remove(&mut self, id: SeriesId) -> bool {
        let Some(bytes) = self.take_slot(id) else {
            return false;
        };
        let pairs: Vec<SymbolPair> = decode(&bytes).collect();
        let h = self.hash_pairs(&pairs);
        self.unlink_hash(h, id);
        for (n, v) in pairs {
            self.symbols.release(n);
            self.symbols.release(v);
        }
        self.pair_bytes -= bytes.len();
        self.live -= 1;
        self.parked.add(id);
        true
    }

    /// Makes every removed id available for new series. Call it once nothing
    /// outside the index (WAL segments being replayed, scrape caches, open
    /// queries) can still refer to a removed id: e.g. after a checkpoint.
    pub fn recycle_removed_ids(&mut self) {
        self.free.or_inplace(&self.parked);
        self.parked.clear();
    }

    /// Number of removed ids waiting for [`Self::recycle_removed_ids`].
    pub fn parked_ids(&self) -> u64 {
        self.parked.cardinality()
    }

    /// The stored pairs of a live series, in name order.
    pub fn pairs(&self, id: SeriesId) -> Option<PairIter<'_>> {
        self.slot(id).map(decode)
    }

    /// The label pairs of a live series as shared strings, in name order.
    pub fn shared_pairs(&self, id: SeriesId) -> impl Iterator<Item = (&Arc<str>, &Arc<str>)> + '_ {
        decode(self.slot(id).unwrap_or(&[]))
            .filter_map(|(n, v)| Some((self.symbols.shared(n)?, self.symbols.shared(v)?)))
    }

    /// The label set of a live series.
    pub fn labels_of(&self, id: SeriesId) -> Option<Labels> {
        let pairs = decode(self.slot(id)?);
        Some(Labels::from_pairs(pairs.filter_map(|(n, v)| {
            Some((self.symbols.resolve(n)?, self.symbols.resolve(v)?))
        })))
    }

    /// The value of label `name` in a live series.
    pub fn value_of(&self, id: SeriesId, name: &str) -> Option<&str> {
        let name_id = self.symbols.lookup(name)?;
        let (_, v) = decode(self.slot(id)?).find(|&(n, _)| n == name_id)?;
        self.symbols.resolve(v)
    }

    /// Estimated heap bytes: slot pages, stored pairs, hash index and id
    /// sets; the symbol table is counted by [`SymbolTable::heap_bytes`].
    pub fn heap_bytes(&self) -> usize {
        let directory = hash_map_bytes::<u32, Page>(self.pages.capacity());
        let pages = self.pages.len() * PAGE_SLOTS * size_of::<Option<Box<[u8]>>>();
        let pairs = self.pair_bytes;
        let hash = hash_map_bytes::<u32, SeriesId>(self.by_hash.capacity())
            + hash_map_bytes::<u32, Vec<SeriesId>>(self.conflicts.capacity())
            + self
                .conflicts
                .values()
                .map(|v| v.capacity() * size_of::<SeriesId>())
                .sum::<usize>();
        directory
            + pages
            + pairs
            + hash
            + bitmap_heap_bytes(&self.free)
            + bitmap_heap_bytes(&self.parked)
    }

    fn allocate_id(&mut self) -> Result<SeriesId, SeriesError> {
        if let Some(id) = self.free.minimum() {
            self.free.remove(id);
            return Ok(id);
        }
        let Some(id) = self.next_fresh else {
            return Err(SeriesError::IdsExhausted {
                live: self.live,
                parked: self.parked.cardinality(),
            });
        };
        self.next_fresh = id.checked_add(1);
        Ok(id)
    }

    /// Interns the labels and fills the (empty) slot `id`.
    fn store(&mut self, id: SeriesId, labels: &Labels) -> Result<(), SeriesError> {
        let mut pairs = Vec::with_capacity(labels.len());
        for l in labels {
            let interned =
                self.symbols
                    .intern(l.name)
                    .and_then(|n| match self.symbols.intern(l.value) {
                        Ok(v) => Ok((n, v)),
                        Err(e) => {
                            self.symbols.release(n);
                            Err(e)
                        }
                    });
            match interned {
                Ok(pair) => pairs.push(pair),
                Err(e) => {
                    for (n, v) in pairs {
                        self.symbols.release(n);
                        self.symbols.release(v);
                    }
                    // The id was taken for this series: give it back.
                    self.free.add(id);
                    return Err(e.into());
                }
            }
        }
        let h = self.hash_labels(labels);
        match self.by_hash.get(&h) {
            None => {
                self.by_hash.insert(h, id);
            }
            Some(_) => self.conflicts.entry(h).or_default().push(id),
        }
        let bytes = encode(&pairs);
        self.pair_bytes += bytes.len();
        self.live += 1;
        self.put_slot(id, bytes);
        Ok(())
    }

    fn unlink_hash(&mut self, h: u32, id: SeriesId) {
        if self.by_hash.get(&h) == Some(&id) {
            let promoted = self.conflicts.get_mut(&h).and_then(|list| list.pop());
            if self.conflicts.get(&h).is_some_and(|l| l.is_empty()) {
                self.conflicts.remove(&h);
            }
            match promoted {
                Some(next) => {
                    self.by_hash.insert(h, next);
                }
                None => {
                    self.by_hash.remove(&h);
                }
            }
        } else if let Some(list) = self.conflicts.get_mut(&h) {
            list.retain(|&x| x != id);
            if list.is_empty() {
                self.conflicts.remove(&h);
            }
        }
    }

    fn has_labels(&self, id: SeriesId, labels: &Labels) -> bool {
        let Some(bytes) = self.slot(id) else {
            return false;
        };
        let mut pairs = decode(bytes);
        for l in labels {
            let Some((n, v)) = pairs.next() else {
                return false;
            };
            if self.symbols.resolve(n) != Some(l.name) || self.symbols.resolve(v) != Some(l.value) {
                return false;
            }
        }
        pairs.next().is_none()
    }

    fn hash_labels(&self, labels: &Labels) -> u32 {
        self.hash_strs(labels.iter().map(|l| (l.name, l.value)))
    }

    fn hash_pairs(&self, pairs: &[SymbolPair]) -> u32 {
        self.hash_strs(pairs.iter().map(|&(n, v)| {
            (
                self.symbols.resolve(n).unwrap_or(""),
                self.symbols.resolve(v).unwrap_or(""),
            )
        }))
    }

    fn hash_strs<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u32 {
        let mut h = self.hasher.build_hasher();
        for (n, v) in pairs {
            h.write(n.as_bytes());
            h.write_u8(0xff);
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let h = h.finish();
        ((h >> 32) as u32 ^ h as u32) & self.hash_mask
    }

    fn slot(&self, id: SeriesId) -> Option<&[u8]> {
        let (page, index) = split(id);
        self.pages.get(&page)?.slots[index].as_deref()
    }

    fn put_slot(&mut self, id: SeriesId, pairs: Box<[u8]>) {
        let (page, index) = split(id);
        let page = self.pages.entry(page).or_insert_with(|| Page {
            slots: std::iter::repeat_with(|| None).take(PAGE_SLOTS).collect(),
            live: 0,
        });
        if page.slots[index].replace(pairs).is_none() {
            page.live += 1;
        }
    }

    fn take_slot(&mut self, id: SeriesId) -> Option<Box<[u8]>> {
        let (number, index) = split(id);
        let page = self.pages.get_mut(&number)?;
        let pairs = page.slots[index].take()?;
        page.live -= 1;
        if page.live == 0 {
            self.pages.remove(&number);
        }
        Some(pairs)
    }
}

/// Encodes pairs as LEB128 varints: name id, value id, name id, …
fn encode(pairs: &[SymbolPair]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(pairs.len() * 4);
    for &(n, v) in pairs {
        put_uvarint(&mut out, u64::from(n));
        put_uvarint(&mut out, u64::from(v));
    }
    out.into_boxed_slice()
}

fn decode(bytes: &[u8]) -> PairIter<'_> {
    PairIter { bytes, pos: 0 }
}

/// The label pairs of a stored series, decoded as they are read.
#[derive(Clone, Debug)]
pub struct PairIter<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for PairIter<'_> {
    type Item = SymbolPair;

    fn next(&mut self) -> Option<SymbolPair> {
        let (n, pos) = get_uvarint(self.bytes, self.pos)?;
        let (v, pos) = get_uvarint(self.bytes, pos)?;
        self.pos = pos;
        Some((SymbolId::try_from(n).ok()?, SymbolId::try_from(v).ok()?))
    }
}

/// Page number and index within the page.
fn split(id: SeriesId) -> (u32, usize) {
    (id / PAGE_SLOTS as u32, id as usize % PAGE_SLOTS)
}

/// Heap bytes of a croaring bitmap: its containers plus the container
/// directory (key, pointer and type code per container).
pub(crate) fn bitmap_heap_bytes(b: &Bitmap) -> usize {
    let s = b.statistics();
    let containers = s.n_bytes_array_containers as usize
        + s.n_bytes_run_containers as usize
        + s.n_bytes_bitset_containers as usize;
    // Each container also has a small header struct and a directory entry.
    containers + s.n_containers as usize * (16 + 2 + 8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn get_or_create_is_idempotent_and_round_trips() {
        let mut r = SeriesRegistry::new();
        let a = ls(&[("__name__", "up"), ("job", "node")]);
        let b = ls(&[("__name__", "up"), ("job", "api")]);
        assert_eq!(r.get_or_create(&a), Ok((0, true)));
        assert_eq!(r.get_or_create(&b), Ok((1, true)));
        assert_eq!(r.get_or_create(&a), Ok((0, false)));
        assert_eq!(r.get(&b), Some(1));
        assert_eq!(r.labels_of(0), Some(a.clone()));
        assert_eq!(r.value_of(1, "job"), Some("api"));
        assert_eq!(r.value_of(1, "nope"), None);
        assert_eq!(r.len(), 2);
        // Shared symbols are stored once.
        assert_eq!(r.symbols().len(), 5);
        assert_eq!(r.symbols().refs(r.symbols().lookup("up").unwrap()), 2);
    }

    #[test]
    fn empty_label_set_is_refused() {
        let mut r = SeriesRegistry::new();
        assert_eq!(
            r.get_or_create(&Labels::empty()),
            Err(SeriesError::EmptyLabelSet)
        );
        assert!(r.is_empty());
    }

    #[test]
    fn remove_frees_symbols_and_parks_the_id() {
        let mut r = SeriesRegistry::new();
        let a = ls(&[("a", "1")]);
        let b = ls(&[("a", "2")]);
        let (ia, _) = r.get_or_create(&a).unwrap();
        r.get_or_create(&b).unwrap();
        assert!(r.remove(ia));
        assert!(!r.remove(ia));
        assert_eq!(r.get(&a), None);
        assert_eq!(r.labels_of(ia), None);
        assert_eq!(r.symbols().lookup("1"), None, "value symbol freed");
        assert!(r.symbols().lookup("a").is_some(), "name still used by b");
        // Parked: a new series gets a fresh id until recycling.
        assert_eq!(r.parked_ids(), 1);
        assert_eq!(r.get_or_create(&a).unwrap(), (2, true));
        r.remove(2);
        r.recycle_removed_ids();
        assert_eq!(r.get_or_create(&ls(&[("c", "3")])).unwrap(), (0, true));
        assert_eq!(r.get_or_create(&ls(&[("c", "4")])).unwrap(), (2, true));
        assert_eq!(r.get_or_create(&ls(&[("c", "5")])).unwrap(), (3, true));
    }

    #[test]
    fn collisions_are_resolved_by_comparing_labels() {
        // Every label set hashes to 0 or 1.
        let mut r = SeriesRegistry::with_hash_mask(1);
        let sets: Vec<Labels> = (0..50).map(|i| ls(&[("x", &i.to_string())])).collect();
        for (i, l) in sets.iter().enumerate() {
            assert_eq!(r.get_or_create(l).unwrap(), (i as SeriesId, true));
        }
        for (i, l) in sets.iter().enumerate() {
            assert_eq!(r.get(l), Some(i as SeriesId));
        }
        // Remove the heads of the chains and some members; the rest stay
        // reachable.
        for id in [0, 1, 7, 20, 49] {
            assert!(r.remove(id));
        }
        for (i, l) in sets.iter().enumerate() {
            let want = (![0, 1, 7, 20, 49].contains(&i)).then_some(i as SeriesId);
            assert_eq!(r.get(l), want, "{l}");
        }
        assert_eq!(r.get_or_create(&sets[7]).unwrap(), (50, true));
    }

    #[test]
    fn insert_with_id_restores_ids_and_reports_duplicates() {
        let mut r = SeriesRegistry::new();
        let a = ls(&[("a", "1")]);
        let b = ls(&[("a", "2")]);
        assert_eq!(r.insert_with_id(5, &a), Ok(5));
        // Ids skipped over are parked, fresh allocation continues after 5.
        assert_eq!(r.parked_ids(), 5);
        assert_eq!(r.insert_with_id(9, &a), Ok(5), "duplicate maps to 5");
        assert!(matches!(
            r.insert_with_id(5, &b),
            Err(SeriesError::IdInUse { id: 5, .. })
        ));
        assert_eq!(r.insert_with_id(2, &b), Ok(2));
        assert_eq!(r.parked_ids(), 4);
        assert_eq!(r.get_or_create(&ls(&[("c", "1")])).unwrap(), (6, true));
        // Far-apart ids cost a page each, not the gap.
        assert_eq!(
            r.insert_with_id(4_000_000_000, &ls(&[("d", "1")])),
            Ok(4_000_000_000)
        );
        assert_eq!(r.labels_of(4_000_000_000), Some(ls(&[("d", "1")])));
        assert!(r.heap_bytes() < 4 << 20, "{}", r.heap_bytes());
    }

    #[test]
    fn ids_exhausted_is_an_error_until_recycled() {
        let mut r = SeriesRegistry::new();
        r.insert_with_id(u32::MAX, &ls(&[("a", "1")])).unwrap();
        // Everything below was skipped over and parked: nothing is free.
        assert!(matches!(
            r.get_or_create(&ls(&[("a", "2")])),
            Err(SeriesError::IdsExhausted { live: 1, .. })
        ));
        r.recycle_removed_ids();
        assert_eq!(r.get_or_create(&ls(&[("a", "2")])).unwrap(), (0, true));
    }

    #[test]
    fn empty_pages_are_freed() {
        let mut r = SeriesRegistry::new();
        let n = PAGE_SLOTS as u32 * 3;
        for i in 0..n {
            r.get_or_create(&ls(&[("i", &i.to_string())])).unwrap();
        }
        let full = r.heap_bytes();
        for i in 0..n {
            assert!(r.remove(i));
        }
        assert!(r.is_empty());
        assert!(r.pages.is_empty());
        // The maps keep their capacity; the pages and pairs are gone.
        let page_bytes = 3 * PAGE_SLOTS * size_of::<Option<Box<[u8]>>>();
        assert!(r.heap_bytes() + page_bytes <= full);
    }
}
