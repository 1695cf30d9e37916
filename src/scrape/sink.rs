//! Where scraped samples go: the [`SampleSink`] the scrape loop appends a
//! whole scrape to at once.

use crate::remote::Sample;

/// Receives each successful scrape's samples (and stale markers) as one
/// batch. Implementations must not block on the network.
pub trait SampleSink: Send + Sync + 'static {
    /// Takes one scrape's worth of samples.
    fn append(&self, batch: &[Sample]);

    /// Takes a target's metric metadata (HELP, TYPE, UNIT) when it is new
    /// or changed. Ignored unless the sink sends metadata.
    fn metadata(&self, _items: &[crate::remote::Metadata]) {}
}

impl SampleSink for crate::remote::RemoteWriter {
    fn append(&self, batch: &[Sample]) {
        crate::remote::RemoteWriter::append(self, batch);
    }

    fn metadata(&self, items: &[crate::remote::Metadata]) {
        self.update_metadata(items);
    }
}

/// A sink that counts what it is given and drops it: used when no
/// `remote_write` is configured (storage arrives with the TSDB).
#[derive(Default)]
pub struct CountingSink {
    samples: std::sync::atomic::AtomicU64,
}

impl CountingSink {
    /// Samples received so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl SampleSink for CountingSink {
    fn append(&self, batch: &[Sample]) {
        self.samples
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Several sinks fed the same batches.
pub struct FanoutSink(pub Vec<std::sync::Arc<dyn SampleSink>>);

impl SampleSink for FanoutSink {
    fn append(&self, batch: &[Sample]) {
        for s in &self.0 {
            s.append(batch);
        }
    }

    fn metadata(&self, items: &[crate::remote::Metadata]) {
        for s in &self.0 {
            s.metadata(items);
        }
    }
}
