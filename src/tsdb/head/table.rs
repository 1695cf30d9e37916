//! [`SeriesTable`]: the head's per-series state by series id.
//!
//! Ids are handed out densely by the series index, so a vector indexed by
//! id is the fast path (appends touch it several times per sample). But
//! replay takes ids from WAL records, and a record naming id 2³¹ must not
//! make the head allocate a slot for every id below it (144 bytes each).
//! So the vector only grows while it stays at least half full; an id past
//! that goes into an ordered map and moves into the vector once the vector
//! has grown past it.

use std::collections::BTreeMap;
use std::mem::size_of;

use super::series::MemSeries;
use crate::tsdb::index::SeriesId;

/// Slots the vector may have beyond twice the number of series.
const DENSE_SLACK: usize = 1024;

/// Per-series state by id: a dense vector plus an ordered map for ids far
/// past it.
#[derive(Debug, Default)]
pub(crate) struct SeriesTable {
    dense: Vec<Option<MemSeries>>,
    sparse: BTreeMap<SeriesId, MemSeries>,
    len: usize,
}

impl SeriesTable {
    pub fn get(&self, id: SeriesId) -> Option<&MemSeries> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&id),
        }
    }

    pub fn get_mut(&mut self, id: SeriesId) -> Option<&mut MemSeries> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get_mut(&id),
        }
    }

    /// Stores `s` under `id`, replacing what was there.
    pub fn insert(&mut self, id: SeriesId, s: MemSeries) {
        self.remove(id);
        self.len += 1;
        let i = id as usize;
        if i >= self.dense.len() {
            if i >= self.len.saturating_mul(2).saturating_add(DENSE_SLACK) {
                self.sparse.insert(id, s);
                return;
            }
            self.dense.resize_with(i + 1, || None);
            // Ids the vector now covers leave the map (they come first).
            while let Some(entry) = self.sparse.first_entry()
                && *entry.key() <= id
            {
                let (k, moved) = entry.remove_entry();
                self.dense[k as usize] = Some(moved);
            }
        }
        self.dense[i] = Some(s);
    }

    pub fn remove(&mut self, id: SeriesId) -> Option<MemSeries> {
        let gone = match self.dense.get_mut(id as usize) {
            Some(slot) => slot.take(),
            None => self.sparse.remove(&id),
        };
        if gone.is_some() {
            self.len -= 1;
        }
        gone
    }

    /// Every series.
    pub fn values(&self) -> impl Iterator<Item = &MemSeries> {
        self.dense.iter().flatten().chain(self.sparse.values())
    }

    /// Every series with its id.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SeriesId, &mut MemSeries)> {
        let dense = self.dense.iter_mut().enumerate();
        dense
            .filter_map(|(i, s)| Some((i as SeriesId, s.as_mut()?)))
            .chain(self.sparse.iter_mut().map(|(&id, s)| (id, s)))
    }

    /// Bytes of the table itself (not what the series point to).
    pub fn heap_bytes(&self) -> usize {
        // A B-tree entry: key and value, plus about a third again for the
        // node's spare room and edges.
        self.dense.capacity() * size_of::<Option<MemSeries>>()
            + self.sparse.len() * (size_of::<(SeriesId, MemSeries)>() * 4 / 3)
    }

    #[cfg(test)]
    fn dense_len(&self) -> usize {
        self.dense.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: &mut SeriesTable) -> Vec<(SeriesId, u32)> {
        let mut v: Vec<_> = t.iter_mut().map(|(id, s)| (id, s.seq)).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn dense_ids_live_in_the_vector() {
        let mut t = SeriesTable::default();
        for id in 0..5000 {
            t.insert(id, MemSeries::new(id));
        }
        assert_eq!(t.dense_len(), 5000);
        assert_eq!(t.get(4321).map(|s| s.seq), Some(4321));
        assert!(t.get(5000).is_none());
        assert_eq!(t.values().count(), 5000);
    }

    #[test]
    fn a_far_id_costs_one_entry_not_a_slot_per_id_below_it() {
        let mut t = SeriesTable::default();
        t.insert(0, MemSeries::new(1));
        t.insert(u32::MAX - 1, MemSeries::new(2));
        t.insert(0x0200_0001, MemSeries::new(3));
        assert_eq!(t.dense_len(), 1);
        assert_eq!(t.get(u32::MAX - 1).map(|s| s.seq), Some(2));
        assert_eq!(t.get_mut(0x0200_0001).map(|s| s.seq), Some(3));
        assert!(t.get(u32::MAX).is_none());
        assert_eq!(
            ids(&mut t),
            vec![(0, 1), (0x0200_0001, 3), (u32::MAX - 1, 2)]
        );
        assert!(t.heap_bytes() < 4096);
        assert_eq!(t.remove(u32::MAX - 1).map(|s| s.seq), Some(2));
        assert!(t.get(u32::MAX - 1).is_none());
        assert_eq!(t.values().count(), 2);
    }

    #[test]
    fn the_vector_takes_over_map_entries_as_it_grows_past_them() {
        let mut t = SeriesTable::default();
        t.insert(3000, MemSeries::new(7));
        assert_eq!(t.dense_len(), 0);
        for id in 0..2000 {
            t.insert(id, MemSeries::new(id));
        }
        // 2001 series: the vector may now reach 3000.
        assert!(t.dense_len() >= 2000);
        t.insert(3001, MemSeries::new(8));
        assert_eq!(t.dense_len(), 3002);
        assert_eq!(t.get(3000).map(|s| s.seq), Some(7));
        assert_eq!(t.get(3001).map(|s| s.seq), Some(8));
        assert_eq!(t.values().count(), 2002);
        // Replacing keeps one entry per id.
        t.insert(3000, MemSeries::new(9));
        assert_eq!(t.values().count(), 2002);
        assert_eq!(t.get(3000).map(|s| s.seq), Some(9));
    }
}
