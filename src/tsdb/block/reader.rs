//! [`Block`]: an opened block, read entirely from memory maps: meta,
//! validated index, chunk files; series selection, chunks, label names and
//! values.

use std::collections::BTreeSet;
use std::sync::Arc;

use croaring::Bitmap;

use super::error::{BlockError, MetaProblem};
use super::id::BlockId;
use super::meta::{BlockMeta, META_FILE};
use super::writer::{CHUNKS_DIR, INDEX_FILE};
use crate::labels::Labels;
use crate::tsdb::chunks::{ChunkData, ChunkReader, ChunkRef};
use crate::tsdb::fs::{Directory, FsError};
use crate::tsdb::index::Matcher;
use crate::tsdb::index::block::{ChunkMeta, IndexReader, MappedIndex};

/// One series selected from a block: its labels and the chunks overlapping
/// the queried range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSeries {
    /// The label set.
    pub labels: Labels,
    /// Its chunks overlapping the range, in time order; read them with
    /// [`Block::chunk`] (`ChunkRef(meta.chunk_ref)`).
    pub chunks: Vec<ChunkMeta>,
}

/// An opened block. Shared as `Arc<Block>`; `&self` everywhere.
///
/// Everything is read from memory maps taken at open (on disk) or copies
/// (in memory), so removing the block's directory while a query holds the
/// `Arc<Block>` is safe: on Linux a mapped file outlives its unlinking, and
/// the query keeps reading the data it had.
#[derive(Debug)]
pub struct Block {
    meta: BlockMeta,
    index: MappedIndex,
    chunks: ChunkReader,
    size_bytes: u64,
}

impl Block {
    /// Opens the block in `dir`: reads and validates `meta.json` (an unknown
    /// version is [`BlockError::UnknownVersion`]), checks that the index and
    /// every chunk file exist with the recorded lengths, validates the index
    /// (checksums, structure, every postings bitmap) and maps the chunk
    /// files, checking their headers. Never changes the directory.
    pub fn open(dir: Arc<dyn Directory>) -> Result<Block, BlockError> {
        let meta_bytes = map_required(&*dir, META_FILE, META_FILE)?;
        let meta = BlockMeta::from_json(&meta_bytes)?;

        let index_bytes = map_required(&*dir, INDEX_FILE, INDEX_FILE)?;
        check_len(INDEX_FILE, meta.index_bytes, index_bytes.len() as u64)?;
        let index = MappedIndex::open(index_bytes)?;

        if !dir.list_dirs()?.iter().any(|d| d == CHUNKS_DIR) {
            return Err(BlockError::MissingFile {
                file: format!("{CHUNKS_DIR}/"),
            });
        }
        let chunks_dir = dir.subdir(CHUNKS_DIR)?;
        let present = crate::tsdb::chunks::list_files(&*chunks_dir)?;
        let listed: Vec<String> = present
            .iter()
            .map(|&s| crate::tsdb::chunks::file_name(s))
            .collect();
        for f in &meta.chunk_files {
            let path = format!("{CHUNKS_DIR}/{}", f.name);
            if !listed.contains(&f.name) {
                return Err(BlockError::MissingFile { file: path });
            }
            check_len(&path, f.bytes, chunks_dir.len(&f.name)?)?;
        }
        if listed.len() != meta.chunk_files.len() {
            return Err(BlockError::BadMeta {
                reason: MetaProblem::Inconsistent(format!(
                    "{} chunk files listed, {} present in {CHUNKS_DIR}/",
                    meta.chunk_files.len(),
                    listed.len()
                )),
            });
        }
        let chunks = ChunkReader::open_all(chunks_dir)?;
        let size_bytes = meta.data_bytes() + meta_bytes.len() as u64;
        Ok(Block {
            meta,
            index,
            chunks,
            size_bytes,
        })
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's id.
    pub fn id(&self) -> BlockId {
        self.meta.id
    }

    /// Bytes the block takes on disk (index, chunk files, meta).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The block's index, for callers that walk it.
    pub fn index(&self) -> IndexReader<'_> {
        self.index.reader()
    }

    /// The series matching all `matchers` that have a chunk overlapping the
    /// closed range `[mint, maxt]`, in label order, each with those chunks.
    pub fn select(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<BlockSeries>, BlockError> {
        if !self.meta.overlaps(mint, maxt) {
            return Ok(Vec::new());
        }
        let index = self.index.reader();
        let mut out = Vec::new();
        for id in index.select(matchers).iter() {
            let entry = index.series(id)?;
            let chunks: Vec<ChunkMeta> = entry
                .chunks
                .into_iter()
                .filter(|c| c.max_time >= mint && c.min_time <= maxt)
                .collect();
            if !chunks.is_empty() {
                out.push(BlockSeries {
                    labels: entry.labels,
                    chunks,
                });
            }
        }
        Ok(out)
    }

    /// Reads one chunk (CRC checked).
    pub fn chunk(&self, r: ChunkRef) -> Result<ChunkData, BlockError> {
        Ok(self.chunks.chunk(r)?)
    }

    /// Sorted label names of the series matching `matchers` (all names when
    /// the list is empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, BlockError> {
        let index = self.index.reader();
        let names = index.label_names();
        if matchers.is_empty() {
            return Ok(names.into_iter().map(str::to_owned).collect());
        }
        let selected = index.select(matchers);
        if selected.cardinality() <= names.len() as u64 {
            let mut set = BTreeSet::new();
            for id in selected.iter() {
                for l in index.series(id)?.labels.iter() {
                    set.insert(l.name.to_owned());
                }
            }
            return Ok(set.into_iter().collect());
        }
        Ok(names
            .into_iter()
            .filter(|n| {
                index
                    .name_postings(n)
                    .is_some_and(|p| p.intersect(&selected))
            })
            .map(str::to_owned)
            .collect())
    }

    /// Sorted values of label `name` among the series matching `matchers`
    /// (all its values when the list is empty).
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, BlockError> {
        let index = self.index.reader();
        let values = index.label_values(name);
        if matchers.is_empty() {
            return Ok(values.into_iter().map(str::to_owned).collect());
        }
        let selected: Bitmap = index.select(matchers);
        if selected.cardinality() <= values.len() as u64 {
            let mut set = BTreeSet::new();
            for id in selected.iter() {
                if let Some(v) = index.series(id)?.labels.get(name) {
                    set.insert(v.to_owned());
                }
            }
            return Ok(set.into_iter().collect());
        }
        Ok(values
            .into_iter()
            .filter(|v| {
                index
                    .postings(name, v)
                    .is_some_and(|p| p.intersect(&selected))
            })
            .map(str::to_owned)
            .collect())
    }
}

/// Maps `name`, turning "not found" into [`BlockError::MissingFile`].
fn map_required(
    dir: &dyn Directory,
    name: &str,
    shown: &str,
) -> Result<crate::tsdb::fs::FileBytes, BlockError> {
    match dir.map(name) {
        Err(FsError::NotFound { .. }) => Err(BlockError::MissingFile {
            file: shown.to_string(),
        }),
        other => Ok(other?),
    }
}

fn check_len(file: &str, expected: u64, got: u64) -> Result<(), BlockError> {
    if expected != got {
        return Err(BlockError::SizeMismatch {
            file: file.to_string(),
            expected,
            got,
        });
    }
    Ok(())
}
