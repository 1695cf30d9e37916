//! The agent as a whole (`levee run`): loads the config, starts remote
//! write, the scrape manager, the remote-write receiver (when enabled) and
//! the web server, reloads on SIGHUP or `/-/reload` (one code path,
//! [`Agent::reload`]) and shuts down cleanly on SIGINT/SIGTERM or
//! `/-/quit`. Also usable from a program or a test
//! through [`Agent::start`].

pub mod guard_state;
pub mod memory;
pub mod process;
pub mod storage;

use crate::config::Config;
use crate::pipeline::Sinks;
use crate::remote::RemoteWriter;
use crate::scrape::{Job, JobError, ScrapeManager};
use crate::selfmon::Registry;
use crate::web::lifecycle::LifecycleRequest;
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
    /// levee's state directory (the TSDB); `None`: `storage.path` from the
    /// config, else `data`.
    pub data_dir: Option<PathBuf>,
    /// The web server's listen address.
    pub listen: String,
    /// `--web.enable-remote-write-receiver`: serve `POST /api/v1/write`
    /// (with the `receiver:` section's limits, else the defaults). A
    /// `receiver:` section turns it on without the flag.
    pub enable_remote_write_receiver: bool,
    /// Serve `/-/reload` and `/-/quit` (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// Prometheus' web configuration file (`--web.config.file`): TLS and
    /// basic auth of the web server.
    pub web_config: Option<PathBuf>,
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
    /// The remote-write receiver could not be built.
    #[error(transparent)]
    Receiver(#[from] crate::receiver::ReceiverError),
    /// The web config file (`--web.config.file`) is unusable.
    #[error(transparent)]
    WebConfig(#[from] crate::web::web_config::WebConfigError),
    /// The data directory cannot be created.
    #[error("data directory {path}: cannot create: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A directory of the agent's state under the data directory (remote
    /// write positions, guard state) cannot be opened.
    #[error("data directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: crate::tsdb::fs::FsError,
    },
    /// Opening the TSDB panicked.
    #[error("data directory {path}: opening the TSDB panicked: {source}")]
    StoragePanicked {
        /// The directory.
        path: PathBuf,
        /// The panic, as the blocking task reports it.
        source: tokio::task::JoinError,
    },
    /// The TSDB could not open.
    #[error("data directory {path}: {source}")]
    Storage {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: crate::tsdb::db::DbError,
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
    db: Arc<crate::tsdb::db::Db>,
    maintenance: tokio::task::JoinHandle<()>,
    stop_maintenance: tokio::sync::watch::Sender<bool>,
    guard_saver: tokio::task::JoinHandle<guard_state::Saver>,
    stop_guard_saver: tokio::sync::watch::Sender<bool>,
    config: Config,
    reloads: ReloadMetrics,
    lifecycle: Option<tokio::sync::mpsc::Receiver<LifecycleRequest>>,
}

/// `levee_config_last_reload_*`: Prometheus' reload gauges with levee's
/// prefix. The start counts as the first successful load.
struct ReloadMetrics {
    successful: Arc<crate::selfmon::Gauge>,
    success_timestamp: Arc<crate::selfmon::Gauge>,
}

impl ReloadMetrics {
    fn register(reg: &Registry) -> ReloadMetrics {
        let m = ReloadMetrics {
            successful: reg.gauge(
                "levee_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful (1) or not (0).",
            ),
            success_timestamp: reg.gauge(
                "levee_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload (or of the start).",
            ),
        };
        m.record(true);
        m
    }

    fn record(&self, ok: bool) {
        self.successful.set(if ok { 1.0 } else { 0.0 });
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.success_timestamp.set(now.as_secs_f64());
        }
    }
}

