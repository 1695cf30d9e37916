//! Crash atomicity, temporary directories, deletion under readers, and
//! retention.

use std::sync::Arc;

use super::{BASE, ModelSeries, SPAN, encode, model, on_both, write_block, write_block_range};
use crate::tsdb::block::{
    Block, BlockError, BlockId, BlockWriter, ChunkInput, Retention, beyond_size_retention,
    beyond_time_retention, blocks_beyond_retention, delete_block, open_all,
};
use crate::tsdb::chunks::{ChunkRef, ChunkSeriesIterator};
use crate::tsdb::fs::{Directory, MemDirectory};

/// Every series of `block` with all its samples.
fn read_all(block: &Block) -> Vec<ModelSeries> {
    block
        .select(i64::MIN, i64::MAX, &[])
        .unwrap()
        .into_iter()
        .map(|s| {
            let chunks: Vec<_> = s
                .chunks
                .iter()
                .map(|c| block.chunk(ChunkRef(c.chunk_ref)).unwrap())
                .collect();
            let samples = ChunkSeriesIterator::new(
                chunks.iter().map(|c| c.as_slice()).collect(),
                i64::MIN,
                i64::MAX,
            )
            .map(|r| r.map(|(t, v)| (t, v.to_bits())).unwrap())
            .collect();
            (s.labels, samples)
        })
        .collect()
}

#[test]
fn a_crash_while_writing_leaves_no_block_or_a_whole_one() {
    let model = model(4, 3);
    let full = MemDirectory::new();
    let full_dir: Arc<dyn Directory> = full.clone();
    write_block(&full_dir, &model, 600);
    let id = full_dir.list_dirs().unwrap()[0].clone();
    let block_dir = full_dir.subdir(&id).unwrap();
    let mut total = block_dir
        .list()
        .unwrap()
        .iter()
        .map(|n| block_dir.len(n).unwrap())
        .sum::<u64>();
    let chunks = block_dir.subdir("chunks").unwrap();
    total += chunks
        .list()
        .unwrap()
        .iter()
        .map(|n| chunks.len(n).unwrap())
        .sum::<u64>();

    let (mut none, mut whole) = (0, 0);
    let step = (total / 300).max(1);
    for budget in (0..=total).step_by(step as usize).chain([total, total + 1]) {
        let mem = MemDirectory::new();
        mem.crash_after(budget);
        let dir: Arc<dyn Directory> = mem.clone();
        let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut w = BlockWriter::with_options(
                &dir,
                BASE,
                BASE + SPAN,
                crate::tsdb::chunks::ChunkWriterOptions {
                    file_size: 600,
                    buffer_size: 0,
                },
            )?;
            for (labels, samples) in &model {
                let enc = encode(samples);
                let inputs: Vec<ChunkInput<'_>> = enc
                    .iter()
                    .map(|(min, max, data)| ChunkInput {
                        min_time: *min,
                        max_time: *max,
                        encoding: 1,
                        data,
                    })
                    .collect();
                w.add_series(labels, &inputs)?;
            }
            w.finish().map(|_| ())
        }))
        .unwrap_or_else(|_| panic!("budget {budget}: the writer panicked"));
        let restarted: Arc<dyn Directory> = mem.snapshot();
        let opened = open_all(&restarted).unwrap();
        assert!(
            opened.failed.is_empty(),
            "budget {budget}: {:?}",
            opened.failed
        );
        assert!(
            restarted
                .list_dirs()
                .unwrap()
                .iter()
                .all(|d| !d.ends_with(".tmp"))
        );
        match opened.blocks.len() {
            0 => {
                assert!(finished.is_err(), "budget {budget}: finished but no block");
                none += 1;
            }
            1 => {
                assert_eq!(read_all(&opened.blocks[0]), model, "budget {budget}");
                whole += 1;
            }
            n => panic!("budget {budget}: {n} blocks"),
        }
    }
    assert!(none > 0 && whole > 0, "none {none}, whole {whole}");
}

#[test]
fn temporary_directories_are_removed_and_other_names_ignored() {
    on_both(|dir| {
        let model = model(3, 4);
        write_block(&dir, &model, 1 << 20);
        // An unfinished write, dropped: removed by the writer itself.
        let mut w = BlockWriter::new(&dir, BASE, BASE + SPAN).unwrap();
        let enc = encode(&model[0].1);
        let c = &enc[0];
        w.add_series(
            &model[0].0,
            &[ChunkInput {
                min_time: c.0,
                max_time: c.1,
                encoding: 1,
                data: &c.2,
            }],
        )
        .unwrap();
        drop(w);
        assert_eq!(dir.list_dirs().unwrap().len(), 1);
        // Aborted: removed.
        BlockWriter::new(&dir, BASE, BASE + SPAN)
            .unwrap()
            .abort()
            .unwrap();
        assert_eq!(dir.list_dirs().unwrap().len(), 1);
        // Left by a crash: removed by open_all.
        dir.subdir("01JDZ8Q4R6KX3M0N1P2Q3R4S5T.tmp")
            .unwrap()
            .create("index")
            .unwrap();
        dir.subdir("01JDZ8Q4R6KX3M0N1P2Q3R4S5T.delete.tmp").unwrap();
        dir.subdir("wal").unwrap().create("00000000").unwrap();
        dir.subdir("01jdz8q4r6kx3m0n1p2q3r4s5t").unwrap();
        let opened = open_all(&dir).unwrap();
        assert_eq!(opened.blocks.len(), 1);
        assert_eq!(opened.removed_tmp.len(), 2);
        assert!(opened.failed.is_empty());
        assert_eq!(
            dir.list_dirs().unwrap().len(),
            3,
            "the block, wal/, the lower-case name"
        );
    });
}

