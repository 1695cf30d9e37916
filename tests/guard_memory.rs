//! Heap bytes the guard adds per scraped series, measured with a counting
//! global allocator: 100k Istio-style series (their label sets built before
//! measuring, as the scrape cache holds them) through a guard under budget,
//! then through a guard folding them all. Prints the figures; run with
//! `cargo test --test guard_memory -- --nocapture`. The assertions are a
//! sanity bound (the guard must stay "a hash and a few numbers" per series,
//! not a copy of its labels) and that everything is freed once the series
//! leave the staleness window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use levee::exposition::MetricType;
use levee::guard::{FoldRule, GuardSettings, TargetGuard};
use levee::labels::Labels;
use levee::remote::Sample;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const SERIES: usize = 100_000;

fn samples(ts: i64) -> Vec<Sample> {
    (0..SERIES)
        .map(|i| Sample {
            labels: Arc::new(Labels::from_pairs([
                ("__name__", "istio_requests_total".to_string()),
                ("job", "istio".to_string()),
                ("instance", "sidecar:15090".to_string()),
                ("reporter", "destination".to_string()),
                (
                    "destination_service",
                    format!("svc-{i}.mesh.svc.cluster.local"),
                ),
                ("destination_workload", format!("svc-{i}-v1")),
                (
                    "response_code",
                    if i % 10 == 9 { "503" } else { "200" }.to_string(),
                ),
                ("request_protocol", "http".to_string()),
            ])),
            timestamp_ms: ts,
            value: i as f64,
        })
        .collect()
}

fn measure(name: &str, settings: GuardSettings, bound: isize) {
    let base = live();
    let batch = samples(0);
    let kinds = vec![MetricType::Counter; batch.len()];
    let before = live();
    let mut guard = TargetGuard::new(settings);
    let mut out = Vec::new();
    guard.apply(0, &batch, &kinds, &mut out).expect("accepted");
    drop(out);
    let per_series = (live() - before) / SERIES as isize;
    println!("{name}: {per_series} bytes per scraped series");
    assert!(per_series <= bound, "{name}: {per_series} bytes per series");
    // Everything leaves the window: the guard keeps (almost) nothing.
    drop(batch);
    let later = 10 * 60 * 1000;
    guard
        .apply(later, &[], &[], &mut Vec::new())
        .expect("accepted");
    assert_eq!(guard.scraped_series(), 0);
    let left = live() - base;
    println!("{name}: {left} bytes left after the window");
    assert!(left < (SERIES as isize) * 8, "{name}: {left} bytes left");
    drop(guard);
}

#[test]
fn guard_heap_per_series() {
    measure(
        "under budget",
        GuardSettings {
            series_budget: 1_000_000,
            ..GuardSettings::default()
        },
        400,
    );
    measure(
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
        400,
    );
}
