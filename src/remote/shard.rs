//! One shard: a task that takes batches from the dispatcher, encodes each,
//! POSTs it and retries until it is acknowledged or rejected.
//!
//! Retry policy (Prometheus'): network errors, timeouts and 5xx — and 429
//! when `retry_on_429` — retry after `min_backoff`, doubling up to
//! `max_backoff`, or after the receiver's `Retry-After` when it gave a
//! positive one.
//! Any other status drops the batch, counted by `http_<code>` and logged once
//! per code.

use super::client::{Client, SendOutcome};
use super::codec::WriteRequestEncoder;
use super::metrics::{DropReason, EndpointMetrics};
use super::settings::EndpointSettings;
use super::wal::source::WalSource;
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
    let mut encoder = WriteRequestEncoder::new();
    while let Some(batch) = batches.recv().await {
        send_batch(&shared, &mut encoder, &batch.samples).await;
        source.done(batch.samples.len());
        in_flight.finish(batch.first);
        shared.metrics.queue.set(source.pending() as f64);
    }
}

async fn send_batch(shared: &Shared, encoder: &mut WriteRequestEncoder, batch: &[Sample]) {
    let s = &shared.settings;
    let m = &shared.metrics;
    let n = batch.len() as u64;
    let (body, stats) = match encoder.encode(batch, &shared.external) {
        Ok((body, stats)) => (Bytes::copy_from_slice(body), stats),
        Err(e) => {
            m.dropped(DropReason::Encode, n);
            tracing::error!(remote_name = %s.name, url = %s.url, samples = n, "remote write: dropping a batch that cannot be encoded: {e}");
            return;
        }
    };
    let mut backoff = s.min_backoff;
    loop {
        let started = Instant::now();
        match shared.client.send(body.clone()).await {
            SendOutcome::Sent(code) => {
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
                return;
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
            SendOutcome::Reject { code, body } => {
                m.request(&code.to_string());
                m.samples_failed.add(n);
                m.dropped(DropReason::Rejected(code), n);
                if shared.health.rejected_codes.lock().insert(code) {
                    tracing::error!(remote_name = %s.name, url = %s.url, code, samples = n, "remote write: receiver rejected a batch; dropped, not retried (further rejections with this code are only counted): {body}");
                }
                return;
            }
        }
    }
}