impl Agent {
    /// Loads the config and starts everything. Must run inside a tokio
    /// runtime.
    pub async fn start(opts: AgentOptions) -> Result<Agent, AgentError> {
        let config = load(&opts.config_path)?;
        let web_config = match &opts.web_config {
            Some(path) => Some(Arc::new(crate::web::web_config::WebConfigSource::open(
                path,
            )?)),
            None => None,
        };
        let data_dir = data_dir(&opts, &config);
        let jobs = compile_jobs(&config)?;
        let registry = Registry::new();
        register_build_info(&registry);
        process::register(&registry);

        let db = open_storage(&data_dir, &config.storage).await?;
        let tsdb_sink = Arc::new(storage::TsdbSink::new(Arc::clone(&db)));
        storage::register_metrics(&registry, &db, &tsdb_sink);
        let (stop_maintenance, stop_rx) = tokio::sync::watch::channel(false);
        let sync_every = match config.storage.wal_sync {
            crate::config::WalSync::Interval(d) => Some(d.as_std()),
            _ => None,
        };

        // Remote write tails the WAL; its endpoints pin the segments they
        // need before the database may delete any (only compaction does).
        let endpoints = crate::remote::endpoints_from_config(&config)?;
        let watch = crate::remote::wal::WalWatch::new();
        let pins = crate::remote::wal::WalPins::new(storage::wal_cap(&config.storage));
        let positions_dir = crate::tsdb::fs::DiskDirectory::open(data_dir.join("remote_write"))
            .map_err(|source| AgentError::StateDir {
                path: data_dir.join("remote_write"),
                source,
            })?;
        let writer = RemoteWriter::start_wal(
            endpoints,
            config.global.external_labels.clone(),
            &registry,
            crate::remote::wal::WalQueue {
                wal_dir: Arc::clone(db.wal_dir()),
                positions_dir,
                watch: Arc::clone(&watch),
                pins: Arc::clone(&pins),
                options: crate::remote::wal::WalSourceOptions {
                    segment_size: config.storage.wal_segment_size.0,
                    ..Default::default()
                },
            },
        )?;
        db.set_wal_observer(Arc::new(storage::RemoteWalObserver { watch, pins }));
        let maintenance = tokio::spawn(storage::maintain(
            Arc::clone(&db),
            sync_every,
            stop_rx.clone(),
        ));
        // Stops with the maintenance task.
        tokio::spawn(memory::Trimmer::new(&registry).run(stop_rx.clone()));
        // Samples go to the TSDB (remote write reads them from its WAL);
        // metadata goes to remote write directly.
        let sinks = Sinks::samples(tsdb_sink).with_metadata(Arc::new(writer.clone()));
        let mut manager = ScrapeManager::new(sinks.clone(), &registry);
        let receiver = receiver_config(&opts, &config)
            .map(|cfg| {
                // Sources share the whole-agent ceiling with the targets.
                let sources =
                    crate::guard::SourceGuards::new(cfg.guard.policy(), Some(manager.ceiling()))
                        .with_metrics(Arc::new(crate::guard::SourceMetrics::new(&registry)));
                crate::receiver::Receiver::new(cfg, sinks, &registry, Arc::new(sources))
                    .map(Arc::new)
            })
            .transpose()?;
        if let Some(r) = &receiver {
            // Folded series of pushed data, once per fold interval; stops
            // with the maintenance task.
            tokio::spawn(Arc::clone(r).run_folds(stop_rx));
        }
        // Guard state saved before the restart goes to the targets' new
        // loops before their first scrape.
        let guard_dir: Arc<dyn crate::tsdb::fs::Directory> = crate::tsdb::fs::DiskDirectory::open(
            data_dir.join(guard_state::GUARD_DIR),
        )
        .map_err(|source| AgentError::StateDir {
            path: data_dir.join(guard_state::GUARD_DIR),
            source,
        })?;
        let restored = {
            let dir = Arc::clone(&guard_dir);
            tokio::task::spawn_blocking(move || guard_state::load(&*dir))
                .await
                .unwrap_or_default()
        };
        if let Some(r) = &receiver {
            match r.sources().restore_all(&restored) {
                Ok(n) if n > 0 => {
                    tracing::info!(sources = n, "remote-write sources' budgets restored")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "remote-write sources' budgets not restored; they start empty")
                }
            }
        }
        manager.restore_guards(restored);
        manager.apply(&jobs);
        let saver = guard_state::Saver::new(
            guard_dir,
            manager.guard_states(),
            &registry,
            config.guard.state_save_interval.as_std(),
        )
        .with_sources(receiver.as_ref().map(|r| Arc::clone(r.sources())));
        let (stop_guard_saver, saver_stop) = tokio::sync::watch::channel(false);
        let guard_saver = tokio::spawn(saver.run(saver_stop));

