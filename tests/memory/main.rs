//! The heap tests, one test binary: it installs the counting global
//! allocator (`tests/support/counting_alloc.rs`), which no other test binary
//! has. Each test holds `counting_alloc::count_this_thread()` for its whole
//! run, so they measure one at a time and only their own thread's heap.

#[path = "../support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../support/mod.rs"]
mod support;

mod exposition_alloc;
mod guard;
mod guard_churn;
mod guard_samples;
mod guard_state_save;
mod labels;
mod tsdb_index;
