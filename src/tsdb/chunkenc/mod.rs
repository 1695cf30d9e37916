//! Chunk encodings: Gorilla-style XOR chunks of up to 120 samples
//! (delta-of-delta timestamps, XOR-compressed values).
//!
//! The byte format is specified in `docs/format/chunks.md`. A chunk's bytes
//! are always stored next to an [`Encoding`] byte, which is the chunk's
//! version: [`Encoding::try_from`] rejects unknown encodings with a typed
//! error.
//!
//! ```
//! use levee::tsdb::chunkenc::XorChunk;
//!
//! let mut chunk = XorChunk::new();
//! chunk.append(1_000, 1.0).unwrap();
//! chunk.append(16_000, 2.0).unwrap();
//! assert!(chunk.append(15_000, 3.0).is_err()); // out of order
//! let samples: Vec<_> = chunk.iter().collect::<Result<_, _>>().unwrap();
//! assert_eq!(samples, vec![(1_000, 1.0), (16_000, 2.0)]);
//! ```

mod bstream;
mod error;
mod xor;

pub use error::ChunkError;
pub use xor::{XorChunk, XorIterator};

/// The most samples one chunk holds.
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;

/// How a chunk's bytes are encoded; stored beside every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Gorilla XOR encoding of float samples.
    Xor = 1,
}

impl TryFrom<u8> for Encoding {
    type Error = ChunkError;

    fn try_from(byte: u8) -> Result<Self, ChunkError> {
        match byte {
            1 => Ok(Encoding::Xor),
            got => Err(ChunkError::UnknownEncoding { got }),
        }
    }
}

impl From<Encoding> for u8 {
    fn from(e: Encoding) -> u8 {
        e as u8
    }
}

/// Iterates the samples of a chunk stored as `encoding` byte plus `bytes`,
/// validating both.
pub fn iter_chunk(encoding: u8, bytes: &[u8]) -> Result<XorIterator<'_>, ChunkError> {
    match Encoding::try_from(encoding)? {
        Encoding::Xor => XorIterator::new(bytes),
    }
}
