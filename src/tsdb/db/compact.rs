//! Head cuts and retention: [`Db::compact`].
//!
//! A head cut, for the oldest block range once the head spans 1.5 ranges:
//!
//! 1. under the head lock: raise the head's lower bound to the range end
//!    (appends before it are refused from now on) and copy the chunks
//!    ending before it;
//! 2. without the lock: write the block (temporary directory, renamed into
//!    place when complete), open it, add it to the block list, persist the
//!    lower bound (`head.json`);
//! 3. under the lock: drop those chunks from the head, remove series left
//!    empty, delete head chunk files that only hold older chunks;
//! 4. checkpoint the completed WAL segments (keeping the live series and
//!    samples from the range end on), delete them, and let removed series
//!    ids be reused.
//!
//! A crash between any two steps loses nothing: before step 2 completes
//! the data is still in the head's files; after it, `head.json` and the
//! block say what replay must skip.

use std::sync::Arc;
use std::time::Instant;

use super::{Db, DbError, head_file};
use crate::tsdb::block::{self, BlockWriter, ChunkInput};
use crate::tsdb::checkpoint;
use crate::tsdb::fs::Directory;

/// What compaction did (totals since open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Blocks written by head cuts.
    pub blocks_written: u64,
    /// Blocks deleted by retention.
    pub blocks_deleted: u64,
    /// Head cuts and retention passes that did something.
    pub runs: u64,
    /// Time spent in those, in ms.
    pub duration_ms: u64,
    /// Series removed from the head by cuts.
    pub series_removed: u64,
}

impl Db {
    /// Cuts every block range the head has completed (while it spans more
    /// than 1.5 ranges) into blocks, then applies retention. Call it from a
    /// timer (levee does every minute); it returns quickly when there is
    /// nothing to do.
    pub fn compact(&self) -> Result<CompactStats, DbError> {
        let mut totals = self.compaction.lock();
        let started = Instant::now();
        let mut did = CompactStats::default();
        while let Some(removed) = self.cut_head_once()? {
            did.blocks_written += 1;
            did.series_removed += removed;
        }
        did.blocks_deleted = self.apply_retention()?;
        if did.blocks_written == 0 {
            self.truncate_wal()?;
        }
        if did.blocks_written + did.blocks_deleted > 0 {
            totals.runs += 1;
            totals.duration_ms += started.elapsed().as_millis() as u64;
        }
        totals.blocks_written += did.blocks_written;
        totals.blocks_deleted += did.blocks_deleted;
        totals.series_removed += did.series_removed;
        Ok(*totals)
    }

    /// Cuts the oldest range into a block if the head spans 1.5 ranges;
    /// returns the number of series removed, or `None` when not due.
    fn cut_head_once(&self) -> Result<Option<u64>, DbError> {
        let range = self.opts.block_range_ms;
        let (mint, end, series) = {
            let mut st = self.head.lock();
            let Some((lo, hi)) = st.time_range() else {
                return Ok(None);
            };
            if hi.saturating_sub(lo) < range / 2 * 3 {
                return Ok(None);
            }
            let mint = lo.div_euclid(range).saturating_mul(range);
            let end = mint.saturating_add(range);
            st.min_valid_time = st.min_valid_time.max(end);
            let series = st.select_chunks(&[], i64::MIN, i64::MAX, Some(end))?;
            (mint, end, series)
        };
        let mut series = series;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        if !series.is_empty() {
            let mut w = BlockWriter::new(&self.blocks_dir, mint, end)?;
            for s in &series {
                let chunks: Vec<ChunkInput<'_>> = s
                    .chunks
                    .iter()
                    .map(|c| ChunkInput {
                        min_time: c.min_time,
                        max_time: c.max_time,
                        encoding: c.encoding,
                        data: &c.bytes,
                    })
                    .collect();
                w.add_series(&s.labels, &chunks)?;
            }
            let meta = w.finish()?;
            let b = block::Block::open(self.blocks_dir.subdir(&meta.id.to_string())?)?;
            let mut blocks = self.blocks.write();
            blocks.push(Arc::new(b));
            blocks.sort_by_key(|b| b.meta().min_time);
            tracing::info!(block = %meta.id, mint, end, series = series.len(), "head cut into a block");
        }
        drop(series);
        head_file::write(&*self.dir, end)?;
        let (removed, newest, live) = {
            let mut st = self.head.lock();
            let (_, removed) = st.truncate_before(end);
            st.chunks.delete_before(end)?;
            let (first, newest) = st.wal.segments();
            (
                removed as u64,
                (first < newest).then_some(newest),
                st.live_label_hashes(),
            )
        };
        if let Some(newest) = newest {
            let to = newest - 1;
            let covered = checkpoint::last(&*self.wal_dir)?.is_some_and(|c| c >= to);
            if !covered {
                checkpoint::create(
                    &self.wal_dir,
                    to,
                    |s| live.get(&s.series) == Some(&s.labels.stable_hash()),
                    end,
                )?;
            }
            checkpoint::delete_before(&*self.wal_dir, to)?;
        }
        self.truncate_wal()?;
        self.head.lock().index.recycle_removed_ids();
        Ok(Some(removed))
    }

    /// Deletes the WAL segments the newest checkpoint covers, as far as the
    /// WAL observer (remote write) allows. Runs at every compaction, so
    /// segments an observer held are deleted once it lets go, and its cap
    /// applies between head cuts too.
    fn truncate_wal(&self) -> Result<(), DbError> {
        let Some(cp) = checkpoint::last(&*self.wal_dir)? else {
            return Ok(());
        };
        let wanted = cp.saturating_add(1);
        let keep_from = match self.head.observer() {
            Some(o) => o.deletable_before(&*self.wal_dir, wanted).min(wanted),
            None => wanted,
        };
        let (removed, synced) = {
            let mut st = self.head.lock();
            (st.wal.truncate_before(keep_from)?, st.wal.synced_position())
        };
        if removed > 0 {
            self.head.notify(synced);
        }
        Ok(())
    }

    /// Deletes blocks past the retention time or size; returns how many.
    fn apply_retention(&self) -> Result<u64, DbError> {
        let blocks = self.blocks.read().clone();
        if blocks.is_empty() {
            return Ok(0);
        }
        let retention = block::Retention {
            time_ms: self.opts.retention_ms,
            size_bytes: self.opts.retention_bytes,
        };
        let other_bytes = dir_size(&*self.dir).saturating_sub(dir_size(&*self.blocks_dir));
        let doomed = block::blocks_beyond_retention(&blocks, retention, other_bytes);
        if doomed.is_empty() {
            return Ok(0);
        }
        // Out of the list first: new queries no longer see them; queries
        // holding an `Arc<Block>` keep reading its mapped files.
        self.blocks.write().retain(|b| !doomed.contains(&b.id()));
        for &id in &doomed {
            block::delete_block(&self.blocks_dir, id)?;
            tracing::info!(block = %id, "block deleted by retention");
        }
        Ok(doomed.len() as u64)
    }
}

/// Bytes of every file under `dir`, recursively.
pub(crate) fn dir_size(dir: &dyn Directory) -> u64 {
    let files: u64 = dir
        .list()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| dir.len(n).ok())
        .sum();
    let subdirs: u64 = dir
        .list_dirs()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| dir.subdir(n).ok())
        .map(|d| dir_size(&*d))
        .sum();
    files + subdirs
}
