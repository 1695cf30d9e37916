//! What the series guard adds to the scrape path, in thread CPU time: the
//! three scrape loops of `benches/scrape.rs` (`cached`: no guard;
//! `guarded`: a budget of 1M the 100k-series Istio target stays under, every
//! sample looked up, forwarded and staleness-tracked; `folded`: a rule
//! folding the host labels, every sample a member merged by key) scraped in
//! turn, round after round, each scrape timed with
//! `CLOCK_THREAD_CPUTIME_ID`.
//!
//! Why beside criterion's wall-clock figures: on a machine shared with
//! other busy processes, a scrape of ~65 ms is preempted a few times and
//! wall time swings by a third from run to run; the CPU time of the
//! scraping thread, interleaved so all three see the same machine, swings
//! by a few percent. It prints, per loop, the minimum and the median
//! nanoseconds per sample, and the guarded and folded medians against the
//! unguarded one.
//!
//! Run: `cargo bench --bench scrape_cpu [-- ROUNDS]` (default 30 rounds).

use istio_scrape::{Discard, guard_cases, job, scrape_loop};
use levee::synth::IstioWorkload;
use std::sync::Arc;

#[path = "common/istio_scrape.rs"]
mod istio_scrape;

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a
    // constant Linux and the other Unixes define.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

fn main() {
    // `cargo bench` passes `--bench`; the first number is the rounds.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let workload = IstioWorkload::new(4_000);
    let samples = workload.series() as f64;
    let mut loops = guard_cases().map(|(name, guard)| {
        let lp = scrape_loop(&job(guard), workload.body(1), Arc::new(Discard));
        (name, lp, vec![])
    });
    // Three scrapes to warm up: the cache fills, the guard's folded
    // series move to its member table.
    let mut ts = 1_000;
    for round in 0..rounds + 3 {
        for (_, lp, times) in &mut loops {
            ts += 1_000;
            let start = thread_cpu_ns();
            rt.block_on(lp.scrape_once(ts)).expect("scrape");
            if round >= 3 {
                times.push((thread_cpu_ns() - start) as f64 / samples);
            }
        }
    }
    let mut medians = vec![];
    for (name, _, times) in &mut loops {
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        medians.push(median);
        println!(
            "scrape_cpu/istio_100k_{name}: min {:.0} ns/sample, median {median:.0} ns/sample ({rounds} rounds)",
            times[0]
        );
    }
    println!(
        "guarded {:+.1} %, folded {:+.1} % against cached (medians)",
        (medians[1] / medians[0] - 1.0) * 100.0,
        (medians[2] / medians[0] - 1.0) * 100.0
    );
}
