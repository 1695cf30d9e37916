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
