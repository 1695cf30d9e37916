//! The configuration's integration tests (`levee::config`), one test binary:
//! loading and rejecting files, the guard section, and the same files
//! loaded by a real Prometheus.

#[path = "../support/mod.rs"]
mod support;

mod config;
mod guard;
mod prometheus;
