//! [`WalReader`]: reads records from a position on, across segments, and
//! follows a WAL that is still being written.

use std::sync::Arc;

use crate::tsdb::fs::{Directory, FsError, ReadFile};

use super::frame::{Frame, FrameReader};
use super::segment::{SEGMENT_HEADER_LEN, check_header, list_segments, segment_name};
use super::{Corruption, Position, WalError};

/// Reads WAL records in order from a [`Position`].
///
/// [`WalReader::next_record`] returns `Ok(None)` when it has read everything
/// written so far (or reached its end bound); calling it again later
/// returns records written since, so a reader can tail a live WAL. A record
/// being written concurrently is not returned until it is whole.
/// [`WalReader::position`] is the end of the last record returned: store it
/// to resume later with [`WalReader::new`].
#[derive(Debug)]
pub struct WalReader {
    dir: Arc<dyn Directory>,
    pos: Position,
    end: Option<Position>,
    /// The open segment `pos.segment`, header checked.
    file: Option<Box<dyn ReadFile>>,
    frames: FrameReader,
    record: Vec<u8>,
}

impl WalReader {
    /// A reader starting at `from` (a position a [`Wal`](super::Wal) or
    /// reader reported, or [`Position::start_of`] a segment). Nothing is
    /// checked until the first [`WalReader::next_record`].
    pub fn new(dir: Arc<dyn Directory>, from: Position) -> Self {
        WalReader {
            dir,
            pos: from,
            end: None,
            file: None,
            frames: FrameReader::default(),
            record: Vec::new(),
        }
    }

    /// A reader of segment `segment` alone: from its start to its end.
    pub fn segment(dir: Arc<dyn Directory>, segment: u32) -> Self {
        WalReader::new(dir, Position::start_of(segment))
            .with_end(Position::start_of(segment.saturating_add(1)))
    }

    /// A reader starting at the oldest segment present.
    pub fn from_start(dir: Arc<dyn Directory>) -> Result<Self, WalError> {
        let first = list_segments(&*dir)?.first().copied().unwrap_or(0);
        Ok(WalReader::new(dir, Position::start_of(first)))
    }

    /// Stops the reader at `end`: records starting at or after it are not
    /// returned.
    pub fn with_end(mut self, end: Position) -> Self {
        self.end = Some(end);
        self
    }

    /// The end bound set by [`WalReader::with_end`], if any.
    pub fn end(&self) -> Option<Position> {
        self.end
    }

    /// The end of the last record returned: where the next one starts.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// The next record, `Ok(None)` if there is none (yet). After an error
    /// the reader stays where it is; calling again returns the same error.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, WalError> {
        // The record returned last is no longer borrowed.
        crate::tsdb::release_if_large(&mut self.record);
        loop {
            if self.end.is_some_and(|end| self.pos >= end) {
                return Ok(None);
            }
            if self.file.is_none() && !self.open_segment()? {
                return Ok(None);
            }
            let Some(file) = self.file.as_deref() else {
                return Ok(None);
            };
            let len = file.size()?;
            let offset = self.pos.offset;
            if offset > len {
                return Err(WalError::InvalidPosition {
                    position: self.pos,
                    reason: "past the end of the segment",
                });
            }
            match self.frames.read(file, offset, len, &mut self.record)? {
                Frame::Record { end } => {
                    self.pos.offset = end;
                    return Ok(Some(&self.record));
                }
                Frame::End => {
                    if !self.next_segment_exists()? {
                        return Ok(None);
                    }
                    // The writer may have appended more before it moved on.
                    if file.size()? > offset {
                        continue;
                    }
                    self.pos = Position::start_of(self.pos.segment.saturating_add(1));
                    self.file = None;
                }
                Frame::Torn => {
                    if !self.next_segment_exists()? {
                        return Ok(None);
                    }
                    // The writer may have finished this record and moved on
                    // since we looked: look once more.
                    let len = file.size()?;
                    if let Frame::Record { end } =
                        self.frames.read(file, offset, len, &mut self.record)?
                    {
                        self.pos.offset = end;
                        return Ok(Some(&self.record));
                    }
                    return Err(self.corrupt(Corruption::TornInOldSegment));
                }
                Frame::Corrupt(reason) => return Err(self.corrupt(reason)),
            }
        }
    }

    fn corrupt(&self, reason: Corruption) -> WalError {
        WalError::Corrupt {
            segment: self.pos.segment,
            offset: self.pos.offset,
            reason,
        }
    }

    fn next_segment_exists(&self) -> Result<bool, WalError> {
        let next = self.pos.segment.checked_add(1);
        match next {
            Some(n) => Ok(self.dir.exists(&segment_name(n))?),
            None => Ok(false),
        }
    }

    /// Opens segment `pos.segment` and checks its header. `Ok(false)` if it
    /// does not exist yet (or is still being created).
    fn open_segment(&mut self) -> Result<bool, WalError> {
        let seg = self.pos.segment;
        let newer_exists = |dir: &dyn Directory| -> Result<bool, WalError> {
            Ok(list_segments(dir)?.last().is_some_and(|&last| last > seg))
        };
        let file = match self.dir.open_read(&segment_name(seg)) {
            Ok(f) => f,
            Err(FsError::NotFound { .. }) => {
                if self.pos.offset == 0 && !newer_exists(&*self.dir)? {
                    return Ok(false);
                }
                return Err(WalError::SegmentMissing { segment: seg });
            }
            Err(e) => return Err(e.into()),
        };
        let len = file.size()?;
        if len < SEGMENT_HEADER_LEN {
            if newer_exists(&*self.dir)? {
                return Err(WalError::TruncatedSegmentHeader {
                    segment: seg,
                    len,
                    expected: SEGMENT_HEADER_LEN,
                });
            }
            return Ok(false);
        }
        check_header(seg, &*file)?;
        if self.pos.offset == 0 {
            self.pos.offset = SEGMENT_HEADER_LEN;
        } else if self.pos.offset < SEGMENT_HEADER_LEN {
            return Err(WalError::InvalidPosition {
                position: self.pos,
                reason: "inside the segment header",
            });
        }
        self.file = Some(file);
        Ok(true)
    }
}
