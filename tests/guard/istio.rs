//! The Istio storm through the guard, without sockets: an Istio-style
//! target adds destination hosts every scrape (25 series each, kept
//! forever, as the leaking sidecar does); the guard holds it to its budget
//! by folding `destination_service` (and the labels carrying the same
//! information), and every folded total forwarded equals the workload's
//! ground truth exactly, scrape after scrape: `istio_requests_total`, each
//! histogram's `_count` and `_sum`, and every bucket.

use levee::guard::{GuardSettings, TargetGuard};
use levee::pipeline::Sample;
use levee::synth::IstioWorkload;
use levee::value::is_stale_nan;
use std::collections::{BTreeMap, HashMap};

use crate::scraper::Scraper;

/// Sum of non-stale values by metric name, and by (name, le) for buckets.
fn sums(samples: &[Sample]) -> BTreeMap<(String, String), f64> {
    let mut m = BTreeMap::new();
    for s in samples.iter().filter(|s| !is_stale_nan(s.value)) {
        let name = s.labels.metric_name().unwrap_or("").to_string();
        let le = s.labels.get("le").unwrap_or("").to_string();
        *m.entry((name, le)).or_insert(0.0) += s.value;
    }
    m
}

fn storm(full_labels: bool, with: &[&str]) {
    const BUDGET: u64 = 1000;
    let mut guard = TargetGuard::new(GuardSettings {
        series_budget: BUDGET,
        ..GuardSettings::default()
    });
    let mut scraper = Scraper {
        cache: HashMap::new(),
    };
    let mut offenders = Vec::new();
    for k in 0..24u64 {
        let w = IstioWorkload::new(20 * (k + 1)).with_full_labels(full_labels);
        let ts = 1_000_000 + 5000 * k as i64;
        let (samples, kinds) = scraper.scrape(&w.body(k), ts);
        let mut out = Vec::new();
        let report = guard
            .apply(ts, &samples, &kinds, &mut out)
            .expect("fold never refuses a scrape");
        offenders.extend(report.offenders.clone());
        let live = out.iter().filter(|s| !is_stale_nan(s.value)).count();
        assert!(
            report.active_series as u64 <= BUDGET,
            "scrape {k}: {report:?}"
        );
        assert!(live as u64 <= BUDGET, "scrape {k}: {live} series forwarded");
        // Every total, and every bucket, exactly as the workload has it.
        assert_eq!(sums(&out), sums(&samples), "scrape {k}");
        for (name, total) in w.totals(k).by_sample_name() {
            assert_eq!(
                sums(&out)[&(name.to_string(), String::new())],
                total,
                "{name} scrape {k}"
            );
        }
    }
    assert_eq!(offenders.len(), 1, "{offenders:?}");
    let o = &offenders[0];
    assert_eq!(o.label, "destination_service");
    assert_eq!(o.with, with);
    assert_eq!(
        o.families,
        [
            "istio_request_bytes",
            "istio_request_duration_milliseconds",
            "istio_requests_total",
            "istio_response_bytes"
        ]
    );
    // 2 response codes x 25 series per host.
    assert_eq!(guard.active_series(), 50);
    assert_eq!(guard.scraped_series(), 24 * 20 * 25);
}

#[test]
fn compact_storm_folds_destination_service_and_keeps_totals_exact() {
    storm(false, &["destination_workload"]);
}

#[test]
fn full_label_storm_folds_every_label_carrying_the_host() {
    storm(
        true,
        // Longest values first (`svc-N-v1` before `svc-N`), then by name.
        &[
            "destination_workload",
            "destination_app",
            "destination_canonical_service",
            "destination_service_name",
        ],
    );
}

#[test]
fn a_sliding_storm_keeps_guard_memory_to_the_window() {
    // Hosts come and go: 100 live hosts, 20 new ones a scrape; a 30 s
    // window at 5 s scrapes. The guard's series stay within the window's
    // worth of hosts instead of growing with the storm, and the folded
    // totals stay exact: a host that left keeps what it added, also once
    // its member state has expired.
    let mut guard = TargetGuard::new(GuardSettings {
        series_budget: 500,
        staleness_window_ms: 30_000,
        ..GuardSettings::default()
    });
    let mut scraper = Scraper {
        cache: HashMap::new(),
    };
    let mut peak = 0;
    for k in 0..40u64 {
        let w = IstioWorkload::new(100).with_first_host(20 * k);
        let ts = 5000 * k as i64;
        let (samples, kinds) = scraper.scrape(&w.body(k), ts);
        let mut out = Vec::new();
        let report = guard
            .apply(ts, &samples, &kinds, &mut out)
            .expect("accepted");
        assert!(report.active_series <= 500, "scrape {k}: {report:?}");
        peak = peak.max(guard.scraped_series());
        // Host h is served from scrape (h - 99) / 20 (rounded up) to h / 20;
        // every host so far counts at the last scrape it was served.
        let retained: u64 = (0..20 * k + 100)
            .map(|h| IstioWorkload::requests(h, k.min(h / 20)))
            .sum();
        let key = ("istio_requests_total".to_string(), String::new());
        assert_eq!(sums(&out)[&key], retained as f64, "scrape {k}");
    }
    // 100 live hosts + up to 1.1 windows (33 s: 7 scrapes x 20) of leavers.
    assert!(peak <= (100 + 7 * 20) * 25, "peak {peak}");
    assert!(guard.scraped_series() >= 100 * 25);
}

#[test]
fn a_restarted_guard_folds_before_forwarding_and_continues_the_totals() {
    // levee restarts mid-storm: its guard starts empty. The first scrape
    // after the restart breaks the budget at once; the fold is decided
    // before anything is forwarded, and the folded counters start at the
    // sum of their members' values, i.e. where they were before the
    // restart (no member reset in between).
    let settings = GuardSettings {
        series_budget: 1000,
        ..GuardSettings::default()
    };
    let mut scraper = Scraper {
        cache: HashMap::new(),
    };
    let mut before = TargetGuard::new(settings.clone());
    let mut last = BTreeMap::new();
    for k in 0..6u64 {
        let (samples, kinds) =
            scraper.scrape(&IstioWorkload::new(30 * (k + 1)).body(k), 5000 * k as i64);
        let mut out = Vec::new();
        before
            .apply(5000 * k as i64, &samples, &kinds, &mut out)
            .expect("accepted");
        last = sums(&out);
    }
    let mut after = TargetGuard::new(settings);
    let k = 6u64;
    let w = IstioWorkload::new(30 * (k + 1));
    let (samples, kinds) = scraper.scrape(&w.body(k), 5000 * k as i64);
    let mut out = Vec::new();
    let report = after
        .apply(5000 * k as i64, &samples, &kinds, &mut out)
        .expect("accepted");
    assert_eq!(report.offenders.len(), 1);
    assert_eq!(out.len(), 50, "only folded series forwarded");
    assert_eq!(sums(&out), sums(&samples));
    for (key, v) in &last {
        assert!(sums(&out)[key] >= *v, "{key:?} went back after the restart");
    }
}
