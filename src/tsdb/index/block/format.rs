//! Constants, framing helpers and the error type of the block index format
//! (`docs/format/index.md`).

pub(crate) use crate::varint::{get_uvarint, put_uvarint};

/// File magic, at the start and at the very end of the file.
pub const MAGIC: [u8; 4] = *b"LVIX";
/// The version this levee writes (and the only one it reads so far).
pub const FORMAT_VERSION: u8 = 1;
/// Header length: magic, version, three reserved bytes.
pub(crate) const HEADER_LEN: usize = 8;
/// Table of contents length: four offsets, CRC, magic.
pub(crate) const TOC_LEN: usize = 40;
/// Section frame overhead: length before, CRC after.
pub(crate) const FRAME_LEN: usize = 12;
/// Postings table entry length.
pub(crate) const ENTRY_LEN: usize = 20;
/// Chunk reference length in a series entry.
pub(crate) const CHUNK_LEN: usize = 24;
/// The reference standing for "no symbol" in the postings table.
pub(crate) const NONE_REF: u32 = u32::MAX;

/// Where one chunk of a series lives and which time range it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample's timestamp (ms).
    pub min_time: i64,
    /// Last sample's timestamp (ms).
    pub max_time: i64,
    /// The chunk file's reference to the chunk (opaque to the index).
    pub chunk_ref: u64,
}

/// Errors writing or reading a block index.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockIndexError {
    /// The file is shorter than header plus table of contents.
    #[error("index file too short: {len} bytes, at least {need} needed")]
    TooShort {
        /// File length.
        len: usize,
        /// Minimum length.
        need: usize,
    },
    /// The magic is not `LVIX`.
    #[error(
        "not a levee block index: magic at offset {offset} is {got:02x?}, expected {expected:02x?}"
    )]
    BadMagic {
        /// Offset of the magic that differs.
        offset: usize,
        /// Bytes found.
        got: [u8; 4],
        /// Bytes expected.
        expected: [u8; 4],
    },
    /// A version this levee cannot read.
    #[error("block index version {got} is not supported (this levee reads version {supported})")]
    UnknownVersion {
        /// Version byte found.
        got: u8,
        /// Version this levee reads.
        supported: u8,
    },
    /// A section or table lies (partly) outside the file.
    #[error(
        "{section} at offset {offset} with length {len} runs past the end of the file ({file_len} bytes)"
    )]
    OutOfBounds {
        /// Which part.
        section: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// File length.
        file_len: usize,
    },
    /// A checksum does not match the bytes it covers.
    #[error(
        "{section} at offset {offset}: checksum mismatch, stored {expected:#010x}, computed {got:#010x}"
    )]
    ChecksumMismatch {
        /// Which part.
        section: &'static str,
        /// Offset of the covered bytes.
        offset: u64,
        /// CRC stored in the file.
        expected: u32,
        /// CRC of the bytes.
        got: u32,
    },
    /// The bytes are well framed but say something impossible.
    #[error("{section} at offset {offset}: {reason}")]
    Corrupt {
        /// Which part.
        section: &'static str,
        /// Offset of the offending bytes.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A postings bitmap does not validate.
    #[error("postings list {entry} at offset {offset} ({len} bytes): {reason}")]
    BadBitmap {
        /// Index of the postings table entry.
        entry: usize,
        /// File offset of the bitmap.
        offset: u64,
        /// Its recorded length.
        len: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A block id past the series count.
    #[error("series {id} not in this block ({count} series)")]
    NoSuchSeries {
        /// The id asked for.
        id: u32,
        /// Series in the block.
        count: u32,
    },
    /// Writer: series must be added in strictly increasing label order.
    #[error("series {got} added after {previous}: series must be added in label order, once each")]
    OutOfOrder {
        /// The previous series.
        previous: String,
        /// The series that came too late.
        got: String,
    },
    /// Writer: a series needs at least one label.
    #[error("empty label set")]
    EmptyLabelSet,
    /// Writer: a chunk with `min_time > max_time` or out of time order.
    #[error("series {series}: chunk {index} {reason}")]
    BadChunk {
        /// The series.
        series: String,
        /// Index of the chunk in the list.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Writer: a section outgrows its 32-bit offsets.
    #[error("{section} too large for the format: {len} bytes")]
    TooLarge {
        /// Which part.
        section: &'static str,
        /// Its size.
        len: u64,
    },
}

/// Reads a little-endian u32 at `pos`.
pub(crate) fn get_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian u64 at `pos`.
pub(crate) fn get_u64(buf: &[u8], pos: usize) -> Option<u64> {
    let b = buf.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_reads_check_bounds() {
        assert_eq!(get_u32(&[1, 0, 0], 0), None);
        assert_eq!(get_u64(&[1, 0, 0, 0, 0, 0, 0, 0], 0), Some(1));
    }
}
