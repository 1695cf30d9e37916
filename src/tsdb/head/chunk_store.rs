//! [`HeadChunks`]: the head's use of the chunk files (`tsdb::chunks`):
//! opening with a scan that repairs damage (the WAL and checkpoint hold
//! every head sample, so a cut chunk file loses nothing), writing full
//! chunks, reading them back, deleting files a head cut made obsolete.

use std::sync::Arc;

use crate::tsdb::chunks::{self, ChunkFileError, ChunkRef, ChunkWriter, ChunkWriterOptions};
use crate::tsdb::fs::Directory;

use super::HeadError;

/// One chunk found in the files at open: series id, ref, time range.
pub(crate) type ScannedEntry = (u32, ChunkRef, i64, i64);

/// The head chunk files.
pub(crate) struct HeadChunks {
    writer: ChunkWriter,
    scanned: Vec<ScannedEntry>,
}

impl HeadChunks {
    /// Scans `dir` (repairing a damaged or torn entry by cutting the files
    /// there, logged) and opens the writer after the last good entry.
    pub fn open(dir: Arc<dyn Directory>, file_size: u64) -> Result<Self, HeadError> {
        let mut scanned = Vec::new();
        let mut damage = None;
        for entry in chunks::scan(&dir)? {
            match entry {
                Ok(c) => scanned.push((c.series, c.chunk_ref, c.min_time, c.max_time)),
                Err(e) => {
                    damage = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = damage {
            let Some(at) = e.position() else {
                return Err(e.into());
            };
            let report = chunks::repair(&dir, at)?;
            tracing::warn!(error = %e, ?report, "head chunk files damaged: cut at the damage (the WAL holds those samples)");
        }
        let opts = ChunkWriterOptions {
            file_size,
            ..ChunkWriterOptions::default()
        };
        let (writer, torn) = ChunkWriter::open(dir, opts)?;
        if let Some(t) = torn {
            tracing::warn!(error = %t, "head chunk files: torn tail cut");
        }
        Ok(HeadChunks { writer, scanned })
    }

    /// The entries found at open (once; later calls get nothing).
    pub fn take_scanned(&mut self) -> Vec<ScannedEntry> {
        std::mem::take(&mut self.scanned)
    }

    /// Writes a full chunk.
    pub fn write(
        &mut self,
        series: u32,
        min_time: i64,
        max_time: i64,
        encoding: u8,
        data: &[u8],
    ) -> Result<ChunkRef, ChunkFileError> {
        self.writer
            .append(series, min_time, max_time, encoding, data)
    }

    /// A copy of a written chunk: encoding byte and bytes.
    pub fn read(&mut self, r: ChunkRef) -> Result<(u8, Vec<u8>), ChunkFileError> {
        self.writer.flush()?;
        let c = self.writer.reader().chunk(r)?;
        Ok((c.encoding, c.data().to_vec()))
    }

    /// The last sample of a written chunk.
    pub fn last_sample(&mut self, r: ChunkRef) -> Result<Option<(i64, f64)>, HeadError> {
        self.writer.flush()?;
        let c = self.writer.reader().chunk(r)?;
        let mut last = None;
        for s in c.iter()? {
            last = Some(s?);
        }
        Ok(last)
    }

    /// Deletes the files whose chunks all end before `t`.
    pub fn delete_before(&mut self, t: i64) -> Result<usize, ChunkFileError> {
        Ok(self.writer.delete_files_older_than(t)?.len())
    }

    /// Makes everything written durable.
    pub fn sync(&mut self) -> Result<(), ChunkFileError> {
        self.writer.sync()
    }
}
