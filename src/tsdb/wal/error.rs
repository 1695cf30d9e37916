//! Errors of the write-ahead log.

use crate::tsdb::fs::FsError;

use super::Position;

/// What is wrong with a damaged record frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The frame header's checksum does not match.
    #[error("frame header checksum mismatch: expected {expected:#010x}, got {got:#010x}")]
    HeaderChecksum {
        /// Checksum stored in the frame.
        expected: u32,
        /// Checksum of the bytes read.
        got: u32,
    },
    /// The payload's checksum does not match.
    #[error("payload checksum mismatch: expected {expected:#010x}, got {got:#010x}")]
    PayloadChecksum {
        /// Checksum stored in the frame.
        expected: u32,
        /// Checksum of the bytes read.
        got: u32,
    },
    /// The frame's payload kind is unknown.
    #[error("unknown payload kind {got} (expected 1 = snappy)")]
    UnknownKind {
        /// The kind byte read.
        got: u8,
    },
    /// The frame claims a payload larger than any record.
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length claimed (stored or decompressed).
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The payload does not decompress.
    #[error("snappy: {0}")]
    Snappy(#[source] snap::Error),
    /// The payload decompresses to another length than its snappy header
    /// says.
    #[error("snappy: decompressed {got} bytes, header said {expected}")]
    SnappyLength {
        /// The length in the snappy header.
        expected: usize,
        /// The length decompressed.
        got: usize,
    },
    /// A segment that is not the newest ends inside a frame.
    #[error("segment ends inside a record but a newer segment exists")]
    TornInOldSegment,
}

/// An error of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// The underlying directory failed.
    #[error("wal: {0}")]
    Fs(#[from] FsError),
    /// A damaged record: reading stops here. [`Wal::repair`](super::Wal::repair)
    /// at [`WalError::position`] keeps everything before it.
    #[error("wal: corrupt record at segment {segment} offset {offset}: {reason}")]
    Corrupt {
        /// Segment index.
        segment: u32,
        /// Offset of the damaged frame in the segment.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// A segment file does not start with the WAL magic.
    #[error("wal: segment {segment}: bad magic {got:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// Segment index.
        segment: u32,
        /// The expected magic (`LWAL`).
        expected: [u8; 4],
        /// The bytes read.
        got: [u8; 4],
    },
    /// A segment written by a format version this code does not read.
    #[error("wal: segment {segment}: unsupported format version {got} (expected {expected})")]
    UnsupportedVersion {
        /// Segment index.
        segment: u32,
        /// The version this code reads.
        expected: u8,
        /// The version (or non-zero reserved bytes) read.
        got: u32,
    },
    /// A segment other than the newest is shorter than its header.
    #[error("wal: segment {segment} is {len} bytes, shorter than its {expected}-byte header")]
    TruncatedSegmentHeader {
        /// Segment index.
        segment: u32,
        /// The segment's length.
        len: u64,
        /// The header length.
        expected: u64,
    },
    /// Segment indices are not contiguous.
    #[error("wal: segment {missing} is missing (segments {first}..={last} exist otherwise)")]
    SegmentGap {
        /// The first missing index.
        missing: u32,
        /// Lowest segment present.
        first: u32,
        /// Highest segment present.
        last: u32,
    },
    /// A reader's segment no longer exists (deleted below its position).
    #[error("wal: segment {segment} no longer exists")]
    SegmentMissing {
        /// Segment index.
        segment: u32,
    },
    /// The newest segment has the highest possible index; no more can be
    /// created.
    #[error("wal: segment {segment} is the last possible segment index")]
    SegmentLimit {
        /// Segment index.
        segment: u32,
    },
    /// A position that cannot be a record boundary.
    #[error("wal: invalid position {position}: {reason}")]
    InvalidPosition {
        /// The position.
        position: Position,
        /// Why.
        reason: &'static str,
    },
    /// A record larger than [`MAX_RECORD_BYTES`](super::MAX_RECORD_BYTES).
    #[error("wal: record of {len} bytes exceeds the limit of {max}")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier write or sync failed in a way that leaves the segment's
    /// tail unknown; the WAL must be reopened (which repairs it).
    #[error(
        "wal: unusable after an earlier failure ({cause}{}); reopen it",
        rollback.as_ref().map(|e| format!("; cutting back the torn write: {e}")).unwrap_or_default()
    )]
    Poisoned {
        /// The earlier failure: a sync, the creation of the next segment,
        /// or an append that failed partway.
        #[source]
        cause: FsError,
        /// For an append that failed partway: why cutting the segment back
        /// to its last whole record failed too (boxed: a rare second error
        /// need not make every `WalError` larger).
        rollback: Option<Box<FsError>>,
    },
}

impl WalError {
    /// For [`WalError::Corrupt`], the position of the damaged frame.
    pub fn position(&self) -> Option<Position> {
        match self {
            WalError::Corrupt {
                segment, offset, ..
            } => Some(Position {
                segment: *segment,
                offset: *offset,
            }),
            _ => None,
        }
    }
}
