//! The `levee` command line: `levee run`, `levee check`, `levee cardinality`,
//! `levee --version`.
//! Everything it does is reachable from the library; this file only parses
//! arguments, sets up logging and maps results to exit codes.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// levee: a Prometheus-compatible metrics agent that keeps every target
/// within a series budget.
#[derive(Parser)]
#[command(name = "levee", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scrape the configured targets and remote-write what they serve.
    ///
    /// SIGINT/SIGTERM stop it cleanly (queued samples are flushed); SIGHUP
    /// reloads the scrape configuration.
    Run {
        /// Prometheus-style configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Directory for levee's TSDB (WAL, head chunks, blocks); locked so two
        /// agents never share it. Default: `storage.path` from the config, else `data`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Address of the HTTP server (/metrics, /-/healthy, /-/ready, /api/v1/targets).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9310")]
        listen: String,
        /// Accept remote write (1.0 and 2.0) at POST /api/v1/write, as
        /// Prometheus' flag of that name (a `receiver:` config section does too).
        #[arg(long = "web.enable-remote-write-receiver")]
        enable_remote_write_receiver: bool,
    },
    /// Validate a configuration file: prints what is wrong or unsupported and exits 1.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
    /// Show a running levee's series budgets: per target active series,
    /// budget, the labels with the most distinct values, and current folds.
    Cardinality {
        /// Base URL of the running levee.
        #[arg(long, default_value = "http://127.0.0.1:9310")]
        url: String,
        /// Labels listed per target.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

fn main() -> ExitCode {
    levee::agent::memory::pin_mmap_threshold();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file } => match levee::config::Config::load_file(&file) {
            Ok(cfg) => match levee::agent::compile_jobs(&cfg)
                .map_err(|e| e.to_string())
                .and_then(|jobs| {
                    levee::remote::endpoints_from_config(&cfg)
                        .map(|_| jobs)
                        .map_err(|e| e.to_string())
                }) {
                Ok(jobs) => {
                    println!(
                        "{}: OK ({} scrape jobs, {} remote_write endpoints)",
                        file.display(),
                        jobs.len(),
                        cfg.remote_write.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::FAILURE
            }
        },
        Command::Cardinality { url, limit } => {
            let report = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))
                .and_then(|rt| {
                    rt.block_on(levee::web::cardinality_report(&url, limit))
                        .map_err(|e| e.to_string())
                });
            match report {
                Ok(table) => {
                    print!("{table}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("levee cardinality: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            config,
            data_dir,
            listen,
            enable_remote_write_receiver,
        } => {
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = levee::agent::AgentOptions {
                config_path: config,
                data_dir,
                listen,
                enable_remote_write_receiver,
            };
            match runtime.block_on(levee::agent::run_until_signalled(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "levee stopped");
                    eprintln!("levee: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEVEE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
