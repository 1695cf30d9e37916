//! A live guard's tuples and folded members read out for the state file
//! (`docs/format/guard-state.md`) without copying the member table: the
//! saver encodes each member as it is visited, in one pass over the table
//! in its own order.
//!
//! Why not in tuple order, which the file's tuple delta favours (one byte
//! for a run of members of one tuple, 2 to 3 in table order, so 1 to 2
//! bytes per member more): putting members in tuple order takes passes
//! over the table and scratch beside it, all under the guard's lock, and
//! costs more time than the encoding itself and about as much heap as the
//! larger file (the measurement: `docs/guard.md`, "How we got here").

use super::MemberState;
use crate::guard::engine::TargetGuard;
use crate::guard::members::{COUNTED, EXPLICIT_TS, HAS_VALUE, Member};
use crate::guard::table::NONE;
use crate::guard::tuples::TupleValues;
use crate::series_key::SeriesKey;

/// How a guard's slots are numbered in its exported state.
#[derive(Debug)]
pub(in crate::guard) struct ExportIndex {
    /// Group slot → position in the state's groups (`NONE`: not exported).
    pub groups: Vec<u32>,
    /// Tuple slot → position in the state's tuples (`NONE`: none there).
    tuple_pos: Vec<u32>,
    /// Tuples exported.
    tuple_count: usize,
}

impl ExportIndex {
    /// Tuples exported.
    pub(in crate::guard) fn tuples(&self) -> usize {
        self.tuple_count
    }
}

