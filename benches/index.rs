//! Head index benchmarks on Istio-style series (12 labels, shared values;
//! generator in `tests/support/istio_index.rs`).
//!
//! - `get_or_create/existing`: lookup of a series already in a 100k index
//!   (hash + compare), ns per call.
//! - `get_or_create/new`: creation of a new series (storm label sets) in a
//!   100k index, postings included, ns per series.
//! - `select_100k/*`, `select_1m/*`: typical matcher lists, one bitmap
//!   result per call; the 1M group checks the "two-matcher select over 1M
//!   series under 1 ms" target.
//! - `label_values/*`: values of a label under matchers.
//! - `block_100k/*`: the persisted block index of the same 100k series:
//!   writing it, opening it (checksums and validation of every bitmap) and
//!   a two-matcher select on it (postings viewed in place).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench index -- --quick`

#[path = "../tests/support/istio_index.rs"]
mod istio;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::labels::Labels;
use levee::tsdb::index::block::{IndexReader, IndexWriter};
use levee::tsdb::index::{HeadIndex, Matcher};

fn build(n: usize) -> HeadIndex {
    let mut idx = HeadIndex::new();
    for i in 0..n {
        idx.get_or_create(&istio::series(i)).expect("valid labels");
    }
    idx.optimize();
    idx
}

fn get_or_create(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut idx = build(N);
    let sets: Vec<_> = (0..N).step_by(7).map(istio::series).collect();
    let mut g = c.benchmark_group("get_or_create");
    g.throughput(Throughput::Elements(1));
    let mut k = 0;
    g.bench_function("existing", |b| {
        b.iter(|| {
            k = (k + 1) % sets.len();
            black_box(idx.get_or_create(&sets[k]).expect("valid labels"))
        })
    });
    // New series: created in the timed part, removed again (untimed) after
    // each batch so the index stays at ~100k.
    let mut next = 0usize;
    g.bench_function("new", |b| {
        b.iter_custom(|iters| {
            let batch: Vec<_> = (next..next + iters as usize)
                .map(istio::storm_series)
                .collect();
            next += iters as usize;
            let start = Instant::now();
            let mut ids = Vec::with_capacity(batch.len());
            for l in &batch {
                ids.push(idx.get_or_create(l).expect("valid labels").0);
            }
            let took = start.elapsed();
            for id in ids {
                idx.remove(id);
            }
            idx.recycle_removed_ids();
            took
        })
    });
    g.finish();
}

/// Matcher lists a dashboard or rule would use.
fn typical() -> Vec<(&'static str, Vec<Matcher>)> {
    let re = |n: &str, v: &str| Matcher::regex(n, v).expect("valid regex");
    let svc = istio::service(7);
    vec![
        (
            "name_and_service",
            vec![
                Matcher::equal("__name__", "istio_requests_total"),
                Matcher::equal("destination_service", svc.as_str()),
            ],
        ),
        (
            "name_and_code_regex",
            vec![
                Matcher::equal("__name__", "istio_requests_total"),
                re("response_code", "5.."),
            ],
        ),
        (
            "namespace_and_code_alternation",
            vec![
                Matcher::equal("namespace", "ns-3"),
                re("response_code", "500|503"),
            ],
        ),
        (
            "service_prefix",
            vec![
                Matcher::equal("__name__", "istio_requests_total"),
                re("destination_service", "reviews.*"),
            ],
        ),
        (
            "name_and_not_equal",
            vec![
                Matcher::equal("__name__", "istio_requests_total"),
                Matcher::not_equal("reporter", "source"),
            ],
        ),
        (
            "only_negative",
            vec![
                Matcher::not_equal("reporter", "source"),
                Matcher::not_regex("response_code", "2..").expect("valid regex"),
            ],
        ),
        (
            "name_and_pod_nonempty",
            vec![
                Matcher::equal("__name__", "istio_requests_total"),
                re("pod", ".+"),
            ],
        ),
    ]
}

fn select(c: &mut Criterion) {
    for (group, n) in [("select_100k", 100_000), ("select_1m", 1_000_000)] {
        let idx = build(n);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for (name, ms) in typical() {
            if n > 100_000 && name != "name_and_service" && name != "name_and_code_regex" {
                continue;
            }
            g.bench_function(name, |b| b.iter(|| black_box(idx.select(&ms))));
        }
        g.finish();
    }
}

fn label_values(c: &mut Criterion) {
    let idx = build(100_000);
    let mut g = c.benchmark_group("label_values");
    g.measurement_time(Duration::from_secs(3));
    let by_name = [Matcher::equal("__name__", "istio_requests_total")];
    g.bench_function("destination_service_of_metric", |b| {
        b.iter(|| black_box(idx.label_values("destination_service", &by_name)))
    });
    let by_pod = [
        Matcher::equal("namespace", "ns-3"),
        Matcher::equal("app", "details"),
    ];
    g.bench_function("pods_of_app", |b| {
        b.iter(|| black_box(idx.label_values("pod", &by_pod)))
    });
    g.bench_function("label_names_of_metric", |b| {
        b.iter(|| black_box(idx.label_names(&by_name)))
    });
    g.finish();
}

fn block(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut sets: Vec<Labels> = (0..N).map(istio::series).collect();
    sets.sort();
    let write = || {
        let mut w = IndexWriter::new();
        for l in &sets {
            w.add_series(l, &[]).expect("sorted, valid");
        }
        w.finish().expect("writable")
    };
    let file = write();
    println!(
        "block index of {N} series: {} bytes ({:.1} bytes/series)",
        file.len(),
        file.len() as f64 / N as f64
    );
    let mut g = c.benchmark_group("block_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("write", |b| b.iter(|| black_box(write())));
    g.bench_function("open", |b| {
        b.iter(|| black_box(IndexReader::open(&file).expect("valid").num_series()))
    });
    g.finish();

    let reader = IndexReader::open(&file).expect("valid");
    let mut g = c.benchmark_group("block_100k_select");
    g.throughput(Throughput::Elements(1));
    for (name, ms) in typical().into_iter().take(2) {
        g.bench_function(name, |b| b.iter(|| black_box(reader.select(&ms))));
    }
    g.finish();
}

criterion_group!(benches, get_or_create, select, label_values, block);
criterion_main!(benches);
