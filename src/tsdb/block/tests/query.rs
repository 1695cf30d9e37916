//! Writing a block and querying it against the model, bit for bit.

use std::sync::Arc;

use super::{BASE, ModelSeries, Rng, SPAN, model, on_both, write_block};
use crate::tsdb::block::{Block, BlockError, BlockWriter, ChunkInput, open_all};
use crate::tsdb::chunkenc::XorChunk;
use crate::tsdb::chunks::{ChunkRef, ChunkSeriesIterator};
use crate::tsdb::fs::{Directory, MemDirectory};
use crate::tsdb::index::Matcher;

/// Samples of `block`'s series matching `matchers` in `[mint, maxt]`.
fn query(block: &Block, mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<ModelSeries> {
    let mut out = Vec::new();
    for s in block.select(mint, maxt, matchers).unwrap() {
        let chunks: Vec<_> = s
            .chunks
            .iter()
            .map(|c| block.chunk(ChunkRef(c.chunk_ref)).unwrap())
            .collect();
        for (meta, data) in s.chunks.iter().zip(&chunks) {
            assert_eq!(
                (meta.min_time, meta.max_time),
                (data.min_time, data.max_time)
            );
        }
        let samples: Vec<(i64, u64)> =
            ChunkSeriesIterator::new(chunks.iter().map(|c| c.as_slice()).collect(), mint, maxt)
                .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
                .collect();
        out.push((s.labels, samples));
    }
    out
}

fn expected(model: &[ModelSeries], mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<ModelSeries> {
    model
        .iter()
        .filter(|(l, _)| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(m.name()).unwrap_or("")))
        })
        .map(|(l, s)| {
            let within: Vec<_> = s
                .iter()
                .copied()
                .filter(|p| p.0 >= mint && p.0 <= maxt)
                .collect();
            (l.clone(), within)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn matcher_sets() -> Vec<Vec<Matcher>> {
    vec![
        vec![],
        vec![Matcher::equal("job", "api")],
        vec![
            Matcher::equal("__name__", "metric_3"),
            Matcher::not_equal("job", "db"),
        ],
        vec![Matcher::regex("instance", "host-0[0-4].").unwrap()],
        vec![
            Matcher::not_regex("job", "node|api").unwrap(),
            Matcher::regex("__name__", "metric_[12]").unwrap(),
        ],
        vec![Matcher::equal("job", "nope")],
        vec![Matcher::equal("absent", "")],
    ]
}

#[test]
fn written_block_reads_back_exactly_on_disk_and_in_memory() {
    let model = model(120, 1);
    on_both(|dir| {
        let meta = write_block(&dir, &model, 16 << 10);
        let samples: usize = model.iter().map(|s| s.1.len()).sum();
        let chunks: usize = model.iter().map(|s| s.1.len().div_ceil(120)).sum();
        assert_eq!(meta.stats.num_series, 120);
        assert_eq!(meta.stats.num_samples, samples as u64);
        assert_eq!(meta.stats.num_chunks, chunks as u64);
        assert!(meta.chunk_files.len() > 2, "tiny files make several");
        assert_eq!(dir.list_dirs().unwrap(), vec![meta.id.to_string()]);

        let opened = open_all(&dir).unwrap();
        assert!(opened.failed.is_empty() && opened.removed_tmp.is_empty());
        let block = &opened.blocks[0];
        assert_eq!(block.meta(), &meta);
        assert_eq!(
            block.size_bytes(),
            meta.data_bytes()
                + dir
                    .subdir(&meta.id.to_string())
                    .unwrap()
                    .len("meta.json")
                    .unwrap()
        );

        let mut rng = Rng::new(9);
        let mut ranges = vec![
            (i64::MIN, i64::MAX),
            (BASE, BASE),
            (BASE + SPAN, i64::MAX),
            (0, BASE - 1),
        ];
        for _ in 0..20 {
            let a = BASE - 10_000 + rng.below(SPAN as u64 + 20_000) as i64;
            let b = a + rng.below(SPAN as u64 / 3) as i64;
            ranges.push((a, b));
        }
        for matchers in matcher_sets() {
            for &(mint, maxt) in &ranges {
                assert_eq!(
                    query(block, mint, maxt, &matchers),
                    expected(&model, mint, maxt, &matchers),
                    "{matchers:?} [{mint}, {maxt}]"
                );
            }
        }
    });
}

#[test]
fn label_names_and_values_follow_matchers() {
    let model = model(60, 2);
    let dir: Arc<dyn Directory> = MemDirectory::new();
    write_block(&dir, &model, 1 << 20);
    let block = &open_all(&dir).unwrap().blocks[0];
    assert_eq!(
        block.label_names(&[]).unwrap(),
        vec!["__name__", "instance", "job"]
    );
    assert_eq!(
        block.label_values("job", &[]).unwrap(),
        vec!["api", "db", "node"]
    );
    assert!(block.label_values("nope", &[]).unwrap().is_empty());
    for matchers in matcher_sets() {
        let sel = expected(&model, i64::MIN, i64::MAX, &matchers);
        let mut names: Vec<String> = sel
            .iter()
            .flat_map(|(l, _)| l.iter().map(|p| p.name.to_owned()))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(block.label_names(&matchers).unwrap(), names, "{matchers:?}");
        for name in ["job", "instance", "__name__", "absent"] {
            let mut values: Vec<String> = sel
                .iter()
                .filter_map(|(l, _)| l.get(name).map(str::to_owned))
                .collect();
            values.sort();
            values.dedup();
            assert_eq!(
                block.label_values(name, &matchers).unwrap(),
                values,
                "{name} {matchers:?}"
            );
        }
    }
}

#[test]
fn writer_refuses_bad_series_and_chunks_without_spoiling_the_block() {
    let dir: Arc<dyn Directory> = MemDirectory::new();
    assert!(matches!(
        BlockWriter::new(&dir, 10, 10),
        Err(BlockError::BadRange { .. })
    ));
    let mut w = BlockWriter::new(&dir, 1_000, 2_000).unwrap();
    let mut c = XorChunk::new();
    c.append(1_100, 1.0).unwrap();
    c.append(1_200, 2.0).unwrap();
    let good = ChunkInput {
        min_time: 1_100,
        max_time: 1_200,
        encoding: 1,
        data: c.bytes(),
    };
    let l = |v: &str| crate::labels::Labels::from_pairs([("a", v)]);
    w.add_series(&l("2"), &[good]).unwrap();
    let bad_chunk = |w: &mut BlockWriter, c: ChunkInput<'_>| w.add_series(&l("3"), &[c]);
    assert!(matches!(
        w.add_series(&l("1"), &[good]),
        Err(BlockError::OutOfOrder { .. })
    ));
    assert!(matches!(
        w.add_series(&l("2"), &[good]),
        Err(BlockError::OutOfOrder { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                max_time: 2_000,
                ..good
            }
        ),
        Err(BlockError::BadChunk { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                min_time: 999,
                ..good
            }
        ),
        Err(BlockError::BadChunk { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                min_time: 1_300,
                ..good
            }
        ),
        Err(BlockError::BadChunk { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                encoding: 7,
                ..good
            }
        ),
        Err(BlockError::BadChunkData { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                data: &[0, 0],
                ..good
            }
        ),
        Err(BlockError::BadChunk { .. })
    ));
    assert!(matches!(
        bad_chunk(
            &mut w,
            ChunkInput {
                data: &[0xFF, 0],
                ..good
            }
        ),
        Err(BlockError::BadChunkData { .. })
    ));
    assert!(matches!(
        w.add_series(&l("3"), &[good, good]),
        Err(BlockError::BadChunk { index: 1, .. })
    ));
    // A series without chunks is skipped; the refusals wrote nothing.
    w.add_series(&l("4"), &[]).unwrap();
    w.add_series(&l("5"), &[good]).unwrap();
    let meta = w.finish().unwrap();
    assert_eq!(
        (
            meta.stats.num_series,
            meta.stats.num_chunks,
            meta.stats.num_samples
        ),
        (2, 2, 4)
    );
    let block = &open_all(&dir).unwrap().blocks[0];
    let all = block.select(i64::MIN, i64::MAX, &[]).unwrap();
    assert_eq!(
        all.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
        vec![l("2"), l("5")]
    );
}

#[test]
fn empty_block_opens_and_selects_nothing() {
    let dir: Arc<dyn Directory> = MemDirectory::new();
    let meta = BlockWriter::new(&dir, 0, 10).unwrap().finish().unwrap();
    assert_eq!(meta.stats.num_series, 0);
    let block = &open_all(&dir).unwrap().blocks[0];
    assert!(block.select(i64::MIN, i64::MAX, &[]).unwrap().is_empty());
    assert!(block.label_names(&[]).unwrap().is_empty());
}
