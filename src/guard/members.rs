//! Folded members kept small: a series merged into a folded series is
//! held as its [`SeriesKey`] and a few numbers ([`Member`]), not as a label
//! set. Its labels are its folded series' labels with the replaced labels
//! ([`super::table::Group::replaced`]) set to a tuple of values
//! ([`super::tuples`]), which all members with the same values share (in
//! the Istio storm: one tuple per destination host, ~25 members each).
//!
//! The scrape path finds a member by key before it builds any labels, so
//! a folded series costs one hash and one lookup per sample; labels are
//! rebuilt only when folds change or a member leaves the window.

use crate::series_key::SeriesKey;
use hashbrown::HashTable;

/// A member's flags.
pub const EXPLICIT_TS: u8 = 1;
/// Its history is part of its folded series (its next sample adds its
/// increase); unset: its full value.
pub const COUNTED: u8 = 2;
/// `last_value` is set.
pub const HAS_VALUE: u8 = 4;

/// One folded member (16 bytes; its family, role and ranking fold are its
/// folded series').
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Its folded series (low [`GROUP_BITS`] bits) and the epoch it was
    /// last seen in (top 8 bits, [`super::epoch`]).
    group_epoch: u32,
    /// The tuple (low bits) and the flags (top [`FLAG_BITS`] bits).
    tuple_flags: u32,
    /// Its last value, when [`HAS_VALUE`].
    pub last_value: f64,
}

/// Bits of [`Member::tuple_flags`] holding flags.
const FLAG_BITS: u32 = 3;
/// The largest tuple id a member can hold (2^29 - 1): a target would need
/// more than half a billion distinct value tuples to reach it; past it, a
/// series stays a labeled one.
pub const MAX_TUPLE: u32 = (1 << (32 - FLAG_BITS)) - 1;

/// Bits of [`Member::group_epoch`] holding the folded series.
const GROUP_BITS: u32 = 24;
/// The largest folded-series id a member can hold (2^24 - 1): a target
/// would need more than 16 million folded series at once to reach it
/// (folded series are fewer than the budget's series, ids are reused
/// lowest first); past it, a series stays a labeled one.
pub const MAX_GROUP: u32 = (1 << GROUP_BITS) - 1;

impl Member {
    /// A member of folded series `group` (at most [`MAX_GROUP`]) with
    /// values `tuple` (at most [`MAX_TUPLE`]) and `flags`, last seen in
    /// `epoch`.
    pub fn new(group: u32, tuple: u32, flags: u8, epoch: u8, last_value: f64) -> Member {
        debug_assert!(group <= MAX_GROUP && tuple <= MAX_TUPLE);
        Member {
            group_epoch: (group & MAX_GROUP) | (u32::from(epoch) << GROUP_BITS),
            tuple_flags: (tuple & MAX_TUPLE) | (u32::from(flags) << (32 - FLAG_BITS)),
            last_value,
        }
    }

    /// Its folded series.
    pub fn group(&self) -> u32 {
        self.group_epoch & MAX_GROUP
    }

    /// Moves it to folded series `group` (at most [`MAX_GROUP`]).
    pub fn set_group(&mut self, group: u32) {
        debug_assert!(group <= MAX_GROUP);
        self.group_epoch = (self.group_epoch & !MAX_GROUP) | (group & MAX_GROUP);
    }

    /// The epoch it was last seen in.
    pub fn epoch(&self) -> u8 {
        (self.group_epoch >> GROUP_BITS) as u8
    }

    /// Marks it last seen in `epoch`.
    pub fn set_epoch(&mut self, epoch: u8) {
        self.group_epoch = (self.group_epoch & MAX_GROUP) | (u32::from(epoch) << GROUP_BITS);
    }

    /// The values of its group's replaced labels.
    pub fn tuple(&self) -> u32 {
        self.tuple_flags & MAX_TUPLE
    }

    /// Moves it to tuple `tuple` (at most [`MAX_TUPLE`]).
    pub fn set_tuple(&mut self, tuple: u32) {
        debug_assert!(tuple <= MAX_TUPLE);
        self.tuple_flags = (self.tuple_flags & !MAX_TUPLE) | (tuple & MAX_TUPLE);
    }

    /// Its flags.
    pub fn flags(&self) -> u8 {
        (self.tuple_flags >> (32 - FLAG_BITS)) as u8
    }

    /// True when flag `f` is set.
    pub fn has(&self, f: u8) -> bool {
        self.flags() & f != 0
    }

    /// Sets or clears flag `f`.
    pub fn set(&mut self, f: u8, on: bool) {
        let bit = u32::from(f) << (32 - FLAG_BITS);
        if on {
            self.tuple_flags |= bit;
        } else {
            self.tuple_flags &= !bit;
        }
    }
}

