//! One record of OpenMetrics 1.0 text, accepted as Prometheus 2.42's
//! OpenMetrics parser accepts it: single spaces as separators, no empty
//! lines, only `# HELP`/`# TYPE`/`# UNIT`/`# EOF` comments, commas between
//! labels with no trailing one, float-seconds timestamps, exemplars (only on
//! `_total` and `_bucket` samples) checked and skipped.

use super::MetricType;
use super::entry::LabelSpan;
use super::error::{ErrorAt, ErrorKind, Got, clip};
use super::lex::{
    find_quote_or_backslash, label_name_before_equal, label_name_len, metric_name_len, parse_float,
    parse_seconds_timestamp,
};
use super::record::{EntryRecord, Input, Record, Step, check_series};

/// Parses the record at `inp.start`. OpenMetrics records never span lines.
pub(crate) fn parse_record(
    inp: &Input<'_>,
    spans: &mut Vec<LabelSpan>,
    exemplar_spans: &mut Vec<LabelSpan>,
) -> Result<Step, ErrorAt> {
    let b = inp.buf;
    let i = inp.start;
    let end = inp.line_end;
    match b[i] {
        b'\n' => return Err(ErrorAt::new(i, ErrorKind::EmptyLine)),
        b'#' => return parse_comment(inp).map(|r| Step::Done(r, end + 1)),
        _ => {}
    }
    let n = metric_name_len(&b[i..end]);
    if n == 0 {
        return Err(ErrorAt::new(
            i,
            ErrorKind::ExpectedLineStart {
                got: Got::token(&b[i..=end]),
            },
        ));
    }
    let name_end = i + n;
    let mut p = name_end;
    spans.clear();
    if b[p] == b'{' {
        p = parse_labels(b, i, p + 1, end, spans)?;
    }
    check_series(b, i..p, spans)?;
    let series_end = p;

    // Value: exactly one space, then a token.
    if b[p] != b' ' {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedValue {
                got: Got::char(&b[p..=end]),
            },
        ));
    }
    p += 1;
    let value_end = token_end(b, p, end);
    if value_end == p {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedValue {
                got: Got::char(&b[p..=end]),
            },
        ));
    }
    let value = parse_float(&b[p..value_end])
        .ok_or_else(|| ErrorAt::new(p, ErrorKind::InvalidValue(clip(&b[p..value_end]))))?;
    p = value_end;

    let mut timestamp_ms = None;
    let mut exemplar = false;
    if p != end {
        // b[p] is a space.
        if b[p..end].starts_with(b" # {") {
            parse_exemplar(b, i, name_end, p + 1, end, exemplar_spans)?;
            exemplar = true;
        } else {
            p += 1;
            let ts_end = token_end(b, p, end);
            if ts_end == p {
                return Err(if p == end {
                    ErrorAt::new(p - 1, ErrorKind::TrailingSpace)
                } else {
                    ErrorAt::new(
                        p,
                        ErrorKind::ExpectedTimestamp {
                            got: Got::char(&b[p..=end]),
                        },
                    )
                });
            }
            let ts = parse_seconds_timestamp(&b[p..ts_end])
                .ok_or_else(|| ErrorAt::new(p, ErrorKind::InvalidTimestamp(clip(&b[p..ts_end]))))?;
            timestamp_ms = Some(ts);
            p = ts_end;
            if p != end {
                if b[p..end].starts_with(b" # {") {
                    parse_exemplar(b, i, name_end, p + 1, end, exemplar_spans)?;
                    exemplar = true;
                } else {
                    return Err(ErrorAt::new(
                        p + 1,
                        ErrorKind::ExpectedLineEnd {
                            got: Got::token(&b[p + 1..=end]),
                        },
                    ));
                }
            }
        }
    }
    Ok(Step::Done(
        Record::Entry(EntryRecord::Sample {
            series: i..series_end,
            name_end,
            value,
            timestamp_ms,
            exemplar,
        }),
        end + 1,
    ))
}

