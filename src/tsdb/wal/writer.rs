//! [`Wal`]: opening, logging batches of records, syncing, rolling
//! segments and deleting old ones.

use std::sync::Arc;
use std::time::Instant;

use crate::tsdb::fs::{Directory, FsError, WriteFile};

use super::frame;
use super::repair::{RepairReport, repair, repair_tail};
use super::segment::{SEGMENT_HEADER_LEN, header, list_segments, segment_name};
use super::{Position, SyncPolicy, WalError, WalOptions, WalReader};

/// Running totals of a [`Wal`], for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WalStats {
    /// Records logged.
    pub records: u64,
    /// Bytes appended to segments (frames and segment headers).
    pub bytes_written: u64,
    /// Successful fsyncs of segment files.
    pub syncs: u64,
    /// Time spent in those fsyncs, in seconds.
    pub sync_seconds: f64,
    /// Segments created.
    pub segments_created: u64,
}

/// The write side of the WAL. One per directory.
#[derive(Debug)]
pub struct Wal {
    dir: Arc<dyn Directory>,
    opts: WalOptions,
    first: u32,
    segment: u32,
    file: Box<dyn WriteFile>,
    synced: Position,
    last_sync: Instant,
    buf: Vec<u8>,
    frame_ends: Vec<usize>,
    encoder: snap::raw::Encoder,
    /// Why the WAL refuses writes until reopened or repaired: the failure
    /// and, for a torn append, the failure to cut it back.
    poisoned: Option<(FsError, Option<Box<FsError>>)>,
    repaired: Option<RepairReport>,
    stats: WalStats,
}

impl Wal {
    /// Opens (or creates) the WAL in `dir`.
    ///
    /// A torn last record (or a newest segment cut inside its header) is
    /// truncated away ([`Wal::repaired_tail`] says what was cut). Damage
    /// anywhere in the newest segment is an error, [`WalError::Corrupt`],
    /// so that nothing is written after it: [`repair`] it and open again.
    /// Damage in older segments is found by the returned reader, which
    /// replays every record present at open time, oldest first.
    pub fn open(dir: Arc<dyn Directory>, opts: WalOptions) -> Result<(Wal, WalReader), WalError> {
        let segs = list_segments(&*dir)?;
        let (first, last) = match (segs.first(), segs.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => {
                drop(create_segment(&*dir, 0)?);
                (0, 0)
            }
        };
        let repaired = repair_tail(&*dir, last)?;
        let name = segment_name(last);
        let len = dir.len(&name)?;
        let end = Position {
            segment: last,
            offset: len,
        };
        let (segment, file) = if len < opts.segment_size {
            (last, dir.open_append(&name)?)
        } else {
            let next = next_index(last)?;
            (next, create_segment(&*dir, next)?)
        };
        let synced = Position {
            segment,
            offset: file.len(),
        };
        let replay = WalReader::new(Arc::clone(&dir), Position::start_of(first)).with_end(end);
        let wal = Wal {
            dir,
            opts,
            first,
            segment,
            file,
            synced,
            last_sync: Instant::now(),
            buf: Vec::new(),
            frame_ends: Vec::new(),
            encoder: snap::raw::Encoder::new(),
            poisoned: None,
            repaired,
            stats: WalStats::default(),
        };
        Ok((wal, replay))
    }

    /// Running totals since open.
    pub fn stats(&self) -> WalStats {
        self.stats
    }

    /// What opening cut off as a torn tail, if anything.
    pub fn repaired_tail(&self) -> Option<&RepairReport> {
        self.repaired.as_ref()
    }

