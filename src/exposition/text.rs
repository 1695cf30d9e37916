//! One record of the Prometheus text format 0.0.4, accepted as Prometheus
//! 2.42 accepts it: spaces and tabs between any two tokens (but not before
//! a sample's name), commas between labels optional and a trailing one
//! allowed, raw line breaks inside quoted label values, comments of any
//! kind, empty lines. A `\r` is an ordinary byte (so a CRLF sample line is
//! an invalid value).

use super::MetricType;
use super::entry::LabelSpan;
use super::error::{ErrorAt, ErrorKind, Got, clip};
use super::lex::{
    find_quote_or_backslash, label_name_before_equal, label_name_len, metric_name_len, parse_float,
    parse_int_timestamp,
};
use super::record::{EntryRecord, Input, Record, Step, check_series, find_line_break, skip_ws};

/// Parses the record at `inp.start`.
pub(crate) fn parse_record(inp: &Input<'_>, spans: &mut Vec<LabelSpan>) -> Result<Step, ErrorAt> {
    let b = inp.buf;
    let i = skip_ws(b, inp.start);
    match b[i] {
        b'\n' => return Ok(Step::Done(Record::Skip, i + 1)),
        b'#' => return parse_comment(inp, i + 1).map(|r| Step::Done(r, inp.line_end + 1)),
        _ => {}
    }
    let n = metric_name_len(&b[i..inp.line_end]);
    if n == 0 {
        return Err(ErrorAt::new(
            i,
            ErrorKind::ExpectedLineStart {
                got: Got::token(&b[i..=inp.line_end]),
            },
        ));
    }
    if i != inp.start {
        // Prometheus makes the whitespace part of the metric name, which
        // then fails its name check.
        return Err(ErrorAt::new(inp.start, ErrorKind::WhitespaceBeforeName));
    }
    let series_start = i;
    let name_end = i + n;
    let mut line_end = inp.line_end;
    let mut p = skip_ws(b, name_end);
    let mut series_end = name_end;
    spans.clear();
    if b[p] == b'{' {
        match parse_labels(inp, series_start, p + 1, spans)? {
            Some(close) => {
                series_end = close;
                p = close;
            }
            None => return Ok(Step::NeedMore),
        }
        if p > line_end {
            // A label value held a line break: the record goes on.
            match find_line_break(b, p) {
                Some(e) => line_end = e,
                None if inp.finished => {
                    return Err(ErrorAt::new(b.len(), ErrorKind::UnexpectedEnd));
                }
                None => return Ok(Step::NeedMore),
            }
        }
    }
    check_series(b, series_start..series_end, spans)?;

    // Value.
    p = skip_ws(b, p);
    let value_end = p + b[p..line_end]
        .iter()
        .position(|&c| matches!(c, b' ' | b'\t' | b'{'))
        .unwrap_or(line_end - p);
    if value_end == p {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedValue {
                got: Got::char(&b[p..=line_end]),
            },
        ));
    }
    let value = parse_float(&b[p..value_end])
        .ok_or_else(|| ErrorAt::new(p, ErrorKind::InvalidValue(clip(&b[p..value_end]))))?;

    // Optional timestamp.
    p = skip_ws(b, value_end);
    let mut timestamp_ms = None;
    if b[p].is_ascii_digit() {
        let ts_end = p + b[p..line_end]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(line_end - p);
        let ts = parse_int_timestamp(&b[p..ts_end])
            .ok_or_else(|| ErrorAt::new(p, ErrorKind::InvalidTimestamp(clip(&b[p..ts_end]))))?;
        timestamp_ms = Some(ts);
        p = skip_ws(b, ts_end);
        if p != line_end {
            return Err(ErrorAt::new(
                p,
                ErrorKind::ExpectedLineEnd {
                    got: Got::token(&b[p..=line_end]),
                },
            ));
        }
    } else if p != line_end {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedTimestamp {
                got: Got::token(&b[p..=line_end]),
            },
        ));
    }
    Ok(Step::Done(
        Record::Entry(EntryRecord::Sample {
            series: series_start..series_end,
            name_end,
            value,
            timestamp_ms,
            exemplar: false,
        }),
        line_end + 1,
    ))
}