/// End of the token starting at `p`: the next space or the line end.
fn token_end(b: &[u8], p: usize, end: usize) -> usize {
    p + b[p..end].iter().position(|&c| c == b' ').unwrap_or(end - p)
}

/// Parses labels after `{` at `i` up to and including `}`; returns the
/// position after `}`.
fn parse_labels(
    b: &[u8],
    series_start: usize,
    mut i: usize,
    end: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<usize, ErrorAt> {
    if b[i] == b'}' {
        return Ok(i + 1);
    }
    loop {
        let n = label_name_before_equal(b, i, end).unwrap_or_else(|| label_name_len(&b[i..end]));
        if n == 0 {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedLabelName {
                    got: Got::char(&b[i..=end]),
                },
            ));
        }
        let name = i..i + n;
        i += n;
        if b[i] != b'=' {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedEqual {
                    got: Got::char(&b[i..=end]),
                },
            ));
        }
        i += 1;
        if b[i] != b'"' {
            return Err(ErrorAt::new(
                i,
                ErrorKind::ExpectedLabelValue {
                    got: Got::char(&b[i..=end]),
                },
            ));
        }
        let value_start = i + 1;
        let (close, escaped) = scan_value(b, value_start, end)?;
        spans.push(LabelSpan {
            name_start: (name.start - series_start) as u32,
            name_end: (name.end - series_start) as u32,
            value_start: (value_start - series_start) as u32,
            value_end: (close - series_start) as u32,
            escaped,
        });
        i = close + 1;
        match b[i] {
            b',' => i += 1,
            b'}' => return Ok(i + 1),
            _ => {
                return Err(ErrorAt::new(
                    i,
                    ErrorKind::ExpectedCommaOrBrace {
                        got: Got::char(&b[i..=end]),
                    },
                ));
            }
        }
    }
}

/// Finds the closing quote of the value starting at `from` within the line.
fn scan_value(b: &[u8], mut from: usize, end: usize) -> Result<(usize, bool), ErrorAt> {
    let mut escaped = false;
    loop {
        match find_quote_or_backslash(&b[..end], from) {
            Some(at) if b[at] == b'"' => return Ok((at, escaped)),
            Some(at) => {
                if at + 1 == end {
                    return Err(ErrorAt::new(end, ErrorKind::LineBreakInLabelValue));
                }
                escaped = true;
                from = at + 2;
            }
            None => return Err(ErrorAt::new(end, ErrorKind::LineBreakInLabelValue)),
        }
    }
}

