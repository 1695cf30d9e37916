//! Exact counts of the samples in WAL segments a tailer has not read yet,
//! so a skip over segments the WAL cap deleted is counted exactly.
//!
//! A tailer that cannot send (its endpoint holds `capacity` samples) is
//! idle; it uses that time to count the samples of the completed segments
//! ahead of it, one segment per idle turn. A segment deleted before it was
//! counted (deleted right after completing, or before a restart) is
//! estimated from its size instead, and the log says so.

use crate::tsdb::fs::Directory;
use crate::tsdb::record::{self, RecordType, RefSample};
use crate::tsdb::wal::{Position, WalError, WalReader, list_segments};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sample counts of whole segments.
#[derive(Debug, Default)]
pub(crate) struct SegmentCounts {
    counts: BTreeMap<u32, u64>,
    /// The segment the tailer started in, at an offset inside it, and the
    /// samples before that offset.
    start: Option<(Position, Option<u64>)>,
    scratch: Vec<RefSample>,
}

/// What a skip from a position to a later segment dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Samples counted exactly.
    pub counted: u64,
    /// Segments skipped whose samples were never counted.
    pub uncounted: Vec<u32>,
}

impl SegmentCounts {
    /// Remembers that the tailer started at `start` (samples before it in
    /// its segment are not skipped by a later skip).
    pub fn started_at(&mut self, start: Position) {
        self.start = Some((start, start.is_segment_start().then_some(0)));
    }

    /// Counts the next completed segment at or after `from` not counted
    /// yet. Returns whether there was one to count.
    pub fn count_next(&mut self, dir: &Arc<dyn Directory>, from: u32) -> Result<bool, WalError> {
        let segs = list_segments(&**dir)?;
        let Some(&newest) = segs.last() else {
            return Ok(false);
        };
        let Some(&s) = segs
            .iter()
            .find(|&&s| s >= from && s < newest && !self.counts.contains_key(&s))
        else {
            return Ok(false);
        };
        let start_in = self
            .start
            .filter(|(p, before)| p.segment == s && before.is_none())
            .map(|(p, _)| p);
        let mut reader = WalReader::segment(dir.clone(), s);
        let (mut total, mut before) = (0u64, 0u64);
        while let Some(rec) = reader.next_record()? {
            if !matches!(record::record_type(rec), Ok(RecordType::Samples)) {
                continue;
            }
            self.scratch.clear();
            // A record that does not decode is not sent either: not counted.
            if record::decode_samples(rec, &mut self.scratch).is_ok() {
                total += self.scratch.len() as u64;
                if start_in.is_some_and(|p| reader.position() <= p) {
                    before += self.scratch.len() as u64;
                }
            }
        }
        self.counts.insert(s, total);
        if let Some(p) = start_in {
            self.start = Some((p, Some(before)));
        }
        Ok(true)
    }

    /// The samples skipped going from `from` (where `read_in_segment`
    /// samples of `from.segment` were read since the tailer started or
    /// entered it) to the start of segment `to`.
    pub fn skipped(&self, from: Position, read_in_segment: u64, to: u32) -> Skipped {
        let mut out = Skipped {
            counted: 0,
            uncounted: Vec::new(),
        };
        for s in from.segment..to {
            let Some(&c) = self.counts.get(&s) else {
                out.uncounted.push(s);
                continue;
            };
            let mut done = 0;
            if s == from.segment {
                done = read_in_segment;
                if let Some((p, before)) = self.start
                    && p.segment == s
                {
                    match before {
                        Some(b) => done += b,
                        None => {
                            out.uncounted.push(s);
                            continue;
                        }
                    }
                }
            }
            out.counted += c.saturating_sub(done);
        }
        out
    }

    /// The segments counted, ascending.
    pub fn counted(&self) -> Vec<u32> {
        self.counts.keys().copied().collect()
    }

