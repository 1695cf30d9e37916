//! Heap bytes and allocations one label set holds, measured with a counting
//! global allocator over 1,000 Istio-style label sets: the
//! `istio_requests_total` series of 1,000 destination hosts with Istio's
//! full label set (`src/synth/istio.rs`), as a scrape makes them, plus `job`
//! and `instance`: 27 labels each. Prints the figures; run with
//! `cargo test --test memory labels:: -- --nocapture`. Before label sets were
//! one buffer (a `Vec` of `String` pairs), this test measured 2,095 bytes
//! in 55 allocations per set, for 799 bytes of names and values.

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::labels::Labels;
use levee::synth::IstioWorkload;

use crate::counting_alloc;

const SETS: usize = 1_000;

/// The scraped pairs of each host's `istio_requests_total` series, with
/// the target's `job` and `instance`.
fn istio_pairs() -> Vec<Vec<(String, String)>> {
    let body = IstioWorkload::new(SETS as u64)
        .with_full_labels(true)
        .body(1);
    let mut parser = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    let mut out = Vec::with_capacity(SETS);
    let mut take = |parser: &mut StreamParser| {
        while let Some(entry) = parser.next() {
            if let Entry::Sample(s) = entry.expect("the synthetic body parses")
                && s.name == "istio_requests_total"
            {
                let mut pairs: Vec<(String, String)> = s
                    .labels()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                pairs.push(("__name__".into(), s.name.into()));
                pairs.push(("job".into(), "istio".into()));
                pairs.push(("instance".into(), "10.1.2.3:15090".into()));
                out.push(pairs);
            }
        }
    };
    for chunk in body.chunks(64 << 10) {
        parser.push(chunk).expect("the synthetic body parses");
        take(&mut parser);
    }
    parser.finish();
    take(&mut parser);
    out
}

#[test]
fn an_istio_label_set_is_one_allocation_of_about_its_text() {
    let _counted = counting_alloc::count_this_thread();
    let pairs = istio_pairs();
    assert_eq!(pairs.len(), SETS);
    let mut sets: Vec<Labels> = Vec::with_capacity(SETS);
    let (bytes0, allocs0) = (counting_alloc::live_bytes(), counting_alloc::live_blocks());
    for p in &pairs {
        sets.push(Labels::from_pairs(
            p.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        ));
    }
    let heap = (counting_alloc::live_bytes() - bytes0) as usize;
    let allocs = (counting_alloc::live_blocks() - allocs0) as usize;

    // `grpc_response_status` is empty in the body, so left out: 27 labels.
    assert!(sets.iter().all(|l| l.len() == 27), "{:?}", sets[0]);
    let text: usize = sets
        .iter()
        .flat_map(|l| l.iter())
        .map(|l| l.name.len() + l.value.len())
        .sum();
    // Everything counted is the sets' own: clearing them frees it all
    // (checked before printing, which allocates in the captured output).
    sets.clear();
    let left = counting_alloc::live_bytes() - bytes0;

    let (heap_per_set, text_per_set) = (heap as f64 / SETS as f64, text as f64 / SETS as f64);
    println!(
        "labels_memory: {heap_per_set:.0} B of heap in {:.1} allocations per 27-label Istio set \
         ({text_per_set:.0} B of names and values)",
        allocs as f64 / SETS as f64
    );
    assert_eq!(left, 0, "bytes still held after the sets were freed");
    assert_eq!(allocs, SETS, "one allocation per label set");
    assert!(
        heap_per_set <= text_per_set + 64.0,
        "{heap_per_set:.0} B of heap for {text_per_set:.0} B of text"
    );
}
