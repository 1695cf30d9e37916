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
//! `EXPO_BLESS=1 cargo test --test exposition vectors::` rewrites the
//! expected sections from the parser's output (review the diff!).

use crate::common::{INPUT, Outcome, Rng, Vector, find, parse_chunked, parse_whole, vectors};
use levee::exposition::ParserLimits;

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
