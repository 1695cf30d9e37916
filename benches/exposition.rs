//! Exposition parser throughput, in bytes/s and samples/s (criterion's
//! `Throughput::Bytes` and `Throughput::Elements`), on:
//! - the captured node_exporter body (`tests/data/exposition/node_exporter.txt`),
//! - a generated 100k-series Istio-style body (compact labels, ~30 MB),
//! - a generated 10k-series Istio body with the full ~25-label set.
//!
//! Each body is fed in 64 KiB chunks, as a scrape delivers it, and every
//! entry is drained; samples' value and series length are consumed so
//! nothing is optimised away. Labels are not iterated (the scrape path only
//! does that on a cache miss); the `labels` variant does iterate them.
//!
//! Run: `cargo bench --bench exposition` (or with `-- --quick`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::synth::IstioWorkload;
use std::hint::black_box;

const CHUNK: usize = 64 * 1024;

fn parse(body: &[u8], labels: bool) -> (u64, f64) {
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    let mut samples = 0u64;
    let mut acc = 0.0;
    let mut drain = |p: &mut StreamParser| {
        while let Some(e) = p.next() {
            if let Ok(Entry::Sample(s)) = e {
                samples += 1;
                acc += s.value + s.series.len() as f64;
                if labels {
                    for (n, v) in s.labels() {
                        acc += (n.len() + v.len()) as f64;
                    }
                }
            }
        }
    };
    for chunk in body.chunks(CHUNK) {
        if p.push(chunk).is_err() {
            break;
        }
        drain(&mut p);
    }
    p.finish();
    drain(&mut p);
    (samples, acc)
}

fn bench(c: &mut Criterion) {
    let node = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exposition/node_exporter.txt"
    ))
    .expect("node_exporter.txt");
    let istio = IstioWorkload::new(4000).body(1);
    let istio_full = IstioWorkload::new(400).with_full_labels(true).body(1);
    let bodies = [
        ("node_exporter", node),
        ("istio_100k", istio),
        ("istio_full_10k", istio_full),
    ];
    for (name, body) in &bodies {
        let (samples, _) = parse(body, false);
        let mut group = c.benchmark_group(format!("exposition/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("bytes", body.len()), |b| {
            b.iter(|| black_box(parse(black_box(body), false)))
        });
        group.throughput(Throughput::Elements(samples));
        group.bench_function(BenchmarkId::new("samples", samples), |b| {
            b.iter(|| black_box(parse(black_box(body), false)))
        });
        group.bench_function(BenchmarkId::new("samples_with_labels", samples), |b| {
            b.iter(|| black_box(parse(black_box(body), true)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
