//! Exposition test vectors: every file under `tests/data/exposition/valid/`
//! and `tests/data/exposition/invalid/` is a document with the entries and
//! (for invalid ones) the exact error it must produce. Each is parsed whole,
//! split at every byte boundary, byte by byte, and at random boundaries;
//! all must give the same result.
//!
//! Vector file layout (the input runs to the end of the file, byte-exact):
//!
//! ```text
//! format: text | openmetrics
//! error: line 3, column 7: expected label value in quotes, got "b"   (invalid only)
//! exemplars: 2                                                      (optional)
//! --- expected ---
//! ["type","foo","counter"]
//! ["sample","foo{a=\"b\"}","foo",[["a","b"]],"1.0",null,"counter"]
//! --- input ---
//! ...document...
//! ```
//!
//! `EXPO_BLESS=1 cargo test --test exposition_vectors` rewrites the
//! expected sections from the parser's output (review the diff!).

mod exposition_common;

use exposition_common::{Outcome, Rng, parse_chunked, parse_whole};
use levee::exposition::{Format, ParserLimits};
use std::path::{Path, PathBuf};

struct Vector {
    path: PathBuf,
    format: Format,
    error: Option<String>,
    exemplars: Option<u64>,
    expected: Vec<String>,
    input: Vec<u8>,
}

const INPUT: &[u8] = b"--- input ---\n";

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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn vectors(dir: &str) -> Vec<Vector> {
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

fn bless(v: &Vector, got: &Outcome) {
    let raw = std::fs::read(&v.path).expect("read vector");
    let input_at = find(&raw, INPUT).expect("input marker");
    let head = std::str::from_utf8(&raw[..input_at]).expect("utf8 header");
    let header = head
        .split_once("--- expected ---\n")
        .map_or(head, |(h, _)| h);
    let mut out = String::new();
    for line in header.lines().filter(|l| !l.starts_with("error: ")) {
        out.push_str(line);
        out.push('\n');
    }
    if let Some(e) = &got.error {
        out.push_str(&format!("error: {e}\n"));
    }
    out.push_str("--- expected ---\n");
    for e in &got.entries {
        out.push_str(e);
        out.push('\n');
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&raw[input_at..]);
    std::fs::write(&v.path, bytes).expect("write vector");
}

fn check(v: &Vector, want_error: bool) {
    let name = v
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let whole = parse_whole(v.format, &v.input);
    if std::env::var_os("EXPO_BLESS").is_some() {
        bless(v, &whole);
        return;
    }
    assert_eq!(whole.entries, v.expected, "{name}: entries");
    assert_eq!(whole.error, v.error, "{name}: error");
    assert_eq!(
        want_error,
        v.error.is_some(),
        "{name}: valid/ holds documents without errors, invalid/ with"
    );
    if let Some(n) = v.exemplars {
        assert_eq!(whole.exemplars_skipped, n, "{name}: exemplars skipped");
    }
    let limits = ParserLimits::default();
    let len = v.input.len();
    for cut in 0..=len {
        let split = parse_chunked(v.format, &v.input, &[cut], limits);
        assert_eq!(split, whole, "{name}: split at byte {cut}");
    }
    let bytewise: Vec<usize> = (1..len).collect();
    assert_eq!(
        parse_chunked(v.format, &v.input, &bytewise, limits),
        whole,
        "{name}: byte by byte"
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ len as u64);
    for _ in 0..50 {
        let cuts = rng.cuts(len, 4);
        assert_eq!(
            parse_chunked(v.format, &v.input, &cuts, limits),
            whole,
            "{name}: cuts {cuts:?}"
        );
    }
}

#[test]
fn valid_vectors() {
    for v in vectors("valid") {
        check(&v, false);
    }
}

#[test]
fn invalid_vectors() {
    for v in vectors("invalid") {
        check(&v, true);
    }
}
