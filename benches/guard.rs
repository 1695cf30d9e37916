//! The guard's cost per sample on the scrape path, for one 100k-series
//! Istio-style target (4000 destination hosts x 25 series) scraped again
//! and again, label sets shared across scrapes as the scrape cache shares
//! them, each sample's series key made once (the scrape loop has it from
//! the series bytes; `breach` keys by labels, as `TargetGuard::apply`
//! does):
//! - `passthrough`: a budget the target stays under (every sample is
//!   looked up, forwarded, staleness-tracked);
//! - `folded`: `destination_service`/`destination_workload` folded by a
//!   rule (every sample a member merged by key into one of 50 folded
//!   series);
//! - `breach`: the first scrape over a budget of 1000 on a fresh guard: all
//!   100k series admitted, the offender found, the fold applied (includes
//!   copying the batch).
//!
//! Throughput is in samples; compare the per-sample time with the scrape
//! path's (`benches/scrape.rs`). Sample timestamps are the scrape's, so
//! staleness tracking runs as in production.
//!
//! Run: `cargo bench --bench guard`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use levee::exposition::{Entry, Format, MetricType, ParserLimits, StreamParser};
use levee::guard::{FoldRule, GuardSettings, MemberHit, TargetGuard};
use levee::labels::LabelsBuilder;
use levee::pipeline::Sample;
use levee::series_key::SeriesKey;
use levee::synth::IstioWorkload;
use std::sync::Arc;

fn samples(hosts: u64) -> (Vec<Sample>, Vec<MetricType>) {
    let body = IstioWorkload::new(hosts).body(3);
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    let (mut samples, mut kinds) = (Vec::new(), Vec::new());
    let mut take = |p: &mut StreamParser| {
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
    };
    for chunk in body.chunks(64 * 1024) {
        if p.push(chunk).is_err() {
            break;
        }
        take(&mut p);
    }
    p.finish();
    take(&mut p);
    (samples, kinds)
}

/// One scrape through the guard as the scrape loop runs it: each sample
/// offered as a folded member by its key, the rest finished in place with
/// their keys.
fn scrape_keyed(
    guard: &mut TargetGuard,
    ts: i64,
    batch: &mut Vec<Sample>,
    kinds: &[MetricType],
    keys: &[SeriesKey],
) {
    guard.begin(ts);
    let (mut rest_kinds, mut rest_keys) = (Vec::new(), Vec::new());
    let mut i = 0;
    batch.retain(|s| {
        let (kind, key) = (kinds[i], keys[i]);
        i += 1;
        let keep = guard.merge_member(key, s.value, false) == MemberHit::NotMember;
        if keep {
            rest_kinds.push(kind);
            rest_keys.push(key);
        }
        keep
    });
    guard
        .finish(ts, batch, &rest_kinds, &rest_keys, &[], |_, _| {})
        .expect("accepted");
}

fn bench(c: &mut Criterion) {
    let (samples, kinds) = samples(4000);
    let mut group = c.benchmark_group("guard");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.sample_size(10);
    let cases = [
        (
            "passthrough",
            GuardSettings {
                series_budget: 1_000_000,
                ..GuardSettings::default()
            },
        ),
        (
            "folded",
            GuardSettings {
                fold_rules: vec![
                    FoldRule::new(
                        vec!["destination_service".into(), "destination_workload".into()],
                        None,
                    )
                    .expect("valid rule"),
                ],
                ..GuardSettings::default()
            },
        ),
    ];
    for (name, settings) in cases {
        let mut guard = TargetGuard::new(settings);
        // Keys made once, as the scrape loop has them from the series bytes.
        let keyer = guard.keyer();
        let keys: Vec<_> = samples
            .iter()
            .map(|s| keyer.key_labels(&s.labels))
            .collect();
        let ts = std::cell::Cell::new(0i64);
        // Warm: every series known.
        scrape_keyed(&mut guard, 0, &mut samples.clone(), &kinds, &keys);
        // As the scrape loop calls it: the scrape's batch rewritten in
        // place (building the batch is the scrape path's cost, not this).
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    ts.set(ts.get() + 15_000);
                    samples
                        .iter()
                        .map(|s| Sample {
                            timestamp_ms: ts.get(),
                            ..s.clone()
                        })
                        .collect::<Vec<_>>()
                },
                |mut batch| {
                    scrape_keyed(&mut guard, ts.get(), &mut batch, &kinds, &keys);
                    batch
                },
                BatchSize::LargeInput,
            )
        });
    }
    // The first scrape of the storm target over its budget: 100k new
    // series admitted, the offender found and folded, everything rerouted.
    group.bench_function("breach", |b| {
        b.iter_batched(
            || {
                TargetGuard::new(GuardSettings {
                    series_budget: 1000,
                    ..GuardSettings::default()
                })
            },
            |mut guard| {
                let report = guard
                    .apply(0, &samples, &kinds, &mut Vec::new())
                    .expect("accepted");
                assert_eq!(report.offenders.len(), 1);
                guard
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
