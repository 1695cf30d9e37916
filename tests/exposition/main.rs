//! The exposition parser's integration tests (`levee::exposition`), one test
//! binary: the test vectors (also against a real Prometheus), streaming in
//! any chunks, and a proptest round trip.

#[path = "../support/mod.rs"]
mod support;

mod common;
mod prometheus;
mod roundtrip;
mod stream;
mod vectors;
