//! One shard: a task that takes batches from the dispatcher, encodes each,
//! POSTs it and retries until it is acknowledged or rejected.
//!
//! Retry policy (Prometheus'): network errors, timeouts and 5xx — and 429
//! when `retry_on_429` — retry after `min_backoff`, doubling up to
//! `max_backoff`, or after the receiver's `Retry-After` when it gave a
//! positive one.
//! Any other status drops the batch, counted by `http_<code>` and logged once
//! per code — except a 415 to a 2.0 request: the endpoint then falls back to
//! 1.0 for good ([`ProtocolState`]) and the same batch is sent again as 1.0
//! (a 415 means nothing of it was written, so nothing is lost or doubled).
//!
//! The batch is encoded in the endpoint's current protocol: 1.0 by
//! [`WriteRequestEncoder`], 2.0 by [`RequestV2Encoder`] with each series'
//! metadata in-line from the [`MetadataStore`].

use super::client::{Client, SendOutcome};
use super::codec::{EncodeError, EncodedStats, WriteRequestEncoder};
use super::codec_v2::RequestV2Encoder;
use super::metadata::MetadataStore;
use super::metrics::{DropReason, EndpointMetrics};
use super::settings::EndpointSettings;
use super::wal::source::WalSource;
use crate::config::ProtobufMessage;
use crate::labels::Labels;
use crate::pipeline::Sample;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// A batch handed to a shard, with the number of its first sample (the
/// lowest: a shard's samples are taken in order).
pub(crate) struct Batch {
    pub samples: Vec<Sample>,
    pub first: u64,
}

/// The batches handed to shards and not yet finished, by first sample
/// number; finishing one wakes the dispatcher so it can release the
/// samples to the source.
#[derive(Default)]
pub(crate) struct InFlight {
    firsts: Mutex<BTreeSet<u64>>,
    notify: Notify,
}

impl InFlight {
    pub fn insert(&self, first: u64) {
        self.firsts.lock().insert(first);
    }

    fn finish(&self, first: u64) {
        self.firsts.lock().remove(&first);
        self.notify.notify_one();
    }

    /// The lowest first sample number in flight.
    pub fn lowest(&self) -> Option<u64> {
        self.firsts.lock().first().copied()
    }

    /// Resolves after a batch finished (or at once if one finished since
    /// the last call).
    pub async fn finished(&self) {
        self.notify.notified().await
    }
}

/// What every shard of one endpoint shares.
pub(crate) struct Shared {
    pub settings: EndpointSettings,
    pub external: Labels,
    pub client: Client,
    pub metrics: EndpointMetrics,
    pub health: Health,
    pub protocol: ProtocolState,
    /// The metadata sent in-line by 2.0.
    pub metadata: Arc<MetadataStore>,
}

/// The protocol an endpoint sends now: the configured one, until a 2.0
/// request is answered with 415; from then on 1.0 (until the endpoint is
/// started again). Shown by `levee_remote_write_protocol`.
pub(crate) struct ProtocolState {
    v2: AtomicBool,
}

impl ProtocolState {
    pub fn new(configured: ProtobufMessage, m: &EndpointMetrics) -> Self {
        let state = ProtocolState {
            v2: AtomicBool::new(configured == ProtobufMessage::V2),
        };
        state.show(m);
        state
    }

    pub fn current(&self) -> ProtobufMessage {
        if self.v2.load(Ordering::Relaxed) {
            ProtobufMessage::V2
        } else {
            ProtobufMessage::V1
        }
    }

    /// Switches to 1.0; true for the call that switched.
    fn fall_back(&self, m: &EndpointMetrics) -> bool {
        let switched = self.v2.swap(false, Ordering::Relaxed);
        self.show(m);
        switched
    }

    fn show(&self, m: &EndpointMetrics) {
        let v2 = self.v2.load(Ordering::Relaxed);
        m.protocol[0].set(if v2 { 0.0 } else { 1.0 });
        m.protocol[1].set(if v2 { 1.0 } else { 0.0 });
    }
}

/// A shard's encoders, one per protocol, each keeping its buffers.
#[derive(Default)]
struct Encoders {
    v1: WriteRequestEncoder,
    v2: RequestV2Encoder,
}

impl Encoders {
    fn encode(
        &mut self,
        shared: &Shared,
        message: ProtobufMessage,
        batch: &[Sample],
    ) -> Result<(Bytes, EncodedStats), EncodeError> {
        let (body, stats) = match message {
            ProtobufMessage::V1 => self.v1.encode(batch, &shared.external)?,
            ProtobufMessage::V2 if shared.settings.send_metadata => {
                let families = shared.metadata.families();
                self.v2
                    .encode(batch, &shared.external, |f| families.get(f))?
            }
            ProtobufMessage::V2 => self.v2.encode(batch, &shared.external, |_| None)?,
        };
        Ok((Bytes::copy_from_slice(body), stats))
    }
}

/// How sending went, for logs and the resharding rule.
#[derive(Default)]
pub(crate) struct Health {
    /// A retryable failure is ongoing (cleared by the next success).
    failing: AtomicBool,
    /// A retryable failure happened since the last [`Health::interval`].
    failed_recently: AtomicBool,
    /// Status codes already logged as rejections.
    rejected_codes: Mutex<HashSet<u16>>,
    /// A written-count mismatch was logged.
    written_mismatch_logged: AtomicBool,
    send_nanos: AtomicU64,
    sends: AtomicU64,
}

