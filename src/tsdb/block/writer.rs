//! [`BlockWriter`]: writes a block from series given in label order, into
//! a temporary directory renamed into place only when complete and synced.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::BlockError;
use super::id::BlockId;
use super::meta::{BlockMeta, BlockStats, ChunkFileMeta, META_FILE};
use crate::labels::Labels;
use crate::tsdb::chunkenc::{self, Encoding};
use crate::tsdb::chunks::{
    ChunkWriter, ChunkWriterOptions, MAX_CHUNK_BYTES, file_name, list_files,
};
use crate::tsdb::fs::Directory;
use crate::tsdb::index::block::{ChunkMeta, IndexWriter};

/// The index file's name in a block.
pub const INDEX_FILE: &str = "index";
/// The chunk files' directory in a block.
pub const CHUNKS_DIR: &str = "chunks";
/// Suffix of directories being written or deleted.
pub const TMP_SUFFIX: &str = ".tmp";

/// One already-encoded chunk of a series, as the head hands it over.
#[derive(Clone, Copy, Debug)]
pub struct ChunkInput<'a> {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// The encoding byte (`chunkenc::Encoding`).
    pub encoding: u8,
    /// The encoded chunk.
    pub data: &'a [u8],
}

/// Writes one block. Series come in strictly increasing label order; each
/// chunk's samples must lie in the block's range `[min_time, max_time)`.
///
/// Nothing is visible in the blocks directory until [`finish`](Self::finish)
/// renames the complete, synced block into place; dropping the writer (or an
/// error) leaves a `<id>.tmp` directory that the writer tries to remove and
/// [`open_all`](super::open_all) removes in any case.
#[derive(Debug)]
pub struct BlockWriter {
    blocks_dir: Arc<dyn Directory>,
    id: BlockId,
    tmp_name: String,
    tmp: Arc<dyn Directory>,
    chunks: Option<ChunkWriter>,
    index: IndexWriter,
    min_time: i64,
    max_time: i64,
    stats: BlockStats,
    last: Option<Labels>,
    failed: bool,
    done: bool,
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` in `blocks_dir`.
    pub fn new(
        blocks_dir: &Arc<dyn Directory>,
        min_time: i64,
        max_time: i64,
    ) -> Result<Self, BlockError> {
        Self::with_options(
            blocks_dir,
            min_time,
            max_time,
            ChunkWriterOptions::default(),
        )
    }

    /// [`BlockWriter::new`] with chunk file options (tests use tiny files).
    pub fn with_options(
        blocks_dir: &Arc<dyn Directory>,
        min_time: i64,
        max_time: i64,
        opts: ChunkWriterOptions,
    ) -> Result<Self, BlockError> {
        if min_time >= max_time {
            return Err(BlockError::BadRange { min_time, max_time });
        }
        let id = BlockId::generate();
        let tmp_name = format!("{id}{TMP_SUFFIX}");
        let tmp = blocks_dir.subdir(&tmp_name)?;
        let chunks_dir = tmp.subdir(CHUNKS_DIR)?;
        let (chunks, _) = ChunkWriter::open(chunks_dir, opts)?;
        Ok(BlockWriter {
            blocks_dir: Arc::clone(blocks_dir),
            id,
            tmp_name,
            tmp,
            chunks: Some(chunks),
            index: IndexWriter::new(),
            min_time,
            max_time,
            stats: BlockStats::default(),
            last: None,
            failed: false,
            done: false,
        })
    }

    /// The id the block will have.
    pub fn id(&self) -> BlockId {
        self.id
    }

    /// Adds the next series with its chunks (in time order, not
    /// overlapping). A series without chunks is skipped.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkInput<'_>],
    ) -> Result<(), BlockError> {
        if self.failed {
            return Err(BlockError::Poisoned);
        }
        if let Some(previous) = &self.last
            && previous >= labels
        {
            return Err(BlockError::OutOfOrder {
                previous: previous.to_string(),
                got: labels.to_string(),
            });
        }
        if labels.is_empty() {
            return Err(crate::tsdb::index::block::BlockIndexError::EmptyLabelSet.into());
        }
        if chunks.is_empty() {
            return Ok(());
        }
        let samples = self.check_chunks(labels, chunks)?;
        let series = self.index.len() as u32;
        let result = self.write_series(series, labels, chunks);
        if result.is_err() {
            self.failed = true;
        }
        result?;
        self.stats.num_series += 1;
        self.stats.num_chunks += chunks.len() as u64;
        self.stats.num_samples += samples;
        self.last = Some(labels.clone());
        Ok(())
    }

    /// Writes the index and `meta.json`, syncs everything and renames the
    /// block into place. Returns its meta.
    pub fn finish(mut self) -> Result<BlockMeta, BlockError> {
        if self.failed {
            return Err(BlockError::Poisoned);
        }
        let result = self.write_rest();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Abandons the block, removing its temporary directory.
    pub fn abort(mut self) -> Result<(), BlockError> {
        self.done = true;
        self.chunks = None;
        self.blocks_dir.remove_dir(&self.tmp_name)?;
        Ok(())
    }

    /// Checks every chunk before anything is written; returns the samples.
    fn check_chunks(&self, labels: &Labels, chunks: &[ChunkInput<'_>]) -> Result<u64, BlockError> {
        let mut samples = 0u64;
        for (index, c) in chunks.iter().enumerate() {
            let bad = |reason: String| BlockError::BadChunk {
                series: labels.to_string(),
                index,
                reason,
            };
            if c.min_time > c.max_time {
                return Err(bad(format!(
                    "min_time {} after max_time {}",
                    c.min_time, c.max_time
                )));
            }
            if c.min_time < self.min_time || c.max_time >= self.max_time {
                return Err(bad(format!(
                    "[{}, {}] is outside the block's range [{}, {})",
                    c.min_time, c.max_time, self.min_time, self.max_time
                )));
            }
            if index > 0 && c.min_time <= chunks[index - 1].max_time {
                return Err(bad("starts before the previous chunk ends".into()));
            }
            if c.data.len() > MAX_CHUNK_BYTES {
                return Err(bad(format!(
                    "{} bytes exceed the limit of {MAX_CHUNK_BYTES}",
                    c.data.len()
                )));
            }
            let data_err = |source| BlockError::BadChunkData {
                series: labels.to_string(),
                index,
                source,
            };
            let n = match Encoding::try_from(c.encoding).map_err(data_err)? {
                Encoding::Xor => chunkenc::XorIterator::new(c.data).map_err(data_err)?.len(),
            };
            if n == 0 {
                return Err(bad("holds no samples".into()));
            }
            samples += u64::from(n);
        }
        Ok(samples)
    }

    fn write_series(
        &mut self,
        series: u32,
        labels: &Labels,
        chunks: &[ChunkInput<'_>],
    ) -> Result<(), BlockError> {
        let writer = self.chunks.as_mut().ok_or(BlockError::Poisoned)?;
        let mut metas = Vec::with_capacity(chunks.len());
        for c in chunks {
            let r = writer.append(series, c.min_time, c.max_time, c.encoding, c.data)?;
            metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref: r.0,
            });
        }
        self.index.add_series(labels, &metas)?;
        Ok(())
    }

    fn write_rest(&mut self) -> Result<BlockMeta, BlockError> {
        if let Some(chunks) = self.chunks.take() {
            chunks.close()?;
        }
        let chunks_dir = self.tmp.subdir(CHUNKS_DIR)?;
        let chunk_files = list_files(&*chunks_dir)?
            .into_iter()
            .map(|seq| {
                let name = file_name(seq);
                let bytes = chunks_dir.len(&name)?;
                Ok(ChunkFileMeta { name, bytes })
            })
            .collect::<Result<Vec<_>, BlockError>>()?;
        chunks_dir.sync_dir()?;

        let index = std::mem::take(&mut self.index).finish()?;
        write_synced(&*self.tmp, INDEX_FILE, &index)?;
        let meta = BlockMeta {
            id: self.id,
            min_time: self.min_time,
            max_time: self.max_time,
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            stats: self.stats,
            index_bytes: index.len() as u64,
            chunk_files,
        };
        write_synced(&*self.tmp, META_FILE, &meta.to_json())?;
        self.tmp.sync_dir()?;
        self.blocks_dir
            .rename_dir(&self.tmp_name, &self.id.to_string())?;
        self.blocks_dir.sync_dir()?;
        self.done = true;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            self.chunks = None;
            // Best effort: `open_all` removes what is left.
            let _ = self.blocks_dir.remove_dir(&self.tmp_name);
        }
    }
}

/// Writes `name` in `dir` and fsyncs it.
fn write_synced(dir: &dyn Directory, name: &str, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = dir.create(name)?;
    f.append(bytes)?;
    f.sync()?;
    Ok(())
}
