//! Repairs: cutting a torn last record off the newest segment at open, and
//! cutting the WAL at a damaged record (everything before it is kept).

use crate::tsdb::fs::Directory;

use super::frame::{Frame, FrameReader};
use super::segment::{SEGMENT_HEADER_LEN, check_header, parse_segment_name, segment_name};
use super::writer::create_segment;
use super::{Position, WalError};

/// What a repair cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Where the WAL now ends.
    pub at: Position,
    /// Bytes dropped, in that segment and the segments removed.
    pub dropped_bytes: u64,
    /// Segments deleted because they came after the damage.
    pub removed_segments: Vec<u32>,
}

/// Checks the newest segment, cutting off a torn last record or rewriting
/// a torn header.
pub(super) fn repair_tail(
    dir: &dyn Directory,
    last: u32,
) -> Result<Option<RepairReport>, WalError> {
    let name = segment_name(last);
    let len = dir.len(&name)?;
    let at = |offset| Position {
        segment: last,
        offset,
    };
    if len < SEGMENT_HEADER_LEN {
        drop(create_segment(dir, last)?);
        return Ok(Some(RepairReport {
            at: at(SEGMENT_HEADER_LEN),
            dropped_bytes: len,
            removed_segments: Vec::new(),
        }));
    }
    let file = dir.open_read(&name)?;
    check_header(last, &*file)?;
    let mut frames = FrameReader::default();
    let mut record = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    loop {
        match frames.read(&*file, offset, len, &mut record)? {
            Frame::Record { end } => offset = end,
            Frame::End => return Ok(None),
            Frame::Torn => {
                dir.truncate(&name, offset)?;
                return Ok(Some(RepairReport {
                    at: at(offset),
                    dropped_bytes: len - offset,
                    removed_segments: Vec::new(),
                }));
            }
            Frame::Corrupt(reason) => {
                return Err(WalError::Corrupt {
                    segment: last,
                    offset,
                    reason,
                });
            }
        }
    }
}

/// Cuts the WAL in `dir` at `at` (the position of a damaged record, from
/// [`WalError::position`]): that segment is truncated there and every later
/// segment deleted, so everything before the damage is kept. Use it on a
/// WAL that is not open, or through [`Wal::repair`](super::Wal::repair).
pub fn repair(dir: &dyn Directory, at: Position) -> Result<RepairReport, WalError> {
    let mut later: Vec<u32> = dir
        .list()?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .filter(|&s| s > at.segment)
        .collect();
    let name = segment_name(at.segment);
    if !dir.exists(&name)? {
        return Err(WalError::SegmentMissing {
            segment: at.segment,
        });
    }
    let len = dir.len(&name)?;
    let offset = at.offset.max(SEGMENT_HEADER_LEN);
    let mut dropped = len.saturating_sub(offset);
    if len < SEGMENT_HEADER_LEN {
        drop(create_segment(dir, at.segment)?);
        dropped = len;
    } else if offset > len {
        return Err(WalError::InvalidPosition {
            position: at,
            reason: "past the end of the segment",
        });
    } else {
        check_header(at.segment, &*dir.open_read(&name)?)?;
        dir.truncate(&name, offset)?;
    }
    // Highest first, so an interrupted repair leaves contiguous segments.
    later.sort_unstable_by(|a, b| b.cmp(a));
    for &s in &later {
        let name = segment_name(s);
        dropped += dir.len(&name)?;
        dir.remove(&name)?;
    }
    dir.sync_dir()?;
    later.reverse();
    Ok(RepairReport {
        at: Position {
            segment: at.segment,
            offset,
        },
        dropped_bytes: dropped,
        removed_segments: later,
    })
}
