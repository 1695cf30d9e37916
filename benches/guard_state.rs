//! The guard state save and load for one 100k-series Istio-style target
//! (4000 destination hosts x 25 series, Istio's full label set) folded by
//! a budget of 1000:
//! - `encode`: the bytes of the state file, encoded from the guard as
//!   `levee run` saves it (under the guard's lock: it delays the target's
//!   next scrape at most this long; here into memory, there into
//!   `state.tmp` as it goes);
//! - `decode+restore`: reading the file back into a guard at start.
//!
//! Throughput is in series. Prints the file's bytes per series once.
//!
//! And the folded members of a storm after ten minutes (200 new hosts per
//! 5 s scrape: 24k hosts x 25 series = 600k members in 100 folded series,
//! one tuple per host), built as a [`GuardState`] and restored into a
//! guard:
//! - `members/encode`: [`Encoder::add_guard`], the members counted and
//!   encoded straight from the guard's table in its order;
//! - `members/decode`: the file's bytes of them back.
//!
//! Throughput is in members. Prints the bytes per member once.
//!
//! Run: `cargo bench --bench guard_state` (`-- --quick` for a short run).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::guard::persist::{self, Encoder};
use levee::guard::{GroupState, GuardSettings, GuardState, MemberState, Role, TargetGuard};
use levee::labels::{Labels, LabelsBuilder};
use levee::pipeline::Sample;
use levee::synth::IstioWorkload;
use std::sync::Arc;

const HOSTS: u64 = 4000;
const STORM_HOSTS: u32 = 24_000;
const SERIES_PER_HOST: u32 = 25;
const GROUPS: u32 = 100;

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

const JOB: &str = "istio";
const URL: &str = "http://sidecar:15090/stats/prometheus";

fn target_labels() -> Labels {
    Labels::from_pairs([("instance", "sidecar:15090"), ("job", "istio")])
}

/// The guard's state file, encoded as `levee run` saves it (into memory).
fn encode(guard: &TargetGuard) -> Encoder {
    let mut enc = Encoder::new();
    enc.add_guard(JOB, URL, &target_labels(), guard);
    enc
}

/// The storm's state after ten minutes: every member seen by the last
/// scrape (the sidecar keeps every series it made), counters with values.
fn storm_members() -> GuardState {
    let last_ts_ms = 1_700_000_600_000;
    let families = [
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
    ];
    let groups = (0..GROUPS)
        .map(|g| GroupState {
            labels: Arc::new(Labels::from_pairs([
                ("__name__", families[(g % 2) as usize]),
                ("destination_service", "__overflow__"),
                ("instance", "sidecar:15090"),
                ("job", "istio"),
                ("le", &format!("{}", g / 2)),
                ("response_code", &format!("{}", 200 + g % 5)),
            ])),
            role: Role::Cumulative,
            folded: true,
            value: f64::from(g) * 1e6,
            replaced: vec!["destination_service".into()],
        })
        .collect();
    let tuples = (0..STORM_HOSTS)
        .map(|h| vec![format!("svc-{h}.ns-{}.svc.cluster.local", h % 50)])
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let members = (0..STORM_HOSTS * SERIES_PER_HOST)
        .map(|i| {
            let group = (i / SERIES_PER_HOST * 7 + i % SERIES_PER_HOST) % GROUPS;
            MemberState {
                key: u128::from(next()) << 64 | u128::from(next()),
                group,
                tuple: i / SERIES_PER_HOST,
                family: group % 2,
                role: Role::Cumulative,
                explicit_ts: false,
                counted: true,
                has_value: true,
                last_value: (next() % 100_000) as f64,
                last_seen_ms: last_ts_ms,
            }
        })
        .collect();
    GuardState {
        settings: GuardSettings {
            series_budget: 1000,
            ..Default::default()
        },
        last_ts_ms,
        last_sweep_ms: Some(last_ts_ms),
        unresolved: None,
        families: families.iter().map(|f| f.to_string()).collect(),
        folds: Vec::new(),
        groups,
        series: Vec::new(),
        emitted: Vec::new(),
        growth: Vec::new(),
        key_secret: Some([7; 16]),
        tuples,
        members,
    }
}

fn bench_members(c: &mut Criterion) {
    let state = storm_members();
    let members = state.members.len() as u64;
    let Ok(guard) = TargetGuard::restore(state.settings.clone(), &state) else {
        eprintln!("the storm state does not restore: members benches skipped");
        return;
    };
    let enc = encode(&guard);
    println!(
        "guard state: {} members, {} tuples, {} bytes, {:.1} bytes/member",
        enc.members(),
        state.tuples.len(),
        enc.file_len(),
        enc.file_len() as f64 / enc.members() as f64
    );
    let bytes = enc.into_bytes();
    let mut g = c.benchmark_group("members");
    g.throughput(Throughput::Elements(members));
    g.sample_size(10);
    g.bench_function("encode", |b| b.iter(|| encode(&guard).file_len()));
    g.bench_function("decode", |b| {
        b.iter(|| persist::decode("state", &bytes).map(|s| s.len()).ok())
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let guard = folded_guard();
    let series = guard.scraped_series() as u64;
    let bytes = encode(&guard).into_bytes();
    println!(
        "guard state: {series} series, {} bytes, {:.1} bytes/series",
        bytes.len(),
        bytes.len() as f64 / series as f64
    );
    let mut g = c.benchmark_group("guard_state");
    g.throughput(Throughput::Elements(series));
    g.sample_size(10);
    g.bench_function("encode", |b| b.iter(|| encode(&guard).file_len()));
    let settings = guard.settings().clone();
    g.bench_function("decode+restore", |b| {
        b.iter(|| {
            let states = persist::decode("state", &bytes).map_err(|e| e.to_string());
            states.map(|s| TargetGuard::restore(settings.clone(), &s[0].state).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_members);
criterion_main!(benches);
