//! The dispatcher of one endpoint: takes samples from its
//! [`SampleSource`], routes each series to one shard by hash (so samples of
//! a series stay in order), cuts batches of `max_samples_per_send` or at
//! `batch_send_deadline`, and resizes the shard set by the rule in
//! [`sharding`](super::sharding).
//!
//! Resharding first flushes every batch and waits for the running shards to
//! finish, then starts the new set: a series never has batches in flight on
//! two shards at once.

use super::Sample;
use super::metrics::DropReason;
use super::shard::{self, Shared};
use super::sharding::{RESHARD_INTERVAL, ShardInputs, desired_shards};
use super::source::SampleSource;
use crate::labels::Labels;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Runs until the source is closed and everything taken from it is
/// finished.
pub(crate) async fn dispatch<S: SampleSource>(shared: Arc<Shared>, source: Arc<S>) {
    let s = &shared.settings;
    let mut shards = Shards::start(&shared, &source, s.min_shards.max(1));
    let mut incoming = Vec::new();
    let mut reshard_at = Instant::now() + RESHARD_INTERVAL;
    let mut last_accepted = source.accepted_total();
    let mut last_reshard = Instant::now();
    loop {
        // Read the flag first: once closed, this take gets the last samples.
        let closed = source.is_closed();
        source.take(&mut incoming);
        for sample in incoming.drain(..) {
            shards.push(sample).await;
        }
        shards.flush_expired().await;
        shared.metrics.queue.set(source.pending() as f64);
        if closed {
            shards.stop().await;
            return;
        }
        let now = Instant::now();
        if now >= reshard_at {
            let accepted = source.accepted_total();
            let secs = now.duration_since(last_reshard).as_secs_f64().max(1e-3);
            let (mean_send, failing) = shared.health.interval();
            let desired = desired_shards(ShardInputs {
                current: shards.len(),
                min: s.min_shards,
                max: s.max_shards,
                incoming_per_sec: (accepted - last_accepted) as f64 / secs,
                backlog: source.pending(),
                mean_send,
                max_samples_per_send: s.max_samples_per_send,
                failing,
            });
            if desired != shards.len() {
                tracing::info!(remote_name = %s.name, url = %s.url, from = shards.len(), to = desired, "remote write: resharding");
                shards.stop().await;
                shards = Shards::start(&shared, &source, desired);
            }
            last_accepted = accepted;
            last_reshard = now;
            reshard_at = now + RESHARD_INTERVAL;
        }
        let wake = shards
            .next_deadline()
            .map_or(reshard_at, |d| d.min(reshard_at));
        tokio::select! {
            _ = source.wait() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The running shards with the batch each is filling.
struct Shards<S: SampleSource> {
    shared: Arc<Shared>,
    source: Arc<S>,
    senders: Vec<mpsc::Sender<Vec<Sample>>>,
    batches: Vec<Vec<Sample>>,
    deadlines: Vec<Option<Instant>>,
    tasks: JoinSet<()>,
}

impl<S: SampleSource> Shards<S> {
    fn start(shared: &Arc<Shared>, source: &Arc<S>, n: usize) -> Self {
        let mut tasks = JoinSet::new();
        let mut senders = Vec::with_capacity(n);
        for _ in 0..n {
            // One batch queued per shard beyond the one in flight: enough to
            // keep the shard busy, little enough that a stuck shard pushes
            // back on the dispatcher (and so on the queue's capacity).
            let (tx, rx) = mpsc::channel(1);
            tasks.spawn(shard::run(shared.clone(), source.clone(), rx));
            senders.push(tx);
        }
        shared.metrics.shards.set(n as f64);
        Shards {
            shared: shared.clone(),
            source: source.clone(),
            senders,
            batches: (0..n).map(|_| Vec::new()).collect(),
            deadlines: vec![None; n],
            tasks,
        }
    }

    fn len(&self) -> usize {
        self.senders.len()
    }

    async fn push(&mut self, sample: Sample) {
        let i = shard_of(&sample.labels, self.len());
        let batch = &mut self.batches[i];
        if batch.is_empty() {
            batch.reserve(self.shared.settings.max_samples_per_send);
            self.deadlines[i] = Some(Instant::now() + self.shared.settings.batch_send_deadline);
        }
        batch.push(sample);
        if batch.len() >= self.shared.settings.max_samples_per_send {
            self.send(i).await;
        }
    }

    async fn send(&mut self, i: usize) {
        let batch = std::mem::take(&mut self.batches[i]);
        self.deadlines[i] = None;
        if batch.is_empty() {
            return;
        }
        if let Err(mpsc::error::SendError(batch)) = self.senders[i].send(batch).await {
            // Only possible if the shard task died (a bug): say so and count.
            let s = &self.shared.settings;
            tracing::error!(remote_name = %s.name, url = %s.url, samples = batch.len(), "remote write: shard task is gone; dropping its batch");
            self.shared
                .metrics
                .dropped(DropReason::ShardFailed, batch.len() as u64);
            self.source.done(batch.len());
        }
    }

    async fn flush_expired(&mut self) {
        let now = Instant::now();
        for i in 0..self.len() {
            if self.deadlines[i].is_some_and(|d| d <= now) {
                self.send(i).await;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Sends every partial batch, then waits for the shards to finish.
    async fn stop(mut self) {
        for i in 0..self.len() {
            self.send(i).await;
        }
        self.senders.clear();
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                let s = &self.shared.settings;
                tracing::error!(remote_name = %s.name, url = %s.url, "remote write: shard task failed: {e}");
            }
        }
    }
}

/// The shard a series belongs to for a given shard count.
fn shard_of(labels: &Labels, n: usize) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    labels.hash(&mut h);
    (h.finish() % n as u64) as usize
}
