//! Errors of writing, opening and querying blocks.

use crate::tsdb::chunkenc::ChunkError;
use crate::tsdb::chunks::ChunkFileError;
use crate::tsdb::fs::FsError;
use crate::tsdb::index::block::BlockIndexError;

/// What is wrong with a block's `meta.json`.
#[derive(Debug, thiserror::Error)]
pub enum MetaProblem {
    /// The file is not JSON.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The JSON does not have the fields of the format.
    #[error("{0}")]
    Shape(#[source] serde_json::Error),
    /// The fields contradict each other or the block's files.
    #[error("{0}")]
    Inconsistent(String),
}

/// An error of the block layer (`docs/format/block.md`).
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The underlying directory failed.
    #[error("block: {0}")]
    Fs(#[from] FsError),
    /// The block's index is damaged (or, writing, refused a series).
    #[error("block index: {0}")]
    Index(#[from] BlockIndexError),
    /// A chunk file of the block is damaged or a reference is bad.
    #[error("block chunks: {0}")]
    Chunks(#[from] ChunkFileError),
    /// `meta.json` says a version this levee cannot read.
    #[error(
        "meta.json: block format version {got} is not supported (this levee reads version {supported})"
    )]
    UnknownVersion {
        /// The version found.
        got: u64,
        /// The version this levee reads.
        supported: u32,
    },
    /// `meta.json` is not valid JSON of the expected shape, or its fields
    /// contradict each other.
    #[error("meta.json: {reason}")]
    BadMeta {
        /// What is wrong.
        #[source]
        reason: MetaProblem,
    },
    /// A file the block needs is missing.
    #[error("block file {file} is missing")]
    MissingFile {
        /// The file, relative to the block directory.
        file: String,
    },
    /// A file's length differs from the one `meta.json` records.
    #[error("block file {file} has {got} bytes, meta.json records {expected}")]
    SizeMismatch {
        /// The file, relative to the block directory.
        file: String,
        /// Length recorded in `meta.json`.
        expected: u64,
        /// Length found.
        got: u64,
    },
    /// A block directory's name differs from the id in its `meta.json`.
    #[error("block directory {dir} holds block {meta_id}")]
    IdMismatch {
        /// The directory's name.
        dir: String,
        /// The id in `meta.json`.
        meta_id: String,
    },
    /// Text that is not a block id.
    #[error("{got:?} is not a block id: {reason}")]
    BadId {
        /// The text.
        got: String,
        /// Why.
        reason: &'static str,
    },
    /// No block with this id in the blocks directory.
    #[error("no block {id}")]
    NoSuchBlock {
        /// The id asked for.
        id: String,
    },
    /// Writer: the block's time range is empty.
    #[error("block time range [{min_time}, {max_time}) is empty")]
    BadRange {
        /// Start (inclusive).
        min_time: i64,
        /// End (exclusive).
        max_time: i64,
    },
    /// Writer: series must come in strictly increasing label order.
    #[error("series {got} added after {previous}: series must be added in label order, once each")]
    OutOfOrder {
        /// The previous series.
        previous: String,
        /// The series that came too late.
        got: String,
    },
    /// Writer: a chunk that cannot go into this block.
    #[error("series {series}: chunk {index}: {reason}")]
    BadChunk {
        /// The series.
        series: String,
        /// The chunk's position in the series' list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Writer: a chunk's bytes do not decode.
    #[error("series {series}: chunk {index}: {source}")]
    BadChunkData {
        /// The series.
        series: String,
        /// The chunk's position in the series' list.
        index: usize,
        /// The decoder's error.
        source: ChunkError,
    },
    /// Writer: an earlier error left the block unusable; it will not be
    /// finished.
    #[error("block writer failed earlier; the block is abandoned")]
    Poisoned,
}
