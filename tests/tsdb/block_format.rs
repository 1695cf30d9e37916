//! Format compatibility of chunk files and blocks: committed version-1
//! files are read back, so a later levee keeps reading what this one wrote
//! (`docs/format/chunk-files.md`, `docs/format/block.md`).
//!
//! The fixtures under `tests/data/tsdb/` were written once by
//! `write_fixtures` below:
//!
//! ```text
//! LEVEE_WRITE_FIXTURES=1 cargo test --test tsdb block_format::write_fixtures -- --ignored
//! ```
//!
//! Never regenerate them to make a test pass: a format change gets a new
//! version and new fixtures beside these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee::labels::Labels;
use levee::tsdb::block::{Block, BlockWriter, ChunkInput};
use levee::tsdb::chunkenc::{Encoding, XorChunk};
use levee::tsdb::chunks::{
    ChunkReader, ChunkRef, ChunkSeriesIterator, ChunkWriter, ChunkWriterOptions, scan,
};
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::index::Matcher;
use levee::tsdb::value::STALE_NAN_BITS;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tsdb")
}

const T0: i64 = 1_700_000_000_000;

/// The fixture series: labels and samples as (t, value bits), three of
/// them, one spanning two chunks, stale markers and special values.
fn series() -> Vec<(Labels, Vec<(i64, u64)>)> {
    let up = Labels::from_pairs([
        ("__name__", "up"),
        ("instance", "localhost:9100"),
        ("job", "node"),
    ]);
    let load = Labels::from_pairs([
        ("__name__", "node_load1"),
        ("instance", "localhost:9100"),
        ("job", "node"),
    ]);
    let bytes = Labels::from_pairs([
        ("__name__", "node_network_receive_bytes_total"),
        ("device", "eth0"),
        ("job", "node"),
    ]);
    let mut up_s: Vec<(i64, u64)> = (0..130)
        .map(|i| (T0 + i * 15_000 + i % 3, 1f64.to_bits()))
        .collect();
    up_s.push((T0 + 130 * 15_000, STALE_NAN_BITS));
    let load_s = (0..40)
        .map(|i| (T0 + i * 15_000, ((i % 7) as f64 * 0.13).to_bits()))
        .chain([
            (T0 + 40 * 15_000, f64::NAN.to_bits()),
            (T0 + 41 * 15_000, (-0.0f64).to_bits()),
        ])
        .collect();
    let bytes_s = (0..25)
        .map(|i| (T0 + i * 15_000, (1e9 + (i * i * 1500) as f64).to_bits()))
        .collect();
    let mut all = vec![(up, up_s), (load, load_s), (bytes, bytes_s)];
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// XOR chunks of ≤ 120 samples: (min_time, max_time, bytes).
fn chunks_of(samples: &[(i64, u64)]) -> Vec<(i64, i64, Vec<u8>)> {
    samples
        .chunks(120)
        .map(|part| {
            let mut c = XorChunk::new();
            for &(t, v) in part {
                c.append(t, f64::from_bits(v)).unwrap();
            }
            (part[0].0, part[part.len() - 1].0, c.bytes().to_vec())
        })
        .collect()
}

/// The chunk file fixture: every chunk of every series, series id = index.
fn write_chunk_files(dir: Arc<dyn Directory>) {
    let (mut w, _) = ChunkWriter::open(dir, ChunkWriterOptions::default()).unwrap();
    for (i, (_, samples)) in series().iter().enumerate() {
        for (min, max, data) in chunks_of(samples) {
            w.append(i as u32 + 1, min, max, Encoding::Xor.into(), &data)
                .unwrap();
        }
    }
    w.close().unwrap();
}

/// The block fixture: the series in a block covering two hours from T0.
fn write_block(blocks: &Arc<dyn Directory>) {
    let mut w = BlockWriter::new(blocks, T0, T0 + 7_200_000).unwrap();
    for (labels, samples) in series() {
        let chunks = chunks_of(&samples);
        let inputs: Vec<ChunkInput<'_>> = chunks
            .iter()
            .map(|(min, max, data)| ChunkInput {
                min_time: *min,
                max_time: *max,
                encoding: Encoding::Xor.into(),
                data,
            })
            .collect();
        w.add_series(&labels, &inputs).unwrap();
    }
    w.finish().unwrap();
}

#[test]
#[ignore = "writes the committed fixtures; run once, by hand"]
fn write_fixtures() {
    if std::env::var_os("LEVEE_WRITE_FIXTURES").is_none() {
        return;
    }
    for name in ["chunk-files-v1", "block-v1"] {
        let p = data().join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    write_chunk_files(DiskDirectory::open(data().join("chunk-files-v1")).unwrap());
    let blocks: Arc<dyn Directory> = DiskDirectory::open(data().join("block-v1")).unwrap();
    write_block(&blocks);
}

#[test]
fn chunk_files_v1_fixture_reads_back() {
    let dir: Arc<dyn Directory> = DiskDirectory::open(data().join("chunk-files-v1")).unwrap();
    assert_eq!(dir.list().unwrap(), vec!["000001"]);
    let reader = ChunkReader::open_all(Arc::clone(&dir)).unwrap();
    let scanned: Vec<_> = scan(&dir).unwrap().collect::<Result<_, _>>().unwrap();
    let mut expect = Vec::new();
    for (i, (_, samples)) in series().iter().enumerate() {
        for c in chunks_of(samples) {
            expect.push((i as u32 + 1, c));
        }
    }
    assert_eq!(scanned.len(), expect.len());
    for (s, (series, (min, max, data))) in scanned.iter().zip(&expect) {
        assert_eq!(
            (s.series, s.min_time, s.max_time, s.encoding),
            (*series, *min, *max, 1)
        );
        let c = reader.chunk(s.chunk_ref).unwrap();
        assert_eq!(c.data(), &data[..]);
    }
    // The first entry starts right after the 8-byte header.
    assert_eq!(scanned[0].chunk_ref, ChunkRef::new(1, 8));
}

#[test]
fn block_v1_fixture_reads_back() {
    let blocks = DiskDirectory::open(data().join("block-v1")).unwrap();
    let names = blocks.list_dirs().unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    let block = Block::open(blocks.subdir(&names[0]).unwrap()).unwrap();
    let meta = block.meta();
    assert_eq!(meta.id.to_string(), names[0]);
    assert_eq!((meta.min_time, meta.max_time), (T0, T0 + 7_200_000));
    let model = series();
    let samples: usize = model.iter().map(|s| s.1.len()).sum();
    assert_eq!(meta.stats.num_series, 3);
    assert_eq!(meta.stats.num_chunks, 4);
    assert_eq!(meta.stats.num_samples, samples as u64);

    let got = block
        .select(i64::MIN, i64::MAX, &[Matcher::equal("job", "node")])
        .unwrap();
    assert_eq!(got.len(), 3);
    for (s, (labels, want)) in got.iter().zip(&model) {
        assert_eq!(&s.labels, labels);
        let chunks: Vec<_> = s
            .chunks
            .iter()
            .map(|c| block.chunk(ChunkRef(c.chunk_ref)).unwrap())
            .collect();
        let samples: Vec<(i64, u64)> = ChunkSeriesIterator::new(
            chunks.iter().map(|c| c.as_slice()).collect(),
            i64::MIN,
            i64::MAX,
        )
        .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect();
        assert_eq!(&samples, want);
    }
    assert_eq!(
        block.label_values("__name__", &[]).unwrap(),
        vec!["node_load1", "node_network_receive_bytes_total", "up"]
    );
    assert_eq!(
        block
            .label_names(&[Matcher::equal("__name__", "up")])
            .unwrap(),
        vec!["__name__", "instance", "job"]
    );
}

/// Until the format versions change, today's writers produce the committed
/// bytes exactly (all but `meta.json`, which holds a fresh id and time).
#[test]
fn current_writers_still_write_v1_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh: Arc<dyn Directory> = DiskDirectory::open(tmp.path().join("chunks")).unwrap();
    write_chunk_files(Arc::clone(&fresh));
    let fixture = DiskDirectory::open(data().join("chunk-files-v1")).unwrap();
    assert_eq!(
        &*fixture.map("000001").unwrap(),
        &*fresh.map("000001").unwrap()
    );

    let blocks: Arc<dyn Directory> = DiskDirectory::open(tmp.path().join("blocks")).unwrap();
    write_block(&blocks);
    let fresh = blocks.subdir(&blocks.list_dirs().unwrap()[0]).unwrap();
    let fixture_blocks = DiskDirectory::open(data().join("block-v1")).unwrap();
    let fixture = fixture_blocks
        .subdir(&fixture_blocks.list_dirs().unwrap()[0])
        .unwrap();
    assert_eq!(
        &*fixture.map("index").unwrap(),
        &*fresh.map("index").unwrap()
    );
    let (fc, nc) = (
        fixture.subdir("chunks").unwrap(),
        fresh.subdir("chunks").unwrap(),
    );
    assert_eq!(fc.list().unwrap(), nc.list().unwrap());
    for name in fc.list().unwrap() {
        assert_eq!(&*fc.map(&name).unwrap(), &*nc.map(&name).unwrap(), "{name}");
    }
}
