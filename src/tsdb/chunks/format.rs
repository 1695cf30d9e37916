//! The byte layout of chunk files (`docs/format/chunk-files.md`): file
//! header, entry encoding and entry parsing.

use std::ops::Range;

use super::error::{ChunkFileError, Corruption};
use super::{FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_CHUNK_BYTES};
use crate::varint::{get_uvarint, put_uvarint};

/// The file header of the current version.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = FORMAT_VERSION;
    h
}

/// Checks the header of file `seq`.
pub(crate) fn check_header(seq: u32, file: &[u8]) -> Result<(), ChunkFileError> {
    let Some(h) = file.get(..HEADER_LEN) else {
        return Err(ChunkFileError::BadHeader {
            seq,
            reason: format!("file of {} bytes is shorter than its header", file.len()),
        });
    };
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&h[..4]);
    if magic != MAGIC {
        return Err(ChunkFileError::BadMagic { seq, got: magic });
    }
    if h[4] != FORMAT_VERSION {
        return Err(ChunkFileError::UnknownVersion {
            seq,
            got: h[4],
            supported: FORMAT_VERSION,
        });
    }
    if h[5..] != [0, 0, 0] {
        return Err(ChunkFileError::BadHeader {
            seq,
            reason: format!("reserved bytes are {:02x?}, expected zero", &h[5..]),
        });
    }
    Ok(())
}

/// Appends one entry to `out`. The caller checked the time range and the
/// length.
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    series: u32,
    min_time: i64,
    max_time: i64,
    encoding: u8,
    data: &[u8],
) {
    let start = out.len();
    put_uvarint(out, u64::from(series));
    put_uvarint(out, zigzag(min_time));
    put_uvarint(out, max_time.wrapping_sub(min_time) as u64);
    out.push(encoding);
    put_uvarint(out, data.len() as u64);
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// One parsed entry: its fields and where its data and end are.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub series: u32,
    pub min_time: i64,
    pub max_time: i64,
    pub encoding: u8,
    /// Byte range of the data in the file.
    pub data: Range<usize>,
    /// Offset just past the entry's CRC.
    pub end: usize,
}

/// Why an entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A field runs past the end of the bytes: torn, if this is the end of
    /// the newest file.
    PastEnd(&'static str),
    /// The bytes are there but wrong.
    Corrupt(Corruption),
}

impl ParseError {
    pub(crate) fn into_corruption(self) -> Corruption {
        match self {
            ParseError::PastEnd(field) => Corruption::PastEnd { field },
            ParseError::Corrupt(c) => c,
        }
    }
}

/// Parses the entry at `offset` of `file`; checks the CRC when `check_crc`.
pub(crate) fn parse_entry(
    file: &[u8],
    offset: usize,
    check_crc: bool,
) -> Result<Entry, ParseError> {
    let bad = |s: String| ParseError::Corrupt(Corruption::BadField(s));
    let varint = |pos: usize, field: &'static str| match get_uvarint(file, pos) {
        Some(v) => Ok(v),
        // A varint cut by the end of the file is torn; one longer than ten
        // bytes with the bytes present is corrupt.
        None if file.len().saturating_sub(pos) < 10
            && all_continue(&file[pos.min(file.len())..]) =>
        {
            Err(ParseError::PastEnd(field))
        }
        None => Err(bad(format!("{field}: malformed varint"))),
    };
    let (series, pos) = varint(offset, "series")?;
    let series =
        u32::try_from(series).map_err(|_| bad(format!("series id {series} exceeds u32")))?;
    let (min_time, pos) = varint(pos, "min_time")?;
    let min_time = unzigzag(min_time);
    let (span, pos) = varint(pos, "max_time")?;
    let max_time = i64::try_from(span)
        .ok()
        .and_then(|s| min_time.checked_add(s))
        .ok_or_else(|| bad(format!("span {span} from min_time {min_time} overflows")))?;
    let encoding = *file.get(pos).ok_or(ParseError::PastEnd("encoding"))?;
    let (len, pos) = varint(pos + 1, "length")?;
    if len > MAX_CHUNK_BYTES as u64 {
        return Err(bad(format!(
            "data length {len} exceeds the limit of {MAX_CHUNK_BYTES}"
        )));
    }
    let data = pos..pos + len as usize;
    let end = data.end + 4;
    if end > file.len() {
        return Err(ParseError::PastEnd(if data.end > file.len() {
            "data"
        } else {
            "checksum"
        }));
    }
    if check_crc {
        let mut stored = [0u8; 4];
        stored.copy_from_slice(&file[data.end..end]);
        let expected = u32::from_le_bytes(stored);
        let got = crc32c::crc32c(&file[offset..data.end]);
        if expected != got {
            return Err(ParseError::Corrupt(Corruption::Checksum { expected, got }));
        }
    }
    Ok(Entry {
        series,
        min_time,
        max_time,
        encoding,
        data,
        end,
    })
}

/// Whether every byte has its continuation bit set (a varint that the end
/// of the bytes cut short).
fn all_continue(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b & 0x80 != 0)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_extremes() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1_700_000_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn entry_round_trips_and_every_prefix_is_past_end() {
        let mut buf = vec![0xAA; 3];
        encode_entry(&mut buf, 70_000, -5, i64::MAX - 5, 1, b"hello");
        let e = parse_entry(&buf, 3, true).unwrap();
        assert_eq!(
            (e.series, e.min_time, e.max_time, e.encoding),
            (70_000, -5, i64::MAX - 5, 1)
        );
        assert_eq!(&buf[e.data.clone()], b"hello");
        assert_eq!(e.end, buf.len());
        for cut in 3..buf.len() {
            assert!(
                matches!(
                    parse_entry(&buf[..cut], 3, true),
                    Err(ParseError::PastEnd(_))
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode_entry(
            &mut buf,
            7,
            1_700_000_000_000,
            1_700_000_100_000,
            1,
            &[1, 2, 3, 4],
        );
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                let r = parse_entry(&bad, 0, true);
                assert!(r.is_err(), "flip of bit {bit} in byte {byte} undetected");
            }
        }
    }
}
