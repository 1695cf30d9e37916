//! Heap bytes the guard keeps per scraped series, measured with a counting
//! global allocator over 100k Istio-style series (4,000 destination hosts ×
//! 25 series each). Under budget the guard shares the label sets the scrape
//! cache holds, so what it adds is counted with the batch already built.
//! Folding, a member keeps no label set at all (the scrape cache lets go of
//! it too), so everything the guard holds once the batch is gone is
//! counted. Prints the figures; run with
//! `cargo test --test memory guard:: -- --nocapture`. The assertions are a
//! sanity bound (a member must stay "a hash and a few numbers", not a copy
//! of its labels) and that everything is freed once the series leave the
//! staleness window.

use levee::exposition::MetricType;
use levee::guard::{FoldRule, GuardSettings, TargetGuard};

use crate::counting_alloc;
use crate::guard_samples::{SERIES, samples};

fn live() -> isize {
    counting_alloc::live_bytes()
}

/// How the guard's bytes are counted.
enum Count {
    /// What it adds to label sets the cache holds anyway.
    BesideTheCache,
    /// All it keeps once the scrape's label sets are gone.
    OnItsOwn,
}

fn measure(name: &str, settings: GuardSettings, count: Count, bound: isize) {
    let base = live();
    let batch = samples(0);
    let kinds = vec![MetricType::Counter; batch.len()];
    let before = live();
    let mut guard = TargetGuard::new(settings);
    let mut out = Vec::new();
    guard.apply(0, &batch, &kinds, &mut out).expect("accepted");
    drop(out);
    // The scrape loop takes the keys of the new members right away (its
    // cache lets their labels go).
    drop(guard.take_demoted());
    let beside = live() - before;
    drop(kinds);
    drop(batch);
    let own = live() - base;
    let held = match count {
        Count::BesideTheCache => beside,
        Count::OnItsOwn => own,
    };
    let per_series = held / SERIES as isize;
    println!("{name}: {per_series} bytes per scraped series");
    assert!(per_series <= bound, "{name}: {per_series} bytes per series");
    // Everything leaves the window: the guard keeps (almost) nothing.
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
    let _counted = counting_alloc::count_this_thread();
    measure(
        "under budget",
        GuardSettings {
            series_budget: 1_000_000,
            ..GuardSettings::default()
        },
        Count::BesideTheCache,
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
        Count::OnItsOwn,
        70,
    );
}
