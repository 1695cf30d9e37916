//! `levee-loadgen`: serves one benchmark workload on 127.0.0.1 for a fixed
//! time, then exits and reports what it served and what it cost.
//!
//! ```text
//! levee-loadgen --workload storm --duration 3m --ready-file ready.json --report report.json
//! ```
//!
//! The ready file (written once every port is open) lists each target's
//! job and address; the report (written at exit) adds every tick's ground
//! truth, the requests and samples served and the generator's own CPU
//! seconds. See `docs/benchmarks.md`.

use clap::Parser;
use levee::config::Duration;
use levee::loadgen::{Loadgen, Workload, WorkloadKind, write_json_file};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve a benchmark workload on 127.0.0.1 (one port per target) for a
/// fixed time.
#[derive(Parser)]
#[command(name = "levee-loadgen", version, about, long_about = None)]
struct Cli {
    /// steady, storm or big.
    #[arg(long)]
    workload: WorkloadKind,
    /// How long to serve before exiting (Prometheus duration, e.g. 3m).
    #[arg(long, default_value = "3m")]
    duration: Duration,
    /// Time between ticks: bodies change (and the storm grows) once per tick.
    #[arg(long, default_value = "5s")]
    interval: Duration,
    /// steady: number of targets.
    #[arg(long, default_value_t = 50)]
    targets: u64,
    /// steady: series per target.
    #[arg(long, default_value_t = 2000)]
    series: u64,
    /// storm: new destination hosts per tick (25 series each).
    #[arg(long, default_value_t = 200)]
    hosts_per_tick: u64,
    /// storm: ticks each destination host stays in the body before it
    /// leaves (a sidecar with a metric expiry); 0: hosts stay for ever.
    #[arg(long, default_value_t = 0)]
    host_lifetime: u64,
    /// storm: ordinary targets beside the storm target.
    #[arg(long, default_value_t = 10)]
    innocent_targets: u64,
    /// storm: series per ordinary target.
    #[arg(long, default_value_t = 1000)]
    innocent_series: u64,
    /// big: series of the one target.
    #[arg(long, default_value_t = 1_000_000)]
    big_series: u64,
    /// Where to write the targets as JSON once every port is open.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Where to write the report as JSON at exit (also summarised on stderr).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Serialize)]
struct Ready<'a> {
    workload: &'a str,
    interval_seconds: f64,
    targets: Vec<ReadyTarget>,
}

#[derive(Serialize)]
struct ReadyTarget {
    job: String,
    address: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("levee-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("levee-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), levee::loadgen::LoadgenError> {
    let workload = match cli.workload {
        WorkloadKind::Steady => Workload::steady(cli.targets, cli.series),
        WorkloadKind::Storm => Workload::storm(
            cli.hosts_per_tick,
            cli.host_lifetime,
            cli.innocent_targets,
            cli.innocent_series,
        ),
        WorkloadKind::Big => Workload::big(cli.big_series),
    };
    let loadgen = Loadgen::bind(workload, cli.interval.as_std()).await?;
    if let Some(path) = &cli.ready_file {
        let ready = Ready {
            workload: cli.workload.as_str(),
            interval_seconds: cli.interval.as_std().as_secs_f64(),
            targets: loadgen
                .targets()
                .iter()
                .map(|(job, addr)| ReadyTarget {
                    job: (*job).to_string(),
                    address: addr.to_string(),
                })
                .collect(),
        };
        write_json_file(path, &ready)?;
    }
    eprintln!(
        "levee-loadgen: serving {} ({} targets) on 127.0.0.1 for {}",
        cli.workload,
        loadgen.targets().len(),
        cli.duration
    );
    let report = loadgen.run(cli.duration.as_std(), stop_signal()).await?;
    eprintln!(
        "levee-loadgen: {} ticks ({} late), {} requests, {} samples, {:.1} MiB served; \
         own CPU {:.2} s, peak RSS {:.0} MiB",
        report.ticks.len(),
        report.late_ticks,
        report.requests,
        report.samples_served,
        report.bytes_served as f64 / 1048576.0,
        report.cpu_seconds,
        report.peak_rss_bytes as f64 / 1048576.0
    );
    if let Some(path) = &cli.report {
        write_json_file(path, &report)?;
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM (never, if neither can be listened for).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
