//! [`ChunkWriter`]: appends chunk entries to numbered chunk files, cutting
//! files at a size limit; opening continues after the newest file's last
//! whole entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{ChunkFileError, Corruption};
use super::format::{ParseError, check_header, encode_entry, header, parse_entry};
use super::reader::ChunkReader;
use super::{ChunkRef, DEFAULT_FILE_SIZE, HEADER_LEN, MAX_CHUNK_BYTES, file_name, list_files};
use crate::tsdb::fs::{Directory, WriteFile};

/// Options of a [`ChunkWriter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkWriterOptions {
    /// A file is cut when the next entry would take it past this many bytes
    /// (default 512 MiB; at most `u32::MAX`, at least 64).
    pub file_size: u64,
    /// Appends are buffered in memory up to this many bytes before they are
    /// written to the file (default 1 MiB; 0 writes every entry at once).
    /// Buffered entries are not readable until [`ChunkWriter::flush`].
    pub buffer_size: usize,
}

impl Default for ChunkWriterOptions {
    fn default() -> Self {
        ChunkWriterOptions {
            file_size: DEFAULT_FILE_SIZE,
            buffer_size: 1 << 20,
        }
    }
}

/// What one chunk file holds (see [`ChunkWriter::files`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Sequence number.
    pub seq: u32,
    /// Length in bytes (including what is still buffered).
    pub bytes: u64,
    /// Number of entries.
    pub chunks: u64,
    /// Smallest `min_time` of its entries (`i64::MAX` when it has none).
    pub min_time: i64,
    /// Largest `max_time` of its entries (`i64::MIN` when it has none).
    pub max_time: i64,
}

