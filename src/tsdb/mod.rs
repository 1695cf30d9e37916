//! `levee::tsdb`: levee's embedded time-series database (memory-mapped
//! chunks, roaring postings, XOR chunks, WAL). Usable on its own.

pub mod block;
pub mod checkpoint;
pub mod chunkenc;
pub mod chunks;
pub mod db;
pub mod fs;
pub mod head;
pub mod index;
pub mod record;
pub mod value;
pub mod wal;

/// Capacity a reused encoding buffer may keep between uses.
const KEPT_BUFFER: usize = 1 << 20;

/// Lets a reused buffer go once it grew past [`KEPT_BUFFER`]: one big
/// commit (the first scrape of a large target, a burst of new series)
/// must not keep its buffers resident for good. Large blocks are mappings
/// of their own, so the memory goes back to the system at once.
pub(crate) fn release_if_large(buf: &mut Vec<u8>) {
    if buf.capacity() > KEPT_BUFFER {
        *buf = Vec::new();
    }
}
