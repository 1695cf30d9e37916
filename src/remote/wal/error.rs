//! Errors of the WAL-backed sample source.

use crate::tsdb::checkpoint::CheckpointError;
use crate::tsdb::fs::FsError;
use crate::tsdb::wal::WalError;

/// Why a position file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    /// Reading or writing the file failed.
    #[error("remote write position {file}: {source}")]
    Fs {
        /// The position file.
        file: String,
        /// What failed.
        source: FsError,
    },
    /// The file has the wrong length.
    #[error("remote write position {file}: {got} bytes, expected {expected}")]
    Length {
        /// The position file.
        file: String,
        /// Length expected.
        expected: u64,
        /// Length found.
        got: u64,
    },
    /// The file does not start with the magic.
    #[error("remote write position {file}: bad magic {got:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// The position file.
        file: String,
        /// `LRWP`.
        expected: [u8; 4],
        /// What was read.
        got: [u8; 4],
    },
    /// Another format version (or non-zero reserved bytes).
    #[error("remote write position {file}: unsupported version {got} (expected {expected})")]
    UnsupportedVersion {
        /// The position file.
        file: String,
        /// The version this code reads.
        expected: u8,
        /// Version byte and reserved bytes as read.
        got: u32,
    },
    /// The checksum does not match.
    #[error(
        "remote write position {file}: checksum mismatch: stored {expected:#010x}, computed {got:#010x}"
    )]
    Checksum {
        /// The position file.
        file: String,
        /// Stored checksum.
        expected: u32,
        /// Checksum of the bytes read.
        got: u32,
    },
}

/// Why a WAL tailer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WalSourceError {
    /// The position file is unusable.
    #[error(transparent)]
    Position(#[from] PositionError),
    /// Reading the WAL failed.
    #[error("remote write: reading the WAL: {0}")]
    Wal(#[from] WalError),
    /// Reading a checkpoint failed.
    #[error("remote write: reading the WAL checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The WAL directory failed.
    #[error("remote write: WAL directory: {0}")]
    Fs(#[from] FsError),
    /// The tailer thread could not be started.
    #[error("remote write: cannot start the WAL tailer thread for {endpoint:?}: {reason}")]
    Thread {
        /// The endpoint.
        endpoint: String,
        /// What the OS said.
        reason: String,
    },
}
