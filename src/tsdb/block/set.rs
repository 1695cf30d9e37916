//! The blocks directory as a whole: opening every block ([`open_all`]),
//! deleting one ([`delete_block`]) and choosing what retention deletes
//! ([`blocks_beyond_retention`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::error::BlockError;
use super::id::BlockId;
use super::reader::Block;
use super::writer::TMP_SUFFIX;
use crate::tsdb::fs::{Directory, FsError};

/// What [`open_all`] found.
#[derive(Debug, Default)]
pub struct OpenedBlocks {
    /// The blocks that opened, sorted by `min_time` (then id).
    pub blocks: Vec<Arc<Block>>,
    /// Block directories that did not open, with why. They are left in
    /// place.
    pub failed: Vec<(String, BlockError)>,
    /// Temporary directories (unfinished writes, interrupted deletions)
    /// that were removed.
    pub removed_tmp: Vec<String>,
}

/// Opens every block in `blocks_dir`: removes `*.tmp` directories, opens
/// each directory named by a block id (checking that its `meta.json` holds
/// that id) and ignores other names (an id in lower case included). A block that fails to open is reported
/// in [`OpenedBlocks::failed`], not returned as an error.
pub fn open_all(blocks_dir: &Arc<dyn Directory>) -> Result<OpenedBlocks, BlockError> {
    let mut out = OpenedBlocks::default();
    for name in blocks_dir.list_dirs()? {
        if name.ends_with(TMP_SUFFIX) {
            blocks_dir.remove_dir(&name)?;
            out.removed_tmp.push(name);
            continue;
        }
        // Only canonical (upper-case) names: `delete_block` finds them.
        let Some(id) = name
            .parse::<BlockId>()
            .ok()
            .filter(|id| id.to_string() == name)
        else {
            continue;
        };
        let opened = blocks_dir
            .subdir(&name)
            .map_err(BlockError::from)
            .and_then(Block::open)
            .and_then(|b| {
                if b.id() == id {
                    Ok(b)
                } else {
                    Err(BlockError::IdMismatch {
                        dir: name.clone(),
                        meta_id: b.id().to_string(),
                    })
                }
            });
        match opened {
            Ok(b) => out.blocks.push(Arc::new(b)),
            Err(e) => out.failed.push((name, e)),
        }
    }
    if !out.removed_tmp.is_empty() {
        blocks_dir.sync_dir()?;
    }
    out.blocks
        .sort_by_key(|b| (b.meta().min_time, b.meta().max_time, b.id()));
    Ok(out)
}

/// Deletes block `id`: renames its directory to `<id>.delete.tmp` (the
/// block is gone for every later [`open_all`] from that moment), then
/// removes it. Readers holding an `Arc<Block>` keep reading their maps.
pub fn delete_block(blocks_dir: &Arc<dyn Directory>, id: BlockId) -> Result<(), BlockError> {
    let name = id.to_string();
    let doomed = format!("{name}.delete{TMP_SUFFIX}");
    match blocks_dir.rename_dir(&name, &doomed) {
        Err(FsError::NotFound { .. }) => return Err(BlockError::NoSuchBlock { id: name }),
        other => other?,
    }
    blocks_dir.sync_dir()?;
    blocks_dir.remove_dir(&doomed)?;
    Ok(())
}

/// Retention limits; `None` disables a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep blocks whose data ends less than this long (ms) before the
    /// newest block's end.
    pub time_ms: Option<i64>,
    /// Keep the newest blocks whose sizes, plus the bytes of everything else
    /// (WAL, head chunks), stay within this many bytes.
    pub size_bytes: Option<u64>,
}

/// The blocks retention deletes, oldest first: those beyond the time limit
/// ([`beyond_time_retention`]) and those beyond the size limit
/// ([`beyond_size_retention`]). `other_bytes` is what the rest of the data
/// directory takes (WAL, head chunk files) and counts against the size limit.
pub fn blocks_beyond_retention(
    blocks: &[Arc<Block>],
    retention: Retention,
    other_bytes: u64,
) -> Vec<BlockId> {
    let mut doomed: BTreeSet<BlockId> = BTreeSet::new();
    if let Some(ms) = retention.time_ms {
        doomed.extend(beyond_time_retention(blocks, ms));
    }
    if let Some(max) = retention.size_bytes {
        doomed.extend(beyond_size_retention(blocks, max, other_bytes));
    }
    let mut out: Vec<&Arc<Block>> = blocks.iter().filter(|b| doomed.contains(&b.id())).collect();
    out.sort_by_key(|b| (b.meta().max_time, b.id()));
    out.into_iter().map(|b| b.id()).collect()
}

/// Blocks whose `max_time` is at least `retention_ms` before the newest
/// block's `max_time`, oldest first (as Prometheus does: the reference is the data, not
/// the clock, so a levee that stopped scraping keeps its last data). The
/// newest block is never among them.
pub fn beyond_time_retention(blocks: &[Arc<Block>], retention_ms: i64) -> Vec<BlockId> {
    let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max() else {
        return Vec::new();
    };
    let mut out: Vec<BlockId> = newest_first(blocks)
        .into_iter()
        .skip(1)
        .filter(|b| newest.saturating_sub(b.meta().max_time) >= retention_ms)
        .map(|b| b.id())
        .collect();
    out.reverse();
    out
}

/// Walking from the newest block back, the blocks from the first one that
/// takes the running total (starting at `other_bytes`) past `max_bytes`
/// (as Prometheus does), oldest first.
pub fn beyond_size_retention(
    blocks: &[Arc<Block>],
    max_bytes: u64,
    other_bytes: u64,
) -> Vec<BlockId> {
    let mut total = other_bytes;
    let mut out = Vec::new();
    for b in newest_first(blocks) {
        total = total.saturating_add(b.size_bytes());
        if total > max_bytes {
            out.push(b.id());
        }
    }
    out.reverse();
    out
}

fn newest_first(blocks: &[Arc<Block>]) -> Vec<&Arc<Block>> {
    let mut v: Vec<&Arc<Block>> = blocks.iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse((b.meta().max_time, b.id())));
    v
}
