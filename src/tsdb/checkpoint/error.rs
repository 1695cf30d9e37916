//! Errors of checkpointing.

use crate::tsdb::fs::FsError;
use crate::tsdb::record::RecordError;
use crate::tsdb::wal::{Position, WalError};

/// An error creating or replaying a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a WAL (the WAL itself or the checkpoint's).
    #[error("checkpoint: {0}")]
    Wal(#[from] WalError),
    /// Reading a checkpoint's own WAL failed.
    #[error("checkpoint {name}: {source}")]
    InCheckpoint {
        /// The checkpoint directory.
        name: String,
        /// What failed.
        source: WalError,
    },
    /// The directory failed.
    #[error("checkpoint: {0}")]
    Fs(#[from] FsError),
    /// A record that does not decode.
    #[error("checkpoint: record ending at {position} in {source_name}: {source}")]
    Record {
        /// `wal` or the checkpoint directory name.
        source_name: String,
        /// End of the record.
        position: Position,
        /// What is wrong.
        source: RecordError,
    },
    /// The requested checkpoint would include the segment being written.
    #[error(
        "checkpoint: segment {to} is the newest segment (still being written); checkpoint up to {newest_done} at most"
    )]
    ActiveSegment {
        /// The requested last segment.
        to: u32,
        /// The newest completed segment.
        newest_done: i64,
    },
    /// A checkpoint at or after the requested index already exists.
    #[error("checkpoint: checkpoint {existing} already covers segment {to}")]
    AlreadyCovered {
        /// The requested last segment.
        to: u32,
        /// The existing checkpoint.
        existing: u32,
    },
}
