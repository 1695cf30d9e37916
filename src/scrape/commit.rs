//! The hand-off of a scrape's batch to the sample sink, off the async
//! workers.
//!
//! [`SampleSink::append`] may block (the TSDB writes the WAL, and with
//! `wal_sync: always` fsyncs it), so it runs on tokio's blocking pool: the
//! batch is moved there and back, so its buffer is reused by the next
//! scrape. The loop awaits the hand-off before it goes on, so a scrape is
//! accepted when its commit returns, each scrape is one batch, and a
//! target's batches reach the sink in order.

use crate::pipeline::{Sample, SampleSink};
use std::sync::Arc;

/// Appends `batch` to `sink` on the blocking pool and waits for it; `batch`
/// comes back as it went (the sink only reads it).
pub(super) async fn commit(sink: &Arc<dyn SampleSink>, batch: &mut Vec<Sample>) {
    let sink = Arc::clone(sink);
    let samples = std::mem::take(batch);
    let handed = tokio::task::spawn_blocking(move || {
        sink.append(&samples);
        samples
    });
    match handed.await {
        Ok(samples) => *batch = samples,
        // The sink panicked: the scrape loop panics with it, as when the
        // sink ran on the loop's own thread.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: the append may not have run, and
        // nothing scrapes after this.
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::pipeline::Appended;
    use parking_lot::Mutex;
    use std::thread::ThreadId;

    #[derive(Default)]
    struct Witness(Mutex<Vec<(ThreadId, usize)>>);

    impl SampleSink for Witness {
        fn append(&self, batch: &[Sample]) -> Appended {
            self.0
                .lock()
                .push((std::thread::current().id(), batch.len()));
            Appended::all(batch.len())
        }
    }

    /// On a current-thread runtime too, the append runs on another thread,
    /// and the batch's buffer comes back.
    #[tokio::test]
    async fn the_batch_is_appended_off_the_runtime_and_comes_back() {
        let witness = Arc::new(Witness::default());
        let sink: Arc<dyn SampleSink> = witness.clone();
        let mut batch = Vec::with_capacity(64);
        batch.push(Sample {
            labels: Arc::new(Labels::from_pairs([("__name__", "up")])),
            timestamp_ms: 1,
            value: 1.0,
        });
        commit(&sink, &mut batch).await;
        let seen = witness.0.lock().clone();
        assert_eq!(seen.len(), 1);
        assert_ne!(seen[0].0, std::thread::current().id());
        assert_eq!(seen[0].1, 1);
        assert_eq!(batch.len(), 1, "the batch comes back as it went");
        assert!(batch.capacity() >= 64, "with its buffer");
    }
}