        let (lifecycle_tx, lifecycle) = match opts.enable_lifecycle {
            true => {
                let (tx, rx) = crate::web::lifecycle::channel();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        let state = Arc::new(WebState {
            registry: registry.clone(),
            ready: Default::default(),
            targets: Some(manager.targets_view()),
            receiver,
            lifecycle: lifecycle_tx,
        });
        let web = WebServer::start_with_config(&opts.listen, state.clone(), web_config).await?;
        state.ready.store(true, Ordering::Release);
        tracing::info!(
            listen = %web.local_addr(),
            config = %opts.config_path.display(),
            jobs = jobs.len(),
            targets = manager.target_count(),
            remote_write = config.remote_write.len(),
            data_dir = %data_dir.display(),
            "levee started"
        );
        let reloads = ReloadMetrics::register(&registry);
        Ok(Agent {
            opts,
            registry,
            writer,
            manager,
            web,
            db,
            maintenance,
            stop_maintenance,
            guard_saver,
            stop_guard_saver,
            config,
            reloads,
            lifecycle,
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

    /// Re-reads the config file and applies all of it: scrape jobs (new
    /// targets start, removed ones stop with staleness markers, unchanged
    /// ones keep running with their guard state), remote_write endpoints
    /// and external labels ([`apply_remote_write`](Self::apply_remote_write)).
    /// Everything is checked before anything changes: an invalid config is
    /// refused with the reason and the running one stays. Records the
    /// outcome in `levee_config_last_reload_*`. SIGHUP and `/-/reload`
    /// both come here.
    pub async fn reload(&mut self) -> Result<(), AgentError> {
        let result = self.reload_from_file().await;
        self.reloads.record(result.is_ok());
        match &result {
            Ok(()) => tracing::info!(
                targets = self.manager.target_count(),
                remote_write = self.config.remote_write.len(),
                "configuration reloaded"
            ),
            Err(e) => {
                tracing::error!(error = %e, "reload failed; keeping the running configuration")
            }
        }
        result
    }

    async fn reload_from_file(&mut self) -> Result<(), AgentError> {
        let config = load(&self.opts.config_path)?;
        let jobs = compile_jobs(&config)?;
        if config.receiver != self.config.receiver {
            tracing::warn!("the receiver: section changed: this takes effect at the next restart");
        }
        let remote = self.prepare_remote_write(&config)?;
        self.manager.apply(&jobs);
        let applied = self.apply_remote_write(remote).await;
        self.config = config;
        applied
    }

    /// Checks the remote_write endpoints of `config` against the running
    /// ones (nothing changes yet): an endpoint whose entry and the
    /// external labels are the same as now is kept running untouched.
    fn prepare_remote_write(
        &self,
        config: &Config,
    ) -> Result<crate::remote::Reconfiguration, AgentError> {
        let endpoints = crate::remote::endpoints_from_config(config)?;
        let unchanged: std::collections::HashSet<String> =
            if config.global.external_labels == self.config.global.external_labels {
                config
                    .remote_write
                    .iter()
                    .filter(|c| self.config.remote_write.contains(c))
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                Default::default()
            };
        Ok(self
            .writer
            .prepare(endpoints, &config.global.external_labels, &unchanged)?)
    }

    /// Applies prepared remote_write endpoints: added ones start, removed
    /// ones stop, changed ones restart and resume from their WAL position.
    async fn apply_remote_write(
        &self,
        plan: crate::remote::Reconfiguration,
    ) -> Result<(), AgentError> {
        // A stopped endpoint's position never passes the WAL's synced
        // end: syncing first lets it store what it sent, so its restart
        // sends little again.
        let db = Arc::clone(&self.db);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.sync_wal()).await {
            tracing::warn!(error = %e, "syncing the WAL before reconfiguring remote write failed");
        }
        let report = self.writer.reconfigure(plan).await?;
        if !(report.added.is_empty() && report.removed.is_empty() && report.restarted.is_empty()) {
            tracing::info!(
                added = ?report.added,
                removed = ?report.removed,
                restarted = ?report.restarted,
                "remote_write endpoints changed"
            );
        }
        Ok(())
    }

    /// Stops scraping, saves the guard state, syncs the WAL, sends what remote write has not sent
    /// yet (up to [`SHUTDOWN_FLUSH_DEADLINE`]; the rest stays in the WAL
    /// for the next start), closes the TSDB and stops the web server.
    pub async fn shutdown(self) {
        self.manager.shutdown().await;
        // After the last scrape: the guard state a restart continues from.
        let _ = self.stop_guard_saver.send(true);
        if let Ok(saver) = self.guard_saver.await {
            saver.save_now().await;
        }
        let db = Arc::clone(&self.db);
        let _ = tokio::task::spawn_blocking(move || db.sync_wal()).await;
        let started = tokio::time::Instant::now();
        self.writer
            .drain(self.db.wal_end(), SHUTDOWN_FLUSH_DEADLINE)
            .await;
        let left = SHUTDOWN_FLUSH_DEADLINE.saturating_sub(started.elapsed());
        self.writer.shutdown(left).await;
        let _ = self.stop_maintenance.send(true);
        let _ = self.maintenance.await;
        let db = self.db;
        let closed = tokio::task::spawn_blocking(move || match Arc::try_unwrap(db) {
            Ok(db) => db.close(),
            Err(db) => db.sync_wal(),
        })
        .await;
        if let Ok(Err(e)) = closed {
            tracing::error!(error = %e, "closing the TSDB failed");
        }
        self.web.stop().await;
        tracing::info!("levee stopped");
    }

    /// The agent's TSDB.
    pub fn db(&self) -> &Arc<crate::tsdb::db::Db> {
        &self.db
    }
}

/// `levee run`: start; reload on SIGHUP or `/-/reload`; stop on SIGINT,
/// SIGTERM or `/-/quit`.
pub async fn run_until_signalled(opts: AgentOptions) -> Result<(), AgentError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(AgentError::Signals)?;
    let mut agent = Agent::start(opts).await?;
    let mut lifecycle = agent.lifecycle.take();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                // Logged and counted by reload.
                let _ = agent.reload().await;
            }
            Some(request) = next_request(&mut lifecycle) => match request {
                LifecycleRequest::Reload(answer) => {
                    let result = agent.reload().await;
                    let _ = answer.send(result.map_err(Into::into));
                }
                LifecycleRequest::Quit => break,
            },
        }
    }
    tracing::info!("shutting down");
    agent.shutdown().await;
    Ok(())
}

