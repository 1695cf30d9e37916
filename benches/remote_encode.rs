//! Remote-write encoding: throughput of `WriteRequestEncoder` (1.0) and
//! `RequestV2Encoder` (2.0) (group by series, hand-written protobuf,
//! snappy) and bytes on the wire per sample of both.
//!
//! Workload: 500-sample batches (Prometheus' default max_samples_per_send)
//! of node_exporter-like series (`__name__`, `instance`, `job`, 1–3 more
//! labels), one sample per series per batch, counter-like values, plus two
//! external labels. Printed before the timings: protobuf and snappy bytes per
//! sample for one batch, for prost's own encoding of the same request, and
//! for 2.0 (with in-line metadata for the one family).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench remote_encode -- --quick`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::exposition::MetricType;
use levee::labels::Labels;
use levee::pipeline::Metadata;
use levee::pipeline::Sample;
use levee::remote::{RequestV2Encoder, WriteRequestEncoder, decode_write_request};
use prost::Message;
use std::hint::black_box;
use std::sync::Arc;

fn batch() -> Vec<Sample> {
    let modes = ["idle", "user", "system", "iowait"];
    (0..500)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i / 4).to_string()),
                ("instance", "10.0.3.17:9100".to_string()),
                ("job", "node".to_string()),
                ("mode", modes[i % 4].to_string()),
            ]);
            Sample {
                labels: Arc::new(labels),
                timestamp_ms: 1_764_000_000_000 + (i as i64 % 7),
                value: 123_456.78 + i as f64 * 0.01,
            }
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let samples = batch();
    let external = Labels::from_pairs([("cluster", "prod-eu-1"), ("replica", "a")]);
    let mut enc = WriteRequestEncoder::new();
    let (body, stats) = enc.encode(&samples, &external).expect("encode");
    let compressed = body.len();
    let prost_len = decode_write_request(body, 64 << 20)
        .expect("decode")
        .encode_to_vec()
        .len();
    eprintln!(
        "remote_encode: {} samples/batch: protobuf {} B ({:.1} B/sample, prost {:.1}), snappy {} B ({:.1} B/sample)",
        stats.samples,
        stats.uncompressed_bytes,
        stats.uncompressed_bytes as f64 / stats.samples as f64,
        prost_len as f64 / stats.samples as f64,
        compressed,
        compressed as f64 / stats.samples as f64,
    );
    let metadata = Metadata {
        family: "node_cpu_seconds_total".into(),
        kind: MetricType::Counter,
        help: "Seconds the CPUs spent in each mode.".into(),
        unit: String::new(),
    };
    let lookup = |f: &str| (f == metadata.family).then_some(&metadata);
    let mut enc_v2 = RequestV2Encoder::new();
    let (body_v2, stats_v2) = enc_v2
        .encode(&samples, &external, lookup)
        .expect("encode 2.0");
    eprintln!(
        "remote_encode 2.0: protobuf {} B ({:.1} B/sample), snappy {} B ({:.1} B/sample, {:.0} % of 1.0)",
        stats_v2.uncompressed_bytes,
        stats_v2.uncompressed_bytes as f64 / stats_v2.samples as f64,
        body_v2.len(),
        body_v2.len() as f64 / stats_v2.samples as f64,
        100.0 * body_v2.len() as f64 / compressed as f64,
    );
    let mut g = c.benchmark_group("remote_encode");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("encode_500_samples", |b| {
        b.iter(|| {
            let (body, _) = enc.encode(black_box(&samples), &external).expect("encode");
            black_box(body.len())
        })
    });
    g.bench_function("encode_v2_500_samples", |b| {
        b.iter(|| {
            let (body, _) = enc_v2
                .encode(black_box(&samples), &external, lookup)
                .expect("encode");
            black_box(body.len())
        })
    });
    let body = enc.encode(&samples, &external).expect("encode").0.to_vec();
    g.bench_function("decode_500_samples", |b| {
        b.iter(|| black_box(decode_write_request(black_box(&body), 64 << 20).expect("decode")))
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
