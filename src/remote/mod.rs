//! Remote write 1.0 and 2.0: sending the TSDB's samples to
//! Prometheus-compatible receivers.
//!
//! [`RemoteWriter`] owns every configured endpoint. Each endpoint tails the
//! TSDB's WAL from its own durable position ([`wal`]): the WAL is the queue,
//! so nothing accepted is lost across outages and restarts, and a dead
//! endpoint never stalls another. Per endpoint a dispatcher routes the
//! samples read to shard tasks, which encode batches
//! ([`WriteRequestEncoder`] for 1.0, [`RequestV2Encoder`] for 2.0:
//! protobuf and snappy block), POST them with the
//! protocol headers and retry with backoff. Metric metadata comes in
//! through [`MetadataSink`]. See `docs/remote_write.md` for the wire
//! format, policies and metrics.
//!
//! Files: `settings` (what an endpoint is configured with), `codec` (1.0
//! wire format both ways), `codec_v2` (2.0 encoder), `client` (the POST and its status classification),
//! `queue` (dispatcher, batching, resharding), `sharding` (the shard-count
//! rule), `shard` (send and retry), `metadata`, `metrics`, `wal/` (the WAL
//! tailer, positions, pins). Building the HTTP client (TLS, auth, headers)
//! is [`crate::http_client`]'s.

mod client;
mod codec;
mod codec_v2;
mod metadata;
mod metrics;
mod queue;
mod settings;
mod shard;
mod sharding;
pub mod wal;

pub use codec::{
    DecodeError, EncodeError, EncodedStats, WriteRequestEncoder, decode_write_request,
};
pub use codec_v2::RequestV2Encoder;
pub use metrics::DropReason;
pub use settings::{EndpointSettings, endpoints_from_config};
pub use sharding::{CATCH_UP, RESHARD_INTERVAL, ShardInputs, TOLERANCE, desired_shards};

use crate::labels::Labels;
use crate::pipeline::{Metadata, MetadataSink};
use crate::selfmon::Registry;
use metrics::{EndpointMetrics, Families};
use parking_lot::Mutex;
use shard::{Health, ProtocolState, Shared};
use std::sync::Arc;
use std::time::Duration;
use wal::source::WalSource;

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
/// [`prepare`](Self::prepare) and [`reconfigure`](Self::reconfigure)
/// change the set of endpoints while it runs (a config reload): added
/// endpoints start, removed ones stop, changed ones restart from their
/// position file, the others keep running untouched.
///
/// Call [`drain`](Self::drain) and then [`shutdown`](Self::shutdown) to
/// stop cleanly. If the last clone is dropped instead, the endpoints stop
/// at once (the WAL keeps what is unsent) and the positions are written.
#[derive(Clone)]
pub struct RemoteWriter {
    inner: Arc<Inner>,
    metadata: Arc<metadata::MetadataStore>,
}

struct Inner {
    /// The running endpoints, in config order. Never locked across an
    /// `.await`: readers take a snapshot.
    endpoints: Mutex<Vec<Arc<Endpoint>>>,
    families: Families,
    wal: wal::WalQueue,
}

struct Endpoint {
    shared: Arc<Shared>,
    source: Arc<WalSource>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    metadata_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Nothing needs draining: what is unsent stays in the WAL. The
        // dispatcher is stopped before the source closes, so it does not
        // see the close and flush its partial batches. Stopping it also
        // lets go of the endpoint's pin once its tailer thread has exited.
        let task = self.task.get_mut().take();
        if let Some(t) = &task {
            t.abort();
        }
        self.source.close();
        if let Some(t) = self.metadata_task.get_mut().take() {
            t.abort();
        }
        if task.is_some() {
            self.source.stopped();
        }
    }
}

impl Endpoint {
    /// Stops reading the WAL and sending metadata; the dispatcher sends
    /// what it holds and stops ([`finish`](Self::finish) waits for it).
    fn close(&self) {
        self.source.close();
        if let Some(t) = self.metadata_task.lock().take() {
            t.abort();
        }
    }

