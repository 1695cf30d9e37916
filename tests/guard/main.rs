//! The series guard's integration tests (`levee::guard`), one test binary:
//! folding an Istio-style target, a proptest of the merge rules, and the
//! saved state's format and size.

mod istio;
mod merge_proptest;
mod scraper;
mod state_compat;
mod state_size;
