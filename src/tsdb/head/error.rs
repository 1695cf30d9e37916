//! [`HeadError`]: what replaying, appending to or reading the head can fail
//! with (the head's WAL, its chunk files, and the series it holds).

use std::sync::Arc;

use super::AppendError;
use crate::tsdb::checkpoint::CheckpointError;
use crate::tsdb::chunkenc::ChunkError;
use crate::tsdb::chunks::ChunkFileError;
use crate::tsdb::record::RecordError;
use crate::tsdb::wal::WalError;

/// An error of the head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Logging a commit to the WAL, or repairing it, failed.
    #[error("{0}")]
    Wal(#[from] WalError),
    /// Replaying the checkpoint and WAL failed (a corrupt WAL when repair
    /// is off names its segment and offset here).
    #[error("WAL replay: {0}")]
    Replay(CheckpointError),
    /// A WAL record did not decode.
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The head chunk files failed.
    #[error("head chunks: {0}")]
    Chunks(#[from] ChunkFileError),
    /// A chunk's bytes did not decode, or a sample did not fit the open
    /// chunk.
    #[error("chunk: {0}")]
    Chunk(#[from] ChunkError),
    /// A series could not be created or restored.
    #[error("{0}")]
    Append(#[from] AppendError),
    /// A full chunk could not be written earlier: the head refuses appends
    /// until the database is reopened (the WAL holds every accepted sample).
    #[error("head refuses appends after a chunk write failure: {cause}")]
    Failed {
        /// The chunk write failure, shared by every commit refused for it.
        #[source]
        cause: Arc<HeadError>,
    },
}
