//! WAL write and replay speed in samples/s, with the record encoding
//! included: batches of 1 000 samples (10 000 series, 15 s apart, node-like
//! values) are encoded as samples records and logged to a WAL on disk
//! (tempdir, 128 MiB segments, `SyncPolicy::Interval(1s)`), then replayed
//! and decoded. Also prints the WAL's bytes/sample.
//!
//! Run: `cargo bench --bench wal` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::record::{self, RefSample};
use levee::tsdb::wal::{SyncPolicy, Wal, WalOptions, WalReader};

const BATCH: usize = 1_000;
const BATCHES: usize = 100;

fn batches() -> Vec<Vec<RefSample>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..BATCHES)
        .map(|b| {
            (0..BATCH)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let series = ((b * BATCH + i) % 10_000) as u32;
                    let round = ((b * BATCH + i) / 10_000) as i64;
                    let v = match series % 4 {
                        0 => 1.0,
                        1 => (x % 10_000) as f64 / 100.0,
                        _ => (series as u64 * 1000 + round as u64 * (x % 100)) as f64,
                    };
                    RefSample {
                        series,
                        t: 1_700_000_000_000 + round * 15_000,
                        v,
                    }
                })
                .collect()
        })
        .collect()
}

fn opts() -> WalOptions {
    WalOptions {
        sync: SyncPolicy::Interval(Duration::from_secs(1)),
        ..WalOptions::default()
    }
}

fn write(dir: Arc<dyn Directory>, data: &[Vec<RefSample>], buf: &mut Vec<u8>) {
    let (mut wal, _) = Wal::open(dir, opts()).expect("open wal");
    for batch in data {
        buf.clear();
        record::encode_samples(batch, buf);
        wal.log(&[buf]).expect("log");
    }
    wal.close().expect("close");
}

fn bench(c: &mut Criterion) {
    let data = batches();
    let samples = (BATCH * BATCHES) as u64;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut buf = Vec::new();
    let mut group = c.benchmark_group("wal");
    group.throughput(Throughput::Elements(samples));
    let mut round = 0;
    group.bench_function("encode_and_log", |b| {
        b.iter(|| {
            round += 1;
            let dir = DiskDirectory::open(tmp.path().join(round.to_string())).expect("dir");
            write(dir, black_box(&data), &mut buf);
        })
    });
    let dir: Arc<dyn Directory> = DiskDirectory::open(tmp.path().join("replay")).expect("dir");
    write(Arc::clone(&dir), &data, &mut buf);
    let bytes: u64 = dir
        .list()
        .expect("list")
        .iter()
        .map(|n| dir.len(n).expect("len"))
        .sum();
    println!(
        "wal: {:.2} bytes/sample ({bytes} bytes for {samples} samples)",
        bytes as f64 / samples as f64
    );
    group.bench_function("replay_and_decode", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut r = WalReader::from_start(Arc::clone(&dir)).expect("reader");
            let mut n = 0;
            while let Some(rec) = r.next_record().expect("replay") {
                out.clear();
                record::decode_samples(rec, &mut out).expect("decode");
                n += out.len();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
