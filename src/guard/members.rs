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

use super::role::Role;
use super::table::{NONE, shrink_map, shrink_vec};
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

/// One folded member.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Its folded series.
    pub group: u32,
    /// The values of its group's replaced labels.
    pub tuple: u32,
    pub family: u32,
    /// Fold whose `keep_top` ranks its value, or `NONE`.
    pub rank_fold: u32,
    pub seen_gen: u32,
    pub role: Role,
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
        if self.by_hash.get(&hash) == Some(&id) {
            if next == NONE {
                self.by_hash.remove(&hash);
            } else {
                self.by_hash.insert(hash, next);
            }
        } else {
            let mut cur = self.by_hash.get(&hash).copied().unwrap_or(NONE);
            while cur != NONE {
                let Some(c) = self.slots.get_mut(cur as usize).and_then(Option::as_mut) else {
                    break;
                };
                if c.next == id {
                    c.next = next;
                    break;
                }
                cur = c.next;
            }
        }
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
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len() as u32;
        self.free.retain(|&id| id < len);
        shrink_vec(&mut self.slots);
        shrink_vec(&mut self.free);
        shrink_map(&mut self.by_hash);
    }
}

/// The member table of one target.
#[derive(Debug, Default)]
pub struct MemberTable {
    map: KeyMap<Member>,
}

impl MemberTable {
    /// Members.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The member with this key.
    pub fn get(&self, key: &SeriesKey) -> Option<&Member> {
        self.map.get(key)
    }

    /// The member with this key, mutably.
    pub fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut Member> {
        self.map.get_mut(key)
    }

    /// Adds (or replaces) a member.
    pub fn insert(&mut self, key: SeriesKey, m: Member) {
        self.map.insert(key, m);
    }

    /// Removes a member.
    pub fn remove(&mut self, key: &SeriesKey) -> Option<Member> {
        self.map.remove(key)
    }

    /// All members.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Member)> {
        self.map.iter()
    }

    /// Keys of members `keep` selects.
    pub fn keys_where(&self, keep: impl Fn(&Member) -> bool) -> Vec<SeriesKey> {
        self.map
            .iter()
            .filter(|(_, m)| keep(m))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Gives back memory after many members went.
    pub fn compact(&mut self) {
        if self.map.capacity() > 2 * self.map.len() + 64 {
            self.map.shrink_to(self.map.len() + self.map.len() / 4);
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
    fn member_flags() {
        let mut m = Member {
            group: 0,
            tuple: 0,
            family: 0,
            rank_fold: NONE,
            seen_gen: 0,
            role: Role::Cumulative,
            flags: 0,
            last_seen_ms: 0,
            last_value: 0.0,
        };
        m.set(COUNTED, true);
        m.set(HAS_VALUE, true);
        assert!(m.has(COUNTED) && m.has(HAS_VALUE) && !m.has(EXPLICIT_TS));
        m.set(COUNTED, false);
        assert!(!m.has(COUNTED));
        assert!(std::mem::size_of::<Member>() <= 40);
    }
}
