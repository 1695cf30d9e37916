//! Blocks and chunk files on node_exporter-like data: 10 000 series (60 %
//! constant, 25 % counters, 15 % gauges, as in `benches/chunkenc.rs`)
//! scraped every 15 s with 0–4 ms of jitter for two hours (480 samples, 4
//! full chunks per series), written as one block on disk.
//!
//! Printed before the timings: bytes per sample of the block's chunk files,
//! of chunk files + index, and of the whole block, and the chunk files'
//! overhead per chunk.
//!
//! - `block/write`: writing the block (chunk files, index, meta, fsyncs,
//!   rename), series/s;
//! - `block/open`: opening it (meta, sizes, index validation, maps);
//! - `block/select_read`: a two-matcher select (`__name__`, `instance`)
//!   over the whole range and decoding every sample of the result;
//! - `chunks/append`: appending 10 000 chunks to a chunk file (buffered),
//!   chunks/s; `chunks/read`: reading them back by reference (CRC checked).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench block -- --quick`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use levee::labels::Labels;
use levee::tsdb::block::{Block, BlockWriter, ChunkInput, open_all};
use levee::tsdb::chunkenc::XorChunk;
use levee::tsdb::chunks::{ChunkRef, ChunkSeriesIterator, ChunkWriter, ChunkWriterOptions};
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::index::Matcher;

const SERIES: usize = 10_000;
const SAMPLES: usize = 480;
const T0: i64 = 1_700_000_000_000;

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

/// Labels and encoded chunks (min, max, bytes) of every series, label-sorted.
type Data = Vec<(Labels, Vec<(i64, i64, Vec<u8>)>)>;

