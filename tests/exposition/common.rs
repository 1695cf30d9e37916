//! Helpers shared by the exposition tests: run a body through the stream
//! parser in given chunks and render what comes out as comparable text.

#![allow(dead_code)]

use levee::exposition::{Entry, Format, MetricType, NORMAL_NAN_BITS, ParserLimits, StreamParser};
use std::path::{Path, PathBuf};

/// Everything a parse produced: one JSON line per entry, then the error
/// (Display form) if the parse failed.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub entries: Vec<String>,
    pub error: Option<String>,
    pub exemplars_skipped: u64,
}

/// Parses `body` fed as the chunks between the given cut points.
pub fn parse_chunked(format: Format, body: &[u8], cuts: &[usize], limits: ParserLimits) -> Outcome {
    let mut parser = StreamParser::new(format, limits);
    let mut entries = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(body.len()));
    for end in ends {
        if let Err(e) = parser.push(&body[start..end]) {
            return Outcome {
                entries,
                error: Some(e.to_string()),
                exemplars_skipped: parser.exemplars_skipped(),
            };
        }
        start = end;
        if let Some(e) = drain(&mut parser, &mut entries) {
            return Outcome {
                entries,
                error: Some(e),
                exemplars_skipped: parser.exemplars_skipped(),
            };
        }
    }
    parser.finish();
    let error = drain(&mut parser, &mut entries);
    assert!(parser.next().is_none(), "parser yields after the end");
    Outcome {
        entries,
        error,
        exemplars_skipped: parser.exemplars_skipped(),
    }
}

/// Parses `body` in one piece.
pub fn parse_whole(format: Format, body: &[u8]) -> Outcome {
    parse_chunked(format, body, &[], ParserLimits::default())
}

fn drain(parser: &mut StreamParser, out: &mut Vec<String>) -> Option<String> {
    while let Some(entry) = parser.next() {
        match entry {
            Ok(entry) => out.push(render(&entry)),
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}

/// One entry as a JSON array:
/// `["help", family, text]`, `["type", family, kind]`, `["unit", family, unit]`,
/// `["sample", series, name, [[label, value], ...], value, timestamp_ms, kind]`.
pub fn render(entry: &Entry<'_>) -> String {
    use serde_json::json;
    let v = match entry {
        Entry::Help { family, text } => json!(["help", family, text]),
        Entry::Type { family, kind } => json!(["type", family, kind_name(*kind)]),
        Entry::Unit { family, unit } => json!(["unit", family, unit]),
        Entry::Sample(s) => {
            let labels: Vec<_> = s.labels().map(|(n, v)| json!([n, v])).collect();
            json!([
                "sample",
                String::from_utf8_lossy(s.series),
                s.name,
                labels,
                value_text(s.value),
                s.timestamp_ms,
                kind_name(s.kind)
            ])
        }
    };
    v.to_string()
}

/// A value as text that tells every f64 apart: Rust's `{:?}` (`-0.0`,
/// `inf`), and `NaN` only for Prometheus' normal NaN bits.
pub fn value_text(v: f64) -> String {
    if v.is_nan() {
        if v.to_bits() == NORMAL_NAN_BITS {
            "NaN".to_string()
        } else {
            format!("NaN:{:#x}", v.to_bits())
        }
    } else {
        format!("{v:?}")
    }
}

pub fn kind_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::Info => "info",
        MetricType::StateSet => "stateset",
        MetricType::Unknown => "unknown",
    }
}

/// A tiny deterministic generator (xorshift) for chunk boundaries.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Sorted random cut points in `0..=len`.
    pub fn cuts(&mut self, len: usize, n: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = (0..n).map(|_| (self.next() as usize) % (len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }
}

/// One test vector file (see `tests/exposition_vectors.rs` for the layout).
pub struct Vector {
    pub path: PathBuf,
    pub format: Format,
    pub error: Option<String>,
    pub exemplars: Option<u64>,
    pub expected: Vec<String>,
    pub input: Vec<u8>,
}

pub const INPUT: &[u8] = b"--- input ---\n";

fn read_vector(path: &Path) -> Vector {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let input_at =
        find(&raw, INPUT).unwrap_or_else(|| panic!("{}: no input marker", path.display()));
    let input = raw[input_at + INPUT.len()..].to_vec();
    let head = std::str::from_utf8(&raw[..input_at]).expect("vector header is UTF-8");
    let (header, expected) = match head.split_once("--- expected ---\n") {
        Some((h, e)) => (h, e),
        None => (head, ""),
    };
    let mut format = None;
    let mut error = None;
    let mut exemplars = None;
    for line in header.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: bad header line {line:?}", path.display()));
        match key {
            "format" => {
                format = Some(match value {
                    "text" => Format::PrometheusText,
                    "openmetrics" => Format::OpenMetrics,
                    other => panic!("{}: unknown format {other}", path.display()),
                })
            }
            "error" => error = Some(value.to_string()),
            "exemplars" => exemplars = Some(value.parse().expect("exemplar count")),
            "note" => {}
            other => panic!("{}: unknown header {other}", path.display()),
        }
    }
    Vector {
        path: path.to_path_buf(),
        format: format.unwrap_or_else(|| panic!("{}: no format", path.display())),
        error,
        exemplars,
        expected: expected
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(normalize)
            .collect(),
        input,
    }
}

fn normalize(json_line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json_line)
        .unwrap_or_else(|e| panic!("bad expected line {json_line:?}: {e}"));
    v.to_string()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every vector in `tests/data/exposition/<dir>/`, sorted by name.
pub fn vectors(dir: &str) -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/exposition")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no vectors in {}", dir.display());
    paths.iter().map(|p| read_vector(p)).collect()
}
