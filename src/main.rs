//! The `levee` command line: `levee run`, `levee check`, `levee cardinality`,
//! `levee --version`.
//! Everything it does is reachable from the library; this file only parses
//! arguments, sets up logging and maps results to exit codes.

use clap::{Args, Parser, Subcommand};
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
    /// reloads the configuration.
    Run(RunArgs),
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

/// The flags of `levee run`. Each of levee's own flags also answers to the
/// name Prometheus gives it, so a Prometheus agent's container arguments
/// (`--config.file=… --storage.agent.path=… --web.listen-address=:9090
/// --enable-feature=agent`) work unchanged; a Prometheus flag levee does
/// not have is refused by name (clap's "unexpected argument").
#[derive(Args, Debug)]
struct RunArgs {
    /// Prometheus-style configuration file.
    #[arg(long, value_name = "FILE", visible_alias = "config.file")]
    config: PathBuf,
    /// Directory for levee's TSDB (WAL, head chunks, blocks); locked so two
    /// agents never share it. Default: `storage.path` from the config, else `data`.
    #[arg(
        long,
        value_name = "DIR",
        visible_aliases = ["storage.agent.path", "storage.tsdb.path"]
    )]
    data_dir: Option<PathBuf>,
    /// Address of the HTTP server (/metrics, /-/healthy, /-/ready,
    /// /api/v1/targets). `:PORT` (Prometheus' form) listens on every IPv4
    /// interface.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9310",
        visible_alias = "web.listen-address"
    )]
    listen: String,
    /// Serve `POST`/`PUT /-/reload` and `/-/quit` (Prometheus'
    /// `--web.enable-lifecycle`); without it they answer 403.
    #[arg(long = "web.enable-lifecycle", visible_alias = "enable-lifecycle")]
    enable_lifecycle: bool,
    /// Prometheus' web configuration file: TLS and basic auth for the HTTP
    /// server (docs/configuration.md).
    #[arg(
        long = "web.config.file",
        value_name = "FILE",
        visible_alias = "web-config"
    )]
    web_config: Option<PathBuf>,
    /// Accept remote write (1.0 and 2.0) at POST /api/v1/write, as
    /// Prometheus' flag of that name (a `receiver:` config section does too).
    #[arg(long = "web.enable-remote-write-receiver")]
    enable_remote_write_receiver: bool,
    /// Prometheus feature flags (comma-separated, repeatable). Only `agent`
    /// is accepted: levee is always an agent, so it changes nothing.
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    enable_feature: Vec<String>,
}

/// A `--enable-feature` value levee does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "--enable-feature={0}: levee does not have this Prometheus feature (only `agent` is accepted)"
)]
struct UnknownFeature(String);

impl RunArgs {
    /// What the agent is asked to do.
    fn options(self) -> Result<levee::agent::AgentOptions, UnknownFeature> {
        if let Some(f) = self.enable_feature.iter().find(|f| f.as_str() != "agent") {
            return Err(UnknownFeature(f.clone()));
        }
        Ok(levee::agent::AgentOptions {
            config_path: self.config,
            data_dir: self.data_dir,
            listen: listen_address(&self.listen),
            enable_lifecycle: self.enable_lifecycle,
            web_config: self.web_config,
            enable_remote_write_receiver: self.enable_remote_write_receiver,
        })
    }
}

/// Go's `:PORT` (every interface) as an address tokio binds.
fn listen_address(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    }
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
        Command::Run(args) => {
            init_logging();
            let opts = match args.options() {
                Ok(opts) => opts,
                Err(e) => {
                    eprintln!("levee run: {e}");
                    return ExitCode::FAILURE;
                }
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["levee", "run"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Run(args) => args,
            _ => unreachable!("parsed as run"),
        })
    }

    #[test]
    fn prometheus_agent_container_args_parse_as_levees_own() {
        let args = run(&[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.agent.path=/data",
            "--web.listen-address=:9090",
            "--enable-feature=agent",
            "--web.enable-lifecycle",
            "--web.config.file=/etc/prometheus/web.yml",
        ])
        .expect("parses");
        let opts = args.options().expect("agent is accepted");
        assert_eq!(
            opts.config_path,
            PathBuf::from("/etc/prometheus/prometheus.yml")
        );
        assert_eq!(opts.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(opts.listen, "0.0.0.0:9090");
        assert!(opts.enable_lifecycle);
        assert_eq!(
            opts.web_config,
            Some(PathBuf::from("/etc/prometheus/web.yml"))
        );
        let tsdb = run(&["--config", "c.yml", "--storage.tsdb.path", "/prom"]).expect("parses");
        assert_eq!(tsdb.data_dir, Some(PathBuf::from("/prom")));
    }

    #[test]
    fn levees_own_flags_keep_working() {
        let opts = run(&[
            "--config",
            "c.yml",
            "--data-dir",
            "d",
            "--listen",
            "127.0.0.1:1",
        ])
        .expect("parses")
        .options()
        .expect("no features");
        assert_eq!(opts.config_path, PathBuf::from("c.yml"));
        assert_eq!(opts.data_dir, Some(PathBuf::from("d")));
        assert_eq!(opts.listen, "127.0.0.1:1");
        assert!(!opts.enable_lifecycle);
        assert_eq!(opts.web_config, None);
    }

    #[test]
    fn an_unknown_feature_or_prometheus_flag_is_refused_by_name() {
        let err = run(&["--config=c.yml", "--enable-feature=agent,exemplar-storage"])
            .expect("parses")
            .options()
            .expect_err("not a levee feature");
        assert!(err.to_string().contains("exemplar-storage"), "{err}");
        let err = run(&["--config=c.yml", "--storage.tsdb.retention.time=15d"])
            .expect_err("not a levee flag");
        assert!(
            err.to_string().contains("--storage.tsdb.retention.time"),
            "{err}"
        );
    }
}
