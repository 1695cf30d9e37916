//! The guard's two tables: the target's series within the staleness window
//! (each a shared label set, a hash and a few numbers) and the folded
//! series they merge into. Both are slabs with a hash index; label sets are
//! compared on a hash hit, so a hash collision never merges two series.
//!
//! Series are found by their [`SeriesKey`] first (the scrape path keys a
//! series by its bytes, so a repeated series costs one lookup), then by
//! content (a series restored from an old state file has no key yet; two
//! series whose labels relabeling made equal share one entry).

use super::merge::Accumulator;
use super::role::Role;
use crate::labels::Labels;
use crate::series_key::{KeyMap, SeriesKey};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// "No entry" in an id field.
pub const NONE: u32 = u32::MAX;

/// Why a series' samples are not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// New series past the budget (`drop`, or `fold` when no fold helps).
    Budget,
    /// A summary quantile of a folded summary.
    Quantile,
}

impl DropReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Budget => "budget",
            DropReason::Quantile => "summary_quantile",
        }
    }
}

/// Where a series' samples go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forwarded as scraped.
    Raw,
    /// Merged into a folded series.
    Group(u32),
    /// Not forwarded.
    Dropped(DropReason),
}

/// One series of the target within the staleness window.
#[derive(Debug)]
pub struct Series {
    pub labels: Arc<Labels>,
    /// Its key, once a sample came with one.
    pub key: Option<SeriesKey>,
    pub hash: u64,
    /// Next series with the same hash.
    pub next: u32,
    pub family: u32,
    pub role: Role,
    pub route: Route,
    /// The target gave an explicit timestamp (no staleness markers then).
    pub explicit_ts: bool,
    /// Its history is already part of the folded series it is in (its
    /// next sample contributes its increase); false: its full value.
    pub counted: bool,
    /// `last_value` holds the last value forwarded or merged.
    pub has_value: bool,
    pub last_value: f64,
    pub last_seen_ms: i64,
    pub seen_gen: u32,
    pub emitted_gen: u32,
    /// Fold whose `keep_top` ranks this series' value, or `NONE`.
    pub rank_fold: u32,
    /// Hash of the ranked label's value.
    pub rank_value: u64,
}

/// The series table.
#[derive(Debug, Default)]
pub struct SeriesTable {
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    by_key: KeyMap<u32>,
    by_hash: FxHashMap<u64, u32>,
    live: usize,
}

/// Gives memory back when a collection holds far more room than entries.
pub fn shrink_vec<T>(v: &mut Vec<T>) {
    if v.capacity() > 2 * v.len() + 64 {
        v.shrink_to(v.len() + v.len() / 4);
    }
}

/// [`shrink_vec`] for hash maps.
pub fn shrink_map<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(
    m: &mut std::collections::HashMap<K, V, S>,
) {
    if m.capacity() > 2 * m.len() + 64 {
        m.shrink_to(m.len() + m.len() / 4);
    }
}

/// Unlinks slot `id` (already emptied; `next` was its successor) from the
/// chain of entries sharing `hash`; `next_of` reaches a slot's link.
pub fn unlink<T>(
    slots: &mut [Option<T>],
    by_hash: &mut FxHashMap<u64, u32>,
    hash: u64,
    id: u32,
    next: u32,
    next_of: impl Fn(&mut T) -> &mut u32,
) {
    if by_hash.get(&hash) == Some(&id) {
        if next == NONE {
            by_hash.remove(&hash);
        } else {
            by_hash.insert(hash, next);
        }
        return;
    }
    let mut cur = by_hash.get(&hash).copied().unwrap_or(NONE);
    while cur != NONE {
        let Some(c) = slots.get_mut(cur as usize).and_then(Option::as_mut) else {
            break;
        };
        let link = next_of(c);
        if *link == id {
            *link = next;
            break;
        }
        cur = *link;
    }
}

/// Puts `v` in a free slot (the lowest after [`compact_slots`]) or a new
/// one at the end; returns its id.
pub fn put_slot<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, v: T) -> u32 {
    match free.pop() {
        Some(id) => {
            slots[id as usize] = Some(v);
            id
        }
        None => {
            slots.push(Some(v));
            (slots.len() - 1) as u32
        }
    }
}

/// Drops trailing empty slots and orders the free list so the lowest ids
/// are reused first (live entries gather at the front and the tail can be
/// given back).
pub fn compact_slots<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>) {
    while matches!(slots.last(), Some(None)) {
        slots.pop();
    }
    let len = slots.len() as u32;
    free.retain(|&id| id < len);
    free.sort_unstable_by(|a, b| b.cmp(a));
    shrink_vec(slots);
    shrink_vec(free);
}

impl SeriesTable {
    /// Live series.
    pub fn len(&self) -> usize {
        self.live
    }

