//! Folded members kept small: a series merged into a folded series is
//! held as its [`SeriesKey`] and a few numbers ([`Member`]), not as a label
//! set. Its labels are its folded series' labels with the replaced labels
//! ([`super::table::Group::replaced`]) set to a [`Tuple`] of values, which
//! all members with the same values share (in the Istio storm: one tuple
//! per destination host, ~25 members each).
//!
//! The scrape path finds a member by key before it builds any labels, so
//! a folded series costs one hash and one lookup per sample; labels are
//! rebuilt only when folds change or a member leaves the window.

use super::table::{NONE, compact_slots, shrink_map, unlink};
use crate::series_key::{KeyMap, SeriesKey};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// A member's flags.
pub const EXPLICIT_TS: u8 = 1;
/// Its history is part of its folded series (its next sample adds its
/// increase); unset: its full value.
pub const COUNTED: u8 = 2;
/// `last_value` is set.
pub const HAS_VALUE: u8 = 4;

/// One folded member (32 bytes; its family, role and ranking fold are its
/// folded series').
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Its folded series.
    pub group: u32,
    /// The values of its group's replaced labels.
    pub tuple: u32,
    pub seen_gen: u32,
    pub flags: u8,
    pub last_seen_ms: i64,
    pub last_value: f64,
}

impl Member {
    /// True when flag `f` is set.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Sets or clears flag `f`.
    pub fn set(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }
}

/// Values shared by members.
#[derive(Debug)]
pub struct Tuple {
    pub values: Box<[Box<str>]>,
    hash: u64,
    next: u32,
    refs: u32,
}

/// Interned tuples with reference counts.
#[derive(Debug, Default)]
pub struct TupleTable {
    slots: Vec<Option<Tuple>>,
    free: Vec<u32>,
    by_hash: FxHashMap<u64, u32>,
}

