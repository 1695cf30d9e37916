//! `Db` append speed and head memory: 100 000 Istio-style series (12
//! labels) appended as scrapes of 10 000 samples per commit, by labels (a
//! new series, or a lookup) and by `SeriesRef` (the cached path), on disk
//! (tempdir, WAL sync every 1 s). Prints the head's estimated heap bytes
//! per series and bytes on disk per sample after the run.
//!
//! Run: `cargo bench --bench tsdb_append` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::labels::Labels;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::head::SeriesRef;

const SERIES: usize = 100_000;
const PER_COMMIT: usize = 10_000;

/// Istio-like label sets: 4 metric names × 25 000 destination services,
/// 12 labels each.
fn series() -> Vec<Labels> {
    let names = [
        "istio_requests_total",
        "istio_request_duration_milliseconds_count",
        "istio_request_bytes_sum",
        "istio_response_bytes_sum",
    ];
    (0..SERIES)
        .map(|i| {
            let host = format!("customer-{}.example.com", i / names.len());
            Labels::from_pairs([
                ("__name__", names[i % names.len()]),
                ("connection_security_policy", "mutual_tls"),
                ("destination_app", "proxy"),
                ("destination_service", host.as_str()),
                ("destination_workload", "proxy"),
                ("destination_workload_namespace", "edge"),
                ("instance", "10.0.3.17:15020"),
                ("job", "istio-sidecars"),
                ("reporter", "source"),
                ("request_protocol", "http"),
                ("response_code", if i % 7 == 0 { "503" } else { "200" }),
                ("source_workload", "ingress-gateway"),
            ])
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let labels = series();
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(tmp.path(), Options::default()).expect("open"));
    let mut refs: Vec<SeriesRef> = Vec::with_capacity(labels.len());
    let mut t = 1_700_000_000_000i64;
    for chunk in labels.chunks(PER_COMMIT) {
        let mut app = db.appender();
        for l in chunk {
            refs.push(app.append(l, t, 1.0).expect("append"));
        }
        app.commit().expect("commit");
    }
    let mut g = c.benchmark_group("tsdb_append");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(10);
    g.bench_function("by_labels_100k", |b| {
        b.iter(|| {
            t += 15_000;
            for chunk in labels.chunks(PER_COMMIT) {
                let mut app = db.appender();
                for l in chunk {
                    app.append(l, t, t as f64).expect("append");
                }
                black_box(app.commit().expect("commit"));
            }
        })
    });
    g.bench_function("by_ref_100k", |b| {
        b.iter(|| {
            t += 15_000;
            for chunk in refs.chunks(PER_COMMIT) {
                let mut app = db.appender();
                for r in chunk {
                    app.append_ref(*r, t, t as f64);
                }
                black_box(app.commit().expect("commit"));
            }
        })
    });
    g.finish();
    let stats = db.stats();
    println!(
        "head: {} series, {:.0} heap bytes/series (estimate), {} chunks; {} samples appended, {:.2} bytes on disk/sample",
        stats.head_series,
        stats.head_heap_bytes as f64 / stats.head_series.max(1) as f64,
        stats.head_chunks,
        stats.counters.samples_appended,
        stats.bytes_on_disk as f64 / stats.counters.samples_appended.max(1) as f64,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
