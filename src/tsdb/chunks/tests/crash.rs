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
