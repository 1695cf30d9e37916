//! Remote write 1.0: sending samples to Prometheus-compatible receivers.
//!
//! [`RemoteWriter`] owns every configured endpoint. Each endpoint has its own
//! bounded queue ([`MemoryQueue`]), dispatcher and shard tasks, so a dead
//! endpoint never stalls another. [`RemoteWriter::append`] hands a scrape's
//! samples to every endpoint without touching the network; the shards
//! encode batches ([`WriteRequestEncoder`]: protobuf + snappy block), POST
//! them with the protocol headers and retry with backoff. See
//! `docs/remote_write.md` for the wire format, policies and metrics.
//!
//! Two sources of samples: in memory mode ([`RemoteWriter::start`])
//! [`append`](RemoteWriter::append) queues samples in memory; in WAL mode
//! ([`RemoteWriter::start_wal`]) each endpoint tails the TSDB's WAL from a
//! durable position ([`wal`]), so nothing accepted is lost across outages
//! and restarts.
//!
//! Files: `settings` (what an endpoint is configured with), `codec` (wire
//! format both ways), `client` (the POST and its status classification),
//! `source` (the queue seam), `queue` (dispatcher, batching, resharding),
//! `sharding` (the shard-count rule), `shard` (send and retry), `metrics`,
//! `wal/` (the WAL tailer, positions, pins).

mod client;
mod codec;
mod metadata;
mod metrics;
mod queue;
mod settings;
mod shard;
mod sharding;
mod source;
pub mod wal;

pub use codec::{
    DecodeError, EncodeError, EncodedStats, WriteRequestEncoder, decode_write_request,
};
pub use metrics::DropReason;
pub use settings::{EndpointSettings, endpoints_from_config};
pub use sharding::{CATCH_UP, RESHARD_INTERVAL, ShardInputs, TOLERANCE, desired_shards};
pub use source::{MemoryQueue, PushResult, SampleSource};

