//! Round trips of the hand-written encoder through prost and snappy.

use super::*;
use crate::proto::{self, TimeSeries};
use proptest::prelude::*;
use std::sync::Arc;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn sample(labels: &Arc<Labels>, t: i64, v: f64) -> Sample {
    Sample {
        labels: labels.clone(),
        timestamp_ms: t,
        value: v,
    }
}

/// What the encoder should produce, built the slow way with prost types.
fn expected(samples: &[Sample], external: &Labels) -> WriteRequest {
    let mut out: Vec<(Labels, TimeSeries)> = Vec::new();
    for s in samples {
        let pos = match out.iter().position(|(l, _)| *l == *s.labels) {
            Some(p) => p,
            None => {
                let mut b = (*external).to_builder();
                for l in s.labels.iter() {
                    b.set(l.name, l.value);
                }
                let labels = b
                    .labels()
                    .iter()
                    .map(|l| proto::Label {
                        name: l.name.into(),
                        value: l.value.into(),
                    })
                    .collect();
                out.push((
                    (*s.labels).clone(),
                    TimeSeries {
                        labels,
                        samples: vec![],
                        exemplars: vec![],
                    },
                ));
                out.len() - 1
            }
        };
        out[pos].1.samples.push(proto::Sample {
            value: s.value,
            timestamp: s.timestamp_ms,
        });
    }
    WriteRequest {
        timeseries: out.into_iter().map(|(_, ts)| ts).collect(),
        metadata: vec![],
    }
}

/// Label pairs and (timestamp, value bits) of one series.
type SeriesBits = (Vec<(String, String)>, Vec<(i64, u64)>);

