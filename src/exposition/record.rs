//! The contract between the stream and the per-format record parsers: a
//! record is parsed from the stream's buffer into positions (no borrows),
//! and the checks every sample gets whatever its format.

use super::MetricType;
use super::entry::LabelSpan;
use super::error::{ErrorAt, ErrorKind};
use std::ops::Range;

/// A record to parse: it starts at `buf[start]`, and `buf[line_end]` is the
/// first line break at or after `start`.
pub(crate) struct Input<'b> {
    pub buf: &'b [u8],
    pub start: usize,
    pub line_end: usize,
    /// No more data will come after `buf`.
    pub finished: bool,
}

/// A parsed record, as positions into the buffer.
#[derive(Debug)]
pub(crate) enum Record {
    /// A comment or empty line.
    Skip,
    /// OpenMetrics `# EOF`.
    Eof,
    /// A record that becomes an [`Entry`](super::Entry).
    Entry(EntryRecord),
}

/// A record that becomes an entry.
#[derive(Debug)]
pub(crate) enum EntryRecord {
    Help {
        name: Range<usize>,
        text: Range<usize>,
    },
    Type {
        name: Range<usize>,
        kind: MetricType,
    },
    Unit {
        name: Range<usize>,
        unit: Range<usize>,
    },
    /// The label spans are in the parser's span buffer.
    Sample {
        series: Range<usize>,
        name_end: usize,
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: bool,
    },
}

/// The outcome of parsing one record.
pub(crate) enum Step {
    /// The record and the position just after its line break.
    Done(Record, usize),
    /// The record continues beyond the buffered data.
    NeedMore,
}

/// Skips spaces and tabs from `i`.
#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Index of the first `\n` at or after `from`.
#[inline]
pub(crate) fn find_line_break(b: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\n', b.get(from..)?).map(|k| from + k)
}

/// Checks a sample's series once its labels are parsed: the label values
/// are UTF-8 (everything else in the series was checked byte by byte) and
/// no label name repeats, `__name__` included.
pub(crate) fn check_series(
    b: &[u8],
    series: Range<usize>,
    spans: &[LabelSpan],
) -> Result<(), ErrorAt> {
    let text = &b[series.clone()];
    if let Err(e) = std::str::from_utf8(text) {
        return Err(ErrorAt::new(
            series.start + e.valid_up_to(),
            ErrorKind::InvalidUtf8LabelValue,
        ));
    }
    let name = |s: &LabelSpan| &text[s.name_start as usize..s.name_end as usize];
    // One pass with a 256-bit filter of name hashes: only a name whose hash
    // was seen before is compared with the earlier names, so the common case
    // costs one hash per label, whatever the label count.
    let mut seen = [0u64; 4];
    for (i, s) in spans.iter().enumerate() {
        let n = name(s);
        let h = name_hash(n);
        let (word, bit) = ((h >> 6) as usize, 1u64 << (h & 63));
        let maybe_seen = seen[word] & bit != 0;
        seen[word] |= bit;
        if n == b"__name__" || (maybe_seen && spans[..i].iter().any(|p| name(p) == n)) {
            return Err(ErrorAt::new(
                series.start + s.name_start as usize,
                ErrorKind::DuplicateLabelName(String::from_utf8_lossy(n).into_owned()),
            ));
        }
    }
    Ok(())
}

/// An 8-bit hash of a (non-empty) label name from its length and three of
/// its bytes.
#[inline]
fn name_hash(n: &[u8]) -> u32 {
    let (first, mid, last) = match n {
        [] => (0, 0, 0),
        _ => (n[0], n[n.len() / 2], n[n.len() - 1]),
    };
    let h = (n.len() as u32).wrapping_mul(0x9E37_79B1)
        ^ u32::from(first).wrapping_mul(0x85EB_CA77)
        ^ u32::from(mid).wrapping_mul(0x27D4_EB2F)
        ^ u32::from(last).wrapping_mul(0xC2B2_AE3D);
    h.wrapping_mul(0x9E37_79B1) >> 24
}
