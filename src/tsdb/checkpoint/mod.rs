//! WAL checkpoints: condensing the WAL segments up to an index into the
//! series still alive and their samples after a cut-off, so the segments can
//! be deleted and the WAL stays bounded; and replaying checkpoint plus WAL.
//!
//! The layout is specified in `docs/format/checkpoint.md`: a checkpoint is
//! a WAL of [`record`](crate::tsdb::record)s in the subdirectory
//! `checkpoint.NNNNNNNN` of the WAL directory.
//!
//! A head cut runs, in order: [`create`] (writes the checkpoint),
//! [`Wal::truncate_before`] (`index + 1`), [`delete_before`] (`index`).
//! A crash anywhere in between is finished by [`Replay::new`] at the next
//! open.

mod error;
mod replay;
mod write;

#[cfg(test)]
mod tests;

pub use error::CheckpointError;
pub use replay::Replay;
pub use write::{CheckpointStats, create};

use crate::tsdb::fs::{Directory, FsError};
#[cfg(doc)]
use crate::tsdb::wal::Wal;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// The directory name of the checkpoint covering segments up to `index`.
pub fn checkpoint_name(index: u32) -> String {
    format!("{PREFIX}{index:08}")
}

fn parse_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = digits.parse().ok()?;
    (checkpoint_name(index) == name).then_some(index)
}

/// The indices of the complete checkpoints in `wal_dir`, ascending.
pub fn list(wal_dir: &dyn Directory) -> Result<Vec<u32>, FsError> {
    let mut out: Vec<u32> = wal_dir
        .list_dirs()?
        .iter()
        .filter_map(|n| parse_name(n))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The index of the newest complete checkpoint in `wal_dir`.
pub fn last(wal_dir: &dyn Directory) -> Result<Option<u32>, FsError> {
    Ok(list(wal_dir)?.last().copied())
}

/// Deletes the checkpoints older than `index` and any interrupted
/// (`.tmp`) one; returns how many directories were removed.
pub fn delete_before(wal_dir: &dyn Directory, index: u32) -> Result<usize, FsError> {
    let mut removed = 0;
    for name in wal_dir.list_dirs()? {
        let old = parse_name(&name).is_some_and(|i| i < index);
        let tmp = name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX);
        if old || tmp {
            wal_dir.remove_dir(&name)?;
            removed += 1;
        }
    }
    if removed > 0 {
        wal_dir.sync_dir()?;
    }
    Ok(removed)
}
