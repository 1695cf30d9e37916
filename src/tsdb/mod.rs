//! `levee::tsdb`: levee's embedded time-series database (memory-mapped
//! chunks, roaring postings, XOR chunks, WAL). Usable on its own.

pub mod index;
