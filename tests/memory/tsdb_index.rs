//! Heap bytes per series of the head index, measured with a counting
//! global allocator on Istio-style label sets (12 labels, shared values).
//!
//! Prints the figure; run with
//! `cargo test --test memory tsdb_index:: -- --nocapture`
//! (`LEVEE_INDEX_SERIES=1000000` for a bigger head; default 200000).
//! The only assertions are a generous sanity bound and that the index's own
//! estimate is within a factor of two of what the allocator saw.

use crate::support::istio_index as istio;

use levee::labels::Labels;
use levee::tsdb::index::{HeadIndex, Matcher};

use crate::counting_alloc;

fn live() -> (isize, isize) {
    (counting_alloc::live_bytes(), counting_alloc::live_blocks())
}

/// Builds an index of `n` series, prints and checks its heap per series, checks
/// a query, removes everything and checks the memory came back.
fn measure(scenario: &str, n: usize, series: fn(usize) -> Labels) {
    let (bytes0, allocs0) = live();
    let mut idx = HeadIndex::new();
    for i in 0..n {
        // The label set is built and dropped here: only what the index
        // keeps stays live.
        idx.get_or_create(&series(i))
            .expect("istio label sets are valid");
    }
    idx.optimize();
    let (bytes1, allocs1) = live();
    assert_eq!(idx.num_series(), n);

    let measured = (bytes1 - bytes0) as f64 / n as f64;
    let allocs = (allocs1 - allocs0) as f64 / n as f64;
    let stats = idx.heap_stats();
    let estimate = stats.total() as f64 / n as f64;
    println!(
        "{scenario}: {n} series x 12 labels: {measured:.1} heap bytes/series measured \
         ({allocs:.2} allocations/series, allocator overhead not included); \
         estimate {estimate:.1} (symbols {:.1}, series {:.1}, postings {:.1}); \
         {} symbols, {} label pairs",
        stats.symbols as f64 / n as f64,
        stats.series as f64 / n as f64,
        stats.postings as f64 / n as f64,
        idx.series().symbols().len(),
        idx.postings().pair_count(),
    );
    assert!(measured < 1000.0, "{measured} bytes per series");
    assert!(
        estimate > measured / 2.0 && estimate < measured * 2.0,
        "estimate {estimate} vs measured {measured}"
    );

    // The index answers for what it holds.
    let l = series(n / 2);
    let svc = l.get("destination_service").expect("every set has it");
    let ms = [
        Matcher::equal("__name__", "istio_requests_total"),
        Matcher::equal("destination_service", svc),
    ];
    let selected = idx.select(&ms);
    assert!(!selected.is_empty());
    for id in selected.iter() {
        let l = idx.labels_of(id).expect("selected ids are live");
        assert_eq!(l.get("destination_service"), Some(svc));
    }

    // Removing every series gives the memory back (maps keep capacity).
    for id in 0..n as u32 {
        assert!(idx.remove(id));
    }
    let (bytes2, _) = live();
    let left = (bytes2 - bytes0) as f64 / n as f64;
    println!("{scenario}: after removing all, {left:.1} bytes/series still held (map capacity)");
    assert!(
        left < measured / 2.0,
        "{left} bytes/series left after removal"
    );
}

/// The only test in this binary that makes bitmaps: it must configure
/// croaring's allocator before any bitmap exists.
#[test]
fn heap_bytes_per_istio_series() {
    let _counted = counting_alloc::count_this_thread();
    // SAFETY: no croaring object exists yet in this process (no other test
    // here makes one).
    unsafe { croaring::configure_rust_alloc() };
    let n: usize = std::env::var("LEVEE_INDEX_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    measure("istio", n, istio::series);
    measure(
        "istio storm (new destination_service every 25 series)",
        n,
        istio::storm_series,
    );
}
