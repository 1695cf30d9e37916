//! The dispatcher of one endpoint: takes the samples its tailer read from
//! the WAL ([`WalSource`]), routes each series to one shard by hash (so
//! samples of a series stay in order), cuts batches of
//! `max_samples_per_send` or at `batch_send_deadline`, and resizes the
//! shard set by the rule in [`sharding`](super::sharding).
//!
//! Resharding first flushes every batch and waits for the running shards to
//! finish, then starts the new set: a series never has batches in flight on
//! two shards at once.
//!
//! Acknowledgements: samples are numbered in the order they are taken. The
//! dispatcher knows the lowest number it still holds (waiting or in a batch
//! being filled) and [`InFlight`] the lowest of every batch handed to a
//! shard and not yet finished; the minimum of both is the watermark below
//! which everything is finished, reported with [`WalSource::release`]; it
//! becomes the endpoint's committed WAL position.

use super::metrics::DropReason;
use super::shard::{self, Batch, InFlight, Shared};
use super::sharding::{RESHARD_INTERVAL, ShardInputs, desired_shards};
use super::wal::source::WalSource;
use crate::labels::Labels;
use crate::pipeline::Sample;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Runs until the source is closed and everything taken from it is
/// finished.
pub(crate) async fn dispatch(shared: Arc<Shared>, source: Arc<WalSource>) {
    let s = &shared.settings;
    let in_flight = Arc::new(InFlight::default());
    let mut shards = Shards::start(&shared, &source, &in_flight, s.min_shards.max(1));
    let mut incoming = Vec::new();
    // Samples taken so far: the number of the next sample taken.
    let mut taken_total: u64 = 0;
    let mut reshard_at = Instant::now() + RESHARD_INTERVAL;
    let mut last_accepted = source.accepted_total();
    let mut last_reshard = Instant::now();
    loop {
        // Read the flag first: once closed, this take gets the last samples.
        let closed = source.is_closed();
        let before = incoming.len();
        source.take(&mut incoming);
        taken_total += (incoming.len() - before) as u64;
        // The number of `incoming[0]`.
        let first = taken_total - incoming.len() as u64;
        // While open, a saturated shard may hold the dispatcher only until
        // the next reshard check; then the rest of `incoming` waits.
        let until = (!closed).then_some(reshard_at);
        let mut taken = 0;
        while taken < incoming.len() {
            if !shards
                .push(&incoming[taken], first + taken as u64, until)
                .await
            {
                break;
            }
            taken += 1;
        }
        let blocked = taken < incoming.len();
        incoming.drain(..taken);
        shards.flush_expired(until).await;
        shared.metrics.queue.set(source.pending() as f64);
        if closed {
            source.release(shards.close(taken_total).await);
            source.stopped();
            return;
        }
        let held = (!incoming.is_empty()).then_some(first + taken as u64);
        source.release(shards.watermark(held, taken_total));
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
                backlog: source.backlog(),
                mean_send,
                max_samples_per_send: s.max_samples_per_send,
                failing,
            });
            if desired != shards.len() {
                tracing::info!(remote_name = %s.name, url = %s.url, from = shards.len(), to = desired, "remote write: resharding");
                shards.stop().await;
                shards = Shards::start(&shared, &source, &in_flight, desired);
            }
            last_accepted = accepted;
            last_reshard = now;
            reshard_at = now + RESHARD_INTERVAL;
        }
        if blocked {
            continue;
        }
        let wake = shards
            .next_deadline()
            .map_or(reshard_at, |d| d.min(reshard_at));
        tokio::select! {
            _ = source.wait() => {}
            _ = in_flight.finished() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The most samples reserved up front for a new batch, whatever
/// `max_samples_per_send` says.
const MAX_PREALLOCATED: usize = 10_000;

/// The running shards with the batch each is filling.
struct Shards {
    shared: Arc<Shared>,
    source: Arc<WalSource>,
    in_flight: Arc<InFlight>,
    senders: Vec<mpsc::Sender<Batch>>,
    batches: Vec<Vec<Sample>>,
    /// The number of each batch's first sample.
    firsts: Vec<u64>,
    deadlines: Vec<Option<Instant>>,
    tasks: JoinSet<()>,
}

impl Shards {
    fn start(
        shared: &Arc<Shared>,
        source: &Arc<WalSource>,
        in_flight: &Arc<InFlight>,
        n: usize,
    ) -> Self {
        let mut tasks = JoinSet::new();
        let mut senders = Vec::with_capacity(n);
        for _ in 0..n {
            // One batch queued per shard beyond the one in flight: enough to
            // keep the shard busy, little enough that a stuck shard pushes
            // back on the dispatcher (and so on the queue's capacity).
            let (tx, rx) = mpsc::channel(1);
            tasks.spawn(shard::run(
                shared.clone(),
                source.clone(),
                in_flight.clone(),
                rx,
            ));
            senders.push(tx);
        }
        shared.metrics.shards.set(n as f64);
        Shards {
            shared: shared.clone(),
            source: source.clone(),
            in_flight: in_flight.clone(),
            senders,
            batches: (0..n).map(|_| Vec::new()).collect(),
            firsts: vec![0; n],
            deadlines: vec![None; n],
            tasks,
        }
    }

    fn len(&self) -> usize {
        self.senders.len()
    }

    /// Adds a sample to its shard's batch, handing full batches to the
    /// shard. Returns false, without adding, when the shard's batch is full
    /// and the shard stayed busy until `until`.
    async fn push(&mut self, sample: &Sample, number: u64, until: Option<Instant>) -> bool {
        let max = self.shared.settings.max_samples_per_send;
        let i = shard_of(&sample.labels, self.len());
        if self.batches[i].len() >= max && !self.send(i, until).await {
            return false;
        }
        let batch = &mut self.batches[i];
        if batch.is_empty() {
            batch.reserve(max.min(MAX_PREALLOCATED));
            self.firsts[i] = number;
            self.deadlines[i] = Some(Instant::now() + self.shared.settings.batch_send_deadline);
        }
        batch.push(sample.clone());
        if batch.len() >= max {
            // If the shard is still busy the full batch stays here; the
            // next push to this shard (or a flush) tries again.
            self.send(i, until).await;
        }
        true
    }

    /// Hands shard `i` its batch, waiting for room at most until `until`
    /// (forever when `None`). Returns false when the batch is still here.
    async fn send(&mut self, i: usize, until: Option<Instant>) -> bool {
        if self.batches[i].is_empty() {
            self.deadlines[i] = None;
            return true;
        }
        let reserve = self.senders[i].reserve();
        let permit = match until {
            None => reserve.await,
            Some(t) => match tokio::time::timeout_at(t, reserve).await {
                Ok(r) => r,
                Err(_) => return false,
            },
        };
        let samples = std::mem::take(&mut self.batches[i]);
        self.deadlines[i] = None;
        let batch = Batch {
            samples,
            first: self.firsts[i],
        };
        match permit {
            Ok(permit) => {
                // Registered before the shard can finish it.
                self.in_flight.insert(batch.first);
                permit.send(batch)
            }
            Err(_) => {
                let batch = batch.samples;
                // Only possible if the shard task died (a bug): say so and
                // count, so nothing is lost silently.
                let s = &self.shared.settings;
                tracing::error!(remote_name = %s.name, url = %s.url, samples = batch.len(), "remote write: shard task is gone; dropping its batch");
                self.shared
                    .metrics
                    .dropped(DropReason::ShardFailed, batch.len() as u64);
                self.source.done(batch.len());
            }
        }
        true
    }

    async fn flush_expired(&mut self, until: Option<Instant>) {
        let now = Instant::now();
        for i in 0..self.len() {
            if self.deadlines[i].is_some_and(|d| d <= now) && !self.send(i, until).await {
                return;
            }
        }
    }

    /// The lowest sample number not yet finished: the lowest of `held`
    /// (the dispatcher's own first waiting sample), the batches being
    /// filled and those in flight; `taken` when nothing is held.
    fn watermark(&self, held: Option<u64>, taken: u64) -> u64 {
        let filling = self
            .batches
            .iter()
            .zip(&self.firsts)
            .filter(|(b, _)| !b.is_empty())
            .map(|(_, &f)| f);
        held.into_iter()
            .chain(filling)
            .chain(self.in_flight.lowest())
            .min()
            .unwrap_or(taken)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Sends every partial batch, waits for the shards to end and returns
    /// the watermark: the lowest sample number not finished, `taken` when
    /// every sample taken is. A batch can only be unfinished here if its
    /// shard died (a bug, logged by [`stop`](Self::stop)); its samples
    /// stay in the WAL rather than pass as finished.
    async fn close(self, taken: u64) -> u64 {
        let in_flight = self.in_flight.clone();
        self.stop().await;
        in_flight.lowest().unwrap_or(taken)
    }

    /// Sends every partial batch, then waits for the shards to finish.
    async fn stop(mut self) {
        for i in 0..self.len() {
            self.send(i, None).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::EndpointSettings;
    use crate::remote::client::Client;
    use crate::remote::metrics::{EndpointMetrics, Families};
    use crate::remote::shard::{Health, ProtocolState};
    use crate::remote::wal::{WalCap, WalPins, WalWatch};
    use crate::selfmon::Registry;
    use crate::tsdb::fs::MemDirectory;
    use crate::tsdb::wal::Position;
    use std::time::Duration;

    fn endpoint() -> (Arc<Shared>, Arc<WalSource>) {
        let settings = EndpointSettings::new("x", "http://127.0.0.1:1/api/v1/write");
        let metrics = EndpointMetrics::new(&Families::register(&Registry::new()), "x", "u");
        let source = Arc::new(WalSource::new(
            "x",
            "u",
            settings.capacity,
            Position::start_of(0),
            MemDirectory::new(),
            WalPins::new(WalCap::default()).register("x", 0),
            WalWatch::new(),
            metrics.clone(),
            Duration::from_secs(1),
            None,
        ));
        let shared = Arc::new(Shared {
            client: Client::new(&settings).expect("client"),
            protocol: ProtocolState::new(settings.protobuf_message, &metrics),
            settings,
            external: Labels::empty(),
            metrics,
            health: Health::default(),
            metadata: Default::default(),
        });
        (shared, source)
    }

    /// The flake of the old in-memory mode, in WAL terms: a batch handed
    /// to a shard that dies before finishing it must hold the final
    /// watermark, or the position file passes samples never sent.
    #[tokio::test]
    async fn a_batch_lost_with_its_shard_is_not_released_at_close() {
        let (shared, source) = endpoint();
        let in_flight = Arc::new(InFlight::default());
        let mut shards = Shards::start(&shared, &source, &in_flight, 1);
        let labels = Arc::new(Labels::from_pairs([("__name__", "x")]));
        // Samples 0..10 are finished; the batch of 10..15 is handed over.
        shards.batches[0] = (10..15)
            .map(|t| Sample {
                labels: labels.clone(),
                timestamp_ms: t,
                value: 1.0,
            })
            .collect();
        shards.firsts[0] = 10;
        assert!(shards.send(0, None).await);
        // The shard dies holding it (as a panic would end it): the batch
        // stays registered in flight, never finished.
        shards.tasks.abort_all();
        assert_eq!(shards.close(15).await, 10);
    }
}
