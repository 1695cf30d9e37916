//! The streaming driver: buffers the unfinished tail of the body, finds
//! whole records in it, runs the format's record parser and hands out
//! entries that borrow the buffer.
//!
//! Memory: `push` first drops every byte already parsed, so the buffer holds
//! the unparsed rest (after a full drain: only the unfinished last line)
//! plus the new chunk. A line longer than [`ParserLimits::max_line_bytes`]
//! is an error, so the buffer is bounded by that limit plus one chunk.

use super::entry::{Entry, LabelSpan, Sample};
use super::error::{ErrorAt, ErrorKind, ParseError};
use super::family::CurrentFamily;
use super::lex::{unescape_help_text, unescape_label_value};
use super::record::{EntryRecord, Input, Record, Step, find_line_break};
use super::{Format, openmetrics, text};

/// Limits that bound what one body may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParserLimits {
    /// The longest line (record) accepted, in bytes. Default 1 MiB; at most
    /// `u32::MAX` is used.
    pub max_line_bytes: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_line_bytes: 1 << 20,
        }
    }
}

/// A streaming parser for one exposition body. Feed it with
/// [`push`](Self::push), drain it with [`next`](Self::next) after every
/// push, call [`finish`](Self::finish) at the end of the body and drain
/// again. The first error ends the parse: later calls to `next` return
/// `None` and `push` returns that error again.
#[derive(Debug)]
pub struct StreamParser {
    format: Format,
    max_line: usize,
    buf: Vec<u8>,
    /// Start of the next record.
    pos: usize,
    /// No line break in `buf[pos..nl_scan]`.
    nl_scan: usize,
    /// Start of the last, unfinished line (just after the last `\n`).
    tail_start: usize,
    /// `next` found it needs more data than `buf` holds.
    stalled: bool,
    finished: bool,
    /// The `\n` that `finish` appended to a body not ending in one.
    synthetic_nl: Option<usize>,
    eof_seen: bool,
    done: bool,
    failed: Option<ParseError>,
    /// Line number of `buf[pos]`.
    line: u64,
    lines_read: u64,
    exemplars_skipped: u64,
    family: CurrentFamily,
    spans: Vec<LabelSpan>,
    exemplar_spans: Vec<LabelSpan>,
}

impl StreamParser {
    /// A parser for a body in `format`.
    pub fn new(format: Format, limits: ParserLimits) -> Self {
        StreamParser {
            format,
            max_line: limits.max_line_bytes.clamp(1, u32::MAX as usize),
            buf: Vec::new(),
            pos: 0,
            nl_scan: 0,
            tail_start: 0,
            stalled: false,
            finished: false,
            synthetic_nl: None,
            eof_seen: false,
            done: false,
            failed: None,
            line: 1,
            lines_read: 0,
            exemplars_skipped: 0,
            family: CurrentFamily::default(),
            spans: Vec::new(),
            exemplar_spans: Vec::new(),
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Feeds the next piece of the body. Fails when the unfinished last
    /// line grows past the line limit, or when the parse already failed.
    /// Data pushed after [`finish`](Self::finish) is ignored.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished || chunk.is_empty() {
            return Ok(());
        }
        self.compact();
        let old_len = self.buf.len();
        self.buf.extend_from_slice(chunk);
        if let Some(k) = memchr::memrchr(b'\n', chunk) {
            self.tail_start = old_len + k + 1;
        }
        self.stalled = false;
        if self.buf.len() - self.tail_start > self.max_line {
            let at = self.tail_start + self.max_line;
            return Err(self.fail(ErrorAt::new(
                at,
                ErrorKind::LineTooLong {
                    limit: self.max_line,
                },
            )));
        }
        Ok(())
    }