    /// Waits (until `until`) for the dispatcher closed by
    /// [`close`](Self::close), aborts it past that, joins the tailer and
    /// writes the final position: a restart of this endpoint resumes
    /// exactly after what the receiver acknowledged.
    async fn finish(&self, until: tokio::time::Instant, deadline: Duration) {
        let Some(mut task) = self.task.lock().take() else {
            return;
        };
        let s = &self.shared.settings;
        let finished = tokio::time::timeout_at(until, &mut task).await;
        if finished.is_err() {
            // Dropping the dispatcher drops its shard set, which aborts
            // the shards: wait for that so the position below is final.
            task.abort();
            let _ = task.await;
        }
        let w = self.source.clone();
        let _ = tokio::task::spawn_blocking(move || w.join_tailer()).await;
        match finished {
            Ok(Ok(())) => {
                tracing::info!(remote_name = %s.name, url = %s.url, "remote write: queue flushed");
            }
            Ok(Err(e)) => {
                tracing::error!(remote_name = %s.name, url = %s.url, samples = self.source.pending(), position = ?self.source.written(), "remote write: the dispatcher failed ({e}); unsent samples stay in the WAL and are sent after a restart");
            }
            Err(_) => {
                tracing::warn!(remote_name = %s.name, url = %s.url, samples = self.source.pending(), deadline = ?deadline, position = ?self.source.written(), "remote write: stop deadline passed; unsent samples stay in the WAL and are sent after a restart");
            }
        }
    }
}

/// How long [`RemoteWriter::drain`] waits when no endpoint makes progress
/// (a receiver that is down): the rest stays in the WAL for the next start.
const DRAIN_STALL: Duration = Duration::from_secs(5);

/// How long a reload waits for a removed or changed endpoint to send what
/// it holds; past it the batches are abandoned, not lost: its position
/// file keeps the last acknowledged position, and a restarted endpoint
/// resends from there.
pub const RECONFIGURE_STOP_DEADLINE: Duration = Duration::from_secs(5);

/// A new set of endpoints, validated and with their HTTP clients built,
/// ready for [`RemoteWriter::reconfigure`]. Nothing runs yet.
pub struct Reconfiguration {
    /// Every endpoint name of the new set, in order.
    order: Vec<String>,
    /// Names of running endpoints that stay as they are.
    keep: std::collections::HashSet<String>,
    /// Endpoints to start (new or changed).
    start: Vec<Arc<Shared>>,
}

/// What [`RemoteWriter::reconfigure`] did, by endpoint name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconfigureReport {
    /// Started for the first time.
    pub added: Vec<String>,
    /// Stopped for good.
    pub removed: Vec<String>,
    /// Stopped and started again with new settings, from their position.
    pub restarted: Vec<String>,
    /// Left running untouched.
    pub unchanged: Vec<String>,
}

/// Checks every endpoint of `endpoints` (settings, unique names) and
/// builds the HTTP clients of those not named in `keep`.
fn prepare_endpoints(
    families: &Families,
    endpoints: Vec<EndpointSettings>,
    external_labels: &Labels,
    keep: &std::collections::HashSet<String>,
    metadata: &Arc<metadata::MetadataStore>,
) -> Result<Vec<Result<Arc<Shared>, String>>, RemoteError> {
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
        if keep.contains(&s.name) {
            prepared.push(Err(s.name));
            continue;
        }
        let client = client::Client::new(&s)?;
        let metrics = EndpointMetrics::new(families, &s.name, &s.url);
        prepared.push(Ok(Arc::new(Shared {
            protocol: ProtocolState::new(s.protobuf_message, &metrics),
            settings: s,
            external: external_labels.clone(),
            client,
            metrics,
            health: Health::default(),
            metadata: Arc::clone(metadata),
        })));
    }
    Ok(prepared)
}

impl RemoteWriter {
    /// Validates the settings, builds each endpoint's HTTP client and
    /// starts every endpoint on the current tokio runtime: each tails the
    /// WAL in `wal.wal_dir` from its position file in `wal.positions_dir`
    /// (see [`wal`]). The database writes the WAL and calls
    /// [`wal::WalWatch::notify`]. Before returning, every endpoint has
    /// pinned the WAL segments it needs in `wal.pins`.
    pub fn start_wal(
        endpoints: Vec<EndpointSettings>,
        external_labels: Labels,
        registry: &Registry,
        wal: wal::WalQueue,
    ) -> Result<RemoteWriter, RemoteError> {
        tokio::runtime::Handle::try_current().map_err(|_| RemoteError::NoRuntime)?;
        let families = Families::register(registry);
        let none = std::collections::HashSet::new();
        let metadata = Arc::new(metadata::MetadataStore::default());
        let prepared = prepare_endpoints(&families, endpoints, &external_labels, &none, &metadata)?;
        let writer = RemoteWriter {
            inner: Arc::new(Inner {
                endpoints: Mutex::new(Vec::with_capacity(prepared.len())),
                families,
                wal,
            }),
            metadata,
        };
        // Sources start only once every endpoint validated, so a bad
        // endpoint does not leave tailer threads of the others behind (the
        // endpoints started are dropped with the writer, which stops them).
        let mut started = Vec::with_capacity(prepared.len());
        for shared in prepared.into_iter().flatten() {
            started.push(writer.start_endpoint(shared)?);
        }
        *writer.inner.endpoints.lock() = started;
        Ok(writer)
    }

