//! The folded members a guard keeps by key ([`super::members`]), the value
//! tuples they share ([`super::tuples`]), the clock their last-seen epochs
//! are read on ([`super::epoch`]) and the keys the current scrape made
//! members: one type, [`FoldedMembers`], so that the rest of the guard
//! adds, moves and removes a member in one call that keeps them together.
//!
//! Invariant: every member's tuple is live in the tuple table, and each
//! live tuple's reference count is the number of members holding it (a
//! tuple goes with its last member); every member's folded-series id is
//! at most [`MAX_GROUP`]; every member's epoch is a stamp on the clock
//! (so its age is right while it is below 256 periods, `epoch.rs`), and
//! is stamped again when the clock's window changes; `demoted` holds the
//! keys of the members [`FoldedMembers::demote`] added since the scrape
//! began ([`FoldedMembers::new_scrape`]). It holds because a member's
//! tuple, group and epoch are set only here: [`FoldedMembers::insert`]
//! acquires the tuple with the member, [`FoldedMembers::move_to`]
//! acquires the new one before releasing the old,
//! [`FoldedMembers::remove`] releases it with the member,
//! [`FoldedMembers::sight`] stamps a member seen now; outside, a member is
//! read, or has its merge state and flags written
//! ([`FoldedMembers::record`], [`FoldedMembers::set_flag`]).
//!
//! The guard keeps the rest: that a member's folded series exists and
//! counts it in its `members` and `compact` ([`super::occupancy`]), and
//! the member's label statistics.

use super::epoch::EpochClock;
use super::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, MAX_GROUP, Member, MemberTable};
use super::tuples::{TupleTable, TupleValues};
use crate::series_key::SeriesKey;

/// What [`FoldedMembers::sight`] found for a key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sight {
    /// Not a member's key.
    NotMember,
    /// A member already merged in this scrape.
    Duplicate,
    /// A member's first sample in this scrape: its position (for
    /// [`FoldedMembers::record`]) and the member, stamped seen now.
    First(u32, Member),
}

/// One guard's folded members. See the module docs.
#[derive(Debug)]
pub(super) struct FoldedMembers {
    table: MemberTable,
    tuples: TupleTable,
    clock: EpochClock,
    demoted: Vec<SeriesKey>,
}

impl FoldedMembers {
    /// No members, on a clock for a staleness window of `window_ms`.
    pub fn new(window_ms: i64) -> FoldedMembers {
        FoldedMembers {
            table: MemberTable::default(),
            tuples: TupleTable::default(),
            clock: EpochClock::new(window_ms),
            demoted: Vec::new(),
        }
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The member with this key.
    pub fn get(&self, key: &SeriesKey) -> Option<&Member> {
        self.table.get(key)
    }

    /// True when this key is a member's.
    pub fn contains(&self, key: &SeriesKey) -> bool {
        self.table.find(key).is_some()
    }

    /// All members.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Member)> {
        self.table.iter()
    }

    /// The keys of all members.
    pub fn keys(&self) -> Vec<SeriesKey> {
        self.table.keys_where(|_| true)
    }