    /// Marks the end of the body. A last line without a line break is
    /// parsed as if it had one (OpenMetrics allows that only for `# EOF`).
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.stalled = false;
        if self.buf.len() > self.pos && self.buf.last() != Some(&b'\n') {
            self.buf.push(b'\n');
            self.synthetic_nl = Some(self.buf.len() - 1);
        }
    }

    /// The next entry: `None` when more input is needed (or, after
    /// [`finish`](Self::finish), when the body is done or the parse failed).
    /// The entry borrows the parser until the next call.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry<'_>, ParseError>> {
        match self.advance() {
            Ok(Some(record)) => Some(Ok(self.entry(record))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// How many OpenMetrics exemplars were skipped so far.
    pub fn exemplars_skipped(&self) -> u64 {
        self.exemplars_skipped
    }

    /// How many lines were read so far (comments and empty lines included).
    pub fn lines_read(&self) -> u64 {
        self.lines_read
    }

    /// Bytes currently held (parsed or not), for tests and accounting.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Drops the bytes already parsed.
    fn compact(&mut self) {
        if self.pos == 0 {
            return;
        }
        self.buf.drain(..self.pos);
        self.nl_scan = self.nl_scan.saturating_sub(self.pos);
        self.tail_start = self.tail_start.saturating_sub(self.pos);
        self.pos = 0;
    }

    /// Records the error (sticky) and returns it with line and column.
    fn fail(&mut self, e: ErrorAt) -> ParseError {
        let at = e.at.clamp(self.pos, self.buf.len());
        let before = &self.buf[self.pos..at];
        let breaks = memchr::memchr_iter(b'\n', before).count() as u64;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |k| k + 1);
        let err = ParseError {
            line: self.line + breaks,
            column: (before.len() - line_start) as u64 + 1,
            kind: e.kind,
        };
        self.failed = Some(err.clone());
        err
    }

    /// Parses records until one yields an entry.
    fn advance(&mut self) -> Result<Option<EntryRecord>, ParseError> {
        loop {
            if self.failed.is_some() || self.done || self.stalled {
                return Ok(None);
            }
            if self.pos == self.buf.len() {
                if !self.finished {
                    self.stalled = true;
                    return Ok(None);
                }
                self.done = true;
                if self.format == Format::OpenMetrics && !self.eof_seen {
                    return Err(self.fail(ErrorAt::new(self.pos, ErrorKind::MissingEof)));
                }
                return Ok(None);
            }
            if self.eof_seen {
                return Err(self.fail(ErrorAt::new(self.pos, ErrorKind::DataAfterEof)));
            }
            self.nl_scan = self.nl_scan.max(self.pos);
            let Some(line_end) = find_line_break(&self.buf, self.nl_scan) else {
                // `finish` ends the buffer with a line break, so this only
                // happens while more data may come.
                self.nl_scan = self.buf.len();
                self.stalled = true;
                return Ok(None);
            };
            self.nl_scan = line_end;
            if line_end - self.pos > self.max_line {
                let at = self.pos + self.max_line;
                return Err(self.fail(ErrorAt::new(
                    at,
                    ErrorKind::LineTooLong {
                        limit: self.max_line,
                    },
                )));
            }
            let input = Input {
                buf: &self.buf,
                start: self.pos,
                line_end,
                finished: self.finished,
            };
            let step = match self.format {
                Format::PrometheusText => text::parse_record(&input, &mut self.spans),
                Format::OpenMetrics => {
                    openmetrics::parse_record(&input, &mut self.spans, &mut self.exemplar_spans)
                }
            };
            let (record, end) = match step {
                Ok(Step::Done(record, end)) => (record, end),
                Ok(Step::NeedMore) => {
                    if self.buf.len() - self.pos > self.max_line {
                        let at = self.pos + self.max_line;
                        return Err(self.fail(ErrorAt::new(
                            at,
                            ErrorKind::LineTooLong {
                                limit: self.max_line,
                            },
                        )));
                    }
                    self.stalled = true;
                    return Ok(None);
                }
                Err(e) => return Err(self.fail(e)),
            };
            if self.format == Format::OpenMetrics
                && self.synthetic_nl == Some(end - 1)
                && !matches!(record, Record::Eof)
            {
                return Err(self.fail(ErrorAt::new(end - 1, ErrorKind::UnexpectedEnd)));
            }
            if end - self.pos > self.max_line {
                let at = self.pos + self.max_line;
                return Err(self.fail(ErrorAt::new(
                    at,
                    ErrorKind::LineTooLong {
                        limit: self.max_line,
                    },
                )));
            }
            let breaks = if end == line_end + 1 {
                1
            } else {
                memchr::memchr_iter(b'\n', &self.buf[self.pos..end]).count() as u64
            };
            self.line += breaks;
            self.lines_read += breaks;
            self.pos = end;
            let record = match record {
                Record::Skip => continue,
                Record::Eof => {
                    self.eof_seen = true;
                    continue;
                }
                Record::Entry(record) => record,
            };
            match record {
                EntryRecord::Type { ref name, kind } => {
                    self.family.set(&self.buf[name.clone()], kind);
                }
                EntryRecord::Sample { exemplar: true, .. } => self.exemplars_skipped += 1,
                _ => {}
            }
            return Ok(Some(record));
        }
    }

    /// Builds the entry for a record `advance` returned.
    fn entry(&self, record: EntryRecord) -> Entry<'_> {
        let b = &self.buf;
        let s = |r: std::ops::Range<usize>| checked_str(&b[r]);
        match record {
            EntryRecord::Help { name, text } => {
                let text = s(text);
                Entry::Help {
                    family: s(name),
                    text: match self.format {
                        Format::PrometheusText => unescape_help_text(text),
                        Format::OpenMetrics => unescape_label_value(text),
                    },
                }
            }
            EntryRecord::Type { name, kind } => Entry::Type {
                family: s(name),
                kind,
            },
            EntryRecord::Unit { name, unit } => Entry::Unit {
                family: s(name),
                unit: s(unit),
            },
            EntryRecord::Sample {
                series,
                name_end,
                value,
                timestamp_ms,
                ..
            } => {
                let labels_text = s(series.clone());
                let name = labels_text
                    .get(..name_end - series.start)
                    .unwrap_or_default();
                Entry::Sample(Sample {
                    series: &b[series],
                    name,
                    value,
                    timestamp_ms,
                    kind: self.family.kind_of(name.as_bytes()),
                    labels_text,
                    spans: &self.spans,
                })
            }
        }
    }
}

/// A buffer range the record parser already proved to be UTF-8: names are
/// ASCII by their lexical rules, label values and HELP text were validated
/// in `record::check_series` / the HELP parsers, and the buffer is not
/// changed between parsing a record and building its entry.
#[inline]
fn checked_str(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: see above; validating a second time cost ~5% of parse time.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}
