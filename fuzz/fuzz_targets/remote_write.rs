//! Fuzzes the remote-write request decoder
//! (`levee::remote::decode_write_request`: snappy block format around a
//! protobuf `WriteRequest`, as a receiver gets it from the network) and,
//! with what decodes, levee's hand-written request encoder.
//!
//! The control byte's bit 0 says whether the rest is the body as sent
//! (snappy) or a raw protobuf the target compresses first, so mutations
//! reach the protobuf decoder without being stopped by snappy. Bits 1-2
//! pick the decoded-size limit (from 64 bytes to 1 MiB).
//!
//! Checks, beyond "no panic, no hang, no allocation past the limit":
//! - a body claiming more than the limit is refused before it is inflated;
//! - what decodes, turned into samples (labels as levee keeps them) and
//!   encoded by `WriteRequestEncoder`, decodes again to the same series
//!   and samples, values bit for bit; the encoder's protobuf is what prost
//!   decodes from its snappy body.

#![no_main]

use std::sync::Arc;

use levee::labels::Labels;
use levee::remote::{DecodeError, WriteRequestEncoder, decode_write_request};
use levee::pipeline::Sample;
use libfuzzer_sys::fuzz_target;

/// (timestamp, value bits) of a series' samples.
type Samples = Vec<(i64, u64)>;

/// Label pairs and samples of each series, in order.
type Bits = Vec<(Vec<(String, String)>, Samples)>;

fn bits(req: &levee::proto::WriteRequest) -> Bits {
    req.timeseries
        .iter()
        .map(|ts| {
            let labels = ts
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let samples = ts
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value.to_bits()))
                .collect();
            (labels, samples)
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let limit = [64, 4 << 10, 64 << 10, 1 << 20][usize::from((control >> 1) & 3)];
    let body = if control & 1 == 1 {
        let Ok(b) = snap::raw::Encoder::new().compress_vec(rest) else {
            return;
        };
        b
    } else {
        rest.to_vec()
    };
    let req = match decode_write_request(&body, limit) {
        Ok(req) => req,
        Err(e) => {
            let _ = e.to_string();
            if let Ok(claimed) = snap::raw::decompress_len(&body)
                && claimed > limit
            {
                assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
            }
            return;
        }
    };
    let claimed = snap::raw::decompress_len(&body).expect("decoded, so the header is valid");
    assert!(claimed <= limit);

    // Samples as levee holds them: one label set per series, built the way
    // a receiver builds it (sorted, later duplicates win, empty values
    // dropped), and what the encoder must send back for them.
    let mut samples = Vec::new();
    let mut want: Vec<(Arc<Labels>, Samples)> = Vec::new();
    for ts in &req.timeseries {
        let labels = Arc::new(Labels::from_pairs(
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ));
        if ts.samples.is_empty() {
            continue;
        }
        let at = match want.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                want.push((Arc::clone(&labels), Vec::new()));
                want.len() - 1
            }
        };
        for s in &ts.samples {
            samples.push(Sample {
                labels: Arc::clone(&labels),
                timestamp_ms: s.timestamp,
                value: s.value,
            });
            want[at].1.push((s.timestamp, s.value.to_bits()));
        }
    }
    let want: Bits = want
        .into_iter()
        .map(|(l, s)| {
            let pairs = l
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            (pairs, s)
        })
        .collect();

    let mut enc = WriteRequestEncoder::new();
    let (sent, stats) = enc.encode(&samples, &Labels::empty()).expect("encode");
    let sent = sent.to_vec();
    assert_eq!(stats.samples, samples.len());
    assert_eq!(stats.series, want.len());
    let back = decode_write_request(&sent, usize::MAX).expect("levee's own request decodes");
    assert_eq!(bits(&back), want, "the encoder changed series or samples");
    let proto = enc.last_protobuf();
    assert_eq!(stats.uncompressed_bytes, proto.len());
    let inflated = snap::raw::Decoder::new()
        .decompress_vec(&sent)
        .expect("own snappy");
    assert_eq!(
        inflated, proto,
        "the body is not the snappy of the protobuf"
    );
});
