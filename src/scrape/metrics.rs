//! The scrape subsystem's self-metrics (`levee_scrape_*`), and what one
//! scrape adds to them.

use super::error::ScrapeError;
use super::report::ScrapeStats;
use crate::selfmon::{Counter, Family, Gauge, Registry};
use std::sync::Arc;

/// Counters shared by every scrape loop.
pub struct ScrapeMetrics {
    /// Scrapes attempted, by job.
    pub scrapes: Arc<Family<Counter>>,
    /// Failed scrapes, by job and reason.
    pub failures: Arc<Family<Counter>>,
    /// Samples read from targets, by job.
    pub samples_scraped: Arc<Family<Counter>>,
    /// Samples kept after metric relabeling, by job.
    pub samples_appended: Arc<Family<Counter>>,
    /// Stale markers written, by job.
    pub stale_markers: Arc<Family<Counter>>,
    /// Samples skipped because the series repeated within one scrape, by job.
    pub duplicates: Arc<Family<Counter>>,
    /// Exemplars skipped by the parser, by job.
    pub exemplars_skipped: Arc<Family<Counter>>,
    /// Series in the per-target scrape caches, by job.
    pub cached_series: Arc<Family<Gauge>>,
    /// Targets currently scraped, by job.
    pub targets: Arc<Family<Gauge>>,
    /// The series-budget guard's metrics, by job and instance.
    pub guard: Arc<super::guarded::GuardMetrics>,
}

impl ScrapeMetrics {
    /// Registers the scrape metrics in `reg`.
    pub fn new(reg: &Registry) -> Self {
        ScrapeMetrics {
            scrapes: reg.counter_vec("levee_scrapes_total", "Scrapes attempted.", &["job"]),
            failures: reg.counter_vec(
                "levee_scrape_failures_total",
                "Scrapes that failed, by reason.",
                &["job", "reason"],
            ),
            samples_scraped: reg.counter_vec(
                "levee_scrape_samples_scraped_total",
                "Samples read from target bodies.",
                &["job"],
            ),
            samples_appended: reg.counter_vec(
                "levee_scrape_samples_appended_total",
                "Samples handed on after metric relabeling, including synthetic series.",
                &["job"],
            ),
            stale_markers: reg.counter_vec(
                "levee_scrape_stale_markers_total",
                "Staleness markers written for series that vanished.",
                &["job"],
            ),
            duplicates: reg.counter_vec(
                "levee_scrape_samples_duplicate_total",
                "Samples skipped because their series appeared twice in one scrape.",
                &["job"],
            ),
            exemplars_skipped: reg.counter_vec(
                "levee_scrape_exemplars_skipped_total",
                "Exemplars read and skipped.",
                &["job"],
            ),
            cached_series: reg.gauge_vec(
                "levee_scrape_cache_series",
                "Series held in the per-target scrape caches.",
                &["job"],
            ),
            targets: reg.gauge_vec("levee_scrape_targets", "Targets being scraped.", &["job"]),
            guard: Arc::new(super::guarded::GuardMetrics::new(reg)),
        }
    }
}

impl ScrapeMetrics {
    /// Records a scrape of a `job` target (counted in `levee_scrapes_total`
    /// as it started): its counts, the `appended` samples handed on, how
    /// its scrape cache changed, and why it failed.
    pub(super) fn record_scrape(
        &self,
        job: &str,
        stats: &ScrapeStats,
        appended: usize,
        cache_change: f64,
        failure: Option<&ScrapeError>,
    ) {
        if let Some(e) = failure {
            self.failures.with(&[job, e.reason()]).inc();
        }
        self.samples_scraped.with(&[job]).add(stats.scraped);
        self.stale_markers.with(&[job]).add(stats.stale);
        self.samples_appended.with(&[job]).add(appended as u64);
        self.cached_series.with(&[job]).add(cache_change);
    }
}