impl FileInfo {
    fn empty(seq: u32) -> Self {
        FileInfo {
            seq,
            bytes: HEADER_LEN as u64,
            chunks: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    fn add(&mut self, min_time: i64, max_time: i64, len: u64) {
        self.chunks += 1;
        self.bytes += len;
        self.min_time = self.min_time.min(min_time);
        self.max_time = self.max_time.max(max_time);
    }
}

/// Appends chunks to the chunk files of one directory. One writer per
/// directory (take the directory's lock first).
#[derive(Debug)]
pub struct ChunkWriter {
    dir: Arc<dyn Directory>,
    opts: ChunkWriterOptions,
    /// The file being appended to; `None` until the first append after
    /// opening or a cut.
    active: Option<Box<dyn WriteFile>>,
    /// Entries not yet written to `active`.
    buf: Vec<u8>,
    files: BTreeMap<u32, FileInfo>,
    reader: Arc<ChunkReader>,
    poisoned: bool,
}

impl ChunkWriter {
    /// Opens the writer over `dir`: checks every file's header, walks the
    /// entries to learn each file's time range, and truncates a torn entry
    /// at the end of the newest file, returning what it dropped as
    /// [`ChunkFileError::TornTail`]. New entries go to the newest file.
    ///
    /// Entries are walked by their lengths, without checking CRCs: run
    /// [`scan`](super::scan) (and [`repair`](super::repair) where it stops)
    /// before opening to validate every entry. An entry running past the end
    /// of a file other than the newest fails the open as corruption.
    pub fn open(
        dir: Arc<dyn Directory>,
        opts: ChunkWriterOptions,
    ) -> Result<(Self, Option<ChunkFileError>), ChunkFileError> {
        if !(64..=u64::from(u32::MAX)).contains(&opts.file_size) {
            return Err(ChunkFileError::BadOption(format!(
                "file_size {} is not in 64..=4294967295",
                opts.file_size
            )));
        }
        let seqs = list_files(&*dir)?;
        let mut files = BTreeMap::new();
        let mut torn = None;
        for (i, &seq) in seqs.iter().enumerate() {
            let newest = i + 1 == seqs.len();
            let name = file_name(seq);
            let bytes = dir.map(&name)?;
            if newest && bytes.len() < HEADER_LEN {
                // Died while creating it: write the header again.
                let mut f = dir.create(&name)?;
                f.append(&header())?;
                f.sync()?;
                files.insert(seq, FileInfo::empty(seq));
                continue;
            }
            check_header(seq, &bytes)?;
            let (info, end) = walk(seq, &bytes)?;
            if end < bytes.len() {
                let err = ChunkFileError::TornTail {
                    seq,
                    offset: end as u32,
                    len: (bytes.len() - end) as u64,
                };
                if !newest {
                    return Err(ChunkFileError::Corrupt {
                        seq,
                        offset: end as u32,
                        reason: Corruption::PastEnd { field: "entry" },
                    });
                }
                drop(bytes);
                dir.truncate(&name, end as u64)?;
                torn = Some(err);
            }
            files.insert(seq, info);
        }
        let reader = Arc::new(ChunkReader::new(Arc::clone(&dir)));
        let mut writer = ChunkWriter {
            dir,
            opts,
            active: None,
            buf: Vec::new(),
            files,
            reader,
            poisoned: false,
        };
        if let Some((&seq, _)) = writer.files.iter().next_back() {
            writer.active = Some(writer.dir.open_append(&file_name(seq))?);
        }
        Ok((writer, torn))
    }

    /// The reader sharing this writer's directory; the writer tells it when
    /// files are deleted.
    pub fn reader(&self) -> &Arc<ChunkReader> {
        &self.reader
    }

    /// Appends one chunk: `series` id, the time range of its samples, its
    /// encoding byte and its bytes. Returns where it lives. The chunk is
    /// readable after the next [`flush`](Self::flush) (or `sync`, `cut`, or
    /// when the buffer fills), durable after the next [`sync`](Self::sync).
    pub fn append(
        &mut self,
        series: u32,
        min_time: i64,
        max_time: i64,
        encoding: u8,
        data: &[u8],
    ) -> Result<ChunkRef, ChunkFileError> {
        if self.poisoned {
            return Err(ChunkFileError::Poisoned);
        }
        if max_time < min_time || max_time.checked_sub(min_time).is_none() {
            return Err(ChunkFileError::BadTimeRange { min_time, max_time });
        }
        if data.len() > MAX_CHUNK_BYTES {
            return Err(ChunkFileError::ChunkTooLarge {
                len: data.len(),
                max: MAX_CHUNK_BYTES,
            });
        }
        let start = self.buf.len();
        encode_entry(&mut self.buf, series, min_time, max_time, encoding, data);
        let len = (self.buf.len() - start) as u64;
        let fits = self
            .files
            .values()
            .next_back()
            .filter(|_| self.active.is_some())
            .is_some_and(|f| f.bytes == HEADER_LEN as u64 || f.bytes + len <= self.opts.file_size);
        if !fits {
            let entry = self.buf.split_off(start);
            // On failure the entry is dropped; a failed sync poisons the
            // writer, a failed file creation is retried by the next append.
            self.cut()?;
            self.start_file()?;
            self.buf = entry;
        }
        let Some(info) = self.files.values_mut().next_back() else {
            return Err(ChunkFileError::Poisoned);
        };
        let chunk_ref = ChunkRef::new(info.seq, info.bytes as u32);
        info.add(min_time, max_time, len);
        if self.buf.len() >= self.opts.buffer_size {
            self.flush()?;
        }
        Ok(chunk_ref)
    }

    /// Writes buffered entries to the file, making them readable.
    pub fn flush(&mut self) -> Result<(), ChunkFileError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.poisoned {
            return Err(ChunkFileError::Poisoned);
        }
        let Some(file) = self.active.as_mut() else {
            return Err(ChunkFileError::Poisoned);
        };
        if let Err(e) = file.append(&self.buf) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.buf.clear();
        Ok(())
    }

    /// Flushes and fsyncs the active file.
    pub fn sync(&mut self) -> Result<(), ChunkFileError> {
        self.flush()?;
        if let Some(file) = self.active.as_mut()
            && let Err(e) = file.sync()
        {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Finishes the active file (flushed and synced); the next append
    /// starts a new one.
    pub fn cut(&mut self) -> Result<(), ChunkFileError> {
        self.sync()?;
        self.active = None;
        Ok(())
    }

    /// Every file with what it holds, by sequence number.
    pub fn files(&self) -> Vec<FileInfo> {
        self.files.values().copied().collect()
    }

    /// The sequence number of the file being appended to, if any.
    pub fn active_seq(&self) -> Option<u32> {
        self.active.as_ref()?;
        self.files.keys().next_back().copied()
    }

    /// Deletes every file before `seq`, except the active one. Returns the
    /// sequence numbers deleted.
    pub fn delete_files_before(&mut self, seq: u32) -> Result<Vec<u32>, ChunkFileError> {
        let doomed: Vec<u32> = self.files.range(..seq).map(|(&s, _)| s).collect();
        self.delete(doomed)
    }

    /// Deletes every file, except the active one, whose entries all end
    /// before `time` (`max_time < time`), e.g. after the head was truncated
    /// to `time`. Returns the sequence numbers deleted.
    pub fn delete_files_older_than(&mut self, time: i64) -> Result<Vec<u32>, ChunkFileError> {
        let doomed: Vec<u32> = self
            .files
            .values()
            .filter(|f| f.max_time < time)
            .map(|f| f.seq)
            .collect();
        self.delete(doomed)
    }

    /// Flushes and syncs the active file.
    pub fn close(mut self) -> Result<(), ChunkFileError> {
        self.sync()
    }

    fn delete(&mut self, seqs: Vec<u32>) -> Result<Vec<u32>, ChunkFileError> {
        let active = self.active_seq();
        let mut deleted = Vec::new();
        for seq in seqs.into_iter().filter(|&s| Some(s) != active) {
            self.reader.forget(seq);
            self.dir.remove(&file_name(seq))?;
            self.files.remove(&seq);
            // Again, in case a concurrent read mapped it meanwhile.
            self.reader.forget(seq);
            deleted.push(seq);
        }
        if !deleted.is_empty() {
            self.dir.sync_dir()?;
        }
        Ok(deleted)
    }

    /// Creates the next file and makes it active.
    fn start_file(&mut self) -> Result<(), ChunkFileError> {
        let seq = match self.files.keys().next_back() {
            Some(&last) => last.checked_add(1).ok_or(ChunkFileError::TooManyFiles)?,
            None => 1,
        };
        let mut file = self.dir.create(&file_name(seq))?;
        file.append(&header())?;
        self.dir.sync_dir()?;
        self.files.insert(seq, FileInfo::empty(seq));
        self.active = Some(file);
        Ok(())
    }
}

/// Walks the entries of file `seq` by their lengths; returns the file's
/// info and where the last whole entry ends.
fn walk(seq: u32, bytes: &[u8]) -> Result<(FileInfo, usize), ChunkFileError> {
    let mut info = FileInfo::empty(seq);
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        match parse_entry(bytes, pos, false) {
            Ok(e) => {
                info.add(e.min_time, e.max_time, (e.end - pos) as u64);
                pos = e.end;
            }
            Err(ParseError::PastEnd(_)) => break,
            Err(ParseError::Corrupt(reason)) => {
                return Err(ChunkFileError::Corrupt {
                    seq,
                    offset: pos as u32,
                    reason,
                });
            }
        }
    }
    Ok((info, pos))
}
