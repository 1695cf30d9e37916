//! Errors of record decoding.

/// A record that cannot be decoded. Offsets are byte offsets in the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record is shorter than its 2-byte header.
    #[error("record of {len} bytes is shorter than its 2-byte header")]
    TooShort {
        /// The record's length.
        len: usize,
    },
    /// The first byte names no known record type.
    #[error("unknown record type {got} (expected 1 = series or 2 = samples)")]
    UnknownType {
        /// The byte read.
        got: u8,
    },
    /// The record was written by a format version this code does not read.
    #[error("unsupported record version {got} (expected {expected})")]
    UnsupportedVersion {
        /// The version this code reads.
        expected: u8,
        /// The version read.
        got: u8,
    },
    /// A record of the other type was passed to a typed decoder.
    #[error("expected a {expected:?} record, got {got:?}")]
    WrongType {
        /// The type the decoder handles.
        expected: super::RecordType,
        /// The record's type.
        got: super::RecordType,
    },
    /// The record ends inside a field.
    #[error("record ends inside {field} at offset {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A varint longer than 10 bytes or overflowing its type.
    #[error("bad varint in {field} at offset {offset}")]
    BadVarint {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A label name or value that is not UTF-8.
    #[error("label string at offset {offset} is not UTF-8")]
    InvalidUtf8 {
        /// Where the string starts.
        offset: usize,
    },
    /// A label set that breaks the `Labels` invariants.
    #[error("series {series} at offset {offset}: {reason}")]
    InvalidLabels {
        /// The series ref.
        series: u32,
        /// Where the series starts.
        offset: usize,
        /// Which invariant.
        reason: &'static str,
    },
    /// A sample's series ref (base + delta) is outside `u32`.
    #[error("sample at offset {offset}: series ref {got} out of range")]
    RefOutOfRange {
        /// Where the sample starts.
        offset: usize,
        /// The ref computed.
        got: i64,
    },
}
