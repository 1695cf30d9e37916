//! Round-trip, bit-exactness, ordering and corruption tests for XOR chunks.

use proptest::prelude::*;

use super::*;
use crate::tsdb::chunkenc::{Encoding, iter_chunk};
use crate::tsdb::value::STALE_NAN_BITS;

fn samples_of(chunk: &XorChunk) -> Vec<(i64, u64)> {
    chunk
        .iter()
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn build(samples: &[(i64, u64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v)).unwrap();
    }
    c
}

#[test]
fn empty_chunk_is_two_zero_bytes() {
    let c = XorChunk::new();
    assert_eq!(c.bytes(), &[0, 0]);
    assert_eq!(c.iter().count(), 0);
    assert_eq!(c.time_range(), None);
}

#[test]
fn special_values_round_trip_bit_exact() {
    let values = [
        STALE_NAN_BITS,
        0x7ff8_0000_0000_0001,
        0xfff0_dead_beef_0001,
        (-0.0f64).to_bits(),
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        1.5f64.to_bits(),
        STALE_NAN_BITS,
        STALE_NAN_BITS,
        0,
    ];
    let samples: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000 - 30_000, v))
        .collect();
    assert_eq!(samples_of(&build(&samples)), samples);
}

#[test]
fn out_of_order_and_duplicate_timestamps_are_rejected() {
    let mut c = XorChunk::new();
    c.append(100, 1.0).unwrap();
    let before = c.bytes().to_vec();
    assert_eq!(
        c.append(100, 2.0),
        Err(ChunkError::OutOfOrder {
            last: 100,
            got: 100
        })
    );
    assert_eq!(
        c.append(50, 2.0),
        Err(ChunkError::OutOfOrder { last: 100, got: 50 })
    );
    assert_eq!(c.bytes(), &before[..]);
    c.append(200, 2.0).unwrap();
    assert_eq!(
        c.append(199, 2.0),
        Err(ChunkError::OutOfOrder {
            last: 200,
            got: 199
        })
    );
    assert_eq!(c.num_samples(), 2);
}

#[test]
fn full_chunk_rejects_sample_121() {
    let mut c = XorChunk::new();
    for i in 0..120 {
        c.append(i * 1000, i as f64).unwrap();
    }
    assert!(c.is_full());
    assert_eq!(c.append(200_000, 0.0), Err(ChunkError::Full { max: 120 }));
    assert_eq!(c.time_range(), Some((0, 119_000)));
}

#[test]
fn extreme_timestamps() {
    let mut c = XorChunk::new();
    c.append(i64::MIN, 1.0).unwrap();
    assert_eq!(
        c.append(i64::MAX, 1.0),
        Err(ChunkError::TimestampOverflow {
            last: i64::MIN,
            got: i64::MAX
        })
    );
    let ok = [(i64::MIN, 1), (-1, 2)];
    assert_eq!(samples_of(&build(&ok)), ok);
    let ok = [(0, 3), (i64::MAX - 1, 4), (i64::MAX, 5)];
    assert_eq!(samples_of(&build(&ok)), ok);
}

#[test]
fn dod_bucket_boundaries_round_trip() {
    let dods = [
        0,
        1,
        -1,
        63,
        -63,
        64,
        -64,
        65,
        8191,
        -8191,
        8192,
        -8192,
        8193,
        524_287,
        -524_287,
        524_288,
        -524_288,
        524_289,
        1 << 40,
        -(1 << 39),
    ];
    let mut delta: i64 = 1 << 41;
    let mut t = 0i64;
    let mut samples = vec![(t, 0)];
    t += delta;
    samples.push((t, 1));
    for (i, dod) in dods.iter().enumerate() {
        delta += dod;
        t += delta;
        samples.push((t, i as u64));
    }
    assert_eq!(samples_of(&build(&samples)), samples);
}

#[test]
fn jittered_timestamps_cost_ten_bits_per_constant_sample() {
    // Scrape every 15 s with 0 or 3 ms of jitter: every dod is in ±6, so
    // each sample after the second costs `10` + 7 bits + one value bit.
    let samples: Vec<_> = (0..120)
        .map(|i| (i * 15_000 + 3 * (i % 2), 1f64.to_bits()))
        .collect();
    let c = build(&samples);
    let bits: usize = 16 + (8 + 64) + (16 + 1) + 118 * 10;
    assert_eq!(c.bytes().len(), bits.div_ceil(8));
    assert_eq!(samples_of(&c), samples);
}