use crate::labels::Labels;
use crate::pipeline::{Metadata, MetadataSink, Sample, SampleSink};
use crate::selfmon::Registry;
use metrics::{EndpointMetrics, Families};
use parking_lot::Mutex;
use shard::{Health, Shared};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the remote writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A setting is invalid.
    #[error("remote_write {endpoint:?}: {field}: {reason}")]
    Settings {
        /// The endpoint's name.
        endpoint: String,
        /// The setting, named as in prometheus.yml (`url`, `headers.X`, …).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The endpoint's HTTP client could not be built (TLS files, headers,
    /// credentials).
    #[error(transparent)]
    Http(#[from] crate::http_client::HttpClientError),
    /// Not called inside a tokio runtime.
    #[error("the remote writer must be started inside a tokio runtime")]
    NoRuntime,
    /// The endpoint's WAL tailer could not start (its position file is
    /// unreadable, or the WAL is).
    #[error("remote_write {endpoint:?}: {source}")]
    Wal {
        /// The endpoint's name.
        endpoint: String,
        /// What failed.
        source: wal::WalSourceError,
    },
}

/// All remote-write endpoints. Cheap to clone; clones share the endpoints.
///
/// Call [`shutdown`](Self::shutdown) to flush with a deadline. If the last
/// clone is dropped instead, the queues are closed and the endpoints'
/// tasks still send what is queued and then exit, but nobody waits for
/// them; in WAL mode they stop at once (the WAL keeps what is unsent) and
/// the positions are written.
#[derive(Clone)]
pub struct RemoteWriter {
    endpoints: Arc<Endpoints>,
    metadata: Arc<metadata::MetadataStore>,
}

struct Endpoints(Vec<Endpoint>);

impl std::ops::Deref for Endpoints {
    type Target = [Endpoint];
    fn deref(&self) -> &[Endpoint] {
        &self.0
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        for ep in &self.0 {
            ep.source.close();
            if let Some(t) = ep.metadata_task.lock().take() {
                t.abort();
            }
            // In WAL mode nothing needs draining: what is unsent stays in
            // the WAL. Stopping the dispatcher also lets go of the
            // endpoint's pin once its tailer thread has exited.
            if let Source::Wal(w) = &ep.source
                && let Some(t) = ep.task.lock().take()
            {
                t.abort();
                use source::SampleSource;
                w.stopped();
            }
        }
    }
}

struct Endpoint {
    shared: Arc<Shared>,
    source: Source,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    metadata_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    overflow_log: Mutex<OverflowLog>,
}

/// Rate-limits the queue-full warning to one line per interval.
struct OverflowLog {
    last: Option<Instant>,
    since_last: u64,
}

const OVERFLOW_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Where an endpoint's samples come from.
enum Source {
    Memory(Arc<MemoryQueue>),
    Wal(Arc<wal::source::WalSource>),
}

impl Source {
    fn close(&self) {
        match self {
            Source::Memory(q) => q.close(),
            Source::Wal(w) => w.close(),
        }
    }

    fn pending(&self) -> usize {
        match self {
            Source::Memory(q) => q.pending(),
            Source::Wal(w) => w.pending(),
        }
    }
}

impl RemoteWriter {
    /// Validates the settings, builds each endpoint's HTTP client and starts
    /// its dispatcher on the current tokio runtime.
    pub fn start(
        endpoints: Vec<EndpointSettings>,
        external_labels: Labels,
        registry: &Registry,
    ) -> Result<RemoteWriter, RemoteError> {
        Self::start_with(endpoints, external_labels, registry, None)
    }

    /// Starts every endpoint in WAL mode: each tails the WAL in
    /// `wal.wal_dir` from its position file in `wal.positions_dir` (see
    /// [`wal`]). [`append`](Self::append) does nothing in this mode: the
    /// database writes the WAL and calls [`wal::WalWatch::notify`].
    /// Before returning, every endpoint has pinned the WAL segments it
    /// needs in `wal.pins`.
    pub fn start_wal(
        endpoints: Vec<EndpointSettings>,
        external_labels: Labels,
        registry: &Registry,
        wal: wal::WalQueue,
    ) -> Result<RemoteWriter, RemoteError> {
        Self::start_with(endpoints, external_labels, registry, Some(wal))
    }

    fn start_with(
        endpoints: Vec<EndpointSettings>,
        external_labels: Labels,
        registry: &Registry,
        wal: Option<wal::WalQueue>,
    ) -> Result<RemoteWriter, RemoteError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RemoteError::NoRuntime)?;
        let families = Families::register(registry);
        let mut seen = std::collections::HashSet::new();
        let mut prepared = Vec::with_capacity(endpoints.len());
        for s in endpoints {
            validate(&s)?;
            if !seen.insert(s.name.clone()) {
                return Err(RemoteError::Settings {
                    endpoint: s.name.clone(),
                    field: "name".into(),
                    reason: "another remote_write endpoint has the same name".into(),
                });
            }
            let client = client::Client::new(&s)?;
            let metrics = EndpointMetrics::new(&families, &s.name, &s.url);
            let shared = Arc::new(Shared {
                settings: s,
                external: external_labels.clone(),
                client,
                metrics: metrics.clone(),
                health: Health::default(),
            });
            prepared.push((shared, metrics));
        }
        // Sources start only once every endpoint validated, so a bad
        // endpoint does not leave tailer threads of the others behind.
        let mut sources = Vec::with_capacity(prepared.len());
        for (shared, metrics) in &prepared {
            let source = match &wal {
                None => Source::Memory(Arc::new(MemoryQueue::new(shared.settings.capacity))),
                Some(q) => match wal::start(shared, metrics.clone(), q) {
                    Ok(w) => Source::Wal(w),
                    Err(source) => {
                        for s in &sources {
                            Source::close(s);
                        }
                        return Err(RemoteError::Wal {
                            endpoint: shared.settings.name.clone(),
                            source,
                        });
                    }
                },
            };
            sources.push(source);
        }
        let store = Arc::new(metadata::MetadataStore::default());
        let endpoints = prepared
            .into_iter()
            .zip(sources)
            .map(|((shared, _), source)| {
                let metadata_task = shared
                    .settings
                    .send_metadata
                    .then(|| runtime.spawn(metadata::run(shared.clone(), store.clone())));
                let task = match &source {
                    Source::Memory(q) => runtime.spawn(queue::dispatch(shared.clone(), q.clone())),
                    Source::Wal(w) => runtime.spawn(queue::dispatch(shared.clone(), w.clone())),
                };
                Endpoint {
                    shared,
                    source,
                    task: Mutex::new(Some(task)),
                    metadata_task: Mutex::new(metadata_task),
                    overflow_log: Mutex::new(OverflowLog {
                        last: None,
                        since_last: 0,
                    }),
                }
            })
            .collect();
        Ok(RemoteWriter {
            endpoints: Arc::new(Endpoints(endpoints)),
            metadata: store,
        })
    }

    /// Queues a scrape's samples on every endpoint. Never waits for the
    /// network; samples that do not fit an endpoint's capacity are dropped
    /// there (counted, reason `queue_full`) and do not affect the others.
    pub fn append(&self, samples: &[Sample]) {
        for ep in self.endpoints.iter() {
            let Source::Memory(queue) = &ep.source else {
                continue;
            };
            let r = queue.push(samples.iter(), |s| ep.admit(s));
            if r.full > 0 {
                ep.shared
                    .metrics
                    .dropped(DropReason::QueueFull, r.full as u64);
                ep.log_overflow(r.full as u64);
            }
            if r.closed > 0 {
                ep.shared
                    .metrics
                    .dropped(DropReason::Shutdown, r.closed as u64);
                let s = &ep.shared.settings;
                tracing::error!(remote_name = %s.name, url = %s.url, samples = r.closed, "remote write: samples appended after shutdown began were dropped");
            }
            ep.shared.metrics.queue.set(queue.pending() as f64);
        }
    }

    /// The state of every endpoint in WAL mode (none in memory mode).
    pub fn wal_status(&self) -> Vec<wal::WalEndpointStatus> {
        self.endpoints
            .iter()
            .filter_map(|ep| match &ep.source {
                Source::Wal(w) => Some(w.status()),
                Source::Memory(_) => None,
            })
            .collect()
    }

    /// Samples held per endpoint name (waiting, batched or in flight).
    pub fn pending(&self) -> Vec<(String, usize)> {
        self.endpoints
            .iter()
            .map(|ep| (ep.shared.settings.name.clone(), ep.source.pending()))
            .collect()
    }

    /// Stops accepting samples, sends what is queued and waits for it, for
    /// at most `deadline` in total. In memory mode whatever is still unsent
    /// then is counted as dropped (reason `shutdown`) and logged as an error
    /// per endpoint. In WAL mode nothing is dropped: the position file keeps
    /// the last acknowledged position and the rest is sent after a restart.
    pub async fn shutdown(self, deadline: Duration) {
        for ep in self.endpoints.iter() {
            ep.source.close();
            if let Some(t) = ep.metadata_task.lock().take() {
                t.abort();
            }
        }
        let until = tokio::time::Instant::now() + deadline;
        for ep in self.endpoints.iter() {
            let Some(mut task) = ep.task.lock().take() else {
                continue;
            };
            let s = &ep.shared.settings;
            if tokio::time::timeout_at(until, &mut task).await.is_err() {
                // Dropping the dispatcher drops its shard set, which aborts
                // the shards: wait for that so the count below is final.
                task.abort();
                let _ = task.await;
                if let Source::Wal(w) = &ep.source {
                    let w2 = w.clone();
                    let _ = tokio::task::spawn_blocking(move || w2.join_tailer()).await;
                    tracing::warn!(remote_name = %s.name, url = %s.url, samples = w.pending(), deadline = ?deadline, position = ?w.written(), "remote write: shutdown deadline passed; unsent samples stay in the WAL and are sent after a restart");
                    continue;
                }
                let lost = ep.source.pending();
                ep.shared.metrics.dropped(DropReason::Shutdown, lost as u64);
                ep.shared.metrics.queue.set(0.0);
                tracing::error!(remote_name = %s.name, url = %s.url, samples = lost, deadline = ?deadline, "remote write: shutdown deadline passed; DROPPED unsent samples (batches in flight at the deadline may still have arrived)");
            } else {
                if let Source::Wal(w) = &ep.source {
                    let w2 = w.clone();
                    let _ = tokio::task::spawn_blocking(move || w2.join_tailer()).await;
                }
                tracing::info!(remote_name = %s.name, url = %s.url, "remote write: queue flushed");
            }
        }
    }
}

