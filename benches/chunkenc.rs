//! XOR chunk encoding: encode and decode speed (samples/s) and size
//! (bytes/sample) on node_exporter-like series scraped every 15 s with a few
//! milliseconds of scrape jitter:
//!
//! - `constant`: `up`-like series, always 1;
//! - `counter`: CPU-seconds-like counters growing by irregular hundredths,
//!   and byte counters growing by irregular integers;
//! - `gauge`: load averages with two decimals and memory bytes drifting in
//!   4 KiB pages;
//! - `node_mix`: a node_exporter-like mix, 60 % constant (info, sizes,
//!   limits), 25 % counters, 15 % gauges.
//!
//! Every chunk is full (120 samples). Bytes/sample counts the whole chunk
//! (2-byte header included) and is printed before the timings, for
//! timestamps with 0–4 ms of scrape jitter and for timestamps aligned to
//! the interval (what a scraper that snaps timestamps would store).
//!
//! Run: `cargo bench --bench chunkenc` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::tsdb::chunkenc::{XorChunk, XorIterator};

const SERIES: usize = 200;
const SAMPLES: usize = 120;

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Series = Vec<(i64, f64)>;

fn timestamps(rng: &mut Rng, jitter: bool) -> Vec<i64> {
    let start = 1_700_000_000_000 + rng.below(15_000) as i64;
    (0..SAMPLES as i64)
        .map(|i| start + i * 15_000 + if jitter { rng.below(5) as i64 } else { 0 })
        .collect()
}

/// The series kind of series `s` in the node_exporter-like mix.
fn node_mix_kind(s: usize) -> &'static str {
    match s % 20 {
        0..12 => "constant",
        12..17 => "counter",
        _ => "gauge",
    }
}

fn dataset(kind: &str, jitter: bool) -> Vec<Series> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..SERIES)
        .map(|s| {
            let kind = if kind == "node_mix" {
                node_mix_kind(s)
            } else {
                kind
            };
            let ts = timestamps(&mut rng, jitter);
            let mut v = match kind {
                "counter" if s % 2 == 0 => rng.below(1_000_000) as f64 / 100.0,
                "counter" => rng.below(1 << 40) as f64,
                "gauge" if s % 2 == 0 => rng.below(400) as f64 / 100.0,
                "gauge" => (rng.below(1 << 20) * 4096) as f64,
                _ => 1.0,
            };
            ts.into_iter()
                .map(|t| {
                    let point = (t, v);
                    v = match kind {
                        "counter" if s % 2 == 0 => {
                            ((v * 100.0).round() + rng.below(1500) as f64) / 100.0
                        }
                        "counter" => v + rng.below(100_000) as f64,
                        "gauge" if s % 2 == 0 => {
                            ((v * 100.0).round() + rng.below(21) as f64 - 10.0).max(0.0) / 100.0
                        }
                        "gauge" => v + (rng.below(65) as f64 - 32.0) * 4096.0,
                        _ => v,
                    };
                    point
                })
                .collect()
        })
        .collect()
}

fn encode(series: &[Series]) -> Vec<XorChunk> {
    series
        .iter()
        .map(|samples| {
            let mut c = XorChunk::new();
            for &(t, v) in samples {
                c.append(t, v).expect("bench data is in order");
            }
            c
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let samples = SERIES * SAMPLES;
    for kind in ["constant", "counter", "gauge", "node_mix"] {
        for jitter in [true, false] {
            let bytes: usize = encode(&dataset(kind, jitter))
                .iter()
                .map(|c| c.bytes().len())
                .sum();
            println!(
                "chunkenc/{kind} ({}): {:.3} bytes/sample ({bytes} bytes, {samples} samples, {SERIES} chunks)",
                if jitter { "0-4 ms jitter" } else { "aligned" },
                bytes as f64 / samples as f64
            );
        }
    }
    for kind in ["constant", "counter", "gauge", "node_mix"] {
        let data = dataset(kind, true);
        let chunks = encode(&data);
        let mut group = c.benchmark_group(format!("chunkenc/{kind}"));
        group.throughput(Throughput::Elements(samples as u64));
        group.bench_function("encode", |b| b.iter(|| encode(black_box(&data))));
        group.bench_function("decode", |b| {
            b.iter(|| {
                let mut sum = 0f64;
                for chunk in &chunks {
                    let it = XorIterator::new(black_box(chunk.bytes())).expect("valid chunk");
                    for s in it {
                        sum += s.expect("valid chunk").1;
                    }
                }
                sum
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
