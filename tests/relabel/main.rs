//! Relabeling's integration tests (`levee::relabel`), one test binary: the
//! rule table, a proptest, and every case against a real Prometheus.

mod prometheus;
mod proptests;
mod table;
