//! What the guard state file costs for a storm target: 100k Istio-style
//! series (4000 destination hosts x 25 series, compact and full label
//! sets) folded by a budget of 1000, saved to a real directory and loaded
//! back. Prints bytes per series and the time of each step (debug build
//! here; `benches/guard_state.rs` for release figures); run with
//! `cargo test --test guard state_size:: -- --nocapture`. The assertions are
//! a size bound (a series costs a few numbers and a delta of its labels,
//! not a copy of them) and that the loaded guard is the saved one.

use crate::scraper::Scraper;
use levee::guard::persist::{self, Encoder, STATE_FILE};
use levee::guard::{GuardSettings, TargetGuard};
use levee::labels::Labels;
use levee::synth::IstioWorkload;
use levee::tsdb::fs::DiskDirectory;
use std::collections::HashMap;
use std::time::Instant;

const HOSTS: u64 = 4000;

fn measure(full_labels: bool) {
    let w = IstioWorkload::new(HOSTS).with_full_labels(full_labels);
    let mut scraper = Scraper {
        cache: HashMap::new(),
    };
    let mut guard = TargetGuard::new(GuardSettings {
        series_budget: 1000,
        ..Default::default()
    });
    for k in 0..2 {
        let (samples, kinds) = scraper.scrape(&w.body(k), k as i64 * 5000);
        guard
            .apply(k as i64 * 5000, &samples, &kinds, &mut Vec::new())
            .expect("scrape");
    }
    let series = guard.scraped_series();
    assert_eq!(series as u64, HOSTS * 25);
    assert!(guard.active_series() <= 1000);

    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = DiskDirectory::open(tmp.path()).expect("dir");
    // Saved as `levee run` saves: encoded from the guard, written as
    // encoded (the fsync and rename included).
    let t = Instant::now();
    let mut enc = Encoder::create(&*dir, STATE_FILE).expect("create");
    enc.add_guard(
        "istio",
        "http://sidecar:15090/stats/prometheus",
        &Labels::from_pairs([("instance", "sidecar:15090"), ("job", "istio")]),
        &guard,
    );
    let len = enc.finish().expect("write");
    let save = t.elapsed();
    let t = Instant::now();
    let loaded = persist::read(&*dir, STATE_FILE)
        .expect("read")
        .expect("file");
    let decode = t.elapsed();
    let t = Instant::now();
    let restored =
        TargetGuard::restore(guard.settings().clone(), &loaded[0].state).expect("restore");
    let restore = t.elapsed();
    assert_eq!(restored.snapshot(5000, 10), guard.snapshot(5000, 10));

    let per_series = len as f64 / series as f64;
    println!(
        "{} labels: {series} series, {} folded series: {len} bytes, {per_series:.1} bytes/series; \
         encode+write+fsync {:.1} ms, read+decode {:.1} ms, restore {:.1} ms (debug build)",
        if full_labels { "full" } else { "compact" },
        guard.active_series(),
        save.as_secs_f64() * 1e3,
        decode.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3,
    );
    assert!(
        per_series < 40.0,
        "{per_series:.1} bytes per series: labels are not delta-coded?"
    );
}

#[test]
fn a_storm_targets_state_costs_a_few_bytes_per_series() {
    measure(false);
    measure(true);
}
