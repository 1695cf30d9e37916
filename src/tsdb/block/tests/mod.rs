//! Block tests: writing and querying against a model on both directory
//! implementations, crash atomicity, deletion under readers, retention, and
//! named corruption cases.

mod corruption;
mod lifecycle;
mod query;

use std::sync::Arc;

use crate::labels::Labels;
use crate::tsdb::block::{BlockMeta, BlockWriter, ChunkInput};
use crate::tsdb::chunkenc::{Encoding, XorChunk};
use crate::tsdb::chunks::ChunkWriterOptions;
use crate::tsdb::fs::Directory;
use crate::tsdb::value::STALE_NAN_BITS;

/// A series of the model: labels and samples as (t, value bits).
pub(super) type ModelSeries = (Labels, Vec<(i64, u64)>);

/// A small deterministic generator (xorshift64*).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Block range of the model: two hours from `BASE`.
pub(super) const BASE: i64 = 1_700_000_000_000;
pub(super) const SPAN: i64 = 7_200_000;

/// `n` series, label-sorted, each with 1..600 samples in `[BASE, BASE +
/// SPAN)` scraped about every 15 s with jitter, values including stale
/// markers, NaNs, -0.0 and infinities.
pub(super) fn model(n: usize, seed: u64) -> Vec<ModelSeries> {
    let mut rng = Rng::new(seed);
    let jobs = ["node", "api", "db"];
    let mut out: Vec<ModelSeries> = (0..n)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 7)),
                ("instance", format!("host-{:03}", i)),
                ("job", jobs[i % 3].to_string()),
            ]);
            let count = 1 + rng.below(600) as i64;
            let start = BASE + rng.below(60_000) as i64;
            let mut samples = Vec::new();
            let mut t = start;
            for k in 0..count {
                if t >= BASE + SPAN {
                    break;
                }
                let v = match rng.below(40) {
                    0 => STALE_NAN_BITS,
                    1 => f64::NAN.to_bits(),
                    2 => (-0.0f64).to_bits(),
                    3 => f64::INFINITY.to_bits(),
                    _ => ((k * k) as f64 + (i as f64) / 3.0).to_bits(),
                };
                samples.push((t, v));
                t += 15_000 + rng.below(5) as i64;
            }
            (labels, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The XOR chunks (≤ 120 samples) of a series' samples.
pub(super) fn encode(samples: &[(i64, u64)]) -> Vec<(i64, i64, Vec<u8>)> {
    samples
        .chunks(120)
        .map(|part| {
            let mut c = XorChunk::new();
            for &(t, v) in part {
                c.append(t, f64::from_bits(v))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            (part[0].0, part[part.len() - 1].0, c.bytes().to_vec())
        })
        .collect()
}

/// Writes the model as one block covering `[BASE, BASE + SPAN)`.
pub(super) fn write_block(
    blocks_dir: &Arc<dyn Directory>,
    series: &[ModelSeries],
    file_size: u64,
) -> BlockMeta {
    write_block_range(blocks_dir, series, file_size, BASE, BASE + SPAN)
}

pub(super) fn write_block_range(
    blocks_dir: &Arc<dyn Directory>,
    series: &[ModelSeries],
    file_size: u64,
    min_time: i64,
    max_time: i64,
) -> BlockMeta {
    let opts = ChunkWriterOptions {
        file_size,
        ..ChunkWriterOptions::default()
    };
    let mut w = BlockWriter::with_options(blocks_dir, min_time, max_time, opts).unwrap();
    for (labels, samples) in series {
        let chunks = encode(samples);
        let inputs: Vec<ChunkInput<'_>> = chunks
            .iter()
            .map(|(min, max, data)| ChunkInput {
                min_time: *min,
                max_time: *max,
                encoding: Encoding::Xor.into(),
                data,
            })
            .collect();
        w.add_series(labels, &inputs).unwrap();
    }
    w.finish().unwrap()
}

/// Runs `case` over a fresh blocks directory on disk and in memory.
pub(super) fn on_both(case: impl Fn(Arc<dyn Directory>)) {
    let tmp = tempfile::tempdir().unwrap();
    case(crate::tsdb::fs::DiskDirectory::open(tmp.path().join("blocks")).unwrap());
    case(crate::tsdb::fs::MemDirectory::new());
}
