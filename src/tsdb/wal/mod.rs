//! The write-ahead log: segmented files of checksummed, snappy-compressed
//! records over a [`Directory`](crate::tsdb::fs::Directory).
//!
//! The WAL frames opaque byte records; it knows nothing of what they mean
//! (see [`record`](crate::tsdb::record) for that). The on-disk format is
//! specified in `docs/format/wal.md`.
//!
//! - [`Wal::open`] repairs a torn last record, then hands back a writer and a
//!   [`WalReader`] that replays every record present at open time.
//! - [`Wal::log`] appends a batch of records and returns the WAL's end
//!   [`Position`]; the [`SyncPolicy`] decides when that is fsynced.
//! - [`WalReader::new`] reads from any position and can follow the WAL as it
//!   grows (remote write tails it from a durable position).
//! - Corruption stops reading with [`WalError::Corrupt`] naming segment and
//!   offset; [`Wal::repair`] keeps everything before it.
//!
//! ```
//! use levee::tsdb::fs::MemDirectory;
//! use levee::tsdb::wal::{Wal, WalOptions};
//!
//! let dir = MemDirectory::new();
//! let (mut wal, mut replay) = Wal::open(dir.clone(), WalOptions::default()).unwrap();
//! assert!(replay.next_record().unwrap().is_none()); // a new WAL is empty
//! wal.log(&[b"first", b"second"]).unwrap();
//! wal.close().unwrap();
//!
//! let (_wal, mut replay) = Wal::open(dir, WalOptions::default()).unwrap();
//! assert_eq!(replay.next_record().unwrap(), Some(&b"first"[..]));
//! assert_eq!(replay.next_record().unwrap(), Some(&b"second"[..]));
//! assert_eq!(replay.next_record().unwrap(), None);
//! ```

mod error;
mod frame;
mod observer;
mod reader;
mod repair;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

pub use error::{Corruption, WalError};
pub use observer::WalObserver;
pub use reader::WalReader;
pub use repair::{RepairReport, repair};
use segment::SEGMENT_HEADER_LEN;
pub use segment::{WAL_VERSION, list_segments, segment_name};
pub use writer::{Wal, WalStats};

use std::fmt;
use std::time::Duration;

/// Largest record (before compression) the WAL writes or reads: 64 MiB.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Default segment size: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// A place in the WAL: a byte offset in a segment file. Positions the WAL
/// reports are record ends, i.e. where the next record starts. Offset 0
/// means the start of the segment (the same as the offset just past the
/// segment's header): ask [`Position::is_segment_start`] and
/// [`Position::bytes_to`] rather than reading offsets, which count the
/// header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment index.
    pub segment: u32,
    /// Byte offset in the segment file.
    pub offset: u64,
}

impl Position {
    /// The start of `segment`.
    pub fn start_of(segment: u32) -> Self {
        Position { segment, offset: 0 }
    }

    /// Whether no record of its segment lies before this position.
    pub fn is_segment_start(self) -> bool {
        self.offset <= SEGMENT_HEADER_LEN
    }

    /// Bytes of records from here to `end` (0 when `end` is not after
    /// here): the rest of this segment, the segments in between, and `end`'s
    /// segment up to `end`. `segment_len` gives a segment file's length (as
    /// the directory reports it, or an estimate for one already deleted).
    pub fn bytes_to(self, end: Position, mut segment_len: impl FnMut(u32) -> u64) -> u64 {
        let from = self.offset.max(SEGMENT_HEADER_LEN);
        if self.segment >= end.segment {
            return if self.segment == end.segment {
                end.offset.saturating_sub(from)
            } else {
                0
            };
        }
        let first = segment_len(self.segment).saturating_sub(from);
        let between: u64 = (self.segment + 1..end.segment)
            .map(|s| segment_len(s).saturating_sub(SEGMENT_HEADER_LEN))
            .sum();
        first + between + end.offset.saturating_sub(SEGMENT_HEADER_LEN)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// When [`Wal::log`] fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every [`Wal::log`] call: a logged batch is durable when `log`
    /// returns.
    Always,
    /// At the first [`Wal::log`] call at least this long after the last
    /// sync. Nothing syncs an idle WAL on its own: call [`Wal::sync`] from
    /// a timer to bound the loss window when writes stop.
    Interval(Duration),
    /// Only when a segment is completed and on [`Wal::sync`] /
    /// [`Wal::close`]; otherwise the OS decides.
    Never,
}

/// How a [`Wal`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is completed when the next record would take it past this
    /// many bytes (a larger record gets a segment of its own).
    pub segment_size: u64,
    /// When to fsync.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}