    /// Starts one endpoint: its tailer from its position file, its
    /// dispatcher and metadata task.
    fn start_endpoint(&self, shared: Arc<Shared>) -> Result<Arc<Endpoint>, RemoteError> {
        let source =
            wal::start(&shared, shared.metrics.clone(), &self.inner.wal).map_err(|source| {
                RemoteError::Wal {
                    endpoint: shared.settings.name.clone(),
                    source,
                }
            })?;
        let metadata_task = shared
            .settings
            .send_metadata
            .then(|| tokio::spawn(metadata::run(shared.clone(), self.metadata.clone())));
        let task = tokio::spawn(queue::dispatch(shared.clone(), source.clone()));
        Ok(Arc::new(Endpoint {
            shared,
            source,
            task: Mutex::new(Some(task)),
            metadata_task: Mutex::new(metadata_task),
        }))
    }

    /// The running endpoints.
    fn snapshot(&self) -> Vec<Arc<Endpoint>> {
        self.inner.endpoints.lock().clone()
    }

    /// Checks a new set of endpoints (as [`start_wal`](Self::start_wal)
    /// does) without touching the running ones, and builds the clients of
    /// those to start. Running endpoints named in `unchanged` (same name,
    /// same settings, same external labels: the caller compares the
    /// configs) are kept as they are; every other one of the new set is
    /// started (or restarted).
    pub fn prepare(
        &self,
        endpoints: Vec<EndpointSettings>,
        external_labels: &Labels,
        unchanged: &std::collections::HashSet<String>,
    ) -> Result<Reconfiguration, RemoteError> {
        let running: std::collections::HashSet<String> = self
            .snapshot()
            .iter()
            .map(|ep| ep.shared.settings.name.clone())
            .collect();
        let keep: std::collections::HashSet<String> =
            unchanged.intersection(&running).cloned().collect();
        let prepared = prepare_endpoints(
            &self.inner.families,
            endpoints,
            external_labels,
            &keep,
            &self.metadata,
        )?;
        let mut order = Vec::with_capacity(prepared.len());
        let mut start = Vec::new();
        for p in prepared {
            match p {
                Ok(shared) => {
                    order.push(shared.settings.name.clone());
                    start.push(shared);
                }
                Err(kept) => order.push(kept),
            }
        }
        Ok(Reconfiguration { order, keep, start })
    }

