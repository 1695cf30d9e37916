//! Test harness shared by the test binaries (`tests/<area>/main.rs`): free
//! ports, temp dirs, child processes killed by PID on drop, handles for a
//! Prometheus receiver, a VictoriaMetrics receiver, a node_exporter target,
//! a fault-injecting proxy and a TSDB with remote write on its WAL, and
//! generated Istio-style label sets. Each
//! test binary uses a part of it.
//!
//! ```ignore
//! #[path = "../support/mod.rs"]
//! mod support;
//! let prom = support::Prometheus::start_receiver().await;
//! let proxy = support::FaultyProxy::start(Some(prom.url_write())).await;
//! ```
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]

mod faulty_proxy;
pub mod istio_index;
pub mod kube_api;
pub mod levee;
mod node_exporter;
mod process;
mod prometheus;
pub mod push;
pub mod remote_db;
pub mod storm;
pub mod targets;
mod victoria;
mod wait;
pub mod wal_db;

pub use faulty_proxy::{Fault, FaultyProxy, Seen};
pub use node_exporter::NodeExporter;
pub use process::{
    Child, ClosedPort, Listening, TestChild, require_binary, temp_dir, wait_http_ok,
    wait_http_ok_with,
};
pub use prometheus::Prometheus;
pub use prometheus::{PrometheusTls, parse_point, parse_value};
pub use victoria::{ExportedSeries, VictoriaMetrics};
pub use wait::wait_until;
