//! [`DbError`]: everything opening, appending to, querying or compacting a
//! [`super::Db`] can fail with.

use crate::tsdb::block::BlockError;
use crate::tsdb::checkpoint::CheckpointError;
use crate::tsdb::chunks::ChunkFileError;
use crate::tsdb::fs::FsError;
use crate::tsdb::head::HeadError;
use crate::tsdb::wal::WalError;

use super::head_file::HeadFileError;

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
    /// The head failed: replay, a commit, or reading its chunks.
    #[error("tsdb: {0}")]
    Head(#[from] HeadError),
    /// Writing a checkpoint at a head cut failed.
    #[error("tsdb: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The head chunk files failed (deleting or syncing them).
    #[error("tsdb: head chunks: {0}")]
    Chunks(#[from] ChunkFileError),
    /// A block failed to write or read.
    #[error("tsdb: {0}")]
    Block(#[from] BlockError),
    /// The head state file is unreadable.
    #[error("tsdb: {file}: {cause}")]
    HeadState {
        /// The file.
        file: &'static str,
        /// What is wrong.
        #[source]
        cause: HeadFileError,
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
