//! Tests of the chunk files: a generic suite run over [`DiskDirectory`] and
//! [`MemDirectory`], crash tests on the in-memory directory, and the series
//! iterator.

mod crash;
mod iter;
mod props;
mod suite;

use std::sync::Arc;

use crate::tsdb::chunkenc::{Encoding, XorChunk};
use crate::tsdb::fs::Directory;

/// An XOR chunk of `n` samples starting at `t0`, 15 s apart.
pub(super) fn xor_chunk(t0: i64, n: usize, seed: u64) -> (i64, i64, Vec<u8>) {
    let mut c = XorChunk::new();
    for i in 0..n as i64 {
        let v = (seed as f64) * 0.5 + (i * i) as f64;
        c.append(t0 + i * 15_000, v).unwrap();
    }
    let (min, max) = c.time_range().unwrap();
    (min, max, c.bytes().to_vec())
}

pub(super) const XOR: u8 = Encoding::Xor as u8;

/// Replaces file `name` of `dir` by `f(bytes)`.
pub(super) fn rewrite(dir: &dyn Directory, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = dir.map(name).unwrap().to_vec();
    f(&mut bytes);
    let mut w = dir.create(name).unwrap();
    w.append(&bytes).unwrap();
    w.sync().unwrap();
}

/// Runs `case` over a fresh directory on disk and in memory.
pub(super) fn on_both(case: impl Fn(Arc<dyn Directory>)) {
    let tmp = tempfile::tempdir().unwrap();
    case(crate::tsdb::fs::DiskDirectory::open(tmp.path().join("chunks")).unwrap());
    case(crate::tsdb::fs::MemDirectory::new());
}