impl Endpoint {
    /// THE place where a series enters this endpoint's queue: the
    /// endpoint's `write_relabel_configs` (`Rules::process`) belong here.
    /// Returning `None` drops the sample for this endpoint only; returning a
    /// different label set sends the sample under that series.
    fn admit(&self, sample: &Sample) -> Option<Sample> {
        let rules = &self.shared.settings.write_relabel;
        if rules.is_empty() {
            return Some(sample.clone());
        }
        let labels = rules.apply(&sample.labels)?;
        Some(Sample {
            labels: std::sync::Arc::new(labels),
            timestamp_ms: sample.timestamp_ms,
            value: sample.value,
        })
    }

    fn log_overflow(&self, dropped: u64) {
        let mut log = self.overflow_log.lock();
        log.since_last += dropped;
        let now = Instant::now();
        if log
            .last
            .is_none_or(|t| now.duration_since(t) >= OVERFLOW_LOG_INTERVAL)
        {
            let s = &self.shared.settings;
            tracing::warn!(remote_name = %s.name, url = %s.url, dropped = log.since_last, capacity = s.capacity, "remote write: queue full, dropping samples (counted in levee_remote_write_samples_dropped_total{{reason=\"queue_full\"}})");
            log.last = Some(now);
            log.since_last = 0;
        }
    }
}

