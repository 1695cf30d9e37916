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
    scratch: &mut Vec<u32>,
) -> Result<(), ErrorAt> {
    let text = &b[series.clone()];
    if let Err(e) = std::str::from_utf8(text) {
        return Err(ErrorAt::new(
            series.start + e.valid_up_to(),
            ErrorKind::InvalidUtf8LabelValue,
        ));
    }
    let name = |s: &LabelSpan| &text[s.name_start as usize..s.name_end as usize];
    let duplicate = |s: &LabelSpan| {
        ErrorAt::new(
            series.start + s.name_start as usize,
            ErrorKind::DuplicateLabelName(String::from_utf8_lossy(name(s)).into_owned()),
        )
    };
    if spans.len() <= 16 {
        for (i, s) in spans.iter().enumerate() {
            let n = name(s);
            if n == b"__name__" || spans[..i].iter().any(|p| name(p) == n) {
                return Err(duplicate(s));
            }
        }
        return Ok(());
    }
    // Many labels: sort indices by name, then report the first repeat in
    // body order.
    scratch.clear();
    scratch.extend(0..spans.len() as u32);
    scratch.sort_by(|&x, &y| {
        name(&spans[x as usize])
            .cmp(name(&spans[y as usize]))
            .then(x.cmp(&y))
    });
    let mut first_repeat: Option<usize> = None;
    for w in scratch.windows(2) {
        let (a, c) = (w[0] as usize, w[1] as usize);
        if name(&spans[a]) == name(&spans[c]) {
            first_repeat = Some(first_repeat.map_or(c, |r| r.min(c)));
        }
    }
    if let Some(i) = spans.iter().position(|s| name(s) == b"__name__") {
        first_repeat = Some(first_repeat.map_or(i, |r| r.min(i)));
    }
    match first_repeat {
        Some(i) => Err(duplicate(&spans[i])),
        None => Ok(()),
    }
}
