//! Errors of the chunk files.

use std::fmt;

use crate::tsdb::fs::FsError;

use super::ChunkRef;

/// What is wrong with a damaged entry or file header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The entry's CRC does not match its bytes.
    #[error("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    Checksum {
        /// CRC stored in the entry.
        expected: u32,
        /// CRC of the bytes read.
        got: u32,
    },
    /// The entry's fields run past the end of a file that is not the newest
    /// (or of a block's file, which is never appended to).
    #[error("entry runs past the end of the file ({field})")]
    PastEnd {
        /// The field that does not fit.
        field: &'static str,
    },
    /// A field holds an impossible value.
    #[error("{0}")]
    BadField(String),
}

/// An error reading or writing chunk files (`docs/format/chunk-files.md`).
#[derive(Debug, thiserror::Error)]
pub enum ChunkFileError {
    /// The underlying directory failed.
    #[error("chunk files: {0}")]
    Fs(#[from] FsError),
    /// The file's magic is not `LVCF`.
    #[error("chunk file {}: bad magic {got:02x?}, expected {:02x?}", FileName(*seq), super::MAGIC)]
    BadMagic {
        /// The file's sequence number.
        seq: u32,
        /// The bytes found.
        got: [u8; 4],
    },
    /// A format version this levee cannot read.
    #[error("chunk file {}: format version {got} is not supported (this levee reads version {supported})", FileName(*seq))]
    UnknownVersion {
        /// The file's sequence number.
        seq: u32,
        /// The version byte found.
        got: u8,
        /// The version this levee reads.
        supported: u8,
    },
    /// The file header is too short or its reserved bytes are not zero.
    #[error("chunk file {}: bad header: {reason}", FileName(*seq))]
    BadHeader {
        /// The file's sequence number.
        seq: u32,
        /// What is wrong.
        reason: String,
    },
    /// A damaged entry. Reading stops here; [`repair`](super::repair) at
    /// [`ChunkFileError::position`] keeps everything before it.
    #[error("chunk file {} offset {offset}: corrupt entry: {reason}", FileName(*seq))]
    Corrupt {
        /// The file's sequence number.
        seq: u32,
        /// Offset of the entry's first byte.
        offset: u32,
        /// What is wrong.
        reason: Corruption,
    },
    /// The newest file ends inside an entry (a write torn by a crash).
    /// Opening the writer truncates it; [`repair`](super::repair) does too.
    #[error("chunk file {} offset {offset}: torn entry at the end of the newest file ({len} bytes after it)", FileName(*seq))]
    TornTail {
        /// The file's sequence number.
        seq: u32,
        /// Offset of the torn entry.
        offset: u32,
        /// Bytes from the entry's start to the end of the file.
        len: u64,
    },
    /// A reference names a file that does not exist.
    #[error("chunk ref {chunk_ref}: no chunk file {}", FileName(chunk_ref.seq()))]
    NoSuchFile {
        /// The reference.
        chunk_ref: ChunkRef,
    },
    /// A reference whose offset is not inside its file.
    #[error("chunk ref {chunk_ref}: offset {} is outside chunk file {} ({file_len} bytes)", chunk_ref.offset(), FileName(chunk_ref.seq()))]
    BadRef {
        /// The reference.
        chunk_ref: ChunkRef,
        /// The file's length.
        file_len: u64,
    },
    /// Writer: a chunk larger than the format allows.
    #[error("chunk of {len} bytes exceeds the limit of {max}")]
    ChunkTooLarge {
        /// The chunk's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Writer: `max_time` before `min_time`, or a span that does not fit.
    #[error("chunk time range [{min_time}, {max_time}] is invalid")]
    BadTimeRange {
        /// The minimum time given.
        min_time: i64,
        /// The maximum time given.
        max_time: i64,
    },
    /// Writer: an option out of range.
    #[error("invalid chunk writer option: {0}")]
    BadOption(String),
    /// Writer: sequence numbers are exhausted.
    #[error("chunk file sequence numbers exhausted")]
    TooManyFiles,
    /// Writer: an earlier write failed; reopen the writer to repair the tail.
    #[error("chunk writer is unusable after an earlier write error; reopen it")]
    Poisoned,
}

impl ChunkFileError {
    /// Where a [`Corrupt`](ChunkFileError::Corrupt) or
    /// [`TornTail`](ChunkFileError::TornTail) entry starts: the position to
    /// hand to [`repair`](super::repair).
    pub fn position(&self) -> Option<ChunkRef> {
        match self {
            ChunkFileError::Corrupt { seq, offset, .. }
            | ChunkFileError::TornTail { seq, offset, .. } => Some(ChunkRef::new(*seq, *offset)),
            ChunkFileError::BadMagic { seq, .. }
            | ChunkFileError::UnknownVersion { seq, .. }
            | ChunkFileError::BadHeader { seq, .. } => Some(ChunkRef::new(*seq, 0)),
            _ => None,
        }
    }
}

/// Displays a sequence number as the file name.
pub(crate) struct FileName(pub u32);

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}
