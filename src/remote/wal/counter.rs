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
use crate::tsdb::wal::{Position, SEGMENT_HEADER_LEN, WalError, WalReader, list_segments};
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
        let at_segment_start = start.offset <= SEGMENT_HEADER_LEN;
        self.start = Some((start, at_segment_start.then_some(0)));
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
        let mut reader =
            WalReader::new(dir.clone(), Position::start_of(s)).with_end(Position::start_of(s + 1));
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