impl TargetGuard {
    /// The numbering of groups and tuples in the exported state: live ones
    /// densely, in slot order.
    pub(in crate::guard) fn export_index(&self) -> ExportIndex {
        let mut groups = vec![NONE; self.groups.slot_count()];
        for (n, (id, _)) in self.groups.iter().enumerate() {
            groups[id as usize] = n as u32;
        }
        let mut tuple_pos = Vec::new();
        let mut tuple_count = 0;
        for (id, _) in self.members.tuples() {
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
    pub(in crate::guard) fn tuple_values(&self) -> impl Iterator<Item = TupleValues<'_>> {
        self.members.tuples().map(|(_, values)| values)
    }

    /// Gives `visit` every exported member (those of a live folded series
    /// and tuple: all of them while the guard keeps its tables
    /// consistent), in table order, each built on the stack from the
    /// table's entry; returns how many. One pass over the member table.
    pub(in crate::guard) fn walk_members(
        &self,
        ix: &ExportIndex,
        mut visit: impl FnMut(&MemberState),
    ) -> usize {
        let mut n = 0;
        for (key, m) in self.members.iter() {
            if let Some(state) = self.exported_member(ix, key, m) {
                visit(&state);
                n += 1;
            }
        }
        n
    }

    /// How many members [`TargetGuard::walk_members`] gives (the state
    /// file lists their count before them). One pass over the member
    /// table.
    pub(in crate::guard) fn count_members(&self, ix: &ExportIndex) -> usize {
        self.members
            .iter()
            .filter(|(key, m)| self.exported_member(ix, key, m).is_some())
            .count()
    }

    /// Member `m` as exported, if its folded series and tuple are.
    #[inline]
    fn exported_member(
        &self,
        ix: &ExportIndex,
        key: &SeriesKey,
        m: &Member,
    ) -> Option<MemberState> {
        let group = ix.groups.get(m.group() as usize).copied().unwrap_or(NONE);
        let tuple = ix
            .tuple_pos
            .get(m.tuple() as usize)
            .copied()
            .unwrap_or(NONE);
        let folded = self.groups.get(m.group())?;
        if group == NONE || tuple == NONE {
            return None;
        }
        Some(MemberState {
            key: key.as_u128(),
            group,
            tuple,
            family: folded.family,
            role: folded.role,
            explicit_ts: m.has(EXPLICIT_TS),
            counted: m.has(COUNTED),
            has_value: m.has(HAS_VALUE),
            last_value: m.last_value,
            last_seen_ms: self.last_seen_ms(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::persist::{self, Encoder, saved_state};
    use crate::guard::state::{GroupState, GuardState};
    use crate::guard::{GuardSettings, Role};
    use crate::labels::Labels;
    use std::collections::HashMap;
    use std::sync::Arc;

    const TS: i64 = 1_000_000;

    /// A state of `tuples` tuples with `per_tuple(t)` members each, listed
    /// in a scrambled order.
    fn state(tuples: u32, per_tuple: impl Fn(u32) -> u32) -> GuardState {
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
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut members = Vec::new();
        for t in 0..tuples {
            for i in 0..per_tuple(t) {
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
            tuples: (0..tuples).map(|t| vec![format!("h{t}")]).collect(),
            members,
        }
    }

    /// Tuples of 0 to 8 members and one of 20,000.
    fn mixed() -> GuardState {
        state(6000, |t| if t == 0 { 20_000 } else { t % 9 })
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
    fn every_member_comes_once() {
        let saved = mixed();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let exported = saved_state(&guard);
        assert_eq!(exported.members.len(), saved.members.len());
        assert_eq!(by_key(&exported), by_key(&saved));
    }

    /// The length of the state file of the guard restored from `state`.
    fn file_len(state: &GuardState) -> usize {
        let guard = TargetGuard::restore(state.settings.clone(), state).expect("restores");
        let mut enc = Encoder::new();
        enc.add_guard("j", "u", &Labels::from_pairs([("job", "j")]), &guard);
        enc.into_bytes().len()
    }

    /// Members in table order cost the file at most 2 bytes each more than
    /// in tuple order (up to ~a million tuples), the tuple delta's bytes.
    /// (A restored guard's table holds its members in the state's order.)
    #[test]
    fn table_order_costs_at_most_two_bytes_per_member() {
        for (name, mut saved) in [
            ("mixed", mixed()),
            ("25 per tuple", state(2000, |_| 25)),
            ("one per tuple", state(50_000, |_| 1)),
        ] {
            let table = file_len(&saved);
            saved.members.sort_by_key(|m| m.tuple);
            let sorted = file_len(&saved);
            let n = saved.members.len();
            let extra = (table - sorted) as f64 / n as f64;
            println!("{name}: {n} members, {extra:.2} bytes each for table order");
            assert!(extra <= 2.0, "{name}: {extra}");
        }
    }

    #[test]
    fn a_live_guard_encodes_every_member_and_reads_back_as_it_was() {
        let saved = mixed();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let labels = Labels::from_pairs([("job", "j")]);
        let mut enc = Encoder::new();
        enc.add_guard("j", "http://t/metrics", &labels, &guard);
        enc.add_guard("j", "http://u/metrics", &labels, &guard);
        assert_eq!((enc.targets(), enc.members()), (2, 2 * saved.members.len()));
        let len = enc.file_len();
        let live = enc.into_bytes();
        assert_eq!(live.len(), len);
        let back = persist::decode("state", &live).expect("decodes");
        assert_eq!(back[0].url, "http://t/metrics");
        assert_eq!(back[1].url, "http://u/metrics");
        assert_eq!(back[1].state, back[0].state);
        assert_eq!(by_key(&back[1].state), by_key(&saved));
    }

    #[test]
    fn a_save_as_it_is_encoded_replaces_the_file_whole_or_not_at_all() {
        use crate::guard::persist::{STATE_FILE, StateError};
        use crate::tsdb::fs::{Directory, MemDirectory};
        let saved = mixed();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let labels = Labels::from_pairs([("job", "j")]);
        let save = |dir: &dyn Directory| {
            let mut enc = Encoder::create(dir, STATE_FILE)?;
            enc.add_guard("j", "http://t/metrics", &labels, &guard);
            enc.finish()
        };
        let old = Encoder::new().into_bytes();
        let len = {
            let mut enc = Encoder::new();
            enc.add_guard("j", "http://t/metrics", &labels, &guard);
            enc.file_len() as u64
        };
        assert!(len > 1 << 20, "written in many buffers: {len}");
        let dir = MemDirectory::new();
        persist::write(&*dir, STATE_FILE, &old).expect("write");
        // A write failing halfway leaves the old file.
        dir.set_write_budget(Some(len / 2));
        let err = save(&*dir).expect_err("fails");
        assert!(matches!(err, StateError::Fs { .. }), "{err}");
        assert_eq!(&*dir.map(STATE_FILE).expect("old file"), &old[..]);
        // A crash halfway: the restarted process finds the old file.
        dir.set_write_budget(None);
        dir.crash_after(len / 2);
        assert!(save(&*dir).is_err());
        let after = dir.snapshot();
        assert_eq!(&*after.map(STATE_FILE).expect("old file"), &old[..]);
        // Written whole: the new state.
        let written = save(&*after).expect("write");
        assert_eq!(written as u64, len);
        let back = persist::read(&*after, STATE_FILE)
            .expect("reads")
            .expect("file");
        assert_eq!(back[0].state, saved_state(&guard));
    }

    #[test]
    fn a_save_holds_its_symbols_and_a_buffer_not_the_file() {
        use crate::guard::persist::STATE_FILE;
        use crate::tsdb::fs::{Directory, MemDirectory};
        let saved = mixed();
        let guard = TargetGuard::restore(saved.settings.clone(), &saved).expect("restores");
        let labels = Labels::from_pairs([("job", "j")]);
        let dir = MemDirectory::new();
        let mut enc = Encoder::create(&*dir, STATE_FILE).expect("create");
        enc.add_guard("j", "http://t/metrics", &labels, &guard);
        // Before the end, all of the targets but the last buffer (64 KiB)
        // are in the file already: only the symbol table and the footer
        // wait.
        let len = enc.file_len() as u64;
        let written = dir.len("state.tmp").expect("tmp");
        assert_eq!(enc.finish().expect("finish") as u64, len);
        assert_eq!(dir.len(STATE_FILE).expect("state"), len);
        assert!(!dir.exists("state.tmp").expect("exists"));
        let file = dir.map(STATE_FILE).expect("state");
        let footer = file.len() - 28;
        let mut symbols_offset = [0u8; 8];
        symbols_offset.copy_from_slice(&file[footer..footer + 8]);
        let targets_end = u64::from_le_bytes(symbols_offset);
        assert!(targets_end > 1 << 20, "{targets_end}");
        assert!(
            written <= targets_end && targets_end - written < 64 << 10,
            "{written} of {targets_end} bytes of targets written before the end"
        );
    }
}
