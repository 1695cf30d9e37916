//! [`ChunkSeriesIterator`]: ranges, merging, seeking, damage.

use super::{XOR, xor_chunk};
use crate::tsdb::chunkenc::XorChunk;
use crate::tsdb::chunks::{ChunkSeriesIterator, ChunkSlice};

fn chunk(samples: &[(i64, f64)]) -> (i64, i64, Vec<u8>) {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v).unwrap();
    }
    let (min, max) = c.time_range().unwrap();
    (min, max, c.bytes().to_vec())
}

fn slices(chunks: &[(i64, i64, Vec<u8>)]) -> Vec<ChunkSlice<'_>> {
    chunks
        .iter()
        .map(|(min, max, data)| ChunkSlice {
            min_time: *min,
            max_time: *max,
            encoding: XOR,
            data,
        })
        .collect()
}

fn collect(it: ChunkSeriesIterator<'_>) -> Vec<(i64, u64)> {
    it.map(|s| s.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect()
}

fn all_samples(chunks: &[(i64, i64, Vec<u8>)]) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    for (_, _, data) in chunks {
        for s in crate::tsdb::chunkenc::XorIterator::new(data).unwrap() {
            let (t, v) = s.unwrap();
            out.push((t, v.to_bits()));
        }
    }
    out
}

#[test]
fn adjacent_chunks_in_any_order_and_ranges() {
    let chunks: Vec<_> = (0..4)
        .map(|i| xor_chunk(i * 120 * 15_000, 120, i as u64))
        .collect();
    let all = all_samples(&chunks);
    let mut shuffled = slices(&chunks);
    shuffled.reverse();
    assert_eq!(
        collect(ChunkSeriesIterator::new(shuffled, i64::MIN, i64::MAX)),
        all
    );
    for (min, max) in [
        (0, 0),
        (14_999, 15_000),
        (1_000_000, 3_000_000),
        (-5, -1),
        (7_200_000, i64::MAX),
        (5, 4),
    ] {
        let want: Vec<_> = all
            .iter()
            .copied()
            .filter(|s| s.0 >= min && s.0 <= max)
            .collect();
        assert_eq!(
            collect(ChunkSeriesIterator::new(slices(&chunks), min, max)),
            want,
            "[{min}, {max}]"
        );
    }
}

#[test]
fn overlapping_chunks_merge_and_keep_the_first_of_equal_timestamps() {
    let a = chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]);
    let b = chunk(&[(15, 9.0), (20, 99.0), (40, 4.0)]);
    let c = chunk(&[(20, 7.0), (50, 5.0)]);
    let chunks = [a, b, c];
    let got = collect(ChunkSeriesIterator::new(
        slices(&chunks),
        i64::MIN,
        i64::MAX,
    ));
    let want: Vec<(i64, u64)> = [
        (10, 1.0),
        (15, 9.0),
        (20, 2.0),
        (30, 3.0),
        (40, 4.0),
        (50, 5.0),
    ]
    .iter()
    .map(|&(t, v): &(i64, f64)| (t, v.to_bits()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn a_chunk_starting_at_the_last_timestamp_adds_no_duplicate() {
    let chunks = [
        chunk(&[(10, 1.0), (20, 2.0)]),
        chunk(&[(20, 8.0), (30, 3.0)]),
    ];
    let got = collect(ChunkSeriesIterator::new(
        slices(&chunks),
        i64::MIN,
        i64::MAX,
    ));
    assert_eq!(
        got,
        vec![
            (10, 1f64.to_bits()),
            (20, 2f64.to_bits()),
            (30, 3f64.to_bits())
        ]
    );
}

#[test]
fn seek_moves_forward_only_and_repeats_a_qualifying_sample() {
    let chunks: Vec<_> = (0..3)
        .map(|i| xor_chunk(i * 100 * 15_000, 100, i as u64))
        .collect();
    let mut it = ChunkSeriesIterator::new(slices(&chunks), 0, i64::MAX);
    let s = it.seek(2_000_000).unwrap().unwrap();
    assert_eq!(s.0, 2_010_000);
    assert_eq!(it.seek(1_000).unwrap().unwrap(), s);
    assert_eq!(it.at(), Some(s));
    assert_eq!(it.next().unwrap().unwrap().0, 2_025_000);
    assert!(it.seek(i64::MAX).is_none());
    assert!(it.next().is_none());
}

#[test]
fn damaged_chunks_yield_one_error() {
    let (min, max, mut data) = xor_chunk(0, 50, 1);
    data.truncate(data.len() / 2);
    let chunks = [(min, max, data)];
    let mut it = ChunkSeriesIterator::new(slices(&chunks), i64::MIN, i64::MAX);
    let results: Vec<_> = it.by_ref().collect();
    assert!(results.last().unwrap().is_err());
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(it.next().is_none());
    let bad = [ChunkSlice {
        min_time: 0,
        max_time: 1,
        encoding: 9,
        data: &[0, 0],
    }];
    let mut it = ChunkSeriesIterator::new(bad.to_vec(), 0, 1);
    assert!(it.next().unwrap().is_err());
}
