//! A live guard's tuples and folded members read out in the order the
//! state file lists them (`docs/format/guard-state.md`), without copying
//! the member table: the saver encodes each member as it is visited.
//!
//! The file codes a member's tuple as a delta from the previous member's,
//! so members of one tuple should come together (one byte each for the
//! tuple instead of two or three). The member table is a hash table in key
//! order, so the walk orders by tuple in bounded scratch: one counting pass
//! (a `u32` per tuple), then the tuples in ranges of at most
//! [`bucket_cap`] members, each range one pass over the table placing its
//! members' references by counting sort (24 bytes each) and visiting them.
//! A range of one tuple needs no placing: its members are visited as the
//! pass meets them. Scratch is at most `max(16Ki, n/8) × 24` bytes (about
//! 3 bytes per member) and the table is passed at most ~9 times (n/8 per
//! range, plus the count).

use super::engine::TargetGuard;
use super::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, Member};
use super::state::MemberState;
use super::table::{Group, NONE};
use crate::series_key::SeriesKey;

/// Where [`TargetGuard::walk_members`] puts the members.
pub(super) trait MemberSink {
    /// How many members follow.
    fn count(&mut self, n: usize);
    /// The next member.
    fn member(&mut self, m: &MemberState);
}

impl MemberSink for Vec<MemberState> {
    fn count(&mut self, n: usize) {
        self.reserve_exact(n);
    }

    fn member(&mut self, m: &MemberState) {
        self.push(m.clone());
    }
}

/// Members placed per pass at least (so a small table takes one or two).
const MIN_BUCKET: usize = 16 << 10;
/// Passes over the table (besides the count) a large table takes, about.
const PASSES: usize = 8;

/// How a guard's slots are numbered in its exported state.
#[derive(Debug)]
pub(super) struct ExportIndex {
    /// Group slot → position in the state's groups (`NONE`: not exported).
    pub groups: Vec<u32>,
    /// Tuple slot → position in the state's tuples (`NONE`: none there).
    tuple_pos: Vec<u32>,
    /// Tuples exported.
    tuple_count: usize,
}

impl ExportIndex {
    /// Tuples exported.
    pub(super) fn tuples(&self) -> usize {
        self.tuple_count
    }
}

/// Members placed in one pass at most.
fn bucket_cap(members: usize) -> usize {
    MIN_BUCKET.max(members.div_ceil(PASSES))
}

impl TargetGuard {
    /// The numbering of groups and tuples in the exported state: live ones
    /// densely, in slot order.
    pub(super) fn export_index(&self) -> ExportIndex {
        let mut groups = vec![NONE; self.groups.slot_count()];
        for (n, (id, _)) in self.groups.iter().enumerate() {
            groups[id as usize] = n as u32;
        }
        let mut tuple_pos = Vec::new();
        let mut tuple_count = 0;
        for (id, _) in self.tuples.iter() {
            let id = id as usize;
            if tuple_pos.len() <= id {
                tuple_pos.resize(id + 1, NONE);
            }
            tuple_pos[id] = tuple_count as u32;
            tuple_count += 1;
        }
        ExportIndex {
            groups,
            tuple_pos,
            tuple_count,
        }
    }

    /// The values of every exported tuple, in their exported order.
    pub(super) fn tuple_values(&self) -> impl Iterator<Item = &[Box<str>]> {
        self.tuples.iter().map(|(_, t)| &*t.values)
    }

    /// Member `m`'s exported tuple position and folded series, when it is
    /// exported at all.
    fn exported(&self, ix: &ExportIndex, m: &Member) -> Option<(u32, &Group)> {
        let group = *ix.groups.get(m.group as usize)?;
        let tuple = *ix.tuple_pos.get(m.tuple as usize)?;
        let folded = self.groups.get(m.group)?;
        (group != NONE && tuple != NONE).then_some((tuple, folded))
    }

    /// Member `m` as the state lists it, given what [`Self::exported`]
    /// found.
    fn member_state(
        ix: &ExportIndex,
        key: SeriesKey,
        m: &Member,
        (tuple, folded): (u32, &Group),
    ) -> MemberState {
        MemberState {
            key: key.as_u128(),
            group: ix.groups[m.group as usize],
            tuple,
            family: folded.family,
            role: folded.role,
            explicit_ts: m.has(EXPLICIT_TS),
            counted: m.has(COUNTED),
            has_value: m.has(HAS_VALUE),
            last_value: m.last_value,
            last_seen_ms: m.last_seen_ms,
        }
    }