fn dataset() -> Data {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out: Data = (0..SERIES)
        .map(|s| {
            let kind = match s % 20 {
                0..12 => "constant",
                12..17 => "counter",
                _ => "gauge",
            };
            let labels = Labels::from_pairs([
                ("__name__", format!("node_metric_{}", s % 300)),
                ("instance", format!("node-{:02}:9100", s / 300)),
                ("job", "node".to_string()),
            ]);
            let start = T0 + rng.below(15_000) as i64 - 15_000;
            let mut v = match kind {
                "counter" if s % 2 == 0 => rng.below(1_000_000) as f64 / 100.0,
                "counter" => rng.below(1 << 40) as f64,
                "gauge" if s % 2 == 0 => rng.below(400) as f64 / 100.0,
                "gauge" => (rng.below(1 << 20) * 4096) as f64,
                _ => 1.0,
            };
            let mut samples = Vec::with_capacity(SAMPLES);
            for i in 0..SAMPLES as i64 {
                samples.push((start + i * 15_000 + rng.below(5) as i64, v));
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
            }
            let chunks = samples
                .chunks(120)
                .map(|part| {
                    let mut c = XorChunk::new();
                    for &(t, v) in part {
                        c.append(t, v).expect("ordered");
                    }
                    (part[0].0, part[part.len() - 1].0, c.bytes().to_vec())
                })
                .collect();
            (labels, chunks)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(blocks: &Arc<dyn Directory>, data: &Data) -> levee::tsdb::block::BlockMeta {
    let mut w = BlockWriter::new(blocks, T0 - 15_000, T0 + 7_200_000).expect("range");
    for (labels, chunks) in data {
        let inputs: Vec<ChunkInput<'_>> = chunks
            .iter()
            .map(|(min, max, bytes)| ChunkInput {
                min_time: *min,
                max_time: *max,
                encoding: 1,
                data: bytes,
            })
            .collect();
        w.add_series(labels, &inputs).expect("valid series");
    }
    w.finish().expect("block written")
}

fn bench(c: &mut Criterion) {
    let data = dataset();
    let tmp = tempfile::tempdir().expect("tempdir");
    let blocks: Arc<dyn Directory> = DiskDirectory::open(tmp.path().join("blocks")).expect("dir");
    let meta = write(&blocks, &data);
    let samples = meta.stats.num_samples as f64;
    let chunk_bytes: u64 = meta.chunk_files.iter().map(|f| f.bytes).sum();
    let raw: usize = data
        .iter()
        .flat_map(|(_, c)| c.iter().map(|c| c.2.len()))
        .sum();
    let block =
        Block::open(blocks.subdir(&meta.id.to_string()).expect("block dir")).expect("opens");
    println!(
        "block: {SERIES} series, {} chunks, {samples} samples: chunk files {:.3} bytes/sample, + index {:.3}, whole block {:.3}; chunk entry overhead {:.1} bytes/chunk",
        meta.stats.num_chunks,
        chunk_bytes as f64 / samples,
        meta.data_bytes() as f64 / samples,
        block.size_bytes() as f64 / samples,
        (chunk_bytes as f64 - raw as f64) / meta.stats.num_chunks as f64,
    );

    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("write", |b| {
        b.iter(|| {
            let meta = write(&blocks, &data);
            levee::tsdb::block::delete_block(&blocks, meta.id).expect("delete");
        })
    });
    let dir = blocks.subdir(&meta.id.to_string()).expect("block dir");
    g.bench_function("open", |b| {
        b.iter(|| Block::open(Arc::clone(&dir)).expect("opens"))
    });
    g.throughput(Throughput::Elements(SAMPLES as u64));
    let matchers = [
        Matcher::equal("__name__", "node_metric_7"),
        Matcher::equal("instance", "node-03:9100"),
    ];
    g.bench_function("select_read", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for s in block
                .select(i64::MIN, i64::MAX, black_box(&matchers))
                .expect("select")
            {
                let chunks: Vec<_> = s
                    .chunks
                    .iter()
                    .map(|c| block.chunk(ChunkRef(c.chunk_ref)).expect("chunk"))
                    .collect();
                for r in ChunkSeriesIterator::new(
                    chunks.iter().map(|c| c.as_slice()).collect(),
                    i64::MIN,
                    i64::MAX,
                ) {
                    sum += r.expect("valid").1;
                }
            }
            sum
        })
    });
    g.finish();
    assert_eq!(open_all(&blocks).expect("open_all").blocks.len(), 1);

    let chunks: Vec<&(i64, i64, Vec<u8>)> = data.iter().take(2500).flat_map(|(_, c)| c).collect();
    let mut g = c.benchmark_group("chunks");
    g.throughput(Throughput::Elements(chunks.len() as u64));
    let cdir: Arc<dyn Directory> = DiskDirectory::open(tmp.path().join("chunks")).expect("dir");
    let mut run = 0;
    g.bench_function("append", |b| {
        b.iter_batched(
            || {
                run += 1;
                let dir: Arc<dyn Directory> =
                    DiskDirectory::open(tmp.path().join(format!("append-{run}"))).expect("dir");
                dir
            },
            |dir| {
                let (mut w, _) =
                    ChunkWriter::open(dir, ChunkWriterOptions::default()).expect("open");
                for (i, (min, max, bytes)) in chunks.iter().enumerate() {
                    w.append(i as u32, *min, *max, 1, bytes).expect("append");
                }
                w.cut().expect("cut");
            },
            BatchSize::PerIteration,
        )
    });
    let (mut w, _) =
        ChunkWriter::open(Arc::clone(&cdir), ChunkWriterOptions::default()).expect("open");
    let refs: Vec<ChunkRef> = chunks
        .iter()
        .enumerate()
        .map(|(i, (min, max, bytes))| w.append(i as u32, *min, *max, 1, bytes).expect("append"))
        .collect();
    w.flush().expect("flush");
    let reader = Arc::clone(w.reader());
    g.bench_function("read", |b| {
        b.iter(|| {
            refs.iter()
                .map(|r| reader.chunk(*r).expect("chunk").data().len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
