//! Relabeling's integration tests (`levee::relabel`), one test binary: the
//! rule table, a proptest, and every case against a real Prometheus.

#[path = "../support/mod.rs"]
mod support;

mod prometheus;
mod proptests;
mod table;
