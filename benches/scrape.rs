//! The scrape path per sample, end to end inside the process: a 100k-series
//! Istio-style body served from memory in 64 KiB chunks, streamed through
//! the parser, looked up in the warm scrape cache (every series seen in the
//! previous scrape), batched, and handed to a sink that discards it.
//! Throughput is in samples; per-sample time is the figure to compare with
//! the "cached series through the scrape path <= 100 ns" target (it includes
//! parsing, measured alone by `benches/exposition.rs`).
//!
//! `istio_100k_into_tsdb` is the same scrape stored the way `levee run`
//! stores it: through the agent's `TsdbSink` into a `Db` on disk (tempdir,
//! WAL synced every second) — parse, cache, commit to WAL and head.
//!
//! `istio_100k_guarded` adds a series budget the target stays under (the
//! guard looks every sample up and forwards it), `istio_100k_folded` a fold
//! rule on the host labels (every sample is a folded member, merged by key
//! as it is parsed): against `istio_100k_cached`, what the guard adds to
//! the scrape path.
//!
//! Run: `cargo bench --bench scrape`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use istio_scrape::{Discard, guard_cases, job, scrape_loop};
use levee::pipeline::SampleSink;
use levee::scrape::{MemoryFetcher, ScrapeLoop};
use levee::synth::IstioWorkload;
use std::sync::Arc;

#[path = "common/istio_scrape.rs"]
mod istio_scrape;

/// A loop over `job` whose cache (and guard) saw the body once.
fn warm(
    rt: &tokio::runtime::Runtime,
    job: &Arc<levee::scrape::Job>,
    body: Vec<u8>,
    sink: Arc<dyn SampleSink>,
) -> ScrapeLoop<MemoryFetcher> {
    let mut lp = scrape_loop(job, body, sink);
    rt.block_on(lp.scrape_once(1_000)).expect("first scrape");
    lp
}

fn scrape_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let workload = IstioWorkload::new(4_000);
    let body = workload.body(1);
    let samples = workload.series();
    let [(_, unguarded), guarded_cases @ ..] = guard_cases();
    let unguarded = job(unguarded);
    let mut lp = scrape_loop(&unguarded, body, Arc::new(Discard));
    let first = rt
        .block_on(lp.scrape_once(1_000))
        .expect("first scrape fills the cache");
    assert_eq!(first.series_added, samples);

    let mut group = c.benchmark_group("scrape_path");
    group.throughput(Throughput::Elements(samples));
    group.sample_size(10);
    let mut ts = 2_000;
    group.bench_function("istio_100k_cached", |b| {
        b.iter(|| {
            ts += 1_000;
            rt.block_on(lp.scrape_once(ts)).expect("scrape")
        })
    });

    for (name, guard) in guarded_cases {
        let mut guarded = warm(&rt, &job(guard), workload.body(1), Arc::new(Discard));
        // The second scrape moves folded series to the member table.
        ts += 1_000;
        rt.block_on(guarded.scrape_once(ts)).expect("second scrape");
        group.bench_function(format!("istio_100k_{name}"), |b| {
            b.iter(|| {
                ts += 1_000;
                rt.block_on(guarded.scrape_once(ts)).expect("scrape")
            })
        });
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(
        levee::tsdb::db::Db::open(tmp.path(), levee::tsdb::db::Options::default()).expect("db"),
    );
    let mut stored = warm(
        &rt,
        &unguarded,
        workload.body(1),
        Arc::new(levee::agent::storage::TsdbSink::new(Arc::clone(&db))),
    );
    group.bench_function("istio_100k_into_tsdb", |b| {
        b.iter(|| {
            ts += 1_000;
            rt.block_on(stored.scrape_once(ts)).expect("scrape")
        })
    });
    group.finish();
    let st = db.stats();
    println!(
        "tsdb: {} series, {} samples appended, {:.0} head heap bytes/series (estimate)",
        st.head_series,
        st.counters.samples_appended,
        st.head_heap_bytes as f64 / st.head_series.max(1) as f64
    );
}

criterion_group!(benches, scrape_path);
criterion_main!(benches);