fn bits(req: &WriteRequest) -> Vec<SeriesBits> {
    req.timeseries
        .iter()
        .map(|ts| {
            (
                ts.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                ts.samples
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn groups_by_series_adds_external_labels_and_keeps_order() {
    let a = Arc::new(Labels::from_pairs([("__name__", "up"), ("job", "a")]));
    let b = Arc::new(Labels::from_pairs([
        ("__name__", "up"),
        ("job", "b"),
        ("zone", "own"),
    ]));
    let samples = vec![
        sample(&a, 1000, 1.0),
        sample(&b, 1000, 0.0),
        sample(&a, 2000, f64::from_bits(STALE_NAN)),
        sample(&b, -5, -0.0),
    ];
    let external = Labels::from_pairs([("cluster", "c1"), ("zone", "ext")]);
    let mut enc = WriteRequestEncoder::new();
    let (body, stats) = enc.encode(&samples, &external).expect("encode");
    let body = body.to_vec();
    assert_eq!(stats.series, 2);
    assert_eq!(stats.samples, 4);
    assert_eq!(stats.max_timestamp_ms, 2000);
    let got = decode_write_request(&body, 1 << 20).expect("decode");
    assert_eq!(bits(&got), bits(&expected(&samples, &external)));
    let names: Vec<_> = got.timeseries[1]
        .labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect();
    assert_eq!(names, ["__name__=up", "cluster=c1", "job=b", "zone=own"]);
    // -0.0 survives (prost alone would drop it to +0.0).
    assert_eq!(
        got.timeseries[1].samples[1].value.to_bits(),
        (-0.0f64).to_bits()
    );
    assert_eq!(got.timeseries[0].samples[1].value.to_bits(), STALE_NAN);
}

#[test]
fn bytes_match_prost_encoding() {
    let a = Arc::new(Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("code", "200"),
    ]));
    let samples: Vec<_> = (0..50)
        .map(|i| sample(&a, 1_700_000_000_000 + i * 15_000, i as f64 * 1.5))
        .collect();
    let mut enc = WriteRequestEncoder::new();
    enc.encode(&samples, &Labels::empty()).expect("encode");
    let want = expected(&samples, &Labels::empty()).encode_to_vec();
    assert_eq!(enc.last_protobuf(), want.as_slice());
}

#[test]
fn empty_batch_is_an_empty_request() {
    let mut enc = WriteRequestEncoder::new();
    let (body, stats) = enc.encode(&[], &Labels::empty()).expect("encode");
    let got = decode_write_request(body, 16).expect("decode");
    assert!(got.timeseries.is_empty());
    assert_eq!(stats.series, 0);
}

#[test]
fn decode_refuses_oversized_claims_before_allocating() {
    // A snappy header (varint) claiming ~2.9 GB followed by nothing.
    let body = [0x80, 0x80, 0x80, 0x80, 0x0b, 0, 0, 0];
    match decode_write_request(&body, 64 << 20) {
        Err(DecodeError::TooLarge { claimed, limit }) => {
            assert!(claimed > 2_000_000_000, "{claimed}");
            assert_eq!(limit, 64 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn decode_reports_bad_snappy_and_bad_protobuf() {
    assert!(matches!(
        decode_write_request(&[0x05, 0xff, 0xff], 1024),
        Err(DecodeError::Snappy { len: 3, .. })
    ));
    // Valid snappy around bytes that are not a WriteRequest (field 1 LEN
    // with a length past the end).
    let junk = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x7f, 0x01])
        .expect("compress");
    assert!(matches!(
        decode_write_request(&junk, 1024),
        Err(DecodeError::Protobuf { len: 3, .. })
    ));
}

#[test]
fn encoder_reuses_its_buffers() {
    let a = Arc::new(Labels::from_pairs([("__name__", "x")]));
    let samples: Vec<_> = (0..100).map(|i| sample(&a, i, 1.0)).collect();
    let mut enc = WriteRequestEncoder::new();
    enc.encode(&samples, &Labels::empty()).expect("encode");
    let cap = (enc.proto.capacity(), enc.compressed.capacity());
    enc.encode(&samples[..10], &Labels::empty())
        .expect("encode");
    enc.encode(&samples, &Labels::empty()).expect("encode");
    assert_eq!(cap, (enc.proto.capacity(), enc.compressed.capacity()));
}

#[test]
fn grouping_survives_hash_collisions() {
    let a = Arc::new(Labels::from_pairs([("__name__", "a")]));
    let b = Arc::new(Labels::from_pairs([("__name__", "b")]));
    let a2 = Arc::new((*a).clone()); // same series, another Arc
    let samples = vec![
        sample(&a, 1, 1.0),
        sample(&b, 2, 2.0),
        sample(&a2, 3, 3.0),
        sample(&b, 4, 4.0),
        sample(&a, 5, 5.0),
    ];
    let mut g = Grouper::default();
    g.group_by(&samples, |_| 42);
    assert_eq!(g.len(), 2);
    assert_eq!(g.members(0), [0, 2, 4]);
    assert_eq!(g.members(1), [1, 3]);
    // Reused for a different batch.
    g.group_by(&samples[1..2], |_| 7);
    assert_eq!((g.len(), g.members(0)), (1, &[0u32][..]));
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("__name__".to_string()),
        Just("job".to_string()),
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::from_bits(STALE_NAN)),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(-0.0),
        Just(0.0),
        Just(9_007_199_254_740_993.0),
        any::<f64>(),
    ]
}

fn series() -> impl Strategy<Value = Labels> {
    proptest::collection::vec((label_name(), "\\PC{1,16}"), 0..6).prop_map(Labels::from_pairs)
}

proptest! {
    #[test]
    fn round_trip_is_bit_exact(
        all_series in proptest::collection::vec(series(), 1..6),
        points in proptest::collection::vec((0usize..6, any::<i64>(), value()), 0..60),
        external in proptest::collection::vec((label_name(), "[a-z]{1,5}"), 0..3),
    ) {
        let all_series: Vec<Arc<Labels>> = all_series.into_iter().map(Arc::new).collect();
        let samples: Vec<Sample> = points
            .iter()
            .map(|&(i, t, v)| sample(&all_series[i % all_series.len()], t, v))
            .collect();
        let external = Labels::from_pairs(external);
        let mut enc = WriteRequestEncoder::new();
        let body = enc.encode(&samples, &external).expect("encode").0.to_vec();
        let got = decode_write_request(&body, 64 << 20).expect("decode");
        prop_assert_eq!(bits(&got), bits(&expected(&samples, &external)));
    }
}