/// The member table of one target: members side by side in one vector
/// (key and member, 32 bytes, nothing between them: a removal moves the
/// last one into the hole) and an index of positions (4 bytes a slot) found
/// by the key's hash. Growth is cheap in memory: the vector's unused room
/// is never touched (large blocks are mapped, and grow by remapping), and
/// only the index, ~5 bytes a slot, doubles.
#[derive(Debug, Default)]
pub struct MemberTable {
    entries: Vec<(SeriesKey, Member)>,
    index: HashTable<u32>,
    /// One bit per entry: merged in the current scrape.
    seen: Vec<u64>,
}

fn position(entries: &[(SeriesKey, Member)], i: u32) -> u64 {
    entries.get(i as usize).map_or(0, |(k, _)| k.spread())
}

impl MemberTable {
    /// Members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of the member with this key.
    pub fn find(&self, key: &SeriesKey) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(key.spread(), |&i| {
                entries.get(i as usize).is_some_and(|(k, _)| k == key)
            })
            .copied()
    }

    /// The member at position `pos` (from [`MemberTable::find`], valid
    /// until the next insertion or removal).
    pub fn at_mut(&mut self, pos: u32) -> Option<&mut Member> {
        self.entries.get_mut(pos as usize).map(|(_, m)| m)
    }

    /// Marks the member at `pos` merged in this scrape; false when it
    /// already was (a duplicate sample).
    pub fn first_sight(&mut self, pos: u32) -> bool {
        let (word, bit) = (pos as usize / 64, 1u64 << (pos % 64));
        let Some(w) = self.seen.get_mut(word) else {
            return true;
        };
        let first = *w & bit == 0;
        *w |= bit;
        first
    }

    /// True when the member with this key was merged in this scrape.
    pub fn seen(&self, key: &SeriesKey) -> bool {
        self.find(key).is_some_and(|pos| {
            self.seen
                .get(pos as usize / 64)
                .is_some_and(|w| w & (1 << (pos % 64)) != 0)
        })
    }

    /// A new scrape: nothing merged yet.
    pub fn new_scrape(&mut self) {
        self.seen.fill(0);
    }

    /// The member with this key.
    pub fn get(&self, key: &SeriesKey) -> Option<&Member> {
        let pos = self.find(key)?;
        self.entries.get(pos as usize).map(|(_, m)| m)
    }

    /// The member with this key, mutably.
    pub fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut Member> {
        let pos = self.find(key)?;
        self.at_mut(pos)
    }

    /// Adds (or replaces) a member; a new one is not yet merged in this
    /// scrape.
    pub fn insert(&mut self, key: SeriesKey, m: Member) {
        if let Some(old) = self.get_mut(&key) {
            *old = m;
            return;
        }
        let pos = self.entries.len() as u32;
        self.entries.push((key, m));
        let entries = &self.entries;
        self.index
            .insert_unique(key.spread(), pos, |&i| position(entries, i));
        if self.seen.len() * 64 < self.entries.len() {
            self.seen.push(0);
        }
    }

    /// Removes a member.
    pub fn remove(&mut self, key: &SeriesKey) -> Option<Member> {
        let entries = &self.entries;
        let pos = self
            .index
            .find_entry(key.spread(), |&i| {
                entries.get(i as usize).is_some_and(|(k, _)| k == key)
            })
            .ok()?
            .remove()
            .0;
        let last = (self.entries.len() - 1) as u32;
        if pos != last {
            // The last entry moves into the hole: its index slot follows.
            let moved = self.entries[last as usize].0;
            if let Some(slot) = self.index.find_mut(moved.spread(), |&i| i == last) {
                *slot = pos;
            }
            let was_seen = self.take_seen(last);
            self.set_seen(pos, was_seen);
        } else {
            self.take_seen(pos);
        }
        Some(self.entries.swap_remove(pos as usize).1)
    }

    fn take_seen(&mut self, pos: u32) -> bool {
        let (word, bit) = (pos as usize / 64, 1u64 << (pos % 64));
        self.seen.get_mut(word).is_some_and(|w| {
            let was = *w & bit != 0;
            *w &= !bit;
            was
        })
    }

    fn set_seen(&mut self, pos: u32, on: bool) {
        let (word, bit) = (pos as usize / 64, 1u64 << (pos % 64));
        if let Some(w) = self.seen.get_mut(word) {
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// All members.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Member)> {
        self.entries.iter().map(|(k, m)| (k, m))
    }

    /// Every member, mutably (their keys and positions stay).
    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.entries.iter_mut().map(|(_, m)| m)
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
        let len = self.entries.len();
        if self.entries.capacity() / 2 > len {
            self.entries.shrink_to(len + len / 4);
        }
        if self.index.capacity() / 4 > len {
            let entries = &self.entries;
            self.index.shrink_to(len, |&i| position(entries, i));
        }
        self.seen.truncate(len.div_ceil(64));
        self.seen.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(keyer: &crate::series_key::SeriesKeyer, i: u32) -> SeriesKey {
        keyer.key(&i.to_le_bytes())
    }

    #[test]
    fn members_are_found_replaced_and_removed() {
        let keyer = crate::series_key::SeriesKeyer::random();
        let mut t = MemberTable::default();
        for i in 0..1600u32 {
            t.insert(
                key(&keyer, i),
                Member::new(i, i % 7, COUNTED, i as u8, f64::from(i)),
            );
        }
        t.insert(key(&keyer, 7), Member::new(99, 1, 0, 0, 0.0));
        assert_eq!(t.len(), 1600, "a replaced member counts once");
        assert_eq!(t.get(&key(&keyer, 7)).map(|m| m.group()), Some(99));
        assert_eq!(t.keys_where(|m| m.tuple() == 3).len(), 229);
        // Removing from the middle moves the last member into the hole.
        for i in (0..1600u32).step_by(3) {
            assert!(t.remove(&key(&keyer, i)).is_some());
            assert!(t.remove(&key(&keyer, i)).is_none());
        }
        assert_eq!(t.len(), 1066);
        assert_eq!(t.iter().count(), 1066);
        for i in 0..1600u32 {
            let m = t.get(&key(&keyer, i));
            assert_eq!(m.is_some(), i % 3 != 0, "member {i}");
            if let Some(m) = m
                && i != 7
            {
                assert_eq!(
                    (m.group(), m.tuple(), m.last_value),
                    (i, i % 7, f64::from(i))
                );
                assert!(m.has(COUNTED));
                assert_eq!(m.epoch(), i as u8);
            }
        }
        t.compact();
        assert_eq!(t.len(), 1066);
        assert!(t.get(&key(&keyer, 1)).is_some());
    }

    #[test]
    fn a_member_is_merged_once_per_scrape_even_when_others_move() {
        let keyer = crate::series_key::SeriesKeyer::random();
        let mut t = MemberTable::default();
        for i in 0..200u32 {
            t.insert(key(&keyer, i), Member::new(0, 0, 0, 0, 0.0));
        }
        let last = key(&keyer, 199);
        let pos = t.find(&last).unwrap();
        assert!(t.first_sight(pos));
        assert!(!t.first_sight(pos), "a duplicate");
        assert!(t.seen(&last) && !t.seen(&key(&keyer, 5)));
        // The last member moves into the removed one's place, seen.
        t.remove(&key(&keyer, 5));
        assert!(t.seen(&last));
        let pos = t.find(&last).unwrap();
        assert!(!t.first_sight(pos));
        t.new_scrape();
        assert!(!t.seen(&last));
        assert!(t.first_sight(pos));
        // A member re-added is not seen yet.
        t.remove(&last);
        t.insert(last, Member::new(0, 0, 0, 0, 0.0));
        assert!(!t.seen(&last));
    }

    #[test]
    fn member_flags_group_and_epoch() {
        let mut m = Member::new(3, MAX_TUPLE, 0, 0, 0.0);
        m.set(COUNTED, true);
        m.set(HAS_VALUE, true);
        assert!(m.has(COUNTED) && m.has(HAS_VALUE) && !m.has(EXPLICIT_TS));
        m.set(COUNTED, false);
        assert!(!m.has(COUNTED));
        assert_eq!(m.tuple(), MAX_TUPLE);
        m.set_tuple(5);
        assert_eq!((m.tuple(), m.group(), m.flags()), (5, 3, HAS_VALUE));
        m.set(EXPLICIT_TS, true);
        assert_eq!(m.tuple(), 5);
        // The group and the epoch share a word without touching each other.
        m.set_epoch(255);
        assert_eq!((m.group(), m.epoch()), (3, 255));
        m.set_group(MAX_GROUP);
        assert_eq!((m.group(), m.epoch()), (MAX_GROUP, 255));
        m.set_epoch(0);
        assert_eq!((m.group(), m.epoch()), (MAX_GROUP, 0));
        m.set_group(7);
        assert_eq!((m.group(), m.epoch(), m.tuple()), (7, 0, 5));
        let m = Member::new(MAX_GROUP, 9, COUNTED, 200, 1.5);
        assert_eq!(
            (m.group(), m.tuple(), m.flags(), m.epoch(), m.last_value),
            (MAX_GROUP, 9, COUNTED, 200, 1.5)
        );
        assert_eq!(std::mem::size_of::<Member>(), 16);
        assert_eq!(std::mem::size_of::<(SeriesKey, Member)>(), 32);
    }
}
