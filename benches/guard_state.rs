//! The guard state save and load for one 100k-series Istio-style target
//! (4000 destination hosts x 25 series, Istio's full label set) folded by
//! a budget of 1000:
//! - `export`: copying the state out of the guard (the part that holds the
//!   guard's lock, i.e. delays the target's next scrape at most this long);
//! - `encode`: the bytes of the state file (off the scrape path);
//! - `decode+restore`: reading the file back into a guard at start.
//!
//! Throughput is in series. Prints the file's bytes per series once.
//!
//! Run: `cargo bench --bench guard_state`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::guard::persist::{self, TargetState};
use levee::guard::{GuardSettings, TargetGuard};
use levee::labels::{Labels, LabelsBuilder};
use levee::remote::Sample;
use levee::synth::IstioWorkload;
use std::sync::Arc;

const HOSTS: u64 = 4000;

fn folded_guard() -> TargetGuard {
    let body = IstioWorkload::new(HOSTS).with_full_labels(true).body(3);
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    let (mut samples, mut kinds) = (Vec::new(), Vec::new());
    if p.push(&body).is_ok() {
        p.finish();
        while let Some(Ok(e)) = p.next() {
            if let Entry::Sample(s) = e {
                let mut b = LabelsBuilder::new();
                for (n, v) in s.labels() {
                    b.set(n, &v);
                }
                b.set("__name__", s.name);
                b.set("job", "istio");
                b.set("instance", "sidecar:15090");
                samples.push(Sample {
                    labels: Arc::new(b.into_labels()),
                    timestamp_ms: 0,
                    value: s.value,
                });
                kinds.push(s.kind);
            }
        }
    }
    let mut guard = TargetGuard::new(GuardSettings {
        series_budget: 1000,
        ..Default::default()
    });
    let _ = guard.apply(0, &samples, &kinds, &mut Vec::new());
    guard
}

fn target(guard: &TargetGuard) -> TargetState {
    TargetState {
        job: "istio".into(),
        url: "http://sidecar:15090/stats/prometheus".into(),
        labels: Labels::from_pairs([("instance", "sidecar:15090"), ("job", "istio")]),
        state: guard.export_state(),
    }
}

fn bench(c: &mut Criterion) {
    let guard = folded_guard();
    let series = guard.scraped_series() as u64;
    let bytes = persist::encode(&[target(&guard)]);
    println!(
        "guard state: {series} series, {} bytes, {:.1} bytes/series",
        bytes.len(),
        bytes.len() as f64 / series as f64
    );
    let mut g = c.benchmark_group("guard_state");
    g.throughput(Throughput::Elements(series));
    g.sample_size(10);
    g.bench_function("export", |b| b.iter(|| guard.export_state()));
    let t = target(&guard);
    g.bench_function("encode", |b| {
        b.iter(|| persist::encode(std::slice::from_ref(&t)))
    });
    let settings = guard.settings().clone();
    g.bench_function("decode+restore", |b| {
        b.iter(|| {
            let states = persist::decode("state", &bytes).map_err(|e| e.to_string());
            states.map(|s| TargetGuard::restore(settings.clone(), &s[0].state).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
