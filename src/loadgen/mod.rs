//! The benchmark load generator behind `levee-loadgen`: serves the three
//! workloads of the side-by-side benchmark (`docs/benchmarks.md`) on
//! 127.0.0.1, one port per target, and reports what it served and what it
//! cost.
//!
//! - `steady`: a fleet of targets of counters, gauges and 10-bucket
//!   histograms (50 × 2,000 series by default), values moving every tick;
//! - `storm`: one Istio-style target adding new `destination_service` hosts
//!   every tick ([`crate::synth::IstioWorkload`]) beside ordinary targets;
//!   with a host lifetime, hosts also leave the body after that many ticks
//!   (a sidecar with a metric expiry), and the ground truth gives both the
//!   body's sums and the sums where a host that left keeps its last values;
//! - `big`: one target with a very large body (1,000,000 series).
//!
//! Bodies are built once per tick, ahead of the tick, on a thread of their
//! own, and every request of the tick gets the same shared bytes, so the
//! generator's cost does not grow with the number of scrapers.
//!
//! ```no_run
//! use levee::loadgen::{Loadgen, Workload};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), levee::loadgen::LoadgenError> {
//! let loadgen = Loadgen::bind(Workload::steady(50, 2000), Duration::from_secs(5)).await?;
//! for (job, addr) in loadgen.targets() {
//!     println!("{job} {addr}");
//! }
//! let report = loadgen.run(Duration::from_secs(60), std::future::pending()).await?;
//! println!("{} samples served", report.samples_served);
//! # Ok(()) }
//! ```

mod fleet;
mod report;
mod server;
mod workload;

pub use fleet::{FleetTarget, SERIES_PER_HISTOGRAM};
pub use report::{
    Report, TargetReport, TickReport, cpu_seconds_from_stat, peak_rss_bytes, process_cpu_seconds,
};
pub use server::Loadgen;
pub use workload::{JobSpec, TargetSpec, TickBodies, Workload, WorkloadKind};

use std::path::{Path, PathBuf};

/// What can go wrong while generating load.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A target's port could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The tick interval was zero.
    #[error("the tick interval must be above zero")]
    ZeroInterval,
    /// The tick thread could not be started.
    #[error("cannot start the tick thread: {0}")]
    Thread(std::io::Error),
    /// The tick thread panicked.
    #[error("the tick thread panicked")]
    ThreadPanicked,
    /// A report or ready file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes `value` as pretty JSON to `path` atomically (a temporary file in
/// the same directory, then a rename), so a reader polling for the file
/// never sees half of it.
pub fn write_json_file<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), LoadgenError> {
    let wrap = |source| LoadgenError::Write {
        path: path.to_owned(),
        source,
    };
    let text = serde_json::to_vec_pretty(value).map_err(|e| wrap(std::io::Error::other(e)))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(wrap)?;
    std::fs::rename(&tmp, path).map_err(wrap)
}
