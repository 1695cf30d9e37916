//! Crashes at every byte: whatever the in-memory directory keeps, reopening
//! repairs the tail and every synced chunk is read back exactly.

use std::sync::Arc;

use super::{XOR, xor_chunk};
use crate::tsdb::chunks::{ChunkWriter, ChunkWriterOptions, scan};
use crate::tsdb::fs::{Directory, MemDirectory};

#[test]
fn crash_at_every_byte_keeps_synced_chunks() {
    let chunks: Vec<_> = (0..6)
        .map(|i| xor_chunk(i * 10_000_000, 30, i as u64))
        .collect();
    let opts = ChunkWriterOptions {
        file_size: 400,
        buffer_size: 0,
    };
    // The bytes a full run writes.
    let total: u64 = {
        let dir = MemDirectory::new();
        let (mut w, _) = ChunkWriter::open(dir.clone(), opts.clone()).unwrap();
        for (i, (min, max, data)) in chunks.iter().enumerate() {
            w.append(i as u32, *min, *max, XOR, data).unwrap();
            w.sync().unwrap();
        }
        dir.list()
            .unwrap()
            .iter()
            .map(|n| dir.len(n).unwrap())
            .sum()
    };
    for budget in 0..=total {
        let dir = MemDirectory::new();
        dir.crash_after(budget);
        let mut acked = 0;
        if let Ok((mut w, _)) = ChunkWriter::open(dir.clone(), opts.clone()) {
            for (i, (min, max, data)) in chunks.iter().enumerate() {
                let ok = w
                    .append(i as u32, *min, *max, XOR, data)
                    .and_then(|_| w.sync());
                if ok.is_err() {
                    break;
                }
                acked += 1;
            }
        }
        let restarted: Arc<dyn Directory> = dir.snapshot();
        let (mut w, _) = ChunkWriter::open(Arc::clone(&restarted), opts.clone())
            .unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        let found: Vec<_> = scan(&restarted)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        assert!(
            found.len() >= acked,
            "budget {budget}: {} < {acked}",
            found.len()
        );
        for c in &found {
            let i = c.series as usize;
            let (min, max, data) = &chunks[i];
            assert_eq!((c.min_time, c.max_time), (*min, *max));
            assert_eq!(w.reader().chunk(c.chunk_ref).unwrap().data(), &data[..]);
        }
        // And the writer goes on.
        let r = w.append(99, 0, 1, XOR, &[0, 0]).unwrap();
        w.flush().unwrap();
        assert_eq!(w.reader().chunk(r).unwrap().series, 99);
    }
}

#[test]
fn a_full_disk_poisons_the_writer_and_reopening_repairs() {
    let dir = MemDirectory::new();
    let opts = ChunkWriterOptions {
        file_size: 1 << 20,
        buffer_size: 0,
    };
    let (mut w, _) = ChunkWriter::open(dir.clone(), opts.clone()).unwrap();
    let (min, max, data) = xor_chunk(0, 50, 1);
    let good: Vec<_> = (0..3)
        .map(|i| w.append(i, min, max, XOR, &data).unwrap())
        .collect();
    dir.set_write_budget(Some(10));
    assert!(matches!(
        w.append(3, min, max, XOR, &data),
        Err(crate::tsdb::chunks::ChunkFileError::Fs(_))
    ));
    dir.set_write_budget(None);
    assert!(matches!(
        w.append(4, min, max, XOR, &data),
        Err(crate::tsdb::chunks::ChunkFileError::Poisoned)
    ));
    drop(w);
    let (w, torn) = ChunkWriter::open(dir.clone(), opts.clone()).unwrap();
    assert!(matches!(
        torn,
        Some(crate::tsdb::chunks::ChunkFileError::TornTail { len: 10, .. })
    ));
    let found: Vec<_> = scan(&(dir.clone() as Arc<dyn Directory>))
        .unwrap()
        .map(|r| r.unwrap().chunk_ref)
        .collect();
    assert_eq!(found, good);
    drop(w);

    // A failed fsync poisons too.
    let (mut w, _) = ChunkWriter::open(dir.clone(), opts).unwrap();
    w.append(5, min, max, XOR, &data).unwrap();
    dir.set_fail_sync(true);
    assert!(w.sync().is_err());
    dir.set_fail_sync(false);
    assert!(matches!(
        w.append(6, min, max, XOR, &data),
        Err(crate::tsdb::chunks::ChunkFileError::Poisoned)
    ));
}

#[test]
fn a_failed_file_creation_is_retried_by_the_next_append() {
    let dir = MemDirectory::new();
    let opts = ChunkWriterOptions {
        file_size: 200,
        buffer_size: 0,
    };
    let (mut w, _) = ChunkWriter::open(dir.clone(), opts).unwrap();
    let (min, max, data) = xor_chunk(0, 50, 1);
    let first = w.append(0, min, max, XOR, &data).unwrap();
    // The next entry needs a new file; its header cannot be written.
    dir.set_write_budget(Some(3));
    assert!(w.append(1, min, max, XOR, &data).is_err());
    dir.set_write_budget(None);
    let second = w.append(2, min, max, XOR, &data).unwrap();
    assert_eq!(second.seq(), 2);
    w.flush().unwrap();
    let all: Vec<_> = scan(&(dir.clone() as Arc<dyn Directory>))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        all.iter()
            .map(|c| (c.series, c.chunk_ref))
            .collect::<Vec<_>>(),
        vec![(0, first), (2, second)]
    );
}
