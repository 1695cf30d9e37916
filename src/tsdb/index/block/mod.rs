//! The persisted block index: symbols, series (label sets and chunk
//! references) and postings in one file that is read straight from the
//! memory map. Layout, checksums and version: `docs/format/index.md`.
//!
//! [`IndexWriter`] builds the file from series added in label order;
//! [`IndexReader`] validates a byte slice (checksums, structure, every
//! bitmap) and then serves lookups without copying postings;
//! [`MappedIndex`] keeps a validated file's bytes (a memory map) and hands
//! out readers over it without validating again.

mod format;
mod mapped;
mod reader;
mod writer;

pub use format::{BlockIndexError, ChunkMeta, FORMAT_VERSION, MAGIC};
pub use mapped::MappedIndex;
pub use reader::{IndexReader, SeriesEntry};
pub use writer::IndexWriter;
