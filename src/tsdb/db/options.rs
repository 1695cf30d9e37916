//! [`Options`]: how a [`super::Db`] writes, cuts and retains.

use crate::tsdb::db::DbError;
use crate::tsdb::wal::WalOptions;

/// Two hours, Prometheus' block range.
pub const DEFAULT_BLOCK_RANGE_MS: i64 = 2 * 60 * 60 * 1000;
/// Default head chunk file size: 128 MiB.
pub const DEFAULT_CHUNK_FILE_SIZE: u64 = 128 << 20;

/// Database options. `Options::default()` is what `levee run` uses unless
/// the `storage:` section says otherwise.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of a block's time range in ms (default 2 h). The head is cut
    /// into a block once it spans 1.5 ranges. Small values (seconds) are
    /// for tests.
    pub block_range_ms: i64,
    /// Delete blocks whose data is older than this many ms before the
    /// newest sample (`None`: keep by age forever).
    pub retention_ms: Option<i64>,
    /// Delete the oldest blocks while blocks + WAL + head chunks take more
    /// bytes than this (`None`: no size limit).
    pub retention_bytes: Option<u64>,
    /// WAL segment size and sync policy.
    pub wal: WalOptions,
    /// Size at which a head chunk file is completed.
    pub chunk_file_size: u64,
    /// On a corrupt WAL record, drop it and everything after it and open
    /// (true, the default, logged loudly), or refuse to open (false).
    pub repair_wal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range_ms: DEFAULT_BLOCK_RANGE_MS,
            retention_ms: Some(15 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            wal: WalOptions::default(),
            chunk_file_size: DEFAULT_CHUNK_FILE_SIZE,
            repair_wal: true,
        }
    }
}

impl Options {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), DbError> {
        if self.block_range_ms < 1 {
            return Err(DbError::Options {
                option: "block_range_ms",
                reason: format!("must be at least 1, got {}", self.block_range_ms),
            });
        }
        if self.retention_ms.is_some_and(|r| r < 1) {
            return Err(DbError::Options {
                option: "retention_ms",
                reason: "must be positive".to_string(),
            });
        }
        if self.chunk_file_size < 4096 {
            return Err(DbError::Options {
                option: "chunk_file_size",
                reason: format!("must be at least 4096 bytes, got {}", self.chunk_file_size),
            });
        }
        Ok(())
    }
}
