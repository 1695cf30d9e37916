//! Decoding records, validating every field: garbage gives a
//! [`RecordError`], never a panic.

use super::{RECORD_VERSION, Record, RecordError, RecordType, RefSample, RefSeries};
use crate::labels::Labels;

/// Reads the record's type, checking its header (type and version).
pub fn record_type(rec: &[u8]) -> Result<RecordType, RecordError> {
    let [ty, version, ..] = *rec else {
        return Err(RecordError::TooShort { len: rec.len() });
    };
    let ty = match ty {
        1 => RecordType::Series,
        2 => RecordType::Samples,
        got => return Err(RecordError::UnknownType { got }),
    };
    if version != RECORD_VERSION {
        return Err(RecordError::UnsupportedVersion {
            expected: RECORD_VERSION,
            got: version,
        });
    }
    Ok(ty)
}

/// Decodes a record of either type.
pub fn decode(rec: &[u8]) -> Result<Record, RecordError> {
    match record_type(rec)? {
        RecordType::Series => {
            let mut out = Vec::new();
            decode_series(rec, &mut out)?;
            Ok(Record::Series(out))
        }
        RecordType::Samples => {
            let mut out = Vec::new();
            decode_samples(rec, &mut out)?;
            Ok(Record::Samples(out))
        }
    }
}

fn expect_type(rec: &[u8], expected: RecordType) -> Result<(), RecordError> {
    let got = record_type(rec)?;
    if got != expected {
        return Err(RecordError::WrongType { expected, got });
    }
    Ok(())
}

/// Decodes a series record, appending to `out`. On error `out` may hold
/// the series decoded before the damage.
pub fn decode_series(rec: &[u8], out: &mut Vec<RefSeries>) -> Result<(), RecordError> {
    expect_type(rec, RecordType::Series)?;
    let mut d = Decoder { buf: rec, pos: 2 };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while !d.done() {
        let start = d.pos;
        let series = u32::from_be_bytes(d.array("series ref")?);
        let n = d.uvarint("label count")?;
        pairs.clear();
        for _ in 0..n {
            let name = d.str("label name")?;
            let value = d.str("label value")?;
            pairs.push((name, value));
        }
        let bad = |reason| RecordError::InvalidLabels {
            series,
            offset: start,
            reason,
        };
        if pairs.iter().any(|(n, v)| n.is_empty() || v.is_empty()) {
            return Err(bad("empty label name or value"));
        }
        if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("label names not sorted and unique"));
        }
        out.push(RefSeries {
            series,
            labels: Labels::from_pairs(pairs.iter().copied()),
        });
    }
    Ok(())
}

/// Decodes a samples record, appending to `out`. On error `out` may hold
/// the samples decoded before the damage.
pub fn decode_samples(rec: &[u8], out: &mut Vec<RefSample>) -> Result<(), RecordError> {
    expect_type(rec, RecordType::Samples)?;
    let mut d = Decoder { buf: rec, pos: 2 };
    if d.done() {
        return Ok(());
    }
    let base_ref = i64::from(u32::from_be_bytes(d.array("base ref")?));
    let base_t = i64::from_be_bytes(d.array("base timestamp")?);
    out.reserve(d.remaining() / 10);
    while !d.done() {
        let start = d.pos;
        let r = base_ref.wrapping_add(d.varint("ref delta")?);
        let series = u32::try_from(r).map_err(|_| RecordError::RefOutOfRange {
            offset: start,
            got: r,
        })?;
        let t = base_t.wrapping_add(d.varint("timestamp delta")?);
        let v = f64::from_bits(u64::from_be_bytes(d.array("value")?));
        out.push(RefSample { series, t, v });
    }
    Ok(())
}

/// A cursor over a record's bytes.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(RecordError::Truncated {
            field,
            offset: self.pos,
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let offset = self.pos;
        let bytes = self.bytes(N, field)?;
        bytes
            .try_into()
            .map_err(|_| RecordError::Truncated { field, offset })
    }

    fn uvarint(&mut self, field: &'static str) -> Result<u64, RecordError> {
        let offset = self.pos;
        let mut v = 0u64;
        for i in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(RecordError::Truncated { field, offset })?;
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(RecordError::BadVarint { field, offset });
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError::BadVarint { field, offset })
    }

    fn varint(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let u = self.uvarint(field)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, RecordError> {
        let offset = self.pos;
        let len = self.uvarint(field)?;
        let len = usize::try_from(len).map_err(|_| RecordError::Truncated { field, offset })?;
        let start = self.pos;
        let bytes = self.bytes(len, field)?;
        std::str::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8 { offset: start })
    }
}
