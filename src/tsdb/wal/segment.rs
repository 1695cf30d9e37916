//! Segment files: names, the 8-byte header, listing.

use crate::tsdb::fs::{Directory, ReadFile};

use super::WalError;

/// Segment header magic.
pub(super) const MAGIC: [u8; 4] = *b"LWAL";
/// The WAL format version this code writes and reads.
pub const WAL_VERSION: u8 = 1;
/// Length of a segment header.
pub(super) const SEGMENT_HEADER_LEN: u64 = 8;

/// The file name of segment `index`.
pub fn segment_name(index: u32) -> String {
    format!("{index:08}")
}

/// The segment index a file name denotes, if any.
pub(super) fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() < 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = name.parse().ok()?;
    (segment_name(index) == name).then_some(index)
}

/// The header every segment starts with.
pub(super) fn header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = WAL_VERSION;
    h
}

/// Checks a segment's header. The caller has checked its length.
pub(super) fn check_header(segment: u32, file: &dyn ReadFile) -> Result<(), WalError> {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact_at(0, &mut h)?;
    let mut got = [0u8; 4];
    got.copy_from_slice(&h[..4]);
    if got != MAGIC {
        return Err(WalError::BadMagic {
            segment,
            expected: MAGIC,
            got,
        });
    }
    let reserved = u32::from(h[5]) | u32::from(h[6]) << 8 | u32::from(h[7]) << 16;
    if h[4] != WAL_VERSION || reserved != 0 {
        return Err(WalError::UnsupportedVersion {
            segment,
            expected: WAL_VERSION,
            got: u32::from(h[4]) | reserved << 8,
        });
    }
    Ok(())
}

/// The segment indices in `dir`, checked to be contiguous, ascending.
pub fn list_segments(dir: &dyn Directory) -> Result<Vec<u32>, WalError> {
    let mut segs: Vec<u32> = dir
        .list()?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .collect();
    segs.sort_unstable();
    if let (Some(&first), Some(&last)) = (segs.first(), segs.last()) {
        for (i, &s) in segs.iter().enumerate() {
            let want = first + i as u32;
            if s != want {
                return Err(WalError::SegmentGap {
                    missing: want,
                    first,
                    last,
                });
            }
        }
    }
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(segment_name(0), "00000000");
        assert_eq!(segment_name(123), "00000123");
        assert_eq!(parse_segment_name("00000123"), Some(123));
        assert_eq!(parse_segment_name("123"), None);
        assert_eq!(parse_segment_name("0000012a"), None);
        assert_eq!(parse_segment_name("000000123"), None);
        assert_eq!(parse_segment_name("4294967295"), Some(u32::MAX));
        assert_eq!(parse_segment_name("checkpoint.00000001"), None);
    }
}
