//! End-to-end tests, one test binary: the `levee` binary run as an operator
//! runs it (CLI, agent with storage, guard, restarts, metadata), against
//! real Prometheus, VictoriaMetrics and node_exporter peers, and checks of
//! the peer harness (`tests/support/`) itself.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod agent_storage;
mod cli;
mod deploy;
mod durable;
mod file_sd;
mod guard;
mod guard_restart;
mod harness;
mod kubernetes;
mod metadata;
mod receiver;
mod receiver_budget;
mod reload;
mod remote_write_v2;
mod web_tls;