    /// The id of the series with this key.
    pub fn find_key(&self, key: &SeriesKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// `slot`, when the series in it has this key: the answer of
    /// [`SeriesTable::find_key`] without its lookup, for a caller that
    /// remembered where the series was (the key index holds exactly the
    /// pairs of a live series' slot and its key, so a slot freed, or
    /// reused by another series, is never taken for this one).
    pub fn find_key_at(&self, key: &SeriesKey, slot: u32) -> Option<u32> {
        self.get(slot)
            .filter(|s| s.key.as_ref() == Some(key))
            .map(|_| slot)
    }

    /// Gives series `id` the key `key` (its samples now come with it).
    pub fn set_key(&mut self, id: u32, key: SeriesKey) {
        let Some(s) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Some(old) = s.key.replace(key) {
            self.by_key.remove(&old);
        }
        self.by_key.insert(key, id);
    }

    /// The id of the series with these labels and hash, by content.
    pub fn find_content(&self, labels: &Labels, hash: u64) -> Option<u32> {
        let mut id = *self.by_hash.get(&hash)?;
        while id != NONE {
            let s = self.get(id)?;
            if *s.labels == *labels {
                return Some(id);
            }
            id = s.next;
        }
        None
    }

    /// Adds a series (not already present) and returns its id.
    pub fn insert(&mut self, mut s: Series) -> u32 {
        s.next = self.by_hash.get(&s.hash).copied().unwrap_or(NONE);
        let (hash, key) = (s.hash, s.key);
        let id = put_slot(&mut self.slots, &mut self.free, s);
        self.by_hash.insert(hash, id);
        if let Some(k) = key {
            self.by_key.insert(k, id);
        }
        self.live += 1;
        id
    }

    /// Puts a restored series into slot `id` (empty, not below a slot
    /// already restored); call [`SeriesTable::finish_restore`] after the
    /// last one.
    pub fn insert_at(&mut self, id: u32, mut s: Series) {
        let at = id as usize;
        if self.slots.len() <= at {
            self.slots.resize_with(at + 1, || None);
        }
        s.next = self.by_hash.get(&s.hash).copied().unwrap_or(NONE);
        self.by_hash.insert(s.hash, id);
        if let Some(k) = s.key {
            self.by_key.insert(k, id);
        }
        if self.slots[at].replace(s).is_none() {
            self.live += 1;
        }
    }

    /// Makes the empty slots left between restored series reusable, lowest
    /// first (as after a sweep).
    pub fn finish_restore(&mut self) {
        self.free = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].is_none())
            .collect();
        compact_slots(&mut self.slots, &mut self.free);
    }

    /// Removes a series.
    pub fn remove(&mut self, id: u32) -> Option<Series> {
        let s = self.slots.get_mut(id as usize)?.take()?;
        if let Some(k) = &s.key {
            self.by_key.remove(k);
        }
        unlink(
            &mut self.slots,
            &mut self.by_hash,
            s.hash,
            id,
            s.next,
            |c| &mut c.next,
        );
        self.free.push(id);
        self.live -= 1;
        Some(s)
    }

    /// The series `id`.
    pub fn get(&self, id: u32) -> Option<&Series> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// The series `id`, mutably.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Series> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// Gives back the memory of series that left.
    pub fn compact(&mut self) {
        compact_slots(&mut self.slots, &mut self.free);
        shrink_map(&mut self.by_key);
        shrink_map(&mut self.by_hash);
    }

    /// Ids of all live series.
    pub fn ids(&self) -> Vec<u32> {
        self.iter().map(|(id, _)| id).collect()
    }

    /// All live series.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Series)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }
}

/// One folded series: the merge of its members.
#[derive(Debug)]
pub struct Group {
    pub labels: Arc<Labels>,
    pub hash: u64,
    pub next: u32,
    pub role: Role,
    /// Some label was replaced by the overflow value (false for a top-K
    /// value kept as it is).
    pub folded: bool,
    /// The cumulative value (counter-like groups).
    pub value: f64,
    /// This scrape's combination (other groups).
    pub acc: Accumulator,
    /// Names of the labels set to the overflow value, in label order (a
    /// member's tuple holds its values of them).
    pub replaced: Box<[Box<str>]>,
    /// The family of its members.
    pub family: u32,
    /// Fold whose `keep_top` ranks its members' values, or `NONE`.
    pub rank_fold: u32,
    /// Members, with labels or kept as keys (`compact` of them).
    pub members: u32,
    pub compact: u32,
    pub touched_gen: u32,
    pub emitted_gen: u32,
}

/// The folded-series table.
#[derive(Debug, Default)]
pub struct GroupTable {
    slots: Vec<Option<Group>>,
    free: Vec<u32>,
    by_hash: FxHashMap<u64, u32>,
}

impl GroupTable {
    /// The group with this hash whose labels satisfy `matches`.
    pub fn find(&self, hash: u64, matches: impl Fn(&Labels) -> bool) -> Option<u32> {
        let mut id = *self.by_hash.get(&hash)?;
        while id != NONE {
            let g = self.get(id)?;
            if matches(&g.labels) {
                return Some(id);
            }
            id = g.next;
        }
        None
    }

    /// Adds a group and returns its id.
    pub fn insert(&mut self, mut g: Group) -> u32 {
        g.next = self.by_hash.get(&g.hash).copied().unwrap_or(NONE);
        let hash = g.hash;
        let id = put_slot(&mut self.slots, &mut self.free, g);
        self.by_hash.insert(hash, id);
        id
    }

    /// Removes a group.
    pub fn remove(&mut self, id: u32) -> Option<Group> {
        let g = self.slots.get_mut(id as usize)?.take()?;
        unlink(
            &mut self.slots,
            &mut self.by_hash,
            g.hash,
            id,
            g.next,
            |c| &mut c.next,
        );
        self.free.push(id);
        Some(g)
    }

    /// The group `id`.
    pub fn get(&self, id: u32) -> Option<&Group> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// The group `id`, mutably.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Group> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// Slots, live or free (ids are below this).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Gives back the memory of folded series that went.
    pub fn compact(&mut self) {
        compact_slots(&mut self.slots, &mut self.free);
        shrink_map(&mut self.by_hash);
    }

    /// Live groups with compact members (whose members' values of any
    /// label not replaced are the group's own).
    pub fn with_compact_members(&self) -> impl Iterator<Item = (u32, &Group)> {
        self.iter().filter(|(_, g)| g.compact > 0)
    }

    /// All live groups.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Group)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i as u32, g)))
    }
}
