//! WAL record payloads: series records (ref + labels) and samples records
//! (ref, timestamp, value; delta-encoded). Stale markers are samples whose
//! value has the StaleNaN bits.
//!
//! The byte format is specified in `docs/format/record.md`. This module
//! knows nothing of how records are framed on disk (that is `wal`'s job).
//!
//! ```
//! use levee::labels::Labels;
//! use levee::tsdb::record::{self, Record, RefSample, RefSeries};
//!
//! let mut buf = Vec::new();
//! record::encode_series(&[RefSeries { series: 1, labels: Labels::from_pairs([("job", "node")]) }], &mut buf);
//! let Record::Series(series) = record::decode(&buf).unwrap() else { unreachable!() };
//! assert_eq!(series[0].labels.get("job"), Some("node"));
//!
//! buf.clear();
//! record::encode_samples(&[RefSample { series: 1, t: 1_000, v: 2.5 }], &mut buf);
//! assert_eq!(record::decode(&buf).unwrap(), Record::Samples(vec![RefSample { series: 1, t: 1_000, v: 2.5 }]));
//! ```

mod decode;
mod encode;
mod error;
#[cfg(test)]
mod tests;

pub use decode::{decode, decode_samples, decode_series, record_type};
pub use encode::{encode, encode_samples, encode_series};
pub use error::RecordError;

use crate::labels::Labels;

/// The record format version this code writes and reads.
pub const RECORD_VERSION: u8 = 1;

/// What a record holds (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Series declarations ([`RefSeries`]).
    Series = 1,
    /// Samples ([`RefSample`]), stale markers included.
    Samples = 2,
}

/// A series declaration: the ref the samples records use, and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The series ref.
    pub series: u32,
    /// The series' labels.
    pub labels: Labels,
}

/// One sample of the series `series`.
#[derive(Debug, Clone, Copy)]
pub struct RefSample {
    /// The series ref.
    pub series: u32,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The value; compared by bits (so NaN payloads, StaleNaN included,
    /// compare exactly).
    pub v: f64,
}

impl PartialEq for RefSample {
    fn eq(&self, other: &Self) -> bool {
        self.series == other.series && self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

impl Eq for RefSample {}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A series record.
    Series(Vec<RefSeries>),
    /// A samples record.
    Samples(Vec<RefSample>),
}
