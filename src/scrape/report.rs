//! The synthetic series every scrape writes beside its samples (`up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`, `scrape_series_added`), and
//! [`ScrapeStats`], the counts they report.

use crate::labels::{Labels, METRIC_NAME};
use crate::pipeline::Sample;
use crate::value::stale_nan;
use std::sync::Arc;
use std::time::Duration;

/// Counts of one successful scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Samples in the body.
    pub scraped: u64,
    /// Samples kept after metric relabeling.
    pub post_relabel: u64,
    /// Series not in the previous scrape.
    pub series_added: u64,
    /// Staleness markers written for vanished series.
    pub stale: u64,
}

const NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// One target's synthetic series: their label sets, built once, and
/// whether any was written yet (only then does a removed target get
/// staleness markers for them).
pub(super) struct Report {
    labels: [Arc<Labels>; 5],
    written: bool,
}

impl Report {
    /// The synthetic series of a target with `target` labels.
    pub(super) fn new(target: &Labels) -> Report {
        Report {
            labels: NAMES.map(|name| {
                let mut b = target.to_builder();
                b.set(METRIC_NAME, name);
                Arc::new(b.into_labels())
            }),
            written: false,
        }
    }

    /// Appends the five series of a scrape at `ts_ms` that succeeded
    /// (`up`) or not, took `duration` and counted `stats`.
    pub(super) fn push(
        &mut self,
        batch: &mut Vec<Sample>,
        ts_ms: i64,
        up: bool,
        duration: Duration,
        stats: &ScrapeStats,
    ) {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            stats.scraped as f64,
            stats.post_relabel as f64,
            stats.series_added as f64,
        ];
        self.append(batch, ts_ms, values);
        self.written = true;
    }

    /// The target is gone: a staleness marker for each synthetic series,
    /// if any was written.
    pub(super) fn push_stale(&self, batch: &mut Vec<Sample>, ts_ms: i64) {
        if self.written {
            self.append(batch, ts_ms, [stale_nan(); 5]);
        }
    }

    fn append(&self, batch: &mut Vec<Sample>, ts_ms: i64, values: [f64; 5]) {
        for (labels, value) in self.labels.iter().zip(values) {
            batch.push(Sample {
                labels: labels.clone(),
                timestamp_ms: ts_ms,
                value,
            });
        }
    }
}
