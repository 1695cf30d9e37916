//! The parser allocates nothing per sample: a counting global allocator
//! shows that parsing (and iterating labels without escapes) of a body of
//! 25,000 samples makes a small, fixed number of allocations (buffer and
//! span vector growth), not one per sample or per line.

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::synth::IstioWorkload;

use crate::counting_alloc;

#[test]
fn no_allocation_per_sample() {
    let _counted = counting_alloc::count_this_thread();
    let body = IstioWorkload::new(1000).body(2);
    let mut samples = 0u64;
    let mut label_bytes = 0usize;
    let before = counting_alloc::allocations();
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    for chunk in body.chunks(16 * 1024) {
        p.push(chunk).expect("push");
        while let Some(e) = p.next() {
            if let Entry::Sample(s) = e.expect("valid") {
                samples += 1;
                for (name, value) in s.labels() {
                    label_bytes += name.len() + value.len();
                }
            }
        }
    }
    p.finish();
    while let Some(e) = p.next() {
        e.expect("valid");
    }
    let allocations = counting_alloc::allocations() - before;
    drop(p);
    assert_eq!(samples, 25_000);
    assert!(label_bytes > 0);
    assert!(
        allocations < 64,
        "{allocations} allocations for {samples} samples"
    );
}
