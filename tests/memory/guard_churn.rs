//! The guard's heap under churn, measured with a counting global
//! allocator: an Istio-style target whose hosts come and go (each host's
//! 25 series stay for 4 scrapes, 100 new hosts a scrape, a 30 s staleness
//! window at 5 s scrapes), folded on `destination_service`. Members of
//! hosts that left expire with the window, so once the first hosts have
//! been gone a window the guard's heap levels off and stays there: at every
//! window boundary from the third to the tenth it is within 10 % of the
//! third's, while ~2,500 members come and go every scrape. Bytes are read
//! from the allocator, nothing is timed. Prints the figures; run with
//! `cargo test --test memory guard_churn:: -- --nocapture`.

use std::sync::Arc;

use levee::exposition::MetricType;
use levee::guard::{FoldRule, GuardSettings, TargetGuard};
use levee::labels::Labels;
use levee::pipeline::Sample;

use crate::counting_alloc;

const HOSTS_PER_SCRAPE: u64 = 100;
const LIFETIME: u64 = 4;
const SCRAPE_MS: i64 = 5_000;
const WINDOW_MS: i64 = 30_000;
const SERIES_PER_HOST: u64 = 25;

/// The body of scrape `k`: the hosts of the last `LIFETIME` scrapes.
fn scrape(k: u64) -> Vec<Sample> {
    let last = HOSTS_PER_SCRAPE * (k + 1);
    let first = last.saturating_sub(HOSTS_PER_SCRAPE * LIFETIME);
    let mut out = Vec::new();
    for host in first..last {
        for code in 0..SERIES_PER_HOST {
            out.push(Sample {
                labels: Arc::new(Labels::from_pairs([
                    ("__name__", "istio_requests_total".to_string()),
                    ("job", "istio".to_string()),
                    ("instance", "sidecar:15090".to_string()),
                    (
                        "destination_service",
                        format!("svc-{host}.mesh.svc.cluster.local"),
                    ),
                    ("response_code", format!("{}", 200 + code)),
                ])),
                timestamp_ms: k as i64 * SCRAPE_MS,
                value: ((k + 1) * (1 + host % 7)) as f64,
            });
        }
    }
    out
}

#[test]
fn guard_heap_levels_off_when_hosts_leave() {
    let _counted = counting_alloc::count_this_thread();
    let base = counting_alloc::live_bytes();
    let mut guard = TargetGuard::new(GuardSettings {
        staleness_window_ms: WINDOW_MS,
        fold_rules: vec![FoldRule::new(vec!["destination_service".into()], None).expect("rule")],
        ..GuardSettings::default()
    });
    let per_window = (WINDOW_MS / SCRAPE_MS) as u64;
    // Heap held after the scrape at each window boundary (from window 3 on:
    // by then the first hosts have been gone a whole window).
    let mut at_windows = Vec::new();
    let (mut most_members, mut peak) = (0, 0);
    for k in 0..10 * per_window + 1 {
        let batch = scrape(k);
        let kinds = vec![MetricType::Counter; batch.len()];
        let mut out = Vec::new();
        guard
            .apply(k as i64 * SCRAPE_MS, &batch, &kinds, &mut out)
            .expect("accepted");
        drop(guard.take_demoted());
        drop((out, kinds, batch));
        let held = counting_alloc::live_bytes() - base;
        peak = peak.max(held);
        most_members = most_members.max(guard.scraped_series());
        if k >= 3 * per_window && k % per_window == 0 {
            at_windows.push(held);
        }
    }
    // Live hosts plus those gone less than a window (and one sweep period).
    let bound = (LIFETIME + per_window + 2) * HOSTS_PER_SCRAPE * SERIES_PER_HOST;
    println!(
        "members at most {most_members} (bound {bound}); heap at windows 3..=10: {at_windows:?} B; \
         peak {peak} B ({} B per member)",
        peak / most_members as isize
    );
    assert!(most_members as u64 <= bound, "{most_members} members");
    // ~2,500 members leave every scrape: a leak of even a few bytes each
    // would add up over the 7 windows (42 scrapes) measured.
    let first = at_windows[0];
    for (i, held) in at_windows.iter().enumerate() {
        assert!(
            *held <= first + first / 10,
            "window {}: heap grew from {first} to {held} bytes with the members bounded",
            i + 3
        );
    }
    assert!(
        peak / (most_members as isize) < 120,
        "{peak} bytes at the peak"
    );
}
