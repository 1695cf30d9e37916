//! Which WAL position is fully acknowledged: maps sample numbers (the
//! order in which the tailer hands samples to the dispatcher) back to the
//! WAL positions of the records they came from.
//!
//! The tailer calls [`Tracker::record_read`] after handing out each
//! record's samples, with the number of samples handed out so far and the
//! record's end position. The dispatcher calls [`Tracker::release`] with a
//! watermark: every sample numbered below it is finished. Batches finish out
//! of order across shards; the dispatcher's watermark is the lowest sample
//! number still held anywhere, so a record counts as done only when all of
//! its samples are, whichever shard finishes last.

use crate::tsdb::wal::Position;
use std::collections::VecDeque;

/// Record ends waiting for their samples to finish.
#[derive(Debug)]
pub struct Tracker {
    /// `(samples handed out up to and including this record, record end)`,
    /// ascending in both.
    pending: VecDeque<(u64, Position)>,
    committed: Position,
    released: u64,
}

impl Tracker {
    /// A tracker whose committed position starts at `start`.
    pub fn new(start: Position) -> Self {
        Tracker {
            pending: VecDeque::new(),
            committed: start,
            released: 0,
        }
    }

    /// A record ending at `end` was read; with its samples, `handed_out`
    /// samples have been handed out since the start.
    pub fn record_read(&mut self, handed_out: u64, end: Position) {
        if handed_out <= self.released {
            // Nothing of it (or before it) is outstanding.
            self.pending.clear();
            self.committed = self.committed.max(end);
            return;
        }
        match self.pending.back_mut() {
            // Records without samples of their own finish with the
            // record before them: keep one entry per sample count.
            Some(last) if last.0 == handed_out => last.1 = end,
            _ => self.pending.push_back((handed_out, end)),
        }
    }

    /// Every sample numbered below `upto` is finished. Returns the
    /// committed position.
    pub fn release(&mut self, upto: u64) -> Position {
        self.released = self.released.max(upto);
        while let Some(&(n, end)) = self.pending.front() {
            if n > self.released {
                break;
            }
            self.committed = self.committed.max(end);
            self.pending.pop_front();
        }
        self.committed
    }

    /// The position up to which every sample is finished.
    pub fn committed(&self) -> Position {
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segment: u32, offset: u64) -> Position {
        Position { segment, offset }
    }

    #[test]
    fn advances_only_past_whole_records() {
        let mut t = Tracker::new(p(0, 0));
        t.record_read(0, p(0, 50)); // a series record
        assert_eq!(t.committed(), p(0, 50));
        t.record_read(10, p(0, 100)); // samples 0..10
        t.record_read(10, p(0, 120)); // series record
        t.record_read(25, p(1, 8)); // samples 10..25
        assert_eq!(t.release(9), p(0, 50), "sample 9 is still out");
        assert_eq!(t.release(10), p(0, 120));
        assert_eq!(t.release(24), p(0, 120));
        assert_eq!(t.release(25), p(1, 8));
        // A late, lower watermark never moves it back.
        assert_eq!(t.release(3), p(1, 8));
        t.record_read(25, p(1, 30));
        assert_eq!(t.committed(), p(1, 30), "nothing outstanding");
    }

    #[test]
    fn out_of_order_finishing_is_the_dispatchers_watermark() {
        // Two shards: shard A holds samples 0..5 of record 1 and shard B
        // holds 5..10. B finishing first leaves the watermark at 0.
        let mut t = Tracker::new(p(3, 8));
        t.record_read(10, p(3, 200));
        assert_eq!(t.release(0), p(3, 8));
        assert_eq!(t.release(10), p(3, 200));
    }
}