    /// Exported members per exported tuple.
    fn member_counts(&self, ix: &ExportIndex) -> Vec<u32> {
        let mut counts = vec![0u32; ix.tuple_count];
        for (_, m) in self.members.iter() {
            if let Some((t, _)) = self.exported(ix, m) {
                counts[t as usize] += 1;
            }
        }
        counts
    }

    /// Tells `sink` how many members are exported, then gives it each in
    /// tuple order (within a tuple in table order); returns how many. See
    /// the module docs for the cost.
    pub(super) fn walk_members(&self, ix: &ExportIndex, sink: &mut impl MemberSink) -> usize {
        let counts = self.member_counts(ix);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        sink.count(total);
        let cap = bucket_cap(total);
        let mut bucket: Vec<Option<(SeriesKey, &Member)>> = Vec::new();
        let mut offsets: Vec<u32> = Vec::new();
        let mut lo = 0usize;
        while lo < counts.len() {
            // The range [lo, hi): one tuple, or as many as fit in `cap`.
            let mut hi = lo + 1;
            let mut n = counts[lo] as usize;
            while hi < counts.len() && n + counts[hi] as usize <= cap {
                n += counts[hi] as usize;
                hi += 1;
            }
            if n == 0 {
                lo = hi;
                continue;
            }
            let in_range = |m: &Member| {
                self.exported(ix, m)
                    .filter(|&(t, _)| (lo..hi).contains(&(t as usize)))
            };
            if hi == lo + 1 {
                for (key, m) in self.members.iter() {
                    if let Some(e) = in_range(m) {
                        sink.member(&Self::member_state(
                            ix,
                            SeriesKey::from_u128(key.as_u128()),
                            m,
                            e,
                        ));
                    }
                }
            } else {
                offsets.clear();
                let mut at = 0u32;
                for &c in &counts[lo..hi] {
                    offsets.push(at);
                    at += c;
                }
                bucket.clear();
                bucket.resize(n, None);
                for (key, m) in self.members.iter() {
                    if let Some((t, _)) = in_range(m) {
                        let o = &mut offsets[t as usize - lo];
                        bucket[*o as usize] = Some((SeriesKey::from_u128(key.as_u128()), m));
                        *o += 1;
                    }
                }
                for &(key, m) in bucket.iter().flatten() {
                    if let Some(e) = self.exported(ix, m) {
                        sink.member(&Self::member_state(ix, key, m, e));
                    }
                }
            }
            lo = hi;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::persist::{self, Encoder, TargetState};
    use crate::guard::state::{GroupState, GuardState};
    use crate::guard::{GuardSettings, Role};
    use crate::labels::Labels;
    use std::collections::HashMap;
    use std::sync::Arc;

    const TS: i64 = 1_000_000;

    /// A state whose first tuple has more members than a pass places (a
    /// range of its own) and whose other tuples, 0 to 8 members each, take
    /// several passes; members listed in no particular order.
    fn state() -> GuardState {
        let groups = (0..2)
            .map(|g| GroupState {
                labels: Arc::new(Labels::from_pairs([
                    ("__name__", "requests_total"),
                    ("code", if g == 0 { "200" } else { "500" }),
                    ("host", "__overflow__"),
                ])),
                role: Role::Cumulative,
                folded: true,
                value: 0.0,
                replaced: vec!["host".into()],
            })
            .collect();
        let tuples: Vec<Vec<String>> = (0..6000).map(|t| vec![format!("h{t}")]).collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut members = Vec::new();
        for (t, n) in (0..6000u32).map(|t| (t, if t == 0 { 20_000 } else { t % 9 })) {
            for i in 0..n {
                members.push(MemberState {
                    key: u128::from(next()) << 64 | u128::from(next()),
                    group: i % 2,
                    tuple: t,
                    family: 0,
                    role: Role::Cumulative,
                    explicit_ts: false,
                    counted: true,
                    has_value: true,
                    last_value: f64::from(i),
                    last_seen_ms: TS,
                });
            }
        }
        // Listed in a scrambled order.
        for i in (1..members.len()).rev() {
            members.swap(i, next() as usize % (i + 1));
        }
        GuardState {
            settings: GuardSettings::default(),
            last_ts_ms: TS,
            last_sweep_ms: Some(TS),
            unresolved: None,
            families: vec!["requests_total".into()],
            folds: Vec::new(),
            groups,
            series: Vec::new(),
            emitted: Vec::new(),
            growth: Vec::new(),
            key_secret: Some([3; 16]),
            tuples,
            members,
        }
    }

    /// Each member by key: its tuple's values, group and value.
    fn by_key(s: &GuardState) -> HashMap<u128, (Vec<String>, u32, u64)> {
        s.members
            .iter()
            .map(|m| {
                let t = s.tuples[m.tuple as usize].clone();
                (m.key, (t, m.group, m.last_value.to_bits()))
            })
            .collect()
    }

    #[test]
    fn members_come_in_tuple_order_all_of_them_once() {
        let saved = state();
        let total = saved.members.len();
        assert!(total > 2 * bucket_cap(total), "several passes: {total}");
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let exported = guard.export_state();
        assert_eq!(exported.members.len(), total);
        assert!(
            exported
                .members
                .windows(2)
                .all(|w| w[0].tuple <= w[1].tuple),
            "tuple order"
        );
        assert_eq!(by_key(&exported), by_key(&saved));
    }

    #[test]
    fn a_live_guard_encodes_as_its_exported_state_does() {
        let saved = state();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let labels = Labels::from_pairs([("job", "j")]);
        let mut enc = Encoder::new();
        enc.add_guard("j", "http://t/metrics", &labels, &guard);
        enc.add_guard("j", "http://u/metrics", &labels, &guard);
        assert_eq!((enc.targets(), enc.members()), (2, 2 * saved.members.len()));
        let len = enc.file_len();
        let live = enc.into_bytes();
        assert_eq!(live.len(), len);
        let state = guard.export_state();
        let listed = persist::encode(&[
            TargetState {
                job: "j".into(),
                url: "http://t/metrics".into(),
                labels: labels.clone(),
                state: state.clone(),
            },
            TargetState {
                job: "j".into(),
                url: "http://u/metrics".into(),
                labels: labels.clone(),
                state: state.clone(),
            },
        ]);
        assert_eq!(live, listed);
        let back = persist::decode("state", &live).expect("decodes");
        assert_eq!(back[1].state, state);
    }

    #[test]
    fn a_save_in_pieces_replaces_the_file_whole_or_not_at_all() {
        use crate::guard::persist::{STATE_FILE, StateError};
        use crate::tsdb::fs::{Directory, MemDirectory};
        let saved = state();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let labels = Labels::from_pairs([("job", "j")]);
        let encoder = || {
            let mut enc = Encoder::new();
            enc.add_guard("j", "http://t/metrics", &labels, &guard);
            enc
        };
        let old = persist::encode(&[]);
        let len = encoder().file_len() as u64;
        assert!(len > 1 << 20, "written in several chunks: {len}");
        let dir = MemDirectory::new();
        persist::write(&*dir, STATE_FILE, &old).expect("write");
        // A write failing halfway leaves the old file.
        dir.set_write_budget(Some(len / 2));
        let err = encoder().write(&*dir, STATE_FILE).expect_err("fails");
        assert!(matches!(err, StateError::Fs { .. }), "{err}");
        assert_eq!(&*dir.map(STATE_FILE).expect("old file"), &old[..]);
        // A crash halfway: the restarted process finds the old file.
        dir.set_write_budget(None);
        dir.crash_after(len / 2);
        assert!(encoder().write(&*dir, STATE_FILE).is_err());
        let after = dir.snapshot();
        assert_eq!(&*after.map(STATE_FILE).expect("old file"), &old[..]);
        // Written whole: the new state.
        let written = encoder().write(&*after, STATE_FILE).expect("write");
        assert_eq!(written as u64, len);
        let back = persist::read(&*after, STATE_FILE)
            .expect("reads")
            .expect("file");
        assert_eq!(back[0].state, guard.export_state());
    }
}
