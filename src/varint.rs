//! Unsigned LEB128 varints, the one writer of them: label sets, the TSDB's
//! records, head pairs, chunk files and block index, the guard state file
//! and remote write's protobuf all use it. (Readers stay with their formats:
//! each has its own errors.)

/// Appends an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes of `v` as an unsigned LEB128 varint (zero takes one).
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads an unsigned LEB128 varint at `pos`; `None` when truncated or
/// longer than 10 bytes. Returns the value and the position after it.
pub(crate) fn get_uvarint(buf: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(pos)?;
        pos += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if b < 0x80 {
            return Some((v, pos));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_what_is_written() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(uvarint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn uvarint_round_trips_and_rejects_garbage() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(get_uvarint(&b, 0), Some((v, b.len())), "{v}");
            assert_eq!(get_uvarint(&b[..b.len() - 1], 0), None, "truncated {v}");
        }
        assert_eq!(get_uvarint(&[0xff; 11], 0), None, "too long");
        assert_eq!(
            get_uvarint(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                0
            ),
            None
        );
    }
}