fn validate(s: &EndpointSettings) -> Result<(), RemoteError> {
    let bad = |field: &str, reason: &str| {
        Err(RemoteError::Settings {
            endpoint: s.name.clone(),
            field: field.into(),
            reason: reason.into(),
        })
    };
    if s.name.is_empty() {
        return bad("name", "must not be empty");
    }
    if s.capacity == 0 {
        return bad("queue_config.capacity", "must be at least 1");
    }
    if s.min_shards == 0 {
        return bad("queue_config.min_shards", "must be at least 1");
    }
    if s.max_shards < s.min_shards {
        return bad("queue_config.max_shards", "must be at least min_shards");
    }
    if s.max_samples_per_send == 0 {
        return bad("queue_config.max_samples_per_send", "must be at least 1");
    }
    if s.batch_send_deadline.is_zero() {
        return bad("queue_config.batch_send_deadline", "must be positive");
    }
    if s.max_backoff < s.min_backoff {
        return bad("queue_config.max_backoff", "must be at least min_backoff");
    }
    if s.timeout.is_zero() {
        return bad("remote_timeout", "must be positive");
    }
    Ok(())
}

/// Samples in memory mode: see [`RemoteWriter::append`].
impl SampleSink for RemoteWriter {
    fn append(&self, batch: &[Sample]) {
        RemoteWriter::append(self, batch);
    }
}

/// Records the metadata (HELP, TYPE, UNIT) of metric families, replacing
/// what was known of them; every endpoint with `send_metadata` sends all of
/// it once per `metadata_send_interval`. Cheap: a scrape's metadata entries
/// go here directly.
impl MetadataSink for RemoteWriter {
    fn update(&self, items: &[Metadata]) {
        self.metadata.update(items);
    }
}
