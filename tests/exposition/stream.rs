//! Streaming behaviour of the exposition parser on real and generated
//! bodies: a captured node_exporter body, bounded memory on a large body,
//! the line limit, counters, and what happens after an error.

use crate::common::{Rng, parse_chunked, parse_whole};
use levee::exposition::{Entry, ErrorKind, Format, MetricType, ParserLimits, StreamParser};
use levee::synth::IstioWorkload;

fn node_exporter_body() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exposition/node_exporter.txt"
    );
    std::fs::read(path).expect("tests/data/exposition/node_exporter.txt")
}

#[test]
fn node_exporter_body_parses_the_same_in_any_chunks() {
    let body = node_exporter_body();
    let whole = parse_whole(Format::PrometheusText, &body);
    assert_eq!(whole.error, None);
    let lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let sample_lines = lines.clone().filter(|l| l[0] != b'#').count();
    let samples = whole
        .entries
        .iter()
        .filter(|e| e.starts_with("[\"sample\""))
        .count();
    assert_eq!(samples, sample_lines);
    let types = whole
        .entries
        .iter()
        .filter(|e| e.starts_with("[\"type\""))
        .count();
    assert_eq!(types, lines.filter(|l| l.starts_with(b"# TYPE ")).count());
    let mut rng = Rng(42);
    for n in [1, 3, 20, 200] {
        for _ in 0..5 {
            let cuts = rng.cuts(body.len(), n);
            let got = parse_chunked(
                Format::PrometheusText,
                &body,
                &cuts,
                ParserLimits::default(),
            );
            assert_eq!(got, whole, "cuts {cuts:?}");
        }
    }
}

#[test]
fn node_exporter_samples_have_their_family_types() {
    let body = node_exporter_body();
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    p.push(&body).expect("push");
    p.finish();
    let mut seen = 0;
    while let Some(e) = p.next() {
        if let Entry::Sample(s) = e.expect("valid") {
            seen += 1;
            if s.name == "go_gc_duration_seconds_count" {
                assert_eq!(s.kind, MetricType::Summary);
            }
            if s.name == "node_cpu_seconds_total" {
                assert_eq!(s.kind, MetricType::Counter);
                assert!(s.labels().any(|(n, _)| n == "mode"));
            }
        }
    }
    assert!(seen > 100);
    assert_eq!(
        p.lines_read(),
        body.iter().filter(|&&b| b == b'\n').count() as u64
    );
}

#[test]
fn memory_stays_bounded_by_a_line_and_a_chunk() {
    let body = IstioWorkload::new(400).with_full_labels(true).body(1);
    let longest_line = body
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    let chunk = 8192;
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    let mut samples = 0u64;
    let mut max_buffered = 0;
    for piece in body.chunks(chunk) {
        p.push(piece).expect("push");
        max_buffered = max_buffered.max(p.buffered_bytes());
        while let Some(e) = p.next() {
            if let Entry::Sample(_) = e.expect("valid") {
                samples += 1;
            }
        }
    }
    p.finish();
    while let Some(e) = p.next() {
        e.expect("valid");
    }
    assert_eq!(samples, 400 * 25);
    assert!(body.len() > 20 * chunk);
    assert!(
        max_buffered <= longest_line + chunk + 1,
        "held {max_buffered} bytes with lines of at most {longest_line}"
    );
}

#[test]
fn an_unfinished_line_over_the_limit_fails_the_push() {
    let limits = ParserLimits { max_line_bytes: 64 };
    let mut p = StreamParser::new(Format::PrometheusText, limits);
    p.push(b"ok 1\nsecond 2\nlong{a=\"").expect("short so far");
    let err = p.push(&[b'x'; 80]).expect_err("over the limit");
    assert_eq!(
        err.to_string(),
        "line 3, column 65: line longer than the limit of 64 bytes"
    );
    assert_eq!(err.kind, ErrorKind::LineTooLong { limit: 64 });
    // The error is sticky.
    assert_eq!(p.push(b"\n").expect_err("still failed"), err);
    assert!(p.next().is_none());
}

#[test]
fn a_complete_line_over_the_limit_is_an_error_too() {
    let limits = ParserLimits { max_line_bytes: 16 };
    let body = b"a 1\nthis_name_is_rather_long 1\n";
    let got = parse_chunked(Format::PrometheusText, body, &[], limits);
    assert_eq!(got.entries.len(), 1);
    assert_eq!(
        got.error.as_deref(),
        Some("line 2, column 17: line longer than the limit of 16 bytes")
    );
    // A label value running across lines counts as one long record.
    let body = b"a{x=\"one\ntwo\nthree\nfour\nfive\n\"} 1\n";
    let got = parse_chunked(Format::PrometheusText, body, &[6, 12, 20], limits);
    assert!(
        got.error
            .is_some_and(|e| e.ends_with("line longer than the limit of 16 bytes"))
    );
}

#[test]
fn counters_and_finish() {
    let mut p = StreamParser::new(Format::OpenMetrics, ParserLimits::default());
    p.push(b"# TYPE a counter\na_total 1 # {x=\"y\"} 1\na_total{b=\"c\"} 2 # {} 3 4\n# EO")
        .expect("push");
    let mut n = 0;
    while let Some(e) = p.next() {
        e.expect("valid");
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(p.exemplars_skipped(), 2);
    assert_eq!(p.lines_read(), 3);
    p.push(b"F\n").expect("push");
    assert!(p.next().is_none());
    p.finish();
    p.finish();
    assert!(p.next().is_none());
    assert_eq!(p.lines_read(), 4);
    // Pushing after finish is ignored.
    p.push(b"junk 1\n").expect("ignored");
    assert!(p.next().is_none());
}

#[test]
fn next_without_new_data_is_cheap_and_stable() {
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    p.push(b"a{x=\"open").expect("push");
    for _ in 0..3 {
        assert!(p.next().is_none());
    }
    p.push(b"\"} 5\n").expect("push");
    match p.next() {
        Some(Ok(Entry::Sample(s))) => {
            assert_eq!(s.value, 5.0);
            assert_eq!(s.labels().collect::<Vec<_>>(), vec![("x", "open".into())]);
        }
        other => panic!("expected a sample, got {other:?}"),
    }
}

#[test]
fn labels_borrow_unless_escaped() {
    use std::borrow::Cow;
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    p.push(b"m{plain=\"v\",esc=\"a\\\\b\"} 1\n").expect("push");
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!("expected a sample");
    };
    let labels: Vec<_> = s.labels().collect();
    assert!(matches!(labels[0].1, Cow::Borrowed("v")));
    assert!(matches!(&labels[1].1, Cow::Owned(v) if v == "a\\b"));
    assert_eq!(s.label_count(), 2);
    assert_eq!(s.series, b"m{plain=\"v\",esc=\"a\\\\b\"}");
}