#[test]
fn seek_finds_first_sample_at_or_after() {
    let c = build(&[(10, 1), (20, 2), (30, 3)]);
    let mut it = c.iter();
    assert_eq!(it.seek(15).unwrap().unwrap().0, 20);
    assert_eq!(
        it.seek(20).unwrap().unwrap().0,
        20,
        "current already qualifies"
    );
    assert_eq!(it.at().map(|s| s.0), Some(20));
    assert_eq!(it.seek(21).unwrap().unwrap().0, 30);
    assert!(it.seek(31).is_none());
}

#[test]
fn from_bytes_resumes_appending() {
    let mut c = build(&[(1000, 1), (2000, 7), (3500, 7)]);
    let mut r = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
    c.append(4000, 3.25).unwrap();
    r.append(4000, 3.25).unwrap();
    assert_eq!(c.bytes(), r.bytes());
    assert_eq!(
        r.append(4000, 1.0),
        Err(ChunkError::OutOfOrder {
            last: 4000,
            got: 4000
        })
    );
}

#[test]
fn unknown_encoding_is_a_typed_error() {
    assert_eq!(Encoding::try_from(1), Ok(Encoding::Xor));
    assert!(matches!(
        iter_chunk(0, &[0, 0]),
        Err(ChunkError::UnknownEncoding { got: 0 })
    ));
    assert!(matches!(
        iter_chunk(7, &[0, 0]),
        Err(ChunkError::UnknownEncoding { got: 7 })
    ));
}

#[test]
fn damaged_chunks_give_typed_errors() {
    assert!(matches!(
        XorIterator::new(&[1]),
        Err(ChunkError::TooShort { len: 1 })
    ));
    assert!(matches!(
        XorIterator::new(&[0, 121]),
        Err(ChunkError::TooManySamples { got: 121, max: 120 })
    ));
    let c = build(&[(1000, 1), (2000, 2), (3000, 3)]);
    let bytes = c.bytes();
    // Truncated stream.
    let cut = &bytes[..bytes.len() - 2];
    let res: Result<Vec<_>, _> = XorIterator::new(cut).unwrap().collect();
    assert!(matches!(res, Err(ChunkError::Truncated { .. })), "{res:?}");
    // Header claims more samples than the stream holds (a few may decode
    // from the zero padding as "same delta, same value").
    let mut more = bytes.to_vec();
    more[1] = 100;
    let res: Result<Vec<_>, _> = XorIterator::new(&more).unwrap().collect();
    assert!(matches!(res, Err(ChunkError::Truncated { .. })), "{res:?}");
    // Extra bytes after the last sample.
    let mut extra = bytes.to_vec();
    extra.push(0);
    assert!(matches!(
        XorChunk::from_bytes(extra),
        Err(ChunkError::TrailingBits { .. })
    ));
}

fn sample_strategy() -> impl Strategy<Value = Vec<(i64, u64)>> {
    let value = prop_oneof![
        any::<u64>(),
        Just(STALE_NAN_BITS),
        (0u32..1000).prop_map(|x| f64::from(x).to_bits()),
        any::<f64>().prop_map(f64::to_bits),
    ];
    let gap = prop_oneof![
        1i64..2,
        Just(15_000i64),
        14_000i64..16_000,
        1i64..1_000_000_000,
        1i64..(1 << 40),
    ];
    (any::<i32>(), prop::collection::vec((gap, value), 0..=120)).prop_map(|(start, steps)| {
        let mut t = i64::from(start);
        steps
            .into_iter()
            .map(|(g, v)| {
                t += g;
                (t, v)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn round_trip(samples in sample_strategy()) {
        let c = build(&samples);
        prop_assert_eq!(samples_of(&c), samples.clone());
        let r = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
        prop_assert_eq!(r.bytes(), c.bytes());
        prop_assert_eq!(c.num_samples() as usize, samples.len());
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(it) = XorIterator::new(&bytes) {
            let mut last = None;
            for s in it {
                match s {
                    Ok((t, _)) => {
                        if let Some(l) = last { prop_assert!(t > l); }
                        last = Some(t);
                    }
                    Err(_) => break,
                }
            }
        }
        let _ = XorChunk::from_bytes(bytes);
    }
}
