//! [`DbError`]: everything opening, appending to, querying or compacting a
//! [`super::Db`] can fail with.

use crate::tsdb::block::BlockError;
use crate::tsdb::checkpoint::CheckpointError;
use crate::tsdb::chunkenc::ChunkError;
use crate::tsdb::chunks::ChunkFileError;
use crate::tsdb::fs::FsError;
use crate::tsdb::head::AppendError;
use crate::tsdb::record::RecordError;
use crate::tsdb::wal::WalError;

/// An error of the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A file or directory operation failed (this includes the directory
    /// being locked by another levee).
    #[error("tsdb: {0}")]
    Fs(#[from] FsError),
    /// The WAL failed.
    #[error("tsdb: {0}")]
    Wal(#[from] WalError),
    /// Replaying the checkpoint and WAL failed (a corrupt WAL when repair
    /// is off names its segment and offset here).
    #[error("tsdb: WAL replay: {0}")]
    Replay(CheckpointError),
    /// Writing a checkpoint at a head cut failed.
    #[error("tsdb: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A WAL record did not decode.
    #[error("tsdb: {0}")]
    Record(#[from] RecordError),
    /// The head chunk files failed.
    #[error("tsdb: head chunks: {0}")]
    Chunks(#[from] ChunkFileError),
    /// A chunk's bytes did not decode.
    #[error("tsdb: chunk: {0}")]
    Chunk(#[from] ChunkError),
    /// A block failed to write or read.
    #[error("tsdb: {0}")]
    Block(#[from] BlockError),
    /// A series could not be created or restored.
    #[error("tsdb: {0}")]
    Append(#[from] AppendError),
    /// A full chunk could not be written earlier: the head refuses appends
    /// until the database is reopened (the WAL holds every accepted sample).
    #[error("tsdb: head refuses appends after a chunk write failure: {cause}")]
    HeadFailed {
        /// The failure.
        cause: String,
    },
    /// The head state file is unreadable.
    #[error("tsdb: {file}: {reason}")]
    HeadState {
        /// The file.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("tsdb: option {option}: {reason}")]
    Options {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl From<crate::tsdb::index::SeriesError> for DbError {
    fn from(e: crate::tsdb::index::SeriesError) -> Self {
        DbError::Append(AppendError::Series(e))
    }
}
