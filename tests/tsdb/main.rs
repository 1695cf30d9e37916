//! The TSDB's integration tests (`levee::tsdb`), one test binary: the block,
//! index, WAL and checkpoint formats against committed fixtures, the
//! database's rules and a model-based proptest of it, and the crash tests
//! (`db_crash`, `wal_crash`), which run a test of this binary as a child
//! process and kill it.

#[path = "../support/mod.rs"]
mod support;

mod block_format;
mod db;
mod db_crash;
mod db_model;
mod format_compat;
mod index_format;
mod wal_crash;