    /// Applies `plan`: stops every running endpoint it does not keep (each
    /// sends what it holds for up to [`RECONFIGURE_STOP_DEADLINE`] and
    /// writes its position), then starts the new and changed ones; a
    /// changed endpoint (same name) resumes from the position its
    /// predecessor wrote, so nothing is lost or skipped. An endpoint that
    /// fails to start is logged and left out; the first such error is
    /// returned after the others were applied.
    pub async fn reconfigure(
        &self,
        plan: Reconfiguration,
    ) -> Result<ReconfigureReport, RemoteError> {
        let running = self.snapshot();
        let (kept, stopping): (Vec<_>, Vec<_>) = running
            .into_iter()
            .partition(|ep| plan.keep.contains(&ep.shared.settings.name));
        for ep in &stopping {
            ep.close();
        }
        let until = tokio::time::Instant::now() + RECONFIGURE_STOP_DEADLINE;
        for ep in &stopping {
            ep.finish(until, RECONFIGURE_STOP_DEADLINE).await;
        }
        let stopped: std::collections::HashSet<String> = stopping
            .iter()
            .map(|ep| ep.shared.settings.name.clone())
            .collect();
        let mut report = ReconfigureReport::default();
        let mut first_error = None;
        let mut started = std::collections::HashMap::new();
        for shared in plan.start {
            let name = shared.settings.name.clone();
            match self.start_endpoint(shared) {
                Ok(ep) => {
                    if stopped.contains(&name) {
                        report.restarted.push(name.clone());
                    } else {
                        report.added.push(name.clone());
                    }
                    started.insert(name, ep);
                }
                Err(e) => {
                    tracing::error!(remote_name = %name, error = %e, "remote write: the endpoint could not start; it is not sending");
                    first_error.get_or_insert(e);
                }
            }
        }
        // The series of an endpoint gone for good (or whose name moved to
        // another URL) go with it; a restart with the same name and URL
        // shares them with its successor.
        for ep in &stopping {
            let s = &ep.shared.settings;
            let same = started
                .get(&s.name)
                .is_some_and(|new: &Arc<Endpoint>| new.shared.settings.url == s.url);
            if !same {
                ep.shared.metrics.unregister();
            }
        }
        report.removed = stopped
            .iter()
            .filter(|name| !plan.order.contains(name))
            .cloned()
            .collect();
        report.removed.sort();
        let mut kept: std::collections::HashMap<String, Arc<Endpoint>> = kept
            .into_iter()
            .map(|ep| (ep.shared.settings.name.clone(), ep))
            .collect();
        let mut endpoints = Vec::with_capacity(plan.order.len());
        for name in &plan.order {
            if let Some(ep) = kept.remove(name) {
                report.unchanged.push(name.clone());
                endpoints.push(ep);
            } else if let Some(ep) = started.remove(name) {
                endpoints.push(ep);
            }
        }
        *self.inner.endpoints.lock() = endpoints;
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// The state of every endpoint.
    pub fn wal_status(&self) -> Vec<wal::WalEndpointStatus> {
        self.snapshot()
            .iter()
            .map(|ep| ep.source.status())
            .collect()
    }

    /// Samples held per endpoint name (read from the WAL and not yet
    /// finished: waiting, batched or in flight).
    pub fn pending(&self) -> Vec<(String, usize)> {
        self.snapshot()
            .iter()
            .map(|ep| (ep.shared.settings.name.clone(), ep.source.pending()))
            .collect()
    }

    /// Waits until every endpoint has finished (acknowledged, or given up
    /// on and counted) the WAL up to `end` (its committed position reached
    /// `end`, or it read to `end` and holds nothing), so a clean stop leaves nothing
    /// unsent and a restart sends no duplicates; or until `deadline`, or
    /// until no endpoint moved for 5 s (a receiver that is down). Returns whether every
    /// endpoint got there; those that did not are logged (their rest stays
    /// in the WAL and is sent after a restart). Call it once the database
    /// took its last commit and synced, with `end` its WAL's end.
    pub async fn drain(&self, end: crate::tsdb::wal::Position, deadline: Duration) -> bool {
        let started = tokio::time::Instant::now();
        let mut last_change = started;
        let mut last: Vec<crate::tsdb::wal::Position> = Vec::new();
        loop {
            let status = self.wal_status();
            // An endpoint that read to `end` and holds nothing is done too:
            // a WAL ending in a segment header (one without records) has no
            // record end for the committed position to reach.
            let done = |s: &wal::WalEndpointStatus| {
                s.committed >= end || (s.pending == 0 && s.read >= end)
            };
            if status.iter().all(done) {
                return true;
            }
            let now: Vec<_> = status.iter().map(|s| s.committed).collect();
            if now != last {
                last = now;
                last_change = tokio::time::Instant::now();
            }
            if last_change.elapsed() >= DRAIN_STALL || started.elapsed() >= deadline {
                for s in status.iter().filter(|s| !done(s)) {
                    tracing::warn!(remote_name = %s.name, committed = %s.committed, wal_end = %end, "remote write: not everything sent at shutdown; the rest stays in the WAL and is sent after a restart");
                }
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the tailers, sends the samples already read and waits for
    /// them, for at most `deadline` in total; then writes each endpoint's
    /// position file. Nothing is dropped: the position file keeps the last
    /// acknowledged position and the rest is sent after a restart. Call
    /// [`drain`](Self::drain) first to send everything in the WAL.
    pub async fn shutdown(self, deadline: Duration) {
        let endpoints = self.snapshot();
        for ep in &endpoints {
            ep.close();
        }
        let until = tokio::time::Instant::now() + deadline;
        for ep in &endpoints {
            ep.finish(until, deadline).await;
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

/// Records the metadata (HELP, TYPE, UNIT) of metric families, replacing
/// what was known of them; every endpoint with `send_metadata` sends all of
/// it once per `metadata_send_interval`. Cheap: a scrape's metadata entries
/// go here directly.
impl MetadataSink for RemoteWriter {
    fn update(&self, items: &[Metadata]) {
        self.metadata.update(items);
    }
}
