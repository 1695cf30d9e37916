//! Fuzzes the XOR chunk decoder (`levee::tsdb::chunkenc`,
//! `docs/format/chunks.md`): the bytes of a chunk as a chunk file or block
//! stores them (2-byte sample count, then the bit stream). The first input
//! byte drives `seek` and how many samples are appended after a reload;
//! the rest is the chunk.
//!
//! Checks, beyond "no panic, no hang":
//! - iteration yields at most the header's count of samples, with strictly
//!   increasing timestamps, and stops for good after an error;
//! - a chunk whose samples all decode re-encodes (appending them to a new
//!   chunk) into a chunk that iterates to the same samples, bit for bit;
//! - `XorChunk::from_bytes` accepts a chunk only if it iterates cleanly,
//!   and a reloaded chunk keeps appending: its samples, then the new ones;
//! - `seek` returns the first decoded sample at or after its target.

#![no_main]

use levee::tsdb::chunkenc::{XorChunk, XorIterator, iter_chunk};
use libfuzzer_sys::fuzz_target;

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// All samples, or the samples before the first error and that error's text.
fn decode(it: XorIterator<'_>) -> (Vec<(i64, f64)>, Option<String>) {
    let total = it.len();
    let mut out = Vec::new();
    let mut it = it;
    while let Some(s) = it.next() {
        match s {
            Ok(s) => out.push(s),
            Err(e) => {
                assert!(it.next().is_none(), "iterator goes on after an error");
                return (out, Some(e.to_string()));
            }
        }
    }
    assert_eq!(
        out.len(),
        usize::from(total),
        "fewer samples than the header says"
    );
    (out, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, bytes)) = input.split_first() else {
        return;
    };
    let Ok(it) = iter_chunk(1, bytes) else {
        assert!(XorChunk::from_bytes(bytes.to_vec()).is_err());
        return;
    };
    let total = it.len();
    let (samples, err) = decode(it);
    assert!(samples.len() <= usize::from(total));
    assert!(
        samples.windows(2).all(|w| w[0].0 < w[1].0),
        "timestamps do not increase: {samples:?}"
    );

    // Seek to a timestamp picked by the control byte: the first sample at
    // or after it, as plain iteration saw them.
    if let Some(&want) = samples.get(usize::from(control) % (samples.len() + 1)) {
        let mut it = XorIterator::new(bytes).expect("header checked above");
        match it.seek(want.0) {
            Some(Ok(got)) => assert_eq!(bits(&[got]), bits(&[want]), "seek({})", want.0),
            other => panic!("seek({}) gave {other:?}", want.0),
        }
        assert_eq!(it.at().map(|s| bits(&[s])), Some(bits(&[want])));
    }

    let reloaded = XorChunk::from_bytes(bytes.to_vec());
    if err.is_some() {
        assert!(
            reloaded.is_err(),
            "from_bytes accepts a chunk that fails to iterate"
        );
        return;
    }

    // Re-encode the decoded samples.
    let mut fresh = XorChunk::new();
    for &(t, v) in &samples {
        fresh.append(t, v).expect("decoded samples append in order");
    }
    let (again, err) = decode(fresh.iter());
    assert!(err.is_none(), "a chunk levee wrote fails: {err:?}");
    assert_eq!(bits(&again), bits(&samples), "re-encoded chunk differs");
    let (again, err) = decode(XorIterator::new(fresh.bytes()).expect("own header"));
    assert!(err.is_none());
    assert_eq!(bits(&again), bits(&samples));

    // A reloaded chunk (trailing bits were not zero padding if it failed)
    // carries on appending where it stopped.
    let Ok(mut chunk) = reloaded else { return };
    assert_eq!(chunk.num_samples(), total);
    let mut want = samples.clone();
    let mut t = samples.last().map_or(0, |s| s.0);
    for i in 0..u64::from(control % 8) {
        let Some(next) = t.checked_add(1 + (i as i64) * 997) else {
            break;
        };
        t = next;
        let v = f64::from_bits(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if chunk.append(t, v).is_err() {
            assert!(
                chunk.is_full(),
                "append refused on a chunk that is not full"
            );
            break;
        }
        want.push((t, v));
    }
    let (got, err) = decode(XorIterator::new(chunk.bytes()).expect("own header"));
    assert!(err.is_none(), "reloaded-and-appended chunk fails: {err:?}");
    assert_eq!(
        bits(&got),
        bits(&want),
        "reloaded chunk lost or changed samples"
    );
});
