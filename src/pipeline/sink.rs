//! The doors between producers and consumers: [`SampleSink`] for samples,
//! [`MetadataSink`] for metadata, and [`Sinks`], one of each.

use super::{Metadata, Sample};
use std::sync::Arc;

/// Takes samples a batch at a time: one scrape (its samples, synthetic
/// series and staleness markers) is one batch, so a batch lands whole or
/// not at all. `append` returns once the batch is accepted (for the TSDB:
/// in the WAL); it may do blocking I/O, so async callers call it off their
/// runtime's worker threads.
pub trait SampleSink: Send + Sync + 'static {
    /// Takes one batch and says what became of its samples. Producers that
    /// cannot act on the answer (a scrape loop) may ignore it; the
    /// remote-write receiver answers its sender from it.
    fn append(&self, batch: &[Sample]) -> Appended;
}

/// What became of one batch's samples. `stored` plus the refused ones is
/// the batch's length unless the batch `failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// Samples accepted (for the TSDB: in its WAL).
    pub stored: u64,
    /// Refused: older than their series' newest sample, or its timestamp
    /// with another value.
    pub out_of_order: u64,
    /// Refused: older than the storage's lower time bound.
    pub out_of_bounds: u64,
    /// Ignored: exact repeats of their series' newest sample.
    pub duplicates: u64,
    /// Refused: a label set the storage does not take.
    pub invalid: u64,
    /// The batch as a whole could not be stored (an I/O error): nothing of
    /// it was kept, and trying again later may succeed.
    pub failed: bool,
}

impl Appended {
    /// Every one of `n` samples accepted.
    pub fn all(n: usize) -> Appended {
        Appended {
            stored: n as u64,
            ..Appended::default()
        }
    }
}

/// Takes metric metadata (HELP, TYPE, UNIT) when a producer sees it new or
/// changed. Must not block.
pub trait MetadataSink: Send + Sync + 'static {
    /// Records `items`, replacing what was known of the same families.
    fn update(&self, items: &[Metadata]);
}

/// Where a producer sends what it produces: samples always, metadata when
/// somebody wants it (remote write sends it; without remote write nobody
/// does).
#[derive(Clone)]
pub struct Sinks {
    /// Where the samples go.
    pub samples: Arc<dyn SampleSink>,
    /// Where the metadata goes, if anywhere.
    pub metadata: Option<Arc<dyn MetadataSink>>,
}

impl Sinks {
    /// Samples to `samples`, metadata nowhere.
    pub fn samples(samples: Arc<dyn SampleSink>) -> Sinks {
        Sinks {
            samples,
            metadata: None,
        }
    }

    /// The same, with metadata to `metadata`.
    pub fn with_metadata(mut self, metadata: Arc<dyn MetadataSink>) -> Sinks {
        self.metadata = Some(metadata);
        self
    }
}
