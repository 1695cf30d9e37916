//! [`scan`]: every entry of every chunk file in order, CRCs checked (what a
//! head restart reads); [`repair`]: cutting the files at a damaged entry.

use std::sync::Arc;

use super::error::ChunkFileError;
use super::format::{ParseError, check_header, parse_entry};
use super::{ChunkRef, HEADER_LEN, file_name, list_files};
use crate::tsdb::fs::{Directory, FileBytes};

/// One entry found by [`scan`] (its data is not copied; read it with a
/// [`ChunkReader`](super::ChunkReader) if needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScannedChunk {
    /// The series id stored with the chunk.
    pub series: u32,
    /// Where the entry is.
    pub chunk_ref: ChunkRef,
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// The encoding byte.
    pub encoding: u8,
    /// Number of samples, from the chunk's header (its first two bytes,
    /// big-endian, for every encoding so far).
    pub num_samples: u16,
}

/// Iterator over every entry of a directory's chunk files, oldest first.
/// Yields one error and stops at the first damaged entry or header: a
/// [`ChunkFileError::TornTail`] at the end of the newest file, a
/// [`ChunkFileError::Corrupt`] anywhere else (both carry the position for
/// [`repair`]).
#[derive(Debug)]
pub struct ChunkScan {
    dir: Arc<dyn Directory>,
    seqs: Vec<u32>,
    /// Index in `seqs` of the file being read.
    next_file: usize,
    current: Option<(u32, FileBytes)>,
    pos: usize,
    done: bool,
}

/// Starts a scan of the chunk files of `dir`.
pub fn scan(dir: &Arc<dyn Directory>) -> Result<ChunkScan, ChunkFileError> {
    Ok(ChunkScan {
        dir: Arc::clone(dir),
        seqs: list_files(&**dir)?,
        next_file: 0,
        current: None,
        pos: 0,
        done: false,
    })
}

impl ChunkScan {
    fn step(&mut self) -> Result<Option<ScannedChunk>, ChunkFileError> {
        loop {
            let Some((seq, bytes)) = &self.current else {
                let Some(&seq) = self.seqs.get(self.next_file) else {
                    return Ok(None);
                };
                self.next_file += 1;
                let bytes = self.dir.map(&file_name(seq))?;
                check_header(seq, &bytes)?;
                self.current = Some((seq, bytes));
                self.pos = HEADER_LEN;
                continue;
            };
            let seq = *seq;
            if self.pos >= bytes.len() {
                self.current = None;
                continue;
            }
            let offset = self.pos as u32;
            return match parse_entry(bytes, self.pos, true) {
                Ok(e) => {
                    self.pos = e.end;
                    let data = &bytes[e.data];
                    Ok(Some(ScannedChunk {
                        series: e.series,
                        chunk_ref: ChunkRef::new(seq, offset),
                        min_time: e.min_time,
                        max_time: e.max_time,
                        encoding: e.encoding,
                        num_samples: match data {
                            [a, b, ..] => u16::from_be_bytes([*a, *b]),
                            _ => 0,
                        },
                    }))
                }
                Err(ParseError::PastEnd(_)) if self.next_file == self.seqs.len() => {
                    Err(ChunkFileError::TornTail {
                        seq,
                        offset,
                        len: (bytes.len() - self.pos) as u64,
                    })
                }
                Err(e) => Err(ChunkFileError::Corrupt {
                    seq,
                    offset,
                    reason: e.into_corruption(),
                }),
            };
        }
    }
}

impl Iterator for ChunkScan {
    type Item = Result<ScannedChunk, ChunkFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// The file cut, its new length (`None` if it was removed).
    pub truncated: Option<(u32, u64)>,
    /// Files removed entirely (the damaged one if its header was bad, and
    /// every later one).
    pub removed: Vec<u32>,
}

/// Keeps every entry before `at` (a position from
/// [`ChunkFileError::position`]): truncates that file at its offset (removing
/// the file if the offset is inside its header) and removes every later file.
/// Close the writer first and open it again afterwards.
pub fn repair(dir: &Arc<dyn Directory>, at: ChunkRef) -> Result<RepairReport, ChunkFileError> {
    let mut report = RepairReport {
        truncated: None,
        removed: Vec::new(),
    };
    for seq in list_files(&**dir)? {
        let name = file_name(seq);
        if seq == at.seq() && at.offset() as usize >= HEADER_LEN {
            let len = u64::from(at.offset()).min(dir.len(&name)?);
            dir.truncate(&name, len)?;
            report.truncated = Some((seq, len));
        } else if seq >= at.seq() {
            dir.remove(&name)?;
            report.removed.push(seq);
        }
    }
    dir.sync_dir()?;
    Ok(report)
}
