//! Encoding series and samples records (`docs/format/record.md`).

use super::{RECORD_VERSION, Record, RecordType, RefSample, RefSeries};

pub(super) use crate::varint::put_uvarint;

pub(super) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Appends `rec` to `buf`: the inverse of [`super::decode`].
pub fn encode(rec: &Record, buf: &mut Vec<u8>) {
    match rec {
        Record::Series(s) => encode_series(s, buf),
        Record::Samples(s) => encode_samples(s, buf),
    }
}

/// Appends a series record holding `series` to `buf`.
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(RecordType::Series as u8);
    buf.push(RECORD_VERSION);
    for s in series {
        buf.extend_from_slice(&s.series.to_be_bytes());
        put_uvarint(buf, s.labels.len() as u64);
        for label in &s.labels {
            put_str(buf, label.name);
            put_str(buf, label.value);
        }
    }
}

/// Appends a samples record holding `samples` to `buf`.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::Samples as u8);
    buf.push(RECORD_VERSION);
    let Some(first) = samples.first() else {
        return;
    };
    buf.extend_from_slice(&first.series.to_be_bytes());
    buf.extend_from_slice(&first.t.to_be_bytes());
    buf.reserve(samples.len() * 12);
    for s in samples {
        put_varint(buf, i64::from(s.series) - i64::from(first.series));
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}
