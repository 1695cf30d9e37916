//! Segmented chunk files: the on-disk home of full chunks, for the head (so
//! the heap holds only each series' open chunk) and for blocks alike.
//! Layout, checksums and version: `docs/format/chunk-files.md`.
//!
//! - [`ChunkWriter`] appends entries (series id, time range, encoding byte,
//!   encoded chunk, CRC-32C) to numbered files, cutting a file at a size
//!   limit, and hands out a [`ChunkRef`] per chunk. Opening it continues the
//!   newest file after truncating a torn tail.
//! - [`ChunkReader`] reads a [`ChunkRef`] from memory maps, re-mapping a file
//!   that grew since it was mapped, so chunks the writer just flushed are
//!   readable at once.
//! - [`scan`] walks every entry (head restart); [`repair`] cuts the files at
//!   a corrupt entry.
//! - [`ChunkSeriesIterator`] iterates the samples of one series' chunks in a
//!   time range.
//!
//! ```
//! use std::sync::Arc;
//! use levee::tsdb::chunkenc::{Encoding, XorChunk};
//! use levee::tsdb::chunks::{ChunkWriter, ChunkWriterOptions};
//! use levee::tsdb::fs::{Directory, MemDirectory};
//!
//! let dir: Arc<dyn Directory> = MemDirectory::new();
//! let (mut writer, torn) = ChunkWriter::open(Arc::clone(&dir), ChunkWriterOptions::default())?;
//! assert!(torn.is_none());
//! let mut chunk = XorChunk::new();
//! chunk.append(1_000, 1.5)?;
//! chunk.append(2_000, 2.5)?;
//! let r = writer.append(7, 1_000, 2_000, Encoding::Xor.into(), chunk.bytes())?;
//! writer.flush()?;
//! let data = writer.reader().chunk(r)?;
//! assert_eq!((data.series, data.min_time, data.max_time), (7, 1_000, 2_000));
//! let samples: Vec<_> = data.iter()?.collect::<Result<_, _>>()?;
//! assert_eq!(samples, vec![(1_000, 1.5), (2_000, 2.5)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod format;
mod iter;
mod reader;
mod scan;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;

pub use error::{ChunkFileError, Corruption};
pub use iter::{ChunkSeriesIterator, ChunkSlice};
pub use reader::{ChunkData, ChunkReader};
pub use scan::{ChunkScan, RepairReport, ScannedChunk, repair, scan};
pub use writer::{ChunkWriter, ChunkWriterOptions, FileInfo};

/// File magic: `LVCF`.
pub const MAGIC: [u8; 4] = *b"LVCF";
/// The format version this levee writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Length of a file's header (magic, version, three reserved bytes).
pub const HEADER_LEN: usize = 8;
/// The largest chunk (data bytes) an entry may hold.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// The default size at which a file is cut: 512 MiB.
pub const DEFAULT_FILE_SIZE: u64 = 512 << 20;

/// Where a chunk lives: the file's sequence number in the high 32 bits, the
/// entry's byte offset in the file in the low 32 bits. `0` is never valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChunkRef(pub u64);

impl ChunkRef {
    /// The reference of the entry at `offset` of file `seq`.
    pub fn new(seq: u32, offset: u32) -> Self {
        ChunkRef(u64::from(seq) << 32 | u64::from(offset))
    }

    /// The file's sequence number.
    pub fn seq(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The entry's byte offset in the file.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for ChunkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}:{}", self.seq(), self.offset())
    }
}

/// The file name of sequence number `seq` (`000001`).
pub fn file_name(seq: u32) -> String {
    format!("{seq:06}")
}

/// The sequence number of a chunk file name, `None` for other names.
pub fn parse_file_name(name: &str) -> Option<u32> {
    if name.len() < 6 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse()
        .ok()
        .filter(|&seq| seq > 0 && file_name(seq) == name)
}

/// The chunk files of `dir`, by sequence number.
pub fn list_files(dir: &dyn crate::tsdb::fs::Directory) -> Result<Vec<u32>, ChunkFileError> {
    let mut seqs: Vec<u32> = dir
        .list()?
        .iter()
        .filter_map(|n| parse_file_name(n))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}
