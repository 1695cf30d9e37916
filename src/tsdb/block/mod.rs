//! Immutable blocks: the head cut into a directory holding `meta.json`, a
//! block index and chunk files, read straight from memory maps. Layout and
//! versioning: `docs/format/block.md`.
//!
//! - [`BlockWriter`] writes a block from series given in label order, in a
//!   temporary directory renamed into place once complete and synced.
//! - [`Block`] opens one (validating meta, index and chunk files) and
//!   answers queries: [`Block::select`], [`Block::chunk`],
//!   [`Block::label_names`], [`Block::label_values`].
//! - [`open_all`], [`delete_block`] and [`blocks_beyond_retention`] manage
//!   the blocks directory.
//!
//! ```
//! use std::sync::Arc;
//! use levee::labels::Labels;
//! use levee::tsdb::block::{Block, BlockWriter, ChunkInput, open_all};
//! use levee::tsdb::chunkenc::{Encoding, XorChunk};
//! use levee::tsdb::chunks::{ChunkRef, ChunkSeriesIterator};
//! use levee::tsdb::fs::{Directory, MemDirectory};
//! use levee::tsdb::index::Matcher;
//!
//! let blocks_dir: Arc<dyn Directory> = MemDirectory::new();
//! let mut chunk = XorChunk::new();
//! chunk.append(1_000, 1.0)?;
//! chunk.append(16_000, 0.0)?;
//! let input = ChunkInput { min_time: 1_000, max_time: 16_000, encoding: Encoding::Xor.into(), data: chunk.bytes() };
//! let mut writer = BlockWriter::new(&blocks_dir, 0, 7_200_000)?;
//! writer.add_series(&Labels::from_pairs([("__name__", "up"), ("job", "node")]), &[input])?;
//! let meta = writer.finish()?;
//! assert_eq!(meta.stats.num_samples, 2);
//!
//! let opened = open_all(&blocks_dir)?;
//! let block: &Arc<Block> = &opened.blocks[0];
//! let series = block.select(0, 10_000, &[Matcher::equal("job", "node")])?;
//! let chunks = series[0]
//!     .chunks
//!     .iter()
//!     .map(|c| block.chunk(ChunkRef(c.chunk_ref)))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let samples: Vec<_> = ChunkSeriesIterator::new(chunks.iter().map(|c| c.as_slice()).collect(), 0, 10_000)
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(samples, vec![(1_000, 1.0)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod id;
mod meta;
mod reader;
mod set;
mod writer;

#[cfg(test)]
mod tests;

pub use error::{BlockError, MetaProblem};
pub use id::{BlockId, ID_LEN};
pub use meta::{BlockMeta, BlockStats, ChunkFileMeta, META_FILE, META_VERSION};
pub use reader::{Block, BlockSeries};
pub use set::{
    OpenedBlocks, Retention, beyond_size_retention, beyond_time_retention, blocks_beyond_retention,
    delete_block, open_all,
};
pub use writer::{BlockWriter, CHUNKS_DIR, ChunkInput, INDEX_FILE, TMP_SUFFIX};
