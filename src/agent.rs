//! The agent as a whole (`levee run`): loads the config, starts remote
//! write, the scrape manager and the web server, reloads on SIGHUP and shuts
//! down cleanly on SIGINT/SIGTERM. Also usable from a program or a test
//! through [`Agent::start`].

use crate::config::Config;
use crate::remote::RemoteWriter;
use crate::scrape::{Job, JobError, SampleSink, ScrapeManager};
use crate::selfmon::Registry;
use crate::web::{WebServer, WebState};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long shutdown waits for queued samples to be delivered.
pub const SHUTDOWN_FLUSH_DEADLINE: Duration = Duration::from_secs(30);

/// What `levee run` was asked to do.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The configuration file.
    pub config_path: PathBuf,
    /// levee's state directory.
    pub data_dir: PathBuf,
    /// The web server's listen address.
    pub listen: String,
}

/// Why the agent could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is invalid.
    #[error("{path}: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: crate::config::ConfigError,
    },
    /// A scrape job could not be compiled.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Remote write could not start.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// The web server could not start.
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    /// The data directory is unusable or in use.
    #[error("data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Installing signal handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Compiles every scrape job of `cfg` (relabel rules, clients).
pub fn compile_jobs(cfg: &Config) -> Result<Vec<Arc<Job>>, JobError> {
    cfg.scrape_configs
        .iter()
        .map(|sc| Job::compile(sc, &cfg.global).map(Arc::new))
        .collect()
}

/// A running agent.
pub struct Agent {
    opts: AgentOptions,
    registry: Registry,
    writer: RemoteWriter,
    manager: ScrapeManager,
    web: WebServer,
    _lock: std::fs::File,
    config: Config,
}

impl Agent {
    /// Loads the config and starts everything. Must run inside a tokio
    /// runtime.
    pub async fn start(opts: AgentOptions) -> Result<Agent, AgentError> {
        let config = load(&opts.config_path)?;
        let lock = lock_data_dir(&opts.data_dir)?;
        let jobs = compile_jobs(&config)?;
        let registry = Registry::new();
        register_build_info(&registry);

        let endpoints = crate::remote::endpoints_from_config(&config)?;
        let writer =
            RemoteWriter::start(endpoints, config.global.external_labels.clone(), &registry)?;
        let sink: Arc<dyn SampleSink> = Arc::new(writer.clone());
        let mut manager = ScrapeManager::new(sink, &registry);
        manager.apply(&jobs);

        let state = Arc::new(WebState {
            registry: registry.clone(),
            ready: Default::default(),
            targets: Some(manager.targets_view()),
        });
        let web = WebServer::start(&opts.listen, state.clone()).await?;
        state.ready.store(true, Ordering::Release);
        tracing::info!(
            listen = %web.local_addr(),
            config = %opts.config_path.display(),
            jobs = jobs.len(),
            targets = manager.target_count(),
            remote_write = config.remote_write.len(),
            "levee started"
        );
        Ok(Agent {
            opts,
            registry,
            writer,
            manager,
            web,
            _lock: lock,
            config,
        })
    }

    /// The web server's bound address.
    pub fn web_addr(&self) -> SocketAddr {
        self.web.local_addr()
    }

    /// The self-metrics registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Re-reads the config file and applies its scrape jobs: new targets
    /// start, removed ones stop with staleness markers, unchanged ones keep
    /// running. Changes to `remote_write` or `global.external_labels` are
    /// reported and take effect at the next start.
    pub fn reload(&mut self) -> Result<(), AgentError> {
        let config = load(&self.opts.config_path)?;
        let jobs = compile_jobs(&config)?;
        if config.remote_write != self.config.remote_write
            || config.global.external_labels != self.config.global.external_labels.clone()
        {
            tracing::warn!(
                "remote_write or external_labels changed: this takes effect at the next restart"
            );
        }
        self.manager.apply(&jobs);
        tracing::info!(
            targets = self.manager.target_count(),
            "configuration reloaded"
        );
        self.config = config;
        Ok(())
    }

    /// Stops scraping, flushes queued samples (up to
    /// [`SHUTDOWN_FLUSH_DEADLINE`]) and stops the web server.
    pub async fn shutdown(self) {
        self.manager.shutdown().await;
        self.writer.shutdown(SHUTDOWN_FLUSH_DEADLINE).await;
        self.web.stop().await;
        tracing::info!("levee stopped");
    }
}

/// `levee run`: start, reload on SIGHUP, stop on SIGINT or SIGTERM.
pub async fn run_until_signalled(opts: AgentOptions) -> Result<(), AgentError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(AgentError::Signals)?;
    let mut agent = Agent::start(opts).await?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                if let Err(e) = agent.reload() {
                    tracing::error!(error = %e, "reload failed; keeping the running configuration");
                }
            }
        }
    }
    tracing::info!("shutting down");
    agent.shutdown().await;
    Ok(())
}

fn load(path: &Path) -> Result<Config, AgentError> {
    Config::load_file(path).map_err(|source| AgentError::Config {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates the data directory and takes an exclusive lock on
/// `DIR/lock`, so two agents never write the same state.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, AgentError> {
    let err = |message: String| AgentError::DataDir {
        path: dir.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(|e| err(format!("cannot open lock file: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(err("in use by another levee process".into()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(err(format!("cannot lock: {e}"))),
    }
}

fn register_build_info(reg: &Registry) {
    let info = reg.gauge_vec(
        "levee_build_info",
        "Always 1; labelled with the levee version.",
        &["version"],
    );
    info.with(&[env!("CARGO_PKG_VERSION")]).set(1.0);
}