impl Health {
    /// Mean successful request time and whether a retryable failure
    /// happened since the last call; resets the interval.
    pub fn interval(&self) -> (Option<Duration>, bool) {
        let nanos = self.send_nanos.swap(0, Ordering::Relaxed);
        let sends = self.sends.swap(0, Ordering::Relaxed);
        let failed = self.failed_recently.swap(false, Ordering::Relaxed);
        let mean = (sends > 0).then(|| Duration::from_nanos(nanos / sends));
        (mean, failed)
    }
}

/// Runs one shard until its channel closes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    source: Arc<WalSource>,
    in_flight: Arc<InFlight>,
    mut batches: mpsc::Receiver<Batch>,
) {
    let mut encoders = Encoders::default();
    while let Some(batch) = batches.recv().await {
        send_batch(&shared, &mut encoders, &batch.samples).await;
        source.done(batch.samples.len());
        in_flight.finish(batch.first);
        shared.metrics.queue.set(source.pending() as f64);
    }
}

/// Sends one batch in the endpoint's current protocol; again as 1.0 when
/// a 2.0 request was answered 415.
async fn send_batch(shared: &Shared, encoders: &mut Encoders, batch: &[Sample]) {
    let s = &shared.settings;
    let m = &shared.metrics;
    let n = batch.len() as u64;
    loop {
        let message = shared.protocol.current();
        let (body, stats) = match encoders.encode(shared, message, batch) {
            Ok(encoded) => encoded,
            Err(e) => {
                m.dropped(DropReason::Encode, n);
                tracing::error!(remote_name = %s.name, url = %s.url, samples = n, "remote write: dropping a batch that cannot be encoded: {e}");
                return;
            }
        };
        if !send_encoded(shared, message, body, stats, n).await {
            return;
        }
        if shared.protocol.fall_back(m) {
            tracing::warn!(remote_name = %s.name, url = %s.url, "remote write: the receiver does not take remote write 2.0 (415); this endpoint sends 1.0 from now on (with metadata as separate requests)");
        }
    }
}

/// Sends one encoded batch until it is acknowledged or rejected. Returns
/// true only when a 2.0 request was answered 415 (nothing counted as
/// dropped: the caller sends the batch again as 1.0).
async fn send_encoded(
    shared: &Shared,
    message: ProtobufMessage,
    body: Bytes,
    stats: EncodedStats,
    n: u64,
) -> bool {
    let s = &shared.settings;
    let m = &shared.metrics;
    let mut backoff = s.min_backoff;
    loop {
        let started = Instant::now();
        match shared.client.send(body.clone(), message).await {
            SendOutcome::Sent {
                code,
                samples_written,
            } => {
                let h = &shared.health;
                h.send_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                h.sends.fetch_add(1, Ordering::Relaxed);
                m.request(&code.to_string());
                m.samples_sent.add(n);
                m.bytes_sent.add(body.len() as u64);
                m.bytes_per_sample
                    .set(m.bytes_sent.get() as f64 / m.samples_sent.get().max(1) as f64);
                let newest = stats.max_timestamp_ms as f64 / 1000.0;
                if newest > m.highest_sent.get() {
                    m.highest_sent.set(newest);
                }
                if h.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(remote_name = %s.name, url = %s.url, "remote write: endpoint accepts requests again");
                }
                if let Some(written) = samples_written {
                    m.samples_written_reported.add(written);
                    if written != n && !h.written_mismatch_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(remote_name = %s.name, url = %s.url, sent = n, written, "remote write: the receiver reports writing a different number of samples than sent (logged once; see levee_remote_write_samples_written_reported_total)");
                    }
                }
                return false;
            }
            SendOutcome::Retry { code, after, cause } => {
                m.request(&code.map_or_else(|| "error".to_string(), |c| c.to_string()));
                m.samples_retried.add(n);
                shared.health.failed_recently.store(true, Ordering::Relaxed);
                if !shared.health.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(remote_name = %s.name, url = %s.url, "remote write: request failed, retrying with backoff until it succeeds: {cause}");
                }
                // A zero Retry-After (or a date in the past) means "now":
                // back off anyway rather than spin.
                let delay = after.filter(|d| !d.is_zero()).unwrap_or(backoff);
                backoff = (backoff * 2).min(s.max_backoff);
                tokio::time::sleep(delay).await;
            }
            SendOutcome::Reject { code: 415, .. } if message == ProtobufMessage::V2 => {
                m.request("415");
                return true;
            }
            SendOutcome::Reject { code, body } => {
                m.request(&code.to_string());
                m.samples_failed.add(n);
                m.dropped(DropReason::Rejected(code), n);
                if shared.health.rejected_codes.lock().insert(code) {
                    tracing::error!(remote_name = %s.name, url = %s.url, code, samples = n, "remote write: receiver rejected a batch; dropped, not retried (further rejections with this code are only counted): {body}");
                }
                return false;
            }
        }
    }
}