    /// Forgets segments below `first` (deleted).
    pub fn forget_before(&mut self, first: u32) {
        self.counts.retain(|&s, _| s >= first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::tsdb::fs::MemDirectory;
    use crate::tsdb::record::RefSeries;
    use crate::tsdb::wal::{SyncPolicy, Wal, WalOptions};

    /// A WAL of small segments: one series record, then samples records of
    /// 10 samples each. Returns the WAL and each samples record's end.
    fn wal(records: usize) -> (Arc<dyn Directory>, Wal, Vec<Position>) {
        let dir: Arc<dyn Directory> = MemDirectory::new();
        let opts = WalOptions {
            segment_size: 512,
            sync: SyncPolicy::Never,
        };
        let (mut wal, _) = Wal::open(dir.clone(), opts).unwrap();
        let mut buf = Vec::new();
        let series = [RefSeries {
            series: 1,
            labels: Labels::from_pairs([("__name__", "x")]),
        }];
        record::encode_series(&series, &mut buf);
        wal.log(&[&buf]).unwrap();
        let mut ends = Vec::new();
        for r in 0..records {
            let samples: Vec<RefSample> = (0..10)
                .map(|i| RefSample {
                    series: 1,
                    t: (r * 10 + i) as i64,
                    v: (r * 7919 + i) as f64,
                })
                .collect();
            buf.clear();
            record::encode_samples(&samples, &mut buf);
            ends.push(wal.log(&[&buf]).unwrap());
        }
        (dir, wal, ends)
    }

    #[test]
    fn counts_completed_segments_exactly() {
        let (dir, wal, ends) = wal(60);
        let (_, newest) = wal.segments();
        assert!(newest >= 3, "needs several segments, got {newest}");
        let mut c = SegmentCounts::default();
        c.started_at(Position::start_of(0));
        while c.count_next(&dir, 0).unwrap() {}
        assert_eq!(
            c.counted(),
            (0..newest).collect::<Vec<_>>(),
            "all but the newest"
        );
        // From the very start to segment `newest`: every sample before it.
        let before_newest = ends.iter().filter(|e| e.segment < newest).count() as u64 * 10;
        assert_eq!(
            c.skipped(Position::start_of(0), 0, newest).counted,
            before_newest
        );
        // From the middle of segment 1, having read 3 records of it.
        let in_seg1 = ends.iter().filter(|e| e.segment == 1).count() as u64 * 10;
        let s = c.skipped(
            Position {
                segment: 1,
                offset: 100,
            },
            30,
            2,
        );
        assert_eq!(
            s,
            Skipped {
                counted: in_seg1 - 30,
                uncounted: vec![]
            }
        );
        // The newest segment is not complete: never counted.
        let s = c.skipped(Position::start_of(newest), 0, newest + 1);
        assert_eq!(s.uncounted, vec![newest]);
        c.forget_before(2);
        assert_eq!(c.counted()[0], 2);
    }

    #[test]
    fn a_start_inside_a_segment_subtracts_what_came_before_it() {
        let (dir, _wal, ends) = wal(60);
        // Start after the second samples record of segment 1.
        let in_seg1: Vec<Position> = ends.iter().copied().filter(|e| e.segment == 1).collect();
        assert!(
            in_seg1.len() >= 3,
            "segment 1 holds {} records",
            in_seg1.len()
        );
        let start = in_seg1[1];
        let mut c = SegmentCounts::default();
        c.started_at(start);
        while c.count_next(&dir, 1).unwrap() {}
        // Read one more record, then skip to segment 2.
        let s = c.skipped(in_seg1[2], 10, 2);
        assert_eq!(s.counted, (in_seg1.len() as u64 - 3) * 10);
        // Not counted yet: the start segment's part is unknown.
        let mut fresh = SegmentCounts::default();
        fresh.started_at(start);
        assert_eq!(fresh.skipped(start, 0, 2).uncounted, vec![1]);
    }
}