    /// The values of member `m`'s tuple.
    pub fn values(&self, m: &Member) -> TupleValues<'_> {
        self.tuples.values(m.tuple())
    }

    /// Live tuples with their ids and values, in id order.
    pub fn tuples(&self) -> impl Iterator<Item = (u32, TupleValues<'_>)> {
        self.tuples.iter()
    }

    /// A new scrape at `ts_ms`: nothing merged or demoted yet. Returns how
    /// far the clock moved ([`EpochClock::advance`]).
    pub fn new_scrape(&mut self, ts_ms: i64) -> i64 {
        self.demoted = Vec::new();
        self.table.new_scrape();
        self.clock.advance(ts_ms)
    }

    /// Takes the keys [`FoldedMembers::demote`] recorded.
    pub fn take_demoted(&mut self) -> Vec<SeriesKey> {
        std::mem::take(&mut self.demoted)
    }

    /// A sample of the member with this key (the scrape path): on its
    /// first sample in the scrape it is marked merged, seen now, and
    /// explicitly timestamped or not.
    #[inline]
    pub fn sight(&mut self, key: &SeriesKey, explicit_ts: bool) -> Sight {
        let epoch = self.clock.now();
        let Some(pos) = self.table.find(key) else {
            return Sight::NotMember;
        };
        if !self.table.first_sight(pos) {
            return Sight::Duplicate;
        }
        let Some(m) = self.table.at_mut(pos) else {
            return Sight::NotMember;
        };
        m.set_epoch(epoch);
        m.set(EXPLICIT_TS, explicit_ts);
        Sight::First(pos, *m)
    }

    /// Writes the merge state of the member [`FoldedMembers::sight`] found
    /// at `pos` (nothing added or removed since).
    #[inline]
    pub fn record(&mut self, pos: u32, counted: bool, has_value: bool, last_value: f64) {
        if let Some(m) = self.table.at_mut(pos) {
            m.set(COUNTED, counted);
            m.set(HAS_VALUE, has_value);
            m.last_value = last_value;
        }
    }

    /// Sets or clears flag `flag` of the member with this key.
    pub fn set_flag(&mut self, key: &SeriesKey, flag: u8, on: bool) {
        if let Some(m) = self.table.get_mut(key) {
            m.set(flag, on);
        }
    }

    /// True when the member with this key was merged in this scrape.
    pub fn seen(&self, key: &SeriesKey) -> bool {
        self.table.seen(key)
    }

    /// Adds a member of folded series `group` with tuple `values`,
    /// `flags`, last seen in `epoch`; not yet merged in this scrape.
    /// `None` (and nothing added) when the key is a member's already, the
    /// group id is past [`MAX_GROUP`] or the tuple does not fit.
    pub fn insert<S: AsRef<str>>(
        &mut self,
        key: SeriesKey,
        group: u32,
        values: &[S],
        flags: u8,
        epoch: u8,
        last_value: f64,
    ) -> Option<Member> {
        if group > MAX_GROUP || self.contains(&key) {
            return None;
        }
        let tuple = self.tuples.acquire(values)?;
        let m = Member::new(group, tuple, flags, epoch, last_value);
        self.table.insert(key, m);
        Some(m)
    }

    /// A labeled series of this scrape becomes a member
    /// ([`FoldedMembers::insert`]; false when it cannot): its key is
    /// recorded for [`FoldedMembers::take_demoted`], and it counts as
    /// merged in this scrape when `seen`.
    #[expect(
        clippy::too_many_arguments,
        reason = "a member is made of these parts; demotion hands each one over as the scrape path has it, without building a struct per sample"
    )]
    pub fn demote(
        &mut self,
        key: SeriesKey,
        group: u32,
        values: &[&str],
        flags: u8,
        epoch: u8,
        last_value: f64,
        seen: bool,
    ) -> bool {
        if self
            .insert(key, group, values, flags, epoch, last_value)
            .is_none()
        {
            return false;
        }
        self.demoted.push(key);
        if seen && let Some(pos) = self.table.find(&key) {
            self.table.first_sight(pos);
        }
        true
    }

    /// Moves the member with this key to folded series `group` with tuple
    /// `values`; false (and the member as it was) when it is not one, the
    /// group id is past [`MAX_GROUP`] or the tuple does not fit.
    pub fn move_to(&mut self, key: &SeriesKey, group: u32, values: &[&str]) -> bool {
        if group > MAX_GROUP {
            return false;
        }
        let Some(old) = self.table.get(key).map(Member::tuple) else {
            return false;
        };
        let Some(tuple) = self.tuples.acquire(values) else {
            return false;
        };
        self.tuples.release(old);
        if let Some(m) = self.table.get_mut(key) {
            m.set_group(group);
            m.set_tuple(tuple);
        }
        true
    }

    /// Removes a member, and its tuple's reference.
    pub fn remove(&mut self, key: &SeriesKey) -> Option<Member> {
        let m = self.table.remove(key)?;
        self.tuples.release(m.tuple());
        Some(m)
    }

    /// Keys of the members that left the window (`all`: every member,
    /// epochs unread).
    pub fn expired(&self, all: bool) -> Vec<SeriesKey> {
        let clock = self.clock;
        self.table.keys_where(|m| all || clock.expired(m.epoch()))
    }

    /// Gives back memory after many members went.
    pub fn compact(&mut self) {
        self.table.compact();
        self.tuples.compact();
    }

    /// How long ago member `m` was last seen ([`EpochClock::age_ms`]).
    pub fn age_ms(&self, m: &Member) -> i64 {
        self.clock.age_ms(m.epoch())
    }

    /// The epoch of a member last seen `age_ms` ago
    /// ([`EpochClock::stamp`]).
    pub fn stamp(&self, age_ms: i64) -> u8 {
        self.clock.stamp(age_ms)
    }

    /// Sets the clock (a restored guard continues from its saved time).
    pub fn set_clock(&mut self, now_ms: i64) {
        self.clock.set_now_ms(now_ms);
    }

    /// A new staleness window: the clock's period changes and every
    /// member's epoch is stamped again, at the same age.
    pub fn restamp(&mut self, window_ms: i64) {
        let (old, new) = (self.clock, self.clock.with_window(window_ms));
        for m in self.table.members_mut() {
            m.set_epoch(old.restamp(m.epoch(), &new));
        }
        self.clock = new;
    }

    /// The members' clock.
    #[cfg(test)]
    pub fn clock(&self) -> EpochClock {
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::epoch::EXPIRED_AGE;
    use crate::series_key::SeriesKeyer;
    use std::collections::BTreeSet;

    const W: i64 = 300_000;

    fn key(keyer: &SeriesKeyer, i: u32) -> SeriesKey {
        keyer.key(&i.to_le_bytes())
    }

    /// The invariant: the live tuples are exactly those members hold, and
    /// every group id fits.
    fn check(f: &FoldedMembers) {
        let held: BTreeSet<u32> = f.iter().map(|(_, m)| m.tuple()).collect();
        let live: BTreeSet<u32> = f.tuples().map(|(id, _)| id).collect();
        assert_eq!(held, live);
        assert!(f.iter().all(|(_, m)| m.group() <= MAX_GROUP));
    }

    #[test]
    fn a_tuple_lives_as_long_as_its_members() {
        let keyer = SeriesKeyer::random();
        let mut f = FoldedMembers::new(W);
        f.new_scrape(1_000);
        let a = f.insert(key(&keyer, 1), 0, &["h1"], 0, 0, 0.0).unwrap();
        let b = f.insert(key(&keyer, 2), 0, &["h1"], 0, 0, 0.0).unwrap();
        assert_eq!(a.tuple(), b.tuple(), "shared");
        f.insert(key(&keyer, 3), 1, &["h2"], 0, 0, 0.0).unwrap();
        check(&f);
        assert!(f.remove(&key(&keyer, 1)).is_some());
        assert_eq!(f.values(&b).get(0), Some("h1"), "one member left");
        assert!(f.remove(&key(&keyer, 2)).is_some());
        assert!(f.remove(&key(&keyer, 2)).is_none());
        check(&f);
        assert_eq!(f.tuples().count(), 1);
        // Moving acquires the new tuple and releases the old.
        assert!(f.move_to(&key(&keyer, 3), 4, &["h3"]));
        let m = *f.get(&key(&keyer, 3)).unwrap();
        assert_eq!((m.group(), f.values(&m).get(0)), (4, Some("h3")));
        check(&f);
        assert_eq!(f.tuples().count(), 1);
        assert!(!f.move_to(&key(&keyer, 9), 4, &["h3"]), "not a member");
        assert!(!f.move_to(&key(&keyer, 3), MAX_GROUP + 1, &["h4"]));
        check(&f);
        f.compact();
        assert_eq!((f.len(), f.keys()), (1, vec![key(&keyer, 3)]));
    }

    #[test]
    fn a_member_is_added_once_within_its_group_ids() {
        let keyer = SeriesKeyer::random();
        let mut f = FoldedMembers::new(W);
        let k = key(&keyer, 1);
        assert!(f.insert(k, MAX_GROUP + 1, &["x"], 0, 0, 0.0).is_none());
        assert!(f.is_empty() && f.tuples().count() == 0);
        assert!(f.insert(k, MAX_GROUP, &["x"], COUNTED, 0, 2.0).is_some());
        assert!(f.contains(&k));
        assert!(
            f.insert(k, 1, &["y"], 0, 0, 0.0).is_none(),
            "a member already"
        );
        assert_eq!(
            f.get(&k).map(|m| (m.group(), m.last_value)),
            Some((MAX_GROUP, 2.0))
        );
        check(&f);
    }

    #[test]
    fn demoted_members_are_recorded_and_merged_once_per_scrape() {
        let keyer = SeriesKeyer::random();
        let mut f = FoldedMembers::new(W);
        f.new_scrape(1_000);
        let (a, b) = (key(&keyer, 1), key(&keyer, 2));
        assert!(f.demote(a, 0, &["h1"], 0, 0, 0.0, true));
        assert!(f.demote(b, 0, &["h2"], 0, 0, 0.0, false));
        assert!(
            !f.demote(a, 0, &["h1"], 0, 0, 0.0, true),
            "a member already"
        );
        assert!(f.seen(&a) && !f.seen(&b));
        assert!(matches!(f.sight(&a, false), Sight::Duplicate));
        let Sight::First(pos, m) = f.sight(&b, true) else {
            panic!("b's first sample");
        };
        assert!(m.has(EXPLICIT_TS));
        f.record(pos, true, true, 7.0);
        let m = f.get(&b).unwrap();
        assert!(m.has(COUNTED) && m.has(HAS_VALUE) && m.last_value == 7.0);
        f.set_flag(&b, COUNTED, false);
        assert!(!f.get(&b).unwrap().has(COUNTED));
        assert!(matches!(f.sight(&key(&keyer, 3), false), Sight::NotMember));
        assert_eq!(f.take_demoted(), [a, b]);
        f.demote(key(&keyer, 3), 0, &["h3"], 0, 0, 0.0, false);
        f.new_scrape(2_000);
        assert!(f.take_demoted().is_empty(), "a new scrape forgets them");
        assert!(!f.seen(&a) && !f.seen(&b));
        check(&f);
    }

    #[test]
    fn members_age_on_the_clock_and_keep_their_age_across_windows() {
        let keyer = SeriesKeyer::random();
        let mut f = FoldedMembers::new(W);
        f.new_scrape(10 * W);
        let fresh = f.stamp(0);
        let old = f.stamp(W + W / 2);
        f.insert(key(&keyer, 1), 0, &["a"], 0, fresh, 0.0);
        f.insert(key(&keyer, 2), 0, &["b"], 0, old, 0.0);
        assert_eq!(f.expired(false), [key(&keyer, 2)]);
        assert_eq!(f.expired(true).len(), 2);
        let age = f.age_ms(f.get(&key(&keyer, 2)).unwrap());
        f.restamp(2 * W);
        let m = *f.get(&key(&keyer, 2)).unwrap();
        assert!(f.age_ms(&m) <= age && age - f.age_ms(&m) < f.clock().period_ms());
        assert!(f.expired(false).is_empty(), "inside the longer window");
        // Three windows of the new length on: both left, ages unwrapped.
        f.set_clock(13 * W);
        assert!(f.clock().age(m.epoch()) >= EXPIRED_AGE);
        assert_eq!(f.expired(false).len(), 2);
    }
}