    /// Appends `records` in order and returns the WAL's end position (after
    /// the last of them), syncing as the [`SyncPolicy`] says.
    ///
    /// On error none of the batch is acknowledged, but a prefix of it (whole
    /// records) may be in the WAL and be replayed; a torn record never is.
    /// If the segment cannot be brought back to a record boundary the WAL
    /// is poisoned ([`WalError::Poisoned`]) until reopened.
    pub fn log(&mut self, records: &[&[u8]]) -> Result<Position, WalError> {
        self.check_poisoned()?;
        let mut buf = std::mem::take(&mut self.buf);
        let res = self.log_with(records, &mut buf);
        crate::tsdb::release_if_large(&mut buf);
        self.buf = buf;
        res?;
        self.stats.records += records.len() as u64;
        let due = match self.opts.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            SyncPolicy::Never => false,
        };
        if due {
            self.sync_file()?;
        }
        Ok(self.position())
    }

    fn log_with(&mut self, records: &[&[u8]], buf: &mut Vec<u8>) -> Result<(), WalError> {
        buf.clear();
        self.frame_ends.clear();
        for record in records {
            frame::encode(record, buf, &mut self.encoder)?;
            self.frame_ends.push(buf.len());
        }
        let mut pending = 0;
        let mut start = 0;
        let mut seg_len = self.file.len();
        for i in 0..self.frame_ends.len() {
            let end = self.frame_ends[i];
            let frame_len = (end - start) as u64;
            if seg_len > SEGMENT_HEADER_LEN && seg_len + frame_len > self.opts.segment_size {
                self.write(buf, pending, start)?;
                self.roll()?;
                seg_len = SEGMENT_HEADER_LEN;
                pending = start;
            }
            seg_len += frame_len;
            start = end;
        }
        self.write(buf, pending, buf.len())
    }

    /// Makes everything logged so far durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_poisoned()?;
        self.sync_file()
    }

    /// Syncs and closes the WAL.
    pub fn close(mut self) -> Result<(), WalError> {
        self.sync()
    }

    /// The end of the last record logged.
    pub fn position(&self) -> Position {
        Position {
            segment: self.segment,
            offset: self.file.len(),
        }
    }

    /// The end of the last record known to be durable.
    pub fn synced_position(&self) -> Position {
        self.synced
    }

    /// Oldest and newest segment indices.
    pub fn segments(&self) -> (u32, u32) {
        (self.first, self.segment)
    }

    /// Deletes the segments below `segment` (never the one being written);
    /// returns how many were deleted. Readers positioned in them get
    /// [`WalError::SegmentMissing`].
    pub fn truncate_before(&mut self, segment: u32) -> Result<usize, WalError> {
        let upto = segment.min(self.segment);
        let mut removed = 0;
        while self.first < upto {
            self.dir.remove(&segment_name(self.first))?;
            self.first += 1;
            removed += 1;
        }
        if removed > 0 {
            self.dir.sync_dir()?;
        }
        Ok(removed)
    }

    /// Repairs the damage a reader reported at `at` (see [`repair`]) and
    /// continues writing at the new end. Also clears a poisoned state.
    pub fn repair(&mut self, at: Position) -> Result<RepairReport, WalError> {
        let report = repair(&*self.dir, at)?;
        self.segment = report.at.segment;
        self.first = self.first.min(self.segment);
        self.file = self.dir.open_append(&segment_name(self.segment))?;
        self.synced = self.position();
        self.poisoned = None;
        Ok(report)
    }

    fn check_poisoned(&self) -> Result<(), WalError> {
        match &self.poisoned {
            Some((cause, rollback)) => Err(WalError::Poisoned {
                cause: cause.clone(),
                rollback: rollback.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Appends the whole frames `buf[from..to]`. If the append fails
    /// partway, cuts the segment back to the end of the last frame that was
    /// written whole (so a tailing reader never sees a whole record vanish),
    /// or poisons the WAL if that fails too.
    fn write(&mut self, buf: &[u8], from: usize, to: usize) -> Result<(), WalError> {
        if from == to {
            return Ok(());
        }
        let before = self.file.len();
        let Err(err) = self.file.append(&buf[from..to]) else {
            self.stats.bytes_written += (to - from) as u64;
            return Ok(());
        };
        let written = self.file.len().saturating_sub(before);
        let whole = self
            .frame_ends
            .iter()
            .map(|&end| end.saturating_sub(from) as u64)
            .filter(|&end| end > 0 && end <= written)
            .max()
            .unwrap_or(0);
        self.stats.bytes_written += whole;
        let name = segment_name(self.segment);
        let rollback = self
            .dir
            .truncate(&name, before + whole)
            .and_then(|()| self.dir.open_append(&name));
        match rollback {
            Ok(file) => self.file = file,
            Err(e) => self.poisoned = Some((err.clone(), Some(Box::new(e)))),
        }
        Err(err.into())
    }

    fn sync_file(&mut self) -> Result<(), WalError> {
        let started = Instant::now();
        if let Err(e) = self.file.sync() {
            // After a failed fsync the OS may have dropped the dirty pages:
            // nothing written since the last sync can be trusted.
            self.poisoned = Some((e.clone(), None));
            return Err(e.into());
        }
        self.synced = self.position();
        self.last_sync = Instant::now();
        self.stats.syncs += 1;
        self.stats.sync_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn roll(&mut self) -> Result<(), WalError> {
        self.sync_file()?;
        let next = next_index(self.segment)?;
        match create_segment(&*self.dir, next) {
            Ok(file) => {
                self.segment = next;
                self.file = file;
                self.stats.segments_created += 1;
                self.stats.bytes_written += SEGMENT_HEADER_LEN;
                self.synced = self.position();
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some((e.clone(), None));
                Err(e.into())
            }
        }
    }
}

/// The index after `index`, unless the index space is used up.
fn next_index(index: u32) -> Result<u32, WalError> {
    index
        .checked_add(1)
        .ok_or(WalError::SegmentLimit { segment: index })
}

/// Creates segment `index` with its header, durably.
pub(super) fn create_segment(
    dir: &dyn Directory,
    index: u32,
) -> Result<Box<dyn WriteFile>, FsError> {
    let mut file = dir.create(&segment_name(index))?;
    file.append(&header())?;
    file.sync()?;
    dir.sync_dir()?;
    Ok(file)
}
