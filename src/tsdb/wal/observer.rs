//! [`WalObserver`]: how another reader of the WAL (levee's remote write
//! tails it) hears of new records and keeps the segments it still needs.
//! The head tells it of commits and syncs; the database asks it before
//! deleting segments.

use crate::tsdb::fs::Directory;

use super::Position;

/// Another reader of the database's WAL.
pub trait WalObserver: Send + Sync {
    /// Records were logged (or synced); `synced` is the WAL's durable end.
    /// Called after commits and syncs, outside the database's locks.
    fn logged(&self, synced: Position);

    /// Asked before WAL segments are deleted: the database wants to delete
    /// every segment before `wanted` (they are covered by a checkpoint);
    /// the answer is the first segment to keep. Answers above `wanted` are
    /// treated as `wanted`.
    fn deletable_before(&self, wal_dir: &dyn Directory, wanted: u32) -> u32;
}
