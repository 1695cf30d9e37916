//! Remote write's integration tests (`levee::remote`), one test binary:
//! delivery into a real Prometheus and VictoriaMetrics, TLS, the WAL-backed
//! queue (also across `kill -9`: `write_wal_crash` runs a test of this binary
//! as a child process), the wire format against Prometheus' own, and the
//! saved read position's format.

#[path = "../support/mod.rs"]
mod support;

mod position_compat;
mod write;
mod write_tls;
mod write_wal;
mod write_wal_crash;
mod write_wire_vs_prometheus;
