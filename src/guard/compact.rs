//! Compact members at work: a series merged into a folded series leaves
//! the labeled series table for the member table at the end of the scrape
//! that routed it there ([`TargetGuard::demote_members`]); from then on its
//! samples are merged by key ([`TargetGuard::merge_member`]) before any of
//! its labels are built; its labels are rebuilt from its folded series and
//! its tuple only when folds change or it leaves the window.

use super::emit::MergeState;
use super::engine::{MemberHit, TargetGuard};
use super::folded_members::Sight;
use super::hash::value_hash;
use super::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, Member};
use super::role::{Role, counts_events};
use super::table::{DropReason, NONE, Route};
use crate::labels::Labels;
use crate::series_key::SeriesKey;
use crate::value::is_stale_nan;

impl TargetGuard {
    /// Merges a sample of the scrape begun with [`TargetGuard::begin`] when
    /// its key is a compact member's; otherwise says so and the sample goes
    /// to [`TargetGuard::finish`] with its labels. `explicit_ts`: the
    /// target gave the sample a timestamp of its own.
    pub fn merge_member(&mut self, key: SeriesKey, value: f64, explicit_ts: bool) -> MemberHit {
        if is_stale_nan(value) {
            return MemberHit::NotMember;
        }
        let (pos, member) = match self.members.sight(&key, explicit_ts) {
            Sight::First(pos, member) => (pos, member),
            Sight::Duplicate => {
                self.scrape.duplicate();
                return MemberHit::Duplicate;
            }
            Sight::NotMember => return MemberHit::NotMember,
        };
        let mut st = MergeState {
            counted: member.has(COUNTED),
            has_value: member.has(HAS_VALUE),
            last_value: member.last_value,
        };
        self.scrape.merged();
        let Some((role, rank_fold)) = self
            .groups
            .get(member.group())
            .map(|g| (g.role, g.rank_fold))
        else {
            return MemberHit::Merged;
        };
        let increase = self.merge_sample(member.group(), role, &mut st, value);
        self.members
            .record(pos, st.counted, st.has_value, st.last_value);
        if let Some(inc) = increase
            && rank_fold != NONE
        {
            self.add_member_activity(&member, rank_fold, role, inc);
        }
        MemberHit::Merged
    }

    fn add_member_activity(&mut self, m: &Member, fold: u32, role: Role, inc: f64) {
        let Some(group) = self.groups.get(m.group()) else {
            return;
        };
        if !counts_events(group.labels.metric_name().unwrap_or(""), role) {
            return;
        }
        let Some(primary) = self
            .decisions
            .folds()
            .get(fold as usize)
            .map(|f| f.primary())
        else {
            return;
        };
        let value = self.member_value(m, primary).unwrap_or("").to_string();
        self.add_activity(fold, value_hash(&value), &value, inc);
    }

    /// A compact member's value of label `name`.
    pub(super) fn member_value<'a>(&'a self, m: &Member, name: &str) -> Option<&'a str> {
        let group = self.groups.get(m.group())?;
        match group.replaced.iter().position(|n| &**n == name) {
            Some(i) => self.members.values(m).get(i),
            None => group.labels.get(name),
        }
    }

    /// A compact member's labels: its folded series' labels with the
    /// replaced ones set to its tuple.
    pub(super) fn member_labels(&self, m: &Member) -> Labels {
        let Some(group) = self.groups.get(m.group()) else {
            return Labels::empty();
        };
        let mut b = group.labels.to_builder();
        for (name, value) in group.replaced.iter().zip(self.members.values(m)) {
            b.set(name, value);
        }
        b.into_labels()
    }

    /// Moves the series this scrape routed into folded series to the
    /// member table (those without a key stay labeled).
    pub(super) fn demote_members(&mut self) {
        let before = self.members.len();
        for i in 0..self.scrape.ids().len() {
            self.demote(self.scrape.id(i));
        }
        if self.members.len() > before {
            // The labeled table's room goes back now, not at the next sweep.
            self.series.compact();
        }
    }

    fn demote(&mut self, id: u32) {
        let Some(s) = self.series.get(id) else {
            return;
        };
        let (Route::Group(g), Some(key)) = (s.route, s.key) else {
            return;
        };
        let Some(group) = self.groups.get(g) else {
            return;
        };
        let values: Vec<&str> = group
            .replaced
            .iter()
            .map(|n| s.labels.get(n).unwrap_or(""))
            .collect();
        let mut flags = 0;
        for (flag, on) in [
            (EXPLICIT_TS, s.explicit_ts),
            (COUNTED, s.counted),
            (HAS_VALUE, s.has_value),
        ] {
            if on {
                flags |= flag;
            }
        }
        let epoch = self.epoch_of(s.last_seen_ms);
        let seen = s.seen_gen == self.generation;
        let (family, last_value) = (s.family, s.last_value);
        // Out of member group ids or tuple room, or a member already: the
        // series stays labeled.
        if self
            .members
            .demote(key, g, &values, flags, epoch, last_value, seen)
        {
            self.series.remove(id);
            if let Some(group) = self.groups.get_mut(g) {
                group.compact += 1;
                group.family = family;
            }
        }
    }

    /// Compact members that left the window go (`all`: every one of them,
    /// their epochs unread: the clock moved more than a window since the
    /// previous scrape, far enough for ages to wrap).
    pub(super) fn expire_members(&mut self, all: bool) {
        for key in self.members.expired(all) {
            self.remove_member(&key);
        }
        self.members.compact();
    }

    /// When member `m` was last seen, as a labeled series keeps it (the
    /// last millisecond of its epoch, or now: never older than it is).
    pub(super) fn last_seen_ms(&self, m: &Member) -> i64 {
        self.last_ts_ms.saturating_sub(self.members.age_ms(m))
    }

    /// The epoch of a member last seen at `last_seen_ms` (a labeled
    /// series' time: the same age on the member clock).
    pub(super) fn epoch_of(&self, last_seen_ms: i64) -> u8 {
        self.members
            .stamp(self.last_ts_ms.saturating_sub(last_seen_ms))
    }

    /// Removes a compact member (its statistics and counts with it).
    pub(super) fn remove_member(&mut self, key: &SeriesKey) -> Option<Member> {
        let m = *self.members.get(key)?;
        let labels = self.member_labels(&m);
        let family = self.groups.get(m.group()).map_or(0, |g| g.family);
        self.stats.remove_series(family, &labels);
        self.move_counts(
            Route::Group(m.group()),
            Route::Dropped(DropReason::Budget),
            true,
        );
        self.members.remove(key)
    }
}