/// The next lifecycle request; never, when the lifecycle API is off.
async fn next_request(
    rx: &mut Option<tokio::sync::mpsc::Receiver<LifecycleRequest>>,
) -> Option<LifecycleRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn load(path: &Path) -> Result<Config, AgentError> {
    Config::load_file(path).map_err(|source| AgentError::Config {
        path: path.to_path_buf(),
        source,
    })
}

/// The receiver's settings, if it is on: the `receiver:` section, else the
/// defaults when `--web.enable-remote-write-receiver` is given.
fn receiver_config(opts: &AgentOptions, config: &Config) -> Option<crate::config::ReceiverConfig> {
    config
        .receiver
        .clone()
        .or_else(|| opts.enable_remote_write_receiver.then(Default::default))
}

/// The data directory: `--data-dir`, else `storage.path`, else `data`.
fn data_dir(opts: &AgentOptions, config: &Config) -> PathBuf {
    opts.data_dir
        .clone()
        .or_else(|| config.storage.path.clone())
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Creates the data directory and opens the TSDB in it (replaying its WAL
/// on the blocking pool). The TSDB's lock keeps a second levee out.
async fn open_storage(
    dir: &Path,
    cfg: &crate::config::StorageConfig,
) -> Result<Arc<crate::tsdb::db::Db>, AgentError> {
    let err = |source| AgentError::Storage {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|source| AgentError::DataDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let (path, cfg) = (dir.to_path_buf(), cfg.clone());
    tokio::task::spawn_blocking(move || storage::open(&path, &cfg))
        .await
        .map_err(|source| AgentError::StoragePanicked {
            path: dir.to_path_buf(),
            source,
        })?
        .map_err(err)
}

fn register_build_info(reg: &Registry) {
    let info = reg.gauge_vec(
        "levee_build_info",
        "Always 1; labelled with the levee version.",
        &["version"],
    );
    info.with(&[env!("CARGO_PKG_VERSION")]).set(1.0);
}
