//! Round-trip, version and garbage tests for records.

use proptest::prelude::*;

use super::*;
use crate::labels::Labels;
use crate::tsdb::value::STALE_NAN_BITS;

fn series(r: u32, pairs: &[(&str, &str)]) -> RefSeries {
    RefSeries {
        series: r,
        labels: Labels::from_pairs(pairs.iter().copied()),
    }
}

#[test]
fn series_round_trip() {
    let input = vec![
        series(0, &[("__name__", "up"), ("job", "node")]),
        series(u32::MAX, &[]),
        series(7, &[("a", "ü ñ 日本")]),
    ];
    let mut buf = Vec::new();
    encode_series(&input, &mut buf);
    assert_eq!(buf[..2], [1, 1]);
    assert_eq!(decode(&buf).unwrap(), Record::Series(input));
}

#[test]
fn samples_round_trip_with_stale_markers() {
    let input = vec![
        RefSample {
            series: 5,
            t: 1000,
            v: 1.0,
        },
        RefSample {
            series: 0,
            t: -5,
            v: f64::from_bits(STALE_NAN_BITS),
        },
        RefSample {
            series: u32::MAX,
            t: i64::MAX,
            v: f64::NAN,
        },
        RefSample {
            series: 5,
            t: i64::MIN,
            v: -0.0,
        },
    ];
    let mut buf = Vec::new();
    encode_samples(&input, &mut buf);
    let Record::Samples(got) = decode(&buf).unwrap() else {
        panic!("wrong type")
    };
    assert_eq!(got, input);
    assert_eq!(got[1].v.to_bits(), STALE_NAN_BITS);
}

#[test]
fn empty_records() {
    let mut buf = Vec::new();
    encode_samples(&[], &mut buf);
    assert_eq!(buf, [2, 1]);
    assert_eq!(decode(&buf).unwrap(), Record::Samples(vec![]));
    buf.clear();
    encode_series(&[], &mut buf);
    assert_eq!(decode(&buf).unwrap(), Record::Series(vec![]));
}

#[test]
fn header_errors() {
    assert_eq!(decode(&[]), Err(RecordError::TooShort { len: 0 }));
    assert_eq!(decode(&[1]), Err(RecordError::TooShort { len: 1 }));
    assert_eq!(decode(&[9, 1]), Err(RecordError::UnknownType { got: 9 }));
    assert_eq!(
        decode(&[2, 2]),
        Err(RecordError::UnsupportedVersion {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        decode_series(&[2, 1], &mut Vec::new()),
        Err(RecordError::WrongType {
            expected: RecordType::Series,
            got: RecordType::Samples
        })
    );
}

#[test]
fn body_errors_name_field_and_offset() {
    let mut buf = Vec::new();
    encode_samples(
        &[RefSample {
            series: 1,
            t: 2,
            v: 3.0,
        }],
        &mut buf,
    );
    buf.pop();
    assert_eq!(
        decode(&buf),
        Err(RecordError::Truncated {
            field: "value",
            offset: 16
        })
    );
    // Unsorted labels, hand-built: ref 1, 2 labels "b"="1", "a"="1".
    let rec = [1, 1, 0, 0, 0, 1, 2, 1, b'b', 1, b'1', 1, b'a', 1, b'1'];
    assert!(matches!(
        decode(&rec),
        Err(RecordError::InvalidLabels {
            series: 1,
            offset: 2,
            ..
        })
    ));
    let rec = [1, 1, 0, 0, 0, 1, 1, 1, 0xff, 1, b'1'];
    assert_eq!(decode(&rec), Err(RecordError::InvalidUtf8 { offset: 8 }));
    // Ref delta that leaves u32: base u32::MAX, delta +1.
    let mut rec = vec![2, 1];
    rec.extend_from_slice(&u32::MAX.to_be_bytes());
    rec.extend_from_slice(&0i64.to_be_bytes());
    rec.extend_from_slice(&[2, 0]);
    rec.extend_from_slice(&[0; 8]);
    assert_eq!(
        decode(&rec),
        Err(RecordError::RefOutOfRange {
            offset: 14,
            got: 1 << 32
        })
    );
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 0..6)
        .prop_map(|m| Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

proptest! {
    #[test]
    fn series_round_trip_prop(input in prop::collection::vec((any::<u32>(), labels_strategy()), 0..20)) {
        let input: Vec<_> = input.into_iter().map(|(series, labels)| RefSeries { series, labels }).collect();
        let mut buf = Vec::new();
        encode_series(&input, &mut buf);
        prop_assert_eq!(decode(&buf).unwrap(), Record::Series(input));
    }

    #[test]
    fn samples_round_trip_prop(input in prop::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 0..200)) {
        let input: Vec<_> = input.into_iter().map(|(series, t, v)| RefSample { series, t, v: f64::from_bits(v) }).collect();
        let mut buf = Vec::new();
        encode_samples(&input, &mut buf);
        prop_assert_eq!(decode(&buf).unwrap(), Record::Samples(input));
    }

    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..300), ty in 1u8..=2) {
        if bytes.len() >= 2 { bytes[0] = ty; bytes[1] = 1; }
        let _ = decode(&bytes);
    }
}
