//! [`MemSeries`]: what the head keeps per series besides its labels (which
//! live in the head index): the open chunk, where its full chunks are, and
//! the last sample for ordering checks.

use crate::tsdb::chunkenc::{ChunkError, XorChunk};
use crate::tsdb::chunks::ChunkRef;

/// A full chunk of a head series, written to the head chunk files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MappedChunk {
    /// Where the chunk is in the head chunk files.
    pub chunk_ref: ChunkRef,
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
}

/// One head series.
#[derive(Debug)]
pub(crate) struct MemSeries {
    /// Creation sequence number: a [`super::SeriesRef`] carries it, so a
    /// ref to a removed series whose id was reused is recognised.
    pub seq: u32,
    /// Whether its series record is in the WAL.
    pub logged: bool,
    /// Appenders holding a ref to it that have not committed yet; a head
    /// cut does not remove a series while this is non-zero.
    pub pending: u32,
    /// Full chunks, oldest first.
    pub mapped: Vec<MappedChunk>,
    /// The chunk being appended to.
    pub open: Option<XorChunk>,
    /// The open chunk must not take samples at or after this time (the end
    /// of its block range), so no chunk straddles a block boundary.
    pub open_until: i64,
    /// Timestamp of the last sample (`i64::MIN` before the first).
    pub last_t: i64,
    /// Bits of the last sample's value.
    pub last_v: u64,
}

/// What appending one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The sample is newer than the last one: it goes in.
    Accept,
    /// Same timestamp and same value bits as the last sample: a no-op.
    Duplicate,
    /// Older than the last sample, or the same timestamp with another value.
    OutOfOrder,
}

impl MemSeries {
    /// A series with no samples.
    pub fn new(seq: u32) -> Self {
        MemSeries {
            seq,
            logged: false,
            pending: 0,
            mapped: Vec::new(),
            open: None,
            open_until: i64::MIN,
            last_t: i64::MIN,
            last_v: 0,
        }
    }

    /// Whether `(t, v)` may follow the last sample.
    pub fn admit(&self, t: i64, v: f64) -> Admission {
        if t > self.last_t || self.last_t == i64::MIN {
            Admission::Accept
        } else if t == self.last_t && v.to_bits() == self.last_v {
            Admission::Duplicate
        } else {
            Admission::OutOfOrder
        }
    }

    /// Whether the open chunk must be closed before `t` goes in.
    pub fn needs_cut(&self, t: i64) -> bool {
        match &self.open {
            None => false,
            Some(c) => c.is_full() || t >= self.open_until,
        }
    }

    /// Appends to the open chunk (starting one if needed, ending at
    /// `range_end`). The caller has cut a full chunk away first.
    pub fn append(&mut self, t: i64, v: f64, range_end: i64) -> Result<(), ChunkError> {
        let chunk = match &mut self.open {
            Some(c) => c,
            None => {
                self.open_until = range_end;
                self.open.insert(XorChunk::new())
            }
        };
        chunk.append(t, v)?;
        self.last_t = t;
        self.last_v = v.to_bits();
        Ok(())
    }

    /// Oldest sample time held (mapped or open).
    pub fn min_time(&self) -> Option<i64> {
        self.mapped
            .first()
            .map(|c| c.min_time)
            .or_else(|| self.open.as_ref()?.time_range().map(|r| r.0))
    }

    /// Whether the series holds no samples.
    pub fn is_empty(&self) -> bool {
        self.mapped.is_empty() && self.open.as_ref().is_none_or(XorChunk::is_empty)
    }

    /// Drops every chunk ending before `t`; returns how many went.
    pub fn truncate_before(&mut self, t: i64) -> usize {
        let before = self.mapped.len();
        self.mapped.retain(|c| c.max_time >= t);
        let mut dropped = before - self.mapped.len();
        if let Some((_, max)) = self.open.as_ref().and_then(XorChunk::time_range)
            && max < t
        {
            self.open = None;
            dropped += 1;
        }
        dropped
    }

    /// Heap bytes held (estimate: the open chunk's buffer and the chunk
    /// list).
    pub fn heap_bytes(&self) -> usize {
        self.mapped.capacity() * std::mem::size_of::<MappedChunk>()
            + self.open.as_ref().map_or(0, |c| c.bytes().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_follows_prometheus() {
        let mut s = MemSeries::new(0);
        assert_eq!(s.admit(-5, 1.0), Admission::Accept);
        s.append(10, 1.0, 100).unwrap();
        assert_eq!(s.admit(11, 0.0), Admission::Accept);
        assert_eq!(s.admit(10, 1.0), Admission::Duplicate);
        assert_eq!(s.admit(10, 2.0), Admission::OutOfOrder);
        assert_eq!(s.admit(9, 1.0), Admission::OutOfOrder);
    }

    #[test]
    fn chunks_end_at_their_range() {
        let mut s = MemSeries::new(0);
        s.append(10, 1.0, 100).unwrap();
        assert!(!s.needs_cut(99));
        assert!(s.needs_cut(100));
        assert_eq!(s.min_time(), Some(10));
        assert_eq!(s.truncate_before(11), 1);
        assert!(s.is_empty());
    }
}
