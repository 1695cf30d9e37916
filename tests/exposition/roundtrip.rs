//! Round trip: random series (label values with escapes, unicode, control
//! characters) and random float values (NaN payloads, ±Inf, -0.0,
//! subnormals, extremes) written as exposition text in both formats, fed in
//! random chunks, and parsed back equal.
//!
//! Text carries no NaN payload: every NaN comes back as Prometheus' normal
//! NaN (`NORMAL_NAN_BITS`); every other value comes back bit for bit.

use levee::exposition::{Entry, Format, NORMAL_NAN_BITS, ParserLimits, StreamParser};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    timestamp_ms: Option<i64>,
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

fn write(format: Format, series: &[Series]) -> Vec<u8> {
    let mut out = String::new();
    for s in series {
        out.push_str(&s.name);
        if !s.labels.is_empty() {
            let pairs: Vec<String> = s
                .labels
                .iter()
                .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
                .collect();
            out.push('{');
            out.push_str(&pairs.join(","));
            out.push('}');
        }
        out.push(' ');
        out.push_str(&value_text(s.value));
        match (format, s.timestamp_ms) {
            (_, None) => {}
            (Format::PrometheusText, Some(ts)) => out.push_str(&format!(" {ts}")),
            (Format::OpenMetrics, Some(ts)) => out.push_str(&format!(" {}", ts / 1000)),
        }
        out.push('\n');
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out.into_bytes()
}

fn parse(format: Format, body: &[u8], cuts: &[usize]) -> Vec<Series> {
    let mut p = StreamParser::new(format, ParserLimits::default());
    let mut got = Vec::new();
    let mut drain = |p: &mut StreamParser| {
        while let Some(e) = p.next() {
            match e {
                Ok(Entry::Sample(s)) => got.push(Series {
                    name: s.name.to_string(),
                    labels: s
                        .labels()
                        .map(|(n, v)| (n.to_string(), v.into_owned()))
                        .collect(),
                    value: s.value,
                    timestamp_ms: s.timestamp_ms,
                }),
                Ok(other) => panic!("unexpected entry {other:?}"),
                Err(e) => panic!("parse error {e} in {:?}", String::from_utf8_lossy(body)),
            }
        }
    };
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(body.len())) {
        p.push(&body[start..end]).expect("push");
        drain(&mut p);
        start = end;
    }
    p.finish();
    drain(&mut p);
    got
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        (-1e6f64..1e6).prop_map(f64::round),
    ]
}

fn series(format: Format) -> impl Strategy<Value = Series> {
    let label_value = prop_oneof![
        any::<String>(),
        "[a-z\\\\\"\n ☃𝄞é]{0,12}",
        Just(String::new()),
    ];
    let labels = prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", label_value, 0..6)
        .prop_map(|mut m| {
            m.remove("__name__");
            m
        });
    let ts = match format {
        Format::PrometheusText => prop::option::of(0i64..=i64::MAX).boxed(),
        Format::OpenMetrics => prop::option::of(
            (-1_000_000_000_000i64..4_000_000_000_000).prop_map(|s| s / 1000 * 1000),
        )
        .boxed(),
    };
    ("[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", labels, float(), ts).prop_map(
        |(name, labels, value, timestamp_ms)| Series {
            name,
            labels,
            value,
            timestamp_ms,
        },
    )
}

fn check(format: Format, input: &[Series], cuts: &[usize]) -> Result<(), TestCaseError> {
    let body = write(format, input);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let got = parse(format, &body, &cuts);
    prop_assert_eq!(got.len(), input.len());
    for (g, w) in got.iter().zip(input) {
        prop_assert_eq!(&g.name, &w.name);
        prop_assert_eq!(&g.labels, &w.labels);
        prop_assert_eq!(g.timestamp_ms, w.timestamp_ms);
        let want_bits = if w.value.is_nan() {
            NORMAL_NAN_BITS
        } else {
            w.value.to_bits()
        };
        prop_assert_eq!(g.value.to_bits(), want_bits, "value {:?}", w.value);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trip(
        input in prop::collection::vec(series(Format::PrometheusText), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        check(Format::PrometheusText, &input, &cuts)?;
    }

    #[test]
    fn openmetrics_round_trip(
        input in prop::collection::vec(series(Format::OpenMetrics), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        check(Format::OpenMetrics, &input, &cuts)?;
    }

    /// Arbitrary bytes in arbitrary chunks never panic or hang, and the
    /// result does not depend on the chunking.
    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(prop_oneof![
            any::<u8>(),
            prop::sample::select(b"{}=\",# \n\\abcHELPTYPEUNITEOF01.e+-".to_vec()),
        ], 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        om in any::<bool>(),
    ) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = outcome(format, &body, &[]);
        let split = outcome(format, &body, &cuts);
        prop_assert_eq!(whole, split);
    }
}

/// Debug renderings of every entry and the error, for comparing chunkings.
fn outcome(format: Format, body: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut p = StreamParser::new(format, ParserLimits::default());
    let mut out = Vec::new();
    let mut start = 0;
    // Returns false once the parse failed.
    let drain = |p: &mut StreamParser, out: &mut Vec<String>| {
        while let Some(e) = p.next() {
            match e {
                Ok(Entry::Sample(s)) => out.push(format!(
                    "{:?} {:?} {:?}",
                    s,
                    s.labels().collect::<Vec<_>>(),
                    s.value.to_bits()
                )),
                Ok(other) => out.push(format!("{other:?}")),
                Err(e) => {
                    out.push(format!("error: {e}"));
                    return false;
                }
            }
        }
        true
    };
    for end in cuts.iter().copied().chain(std::iter::once(body.len())) {
        if let Err(e) = p.push(&body[start..end]) {
            out.push(format!("error: {e}"));
            return out;
        }
        if !drain(&mut p, &mut out) {
            return out;
        }
        start = end;
    }
    p.finish();
    drain(&mut p, &mut out);
    out
}
