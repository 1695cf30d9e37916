//! Property tests: garbage and random edits never panic and never read back
//! an entry that was not written.

use std::sync::Arc;

use proptest::prelude::*;

use super::{XOR, xor_chunk};
use crate::tsdb::chunks::{
    ChunkReader, ChunkRef, ChunkWriter, ChunkWriterOptions, file_name, scan,
};
use crate::tsdb::fs::{Directory, MemDirectory};

/// A directory with one file of `n` valid entries; returns the entries.
fn valid_file(dir: &Arc<dyn Directory>, n: usize) -> Vec<(u32, i64, i64, Vec<u8>)> {
    let (mut w, _) = ChunkWriter::open(Arc::clone(dir), ChunkWriterOptions::default()).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let (min, max, data) = xor_chunk(i as i64 * 10_000_000, 1 + i * 7 % 50, i as u64);
        w.append(i as u32, min, max, XOR, &data).unwrap();
        out.push((i as u32, min, max, data));
    }
    w.close().unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn garbage_after_the_header_never_panics(body in prop::collection::vec(any::<u8>(), 0..600), refs in prop::collection::vec(any::<u32>(), 0..20)) {
        let dir: Arc<dyn Directory> = MemDirectory::new();
        let mut f = dir.create(&file_name(1)).unwrap();
        f.append(&crate::tsdb::chunks::format::header()).unwrap();
        f.append(&body).unwrap();
        drop(f);
        let _ = scan(&dir).unwrap().count();
        let reader = ChunkReader::new(Arc::clone(&dir));
        for r in refs {
            let _ = reader.chunk(ChunkRef::new(1, r));
        }
        if let Ok((mut w, _)) = ChunkWriter::open(Arc::clone(&dir), ChunkWriterOptions::default()) {
            let r = w.append(1, 0, 0, XOR, &[0, 0]).unwrap();
            w.flush().unwrap();
            prop_assert_eq!(w.reader().chunk(r).unwrap().series, 1);
        }
    }

    #[test]
    fn random_edits_never_read_back_a_foreign_entry(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let dir: Arc<dyn Directory> = MemDirectory::new();
        let written = valid_file(&dir, 8);
        let name = file_name(1);
        let mut bytes = dir.map(&name).unwrap().to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        dir.create(&name).unwrap().append(&bytes).unwrap();
        for entry in scan(&dir).unwrap() {
            let Ok(e) = entry else { break };
            let data = ChunkReader::new(Arc::clone(&dir)).chunk(e.chunk_ref).unwrap();
            let found = written.iter().any(|(s, min, max, d)| {
                (*s, *min, *max) == (e.series, e.min_time, e.max_time) && d[..] == *data.data()
            });
            prop_assert!(found, "entry at {} was never written", e.chunk_ref);
        }
    }
}