/// Checks and skips the exemplar starting at `p` (` # {` at `p - 1`).
fn parse_exemplar(
    b: &[u8],
    series_start: usize,
    name_end: usize,
    p: usize,
    end: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<(), ErrorAt> {
    let name = &b[series_start..name_end];
    if !(name.ends_with(b"_total") || name.ends_with(b"_bucket")) {
        return Err(ErrorAt::new(p, ErrorKind::ExemplarNotAllowed(clip(name))));
    }
    let labels_start = p + 3;
    spans.clear();
    let mut i = parse_labels(b, labels_start, labels_start, end, spans)?;
    // Exemplar label values must be UTF-8; repeated names are not checked
    // (Prometheus 2.42 accepts them in the scrape).
    if let Err(e) = std::str::from_utf8(&b[labels_start..i]) {
        return Err(ErrorAt::new(
            labels_start + e.valid_up_to(),
            ErrorKind::InvalidUtf8LabelValue,
        ));
    }
    if b[i] != b' ' {
        return Err(ErrorAt::new(
            i,
            ErrorKind::InvalidExemplar("expected a space and a value"),
        ));
    }
    i += 1;
    let value_end = token_end(b, i, end);
    if value_end == i || parse_float(&b[i..value_end]).is_none() {
        return Err(ErrorAt::new(i, ErrorKind::InvalidExemplar("invalid value")));
    }
    i = value_end;
    if i == end {
        return Ok(());
    }
    i += 1;
    let ts_end = token_end(b, i, end);
    if ts_end == i || parse_seconds_timestamp(&b[i..ts_end]).is_none() {
        return Err(ErrorAt::new(
            i,
            ErrorKind::InvalidExemplar("invalid timestamp"),
        ));
    }
    if ts_end != end {
        return Err(ErrorAt::new(
            ts_end,
            ErrorKind::InvalidExemplar("expected end of line after timestamp"),
        ));
    }
    Ok(())
}

/// A line starting with `#`: HELP, TYPE, UNIT or EOF.
fn parse_comment(inp: &Input<'_>) -> Result<Record, ErrorAt> {
    let b = inp.buf;
    let i = inp.start;
    let end = inp.line_end;
    let line = &b[i..end];
    if line.get(1) != Some(&b' ') {
        return Err(ErrorAt::new(
            i + 1,
            ErrorKind::InvalidComment {
                got: Got::token(&b[i + 1..=end]),
            },
        ));
    }
    let rest = &line[2..];
    if rest.starts_with(b"EOF") {
        return if rest.len() == 3 {
            Ok(Record::Eof)
        } else {
            Err(ErrorAt::new(i + 5, ErrorKind::DataAfterEof))
        };
    }
    let keyword = if rest.starts_with(b"HELP ") {
        "HELP"
    } else if rest.starts_with(b"TYPE ") {
        "TYPE"
    } else if rest.starts_with(b"UNIT ") {
        "UNIT"
    } else {
        return Err(ErrorAt::new(
            i + 2,
            ErrorKind::InvalidComment {
                got: Got::token(&b[i + 2..=end]),
            },
        ));
    };
    let p = i + 7;
    let n = metric_name_len(&b[p..end]);
    if n == 0 {
        return Err(ErrorAt::new(
            p,
            ErrorKind::ExpectedMetadataName {
                keyword,
                got: Got::token(&b[p..=end]),
            },
        ));
    }
    let name = p..p + n;
    let q = p + n;
    if b[q] != b' ' {
        return Err(ErrorAt::new(
            q,
            ErrorKind::ExpectedMetadataText {
                keyword,
                got: Got::char(&b[q..=end]),
            },
        ));
    }
    let text = q + 1..end;
    match keyword {
        "TYPE" => {
            let kind = match &b[text.clone()] {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"gaugehistogram" => MetricType::GaugeHistogram,
                b"summary" => MetricType::Summary,
                b"info" => MetricType::Info,
                b"stateset" => MetricType::StateSet,
                b"unknown" => MetricType::Unknown,
                other => {
                    return Err(ErrorAt::new(
                        text.start,
                        ErrorKind::InvalidMetricType(clip(other)),
                    ));
                }
            };
            Ok(Record::Entry(EntryRecord::Type { name, kind }))
        }
        "UNIT" => {
            let unit = &b[text.clone()];
            let family = &b[name.clone()];
            let is_suffix = unit.is_empty()
                || (family.len() > unit.len()
                    && family.ends_with(unit)
                    && family[family.len() - unit.len() - 1] == b'_');
            if !is_suffix {
                return Err(ErrorAt::new(
                    text.start,
                    ErrorKind::UnitNotSuffix {
                        unit: clip(unit),
                        name: clip(family),
                    },
                ));
            }
            Ok(Record::Entry(EntryRecord::Unit { name, unit: text }))
        }
        _ => {
            if let Err(e) = std::str::from_utf8(&b[text.clone()]) {
                return Err(ErrorAt::new(
                    text.start + e.valid_up_to(),
                    ErrorKind::InvalidUtf8Help,
                ));
            }
            Ok(Record::Entry(EntryRecord::Help { name, text }))
        }
    }
}