#[test]
fn deleting_a_block_while_a_reader_iterates_is_safe() {
    let model = model(40, 5);
    on_both(|dir| {
        write_block(&dir, &model, 4 << 10);
        let block = Arc::clone(&open_all(&dir).unwrap().blocks[0]);
        let series = block.select(i64::MIN, i64::MAX, &[]).unwrap();
        // A reader in the middle of the first series...
        let first: Vec<_> = series[0]
            .chunks
            .iter()
            .map(|c| block.chunk(ChunkRef(c.chunk_ref)).unwrap())
            .collect();
        let mut it = ChunkSeriesIterator::new(
            first.iter().map(|c| c.as_slice()).collect(),
            i64::MIN,
            i64::MAX,
        );
        let head: Vec<_> = it.by_ref().take(3).map(|r| r.unwrap()).collect();
        // ...while retention deletes the block.
        delete_block(&dir, block.id()).unwrap();
        assert!(dir.list_dirs().unwrap().is_empty());
        assert!(open_all(&dir).unwrap().blocks.is_empty());
        let rest: Vec<_> = it.map(|r| r.unwrap()).collect();
        let got: Vec<(i64, u64)> = head
            .iter()
            .chain(&rest)
            .map(|&(t, v)| (t, v.to_bits()))
            .collect();
        assert_eq!(got, model[0].1);
        // New reads through the held block still see every series.
        assert_eq!(read_all(&block), model);
        assert!(matches!(
            delete_block(&dir, block.id()),
            Err(BlockError::NoSuchBlock { .. })
        ));
    });
}

#[test]
fn blocks_open_sorted_by_time_and_retention_picks_the_oldest() {
    let dir: Arc<dyn Directory> = MemDirectory::new();
    let m = model(3, 6);
    // Four blocks, written out of order, each holding the model shifted.
    let mut ids = Vec::new();
    for k in [2i64, 0, 3, 1] {
        let shifted: Vec<ModelSeries> = m
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().map(|&(t, v)| (t + k * SPAN, v)).collect(),
                )
            })
            .collect();
        let meta = write_block_range(
            &dir,
            &shifted,
            1 << 20,
            BASE + k * SPAN,
            BASE + (k + 1) * SPAN,
        );
        ids.push((k, meta.id));
    }
    ids.sort();
    let ids: Vec<BlockId> = ids.into_iter().map(|(_, id)| id).collect();
    let blocks = open_all(&dir).unwrap().blocks;
    assert_eq!(blocks.iter().map(|b| b.id()).collect::<Vec<_>>(), ids);

    // By time, from the newest block's end: a block whose end is at least
    // the retention before it goes.
    assert_eq!(beyond_time_retention(&blocks, 2 * SPAN), ids[..2].to_vec());
    assert_eq!(
        beyond_time_retention(&blocks, 2 * SPAN + 1),
        ids[..1].to_vec()
    );
    assert!(beyond_time_retention(&blocks, i64::MAX).is_empty());
    // The newest block is never deleted by time.
    assert_eq!(beyond_time_retention(&blocks, 0), ids[..3].to_vec());

    // By size: keep the newest blocks that fit, counting other bytes.
    let size = |i: usize| blocks[i].size_bytes();
    let newest_two = size(2) + size(3);
    assert_eq!(
        beyond_size_retention(&blocks, newest_two, 0),
        ids[..2].to_vec()
    );
    assert_eq!(
        beyond_size_retention(&blocks, newest_two, 1),
        ids[..3].to_vec()
    );
    assert!(beyond_size_retention(&blocks, u64::MAX, 0).is_empty());
    assert_eq!(beyond_size_retention(&blocks, 0, 0), ids);

    let both = Retention {
        time_ms: Some(3 * SPAN),
        size_bytes: Some(newest_two + size(1)),
    };
    assert_eq!(blocks_beyond_retention(&blocks, both, 0), ids[..1].to_vec());
    let both = Retention {
        time_ms: Some(SPAN),
        size_bytes: Some(u64::MAX),
    };
    assert_eq!(blocks_beyond_retention(&blocks, both, 0), ids[..3].to_vec());
    assert!(blocks_beyond_retention(&blocks, Retention::default(), 0).is_empty());
    for id in blocks_beyond_retention(&blocks, both, 0) {
        delete_block(&dir, id).unwrap();
    }
    assert_eq!(
        open_all(&dir)
            .unwrap()
            .blocks
            .iter()
            .map(|b| b.id())
            .collect::<Vec<_>>(),
        ids[3..].to_vec()
    );
}

#[test]
fn blocks_and_chunk_readers_are_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Block>();
    shared::<crate::tsdb::chunks::ChunkReader>();
    let model = model(20, 10);
    let dir: Arc<dyn Directory> = MemDirectory::new();
    write_block(&dir, &model, 2 << 10);
    let block = Arc::clone(&open_all(&dir).unwrap().blocks[0]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let block = Arc::clone(&block);
            std::thread::spawn(move || read_all(&block))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), model);
    }
}
