//! Parse errors: what went wrong and where (line and column, both counted
//! from 1; the column counts bytes).

use std::fmt;

/// A malformed exposition body. Displays as
/// `line 12, column 5: expected label value in quotes`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// Line number, from 1.
    pub line: u64,
    /// Byte column within the line, from 1.
    pub column: u64,
    /// What was wrong.
    pub kind: ErrorKind,
}

impl ParseError {
    /// The message without the position.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

/// What was wrong with the input. `got` fields hold the offending text,
/// shortened to at most 64 bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A line that starts with neither a metric name nor `#`.
    #[error("expected metric name or '#', got {got}")]
    ExpectedLineStart {
        /// What the line starts with.
        got: Got,
    },
    /// Text format: spaces or tabs before a sample's metric name
    /// (Prometheus takes them into the name and rejects it).
    #[error("whitespace before the metric name")]
    WhitespaceBeforeName,
    /// An empty line in OpenMetrics, which does not allow them.
    #[error("empty line is not allowed in OpenMetrics")]
    EmptyLine,
    /// An OpenMetrics comment that is not HELP, TYPE, UNIT or EOF.
    #[error("expected HELP, TYPE, UNIT or EOF after '# ', got {got}")]
    InvalidComment {
        /// What followed `# `.
        got: Got,
    },
    /// HELP/TYPE/UNIT without a valid metric name.
    #[error("expected metric name after {keyword}, got {got}")]
    ExpectedMetadataName {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
        /// What came instead.
        got: Got,
    },
    /// OpenMetrics HELP/TYPE/UNIT name not followed by a space and the text.
    #[error("expected a space and text after the metric name in {keyword}, got {got}")]
    ExpectedMetadataText {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
        /// What came instead.
        got: Got,
    },
    /// An unknown type in a TYPE line.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// A UNIT that is not a suffix of its metric name.
    #[error("unit {unit:?} is not a suffix of metric name {name:?}")]
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// The metric family name.
        name: String,
    },
    /// HELP text that is not UTF-8.
    #[error("invalid UTF-8 in HELP text")]
    InvalidUtf8Help,
    /// A label value that is not UTF-8.
    #[error("invalid UTF-8 in label value")]
    InvalidUtf8LabelValue,
    /// Expected a label name or `}`.
    #[error("expected label name or '}}', got {got}")]
    ExpectedLabelName {
        /// What came instead.
        got: Got,
    },
    /// A label name not followed by `=`.
    #[error("expected '=' after label name, got {got}")]
    ExpectedEqual {
        /// What came instead.
        got: Got,
    },
    /// `=` not followed by a quoted value.
    #[error("expected label value in quotes, got {got}")]
    ExpectedLabelValue {
        /// What came instead.
        got: Got,
    },
    /// A label value whose closing quote never came.
    #[error("unterminated label value")]
    UnterminatedLabelValue,
    /// OpenMetrics label values may not contain a raw line break, and no
    /// label value may contain a backslash directly before one.
    #[error("line break inside label value")]
    LineBreakInLabelValue,
    /// OpenMetrics: a label value not followed by `,` or `}`.
    #[error("expected ',' or '}}' after label value, got {got}")]
    ExpectedCommaOrBrace {
        /// What came instead.
        got: Got,
    },
    /// The same label name twice in one series (`__name__` counts as the
    /// metric name).
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// No value after the series.
    #[error("expected value after metric, got {got}")]
    ExpectedValue {
        /// What came instead.
        got: Got,
    },
    /// A value that is not a float.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// Something other than a timestamp or the end of the line after the
    /// value.
    #[error("expected timestamp or end of line, got {got}")]
    ExpectedTimestamp {
        /// What came instead.
        got: Got,
    },
    /// OpenMetrics: a space at the end of a sample line.
    #[error("trailing space at end of line is not allowed in OpenMetrics")]
    TrailingSpace,
    /// A timestamp that cannot be read.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// More after the timestamp.
    #[error("expected end of line after timestamp, got {got}")]
    ExpectedLineEnd {
        /// What came instead.
        got: Got,
    },
    /// OpenMetrics exemplar on a sample whose name cannot carry one.
    #[error("metric name {0:?} does not support exemplars")]
    ExemplarNotAllowed(String),
    /// A malformed exemplar.
    #[error("invalid exemplar: {0}")]
    InvalidExemplar(&'static str),
    /// OpenMetrics data that ends without `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Anything after `# EOF`.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// OpenMetrics: the last line has no line break (only `# EOF` may).
    #[error("unexpected end of data, expected a line break")]
    UnexpectedEnd,
    /// A line longer than [`ParserLimits::max_line_bytes`](super::ParserLimits).
    #[error("line longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
}

/// The offending input in an error message: `end of line`, `end of data`
/// or the quoted text (at most 64 bytes, escaped like a Rust string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// The line ended.
    EndOfLine,
    /// The data ended.
    EndOfData,
    /// This text.
    Text(String),
}

impl Got {
    /// The token starting at `bytes[0]`, cut at whitespace or 64 bytes.
    pub(crate) fn token(bytes: &[u8]) -> Got {
        match bytes.first() {
            None => Got::EndOfData,
            Some(b'\n') => Got::EndOfLine,
            Some(_) => {
                let mut end = bytes
                    .iter()
                    .position(|&b| b == b'\n' || b == b' ' || b == b'\t')
                    .unwrap_or(bytes.len())
                    .min(64);
                if end == 0 {
                    end = 1;
                }
                Got::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
            }
        }
    }

    /// The single byte (or character) at `bytes[0]`.
    pub(crate) fn char(bytes: &[u8]) -> Got {
        match bytes.first() {
            None => Got::EndOfData,
            Some(b'\n') => Got::EndOfLine,
            Some(&b) if b < 0x80 => Got::Text((b as char).to_string()),
            Some(_) => {
                let end = bytes.len().min(4);
                let s = String::from_utf8_lossy(&bytes[..end]);
                Got::Text(s.chars().next().map(String::from).unwrap_or_default())
            }
        }
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::EndOfLine => f.write_str("end of line"),
            Got::EndOfData => f.write_str("end of data"),
            Got::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// An error found at an absolute offset of the parser's buffer; the stream
/// turns it into a [`ParseError`] with line and column.
#[derive(Debug)]
pub(crate) struct ErrorAt {
    pub at: usize,
    pub kind: ErrorKind,
}

impl ErrorAt {
    pub(crate) fn new(at: usize, kind: ErrorKind) -> Self {
        ErrorAt { at, kind }
    }
}

/// Shortens `bytes` to at most 64 bytes for a message.
pub(crate) fn clip(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}