/// Parses the labels after `{` at `i`; returns the position after `}`, or
/// `None` when the data ends inside them.
fn parse_labels(
    inp: &Input<'_>,
    series_start: usize,
    mut i: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<Option<usize>, ErrorAt> {
    let b = inp.buf;
    let mut line_end = inp.line_end;
    loop {
        i = skip_ws(b, i);
        if b[i] == b'}' {
            return Ok(Some(i + 1));
        }
        let n = label_name_before_equal(b, i, line_end)
            .unwrap_or_else(|| label_name_len(&b[i..line_end]));
        if n == 0 {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedLabelName {
                    got: Got::char(&b[i..=line_end]),
                },
            ));
        }
        let name = i..i + n;
        i = skip_ws(b, i + n);
        if b[i] != b'=' {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedEqual {
                    got: Got::char(&b[i..=line_end]),
                },
            ));
        }
        i = skip_ws(b, i + 1);
        if b[i] != b'"' {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedLabelValue {
                    got: Got::char(&b[i..=line_end]),
                },
            ));
        }
        let value_start = i + 1;
        let Some((close, escaped)) = scan_value(inp, value_start)? else {
            return Ok(None);
        };
        spans.push(LabelSpan {
            name_start: (name.start - series_start) as u32,
            name_end: (name.end - series_start) as u32,
            value_start: (value_start - series_start) as u32,
            value_end: (close - series_start) as u32,
            escaped,
        });
        if close > line_end {
            match find_line_break(b, close) {
                Some(e) => line_end = e,
                None if inp.finished => {
                    return Err(ErrorAt::new(b.len(), ErrorKind::UnexpectedEnd));
                }
                None => return Ok(None),
            }
        }
        i = skip_ws(b, close + 1);
        if b[i] == b',' {
            i += 1;
        }
    }
}

/// Finds the closing quote of the value starting at `from`, across line
/// breaks (Prometheus' lexer allows raw ones). Returns its position and
/// whether the value has escapes; `None` when the data ends first.
fn scan_value(inp: &Input<'_>, value_start: usize) -> Result<Option<(usize, bool)>, ErrorAt> {
    let b = inp.buf;
    let mut from = value_start;
    // An unterminated value is reported at its opening quote.
    let quote = value_start - 1;
    let mut escaped = false;
    loop {
        match find_quote_or_backslash(b, from) {
            Some(at) if b[at] == b'"' => return Ok(Some((at, escaped))),
            Some(at) => match b.get(at + 1) {
                Some(b'\n') => {
                    return Err(ErrorAt::new(at + 1, ErrorKind::LineBreakInLabelValue));
                }
                Some(_) => {
                    escaped = true;
                    from = at + 2;
                }
                None if inp.finished => {
                    return Err(ErrorAt::new(quote, ErrorKind::UnterminatedLabelValue));
                }
                None => return Ok(None),
            },
            None if inp.finished => {
                return Err(ErrorAt::new(quote, ErrorKind::UnterminatedLabelValue));
            }
            None => return Ok(None),
        }
    }
}

/// A line starting with `#` (at `i - 1`): HELP, TYPE or a comment.
fn parse_comment(inp: &Input<'_>, i: usize) -> Result<Record, ErrorAt> {
    let b = inp.buf;
    if !matches!(b[i], b' ' | b'\t') {
        return Ok(Record::Skip);
    }
    let k = skip_ws(b, i);
    let rest = &b[k..inp.line_end];
    let keyword = if rest.starts_with(b"HELP") {
        "HELP"
    } else if rest.starts_with(b"TYPE") {
        "TYPE"
    } else {
        return Ok(Record::Skip);
    };
    if !matches!(rest.get(4), Some(b' ' | b'\t')) {
        return Ok(Record::Skip);
    }
    let p = skip_ws(b, k + 4);
    let n = metric_name_len(&b[p..inp.line_end]);
    if n == 0 {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedMetadataName {
                keyword,
                got: Got::token(&b[p..=inp.line_end]),
            },
        ));
    }
    let name = p..p + n;
    let q = p + n;
    // As in Prometheus, the text is everything after the one character
    // that follows the name (normally a space or tab).
    let text = if q == inp.line_end {
        q..q
    } else {
        q + 1..inp.line_end
    };
    if keyword == "TYPE" {
        let kind = match &b[text.clone()] {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            other => {
                return Err(ErrorAt::new(
                    text.start,
                    ErrorKind::InvalidMetricType(clip(other)),
                ));
            }
        };
        return Ok(Record::Entry(EntryRecord::Type { name, kind }));
    }
    if let Err(e) = std::str::from_utf8(&b[text.clone()]) {
        return Err(ErrorAt::new(
            text.start + e.valid_up_to(),
            ErrorKind::InvalidUtf8Help,
        ));
    }
    Ok(Record::Entry(EntryRecord::Help { name, text }))
}