fn tuple_hash<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut h = FxHasher::default();
    for v in values {
        h.write(v.as_ref().as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

impl TupleTable {
    /// The id of `values`, interned if new, with one more reference.
    pub fn acquire<S: AsRef<str>>(&mut self, values: &[S]) -> u32 {
        let hash = tuple_hash(values);
        let mut id = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        while id != NONE {
            let Some(t) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
                break;
            };
            if t.values.len() == values.len()
                && t.values.iter().zip(values).all(|(a, b)| **a == *b.as_ref())
            {
                t.refs += 1;
                return id;
            }
            id = t.next;
        }
        let tuple = Tuple {
            values: values.iter().map(|v| v.as_ref().into()).collect(),
            hash,
            next: self.by_hash.get(&hash).copied().unwrap_or(NONE),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(tuple);
                id
            }
            None => {
                self.slots.push(Some(tuple));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_hash.insert(hash, id);
        id
    }

    /// Drops one reference; the tuple goes with the last.
    pub fn release(&mut self, id: u32) {
        let Some(t) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        t.refs -= 1;
        if t.refs > 0 {
            return;
        }
        let (hash, next) = (t.hash, t.next);
        self.slots[id as usize] = None;
        unlink(&mut self.slots, &mut self.by_hash, hash, id, next, |c| {
            &mut c.next
        });
        self.free.push(id);
    }

    /// The values of tuple `id` (empty when there is none).
    pub fn values(&self, id: u32) -> &[Box<str>] {
        self.slots
            .get(id as usize)
            .and_then(Option::as_ref)
            .map_or(&[], |t| &t.values)
    }

    /// Live tuples with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Tuple)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }

    /// Gives back memory after many tuples went.
    pub fn compact(&mut self) {
        compact_slots(&mut self.slots, &mut self.free);
        shrink_map(&mut self.by_hash);
    }
}

/// Shards of the member table: a shard grows (doubles and rehashes) on its
/// own, so a target gaining members steadily grows in steps of 1/16th of
/// its table, not by doubling all of it at once (and never holds two whole
/// copies while rehashing).
const SHARDS: usize = 16;

/// The member table of one target.
#[derive(Debug)]
pub struct MemberTable {
    shards: Vec<KeyMap<Member>>,
    len: usize,
}

impl Default for MemberTable {
    fn default() -> Self {
        MemberTable {
            shards: (0..SHARDS).map(|_| KeyMap::default()).collect(),
            len: 0,
        }
    }
}

fn shard(key: &SeriesKey) -> usize {
    (key.spread() % SHARDS as u64) as usize
}

impl MemberTable {
    /// Members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The member with this key.
    pub fn get(&self, key: &SeriesKey) -> Option<&Member> {
        self.shards[shard(key)].get(key)
    }

    /// The member with this key, mutably.
    pub fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut Member> {
        self.shards[shard(key)].get_mut(key)
    }

    /// Adds (or replaces) a member.
    pub fn insert(&mut self, key: SeriesKey, m: Member) {
        if self.shards[shard(&key)].insert(key, m).is_none() {
            self.len += 1;
        }
    }

    /// Removes a member.
    pub fn remove(&mut self, key: &SeriesKey) -> Option<Member> {
        let m = self.shards[shard(key)].remove(key);
        if m.is_some() {
            self.len -= 1;
        }
        m
    }

    /// All members.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Member)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Keys of members `keep` selects.
    pub fn keys_where(&self, keep: impl Fn(&Member) -> bool) -> Vec<SeriesKey> {
        self.iter()
            .filter(|(_, m)| keep(m))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Gives back memory after many members went.
    pub fn compact(&mut self) {
        for s in &mut self.shards {
            shrink_map(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_shared_and_released() {
        let mut t = TupleTable::default();
        let a = t.acquire(&["h1", "svc-1"]);
        let b = t.acquire(&["h1".to_string(), "svc-1".to_string()]);
        assert_eq!(a, b);
        let c = t.acquire(&["h2", "svc-2"]);
        assert_ne!(a, c);
        t.release(a);
        assert_eq!(&*t.values(a)[0], "h1", "one reference left");
        t.release(b);
        assert!(t.values(a).is_empty());
        let d = t.acquire(&["h3"]);
        assert_eq!(d, a, "the free slot is reused");
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn the_table_spreads_members_over_its_shards() {
        let keyer = crate::series_key::SeriesKeyer::random();
        let mut t = MemberTable::default();
        let m = Member {
            group: 1,
            tuple: 2,
            seen_gen: 0,
            flags: 0,
            last_seen_ms: 0,
            last_value: 0.0,
        };
        for i in 0..1600u32 {
            t.insert(keyer.key(&i.to_le_bytes()), m);
        }
        t.insert(keyer.key(&7u32.to_le_bytes()), m);
        assert_eq!(t.len(), 1600, "a replaced member counts once");
        assert!(t.shards.iter().all(|s| s.len() > 50), "spread");
        assert_eq!(t.keys_where(|m| m.group == 1).len(), 1600);
        assert!(t.remove(&keyer.key(&7u32.to_le_bytes())).is_some());
        assert!(t.remove(&keyer.key(&7u32.to_le_bytes())).is_none());
        assert_eq!(t.len(), 1599);
        assert_eq!(t.iter().count(), 1599);
    }

    #[test]
    fn member_flags() {
        let mut m = Member {
            group: 0,
            tuple: 0,
            seen_gen: 0,
            flags: 0,
            last_seen_ms: 0,
            last_value: 0.0,
        };
        m.set(COUNTED, true);
        m.set(HAS_VALUE, true);
        assert!(m.has(COUNTED) && m.has(HAS_VALUE) && !m.has(EXPLICIT_TS));
        m.set(COUNTED, false);
        assert!(!m.has(COUNTED));
        assert_eq!(std::mem::size_of::<Member>(), 32);
        assert_eq!(std::mem::size_of::<(SeriesKey, Member)>(), 48);
    }
}
