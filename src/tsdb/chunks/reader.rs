//! [`ChunkReader`]: reads chunks by [`ChunkRef`] from memory maps of the
//! chunk files, re-mapping a file that grew since it was mapped.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::RwLock;

use super::error::{ChunkFileError, Corruption};
use super::format::{ParseError, check_header, parse_entry};
use super::{ChunkRef, HEADER_LEN, file_name, list_files};
use crate::tsdb::chunkenc::{self, ChunkError, XorIterator};
use crate::tsdb::fs::{Directory, FileBytes, FsError};

/// One chunk read from a chunk file: its entry's fields and its bytes.
///
/// Holds a reference to the file's map, so it stays valid after the file is
/// deleted or the reader forgets it.
#[derive(Clone, Debug)]
pub struct ChunkData {
    /// The series id stored with the chunk.
    pub series: u32,
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// The encoding byte (`chunkenc::Encoding`).
    pub encoding: u8,
    bytes: FileBytes,
    range: Range<usize>,
}

impl ChunkData {
    /// The encoded chunk.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }

    /// Iterates the chunk's samples (checks the encoding byte and header).
    pub fn iter(&self) -> Result<XorIterator<'_>, ChunkError> {
        chunkenc::iter_chunk(self.encoding, self.data())
    }

    /// The chunk as a [`ChunkSlice`](super::ChunkSlice) for
    /// [`ChunkSeriesIterator`](super::ChunkSeriesIterator).
    pub fn as_slice(&self) -> super::ChunkSlice<'_> {
        super::ChunkSlice {
            min_time: self.min_time,
            max_time: self.max_time,
            encoding: self.encoding,
            data: self.data(),
        }
    }
}

/// Reads chunks from the chunk files of one directory. Shared between
/// threads (`&self` everywhere).
///
/// Files are mapped on first use. A reference past the end of a file's map
/// makes the reader map the file again (it may have grown since), so
/// whatever a [`ChunkWriter`](super::ChunkWriter) flushed is readable.
#[derive(Debug)]
pub struct ChunkReader {
    dir: Arc<dyn Directory>,
    maps: RwLock<BTreeMap<u32, FileBytes>>,
}

impl ChunkReader {
    /// A reader over the chunk files of `dir`, mapping them on first use.
    pub fn new(dir: Arc<dyn Directory>) -> Self {
        ChunkReader {
            dir,
            maps: RwLock::new(BTreeMap::new()),
        }
    }

    /// A reader with every chunk file of `dir` mapped and its header
    /// checked now (for immutable files, e.g. a block's).
    pub fn open_all(dir: Arc<dyn Directory>) -> Result<Self, ChunkFileError> {
        let reader = ChunkReader::new(dir);
        for seq in list_files(&*reader.dir)? {
            reader.remap(seq)?;
        }
        Ok(reader)
    }

    /// The sequence numbers of the files mapped so far.
    pub fn mapped_files(&self) -> Vec<u32> {
        self.maps.read().keys().copied().collect()
    }

    /// Reads the chunk at `r`, checking the entry's CRC.
    pub fn chunk(&self, r: ChunkRef) -> Result<ChunkData, ChunkFileError> {
        let seq = r.seq();
        let mapped = self.maps.read().get(&seq).cloned();
        let bytes = match mapped {
            Some(bytes) => bytes,
            None => self.remap_for(r)?,
        };
        match read_entry(&bytes, r) {
            // The file may have grown since it was mapped: map it again.
            Err(ReadFail::PastEnd(_)) => {
                let bytes = self.remap_for(r)?;
                read_entry(&bytes, r).map_err(|e| e.into_error(r, bytes.len()))
            }
            other => other.map_err(|e| e.into_error(r, bytes.len())),
        }
    }

    /// Drops the maps of files before `seq` (after they were deleted).
    /// Chunks already read keep their file's bytes alive.
    pub fn forget_before(&self, seq: u32) {
        let mut maps = self.maps.write();
        *maps = maps.split_off(&seq);
    }

    /// Drops the map of file `seq`.
    pub fn forget(&self, seq: u32) {
        self.maps.write().remove(&seq);
    }

    fn remap_for(&self, r: ChunkRef) -> Result<FileBytes, ChunkFileError> {
        if r.seq() == 0 {
            return Err(ChunkFileError::NoSuchFile { chunk_ref: r });
        }
        match self.remap(r.seq()) {
            Err(ChunkFileError::Fs(FsError::NotFound { .. })) => {
                Err(ChunkFileError::NoSuchFile { chunk_ref: r })
            }
            other => other,
        }
    }

    /// Maps file `seq` (again), checking its header.
    fn remap(&self, seq: u32) -> Result<FileBytes, ChunkFileError> {
        let bytes = self.dir.map(&file_name(seq))?;
        check_header(seq, &bytes)?;
        self.maps.write().insert(seq, bytes.clone());
        Ok(bytes)
    }
}

enum ReadFail {
    PastEnd(&'static str),
    BadOffset,
    Corrupt(Corruption),
}

impl ReadFail {
    fn into_error(self, r: ChunkRef, file_len: usize) -> ChunkFileError {
        match self {
            ReadFail::BadOffset => ChunkFileError::BadRef {
                chunk_ref: r,
                file_len: file_len as u64,
            },
            ReadFail::PastEnd(_) if r.offset() as usize >= file_len => ChunkFileError::BadRef {
                chunk_ref: r,
                file_len: file_len as u64,
            },
            ReadFail::PastEnd(field) => ChunkFileError::Corrupt {
                seq: r.seq(),
                offset: r.offset(),
                reason: Corruption::PastEnd { field },
            },
            ReadFail::Corrupt(reason) => ChunkFileError::Corrupt {
                seq: r.seq(),
                offset: r.offset(),
                reason,
            },
        }
    }
}

fn read_entry(bytes: &FileBytes, r: ChunkRef) -> Result<ChunkData, ReadFail> {
    let offset = r.offset() as usize;
    if offset < HEADER_LEN {
        return Err(ReadFail::BadOffset);
    }
    if offset >= bytes.len() {
        return Err(ReadFail::PastEnd("series"));
    }
    let e = parse_entry(bytes, offset, true).map_err(|e| match e {
        ParseError::PastEnd(field) => ReadFail::PastEnd(field),
        ParseError::Corrupt(c) => ReadFail::Corrupt(c),
    })?;
    Ok(ChunkData {
        series: e.series,
        min_time: e.min_time,
        max_time: e.max_time,
        encoding: e.encoding,
        bytes: bytes.clone(),
        range: e.data,
    })
}
