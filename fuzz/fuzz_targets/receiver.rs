//! Fuzzes the remote-write receiver's request decoder
//! (`levee::receiver::decode_body`: snappy around a 1.0
//! `prometheus.WriteRequest` or a 2.0 `io.prometheus.write.v2.Request`,
//! then label checks series by series).
//!
//! The control byte: bit 0 picks the protocol (1.0, 2.0); bit 1 says the
//! rest is a raw protobuf the target compresses first (so mutations reach
//! the protobuf decoder and the label checks past snappy); bits 2-3 pick
//! the inflated-size limit (64 bytes to 1 MiB).
//!
//! Checks, beyond "no panic, no hang, no allocation past the limit":
//! - a body claiming more than the limit is refused before it is inflated;
//! - every series kept has a valid metric name, valid and distinct label
//!   names and at least one sample; kept and refused samples add up to
//!   the request's, and every native histogram is refused;
//! - the kept series, sent again as a 1.0 request by levee's own encoder
//!   (bit-exact, where prost would drop a -0.0 as proto3's default), decode
//!   to the same samples (values bit for bit) with nothing refused.

#![no_main]

use std::sync::Arc;

use levee::labels::Labels;
use levee::pipeline::Sample;
use levee::receiver::{Decoded, Protocol, RequestError, decode_body};
use levee::relabel::{is_valid_label_name, is_valid_metric_name};
use levee::remote::WriteRequestEncoder;
use libfuzzer_sys::fuzz_target;

/// Every sample of `d`: (series, timestamp, value bits), sorted.
fn flat(d: &Decoded) -> Vec<(String, i64, u64)> {
    let mut out: Vec<_> = d
        .series
        .iter()
        .flat_map(|s| {
            let name = s.labels.to_string();
            s.samples
                .iter()
                .map(move |&(t, v)| (name.clone(), t, v.to_bits()))
        })
        .collect();
    out.sort_unstable();
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let protocol = if control & 1 == 0 {
        Protocol::V1
    } else {
        Protocol::V2
    };
    let limit: u64 = [64, 4 << 10, 64 << 10, 1 << 20][usize::from((control >> 2) & 3)];
    let body = if control & 2 == 2 {
        let Ok(b) = snap::raw::Encoder::new().compress_vec(rest) else {
            return;
        };
        b
    } else {
        rest.to_vec()
    };
    let decoded = match decode_body(protocol, &body, limit) {
        Ok((decoded, inflated)) => {
            assert!(inflated as u64 <= limit);
            decoded
        }
        Err(e) => {
            let _ = e.to_string();
            if let Ok(claimed) = snap::raw::decompress_len(&body)
                && claimed as u64 > limit
            {
                assert!(
                    matches!(e, RequestError::DecompressedTooLarge { .. }),
                    "{e}"
                );
            }
            return;
        }
    };
    let mut kept = 0u64;
    for s in &decoded.series {
        assert!(!s.samples.is_empty());
        kept += s.samples.len() as u64;
        let name = s.labels.metric_name().expect("a metric name");
        assert!(is_valid_metric_name(name), "{name:?}");
        let names: Vec<&str> = s.labels.iter().map(|l| l.name).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        for l in s.labels.iter() {
            assert!(
                is_valid_label_name(l.name) && !l.value.is_empty(),
                "{}",
                s.labels
            );
        }
    }
    let refused: u64 = decoded.refused.iter().map(|r| r.samples).sum();
    assert_eq!(kept + refused, decoded.samples);
    let refused_histograms: u64 = decoded.refused.iter().map(|r| r.histograms).sum();
    assert_eq!(refused_histograms, decoded.histograms);

    let samples: Vec<Sample> = decoded
        .series
        .iter()
        .flat_map(|s| {
            let labels = Arc::new(s.labels.clone());
            s.samples.iter().map(move |&(timestamp_ms, value)| Sample {
                labels: Arc::clone(&labels),
                timestamp_ms,
                value,
            })
        })
        .collect();
    if samples.is_empty() {
        return;
    }
    let mut enc = WriteRequestEncoder::new();
    let (body, _) = enc.encode(&samples, &Labels::empty()).expect("encode");
    let (back, _) = decode_body(Protocol::V1, &body, u64::MAX).expect("kept series decode again");
    assert!(back.refused.is_empty(), "{:?}", back.refused);
    assert_eq!(flat(&back), flat(&decoded));
});
