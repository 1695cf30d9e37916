//! The scrape loop of one target: every interval (at a stable per-target
//! offset) one scrape, in these steps, each with its own home:
//!
//! 1. the sample pass ([`super::pass`]): fetch, parse as the body streams
//!    in, resolve each sample to its final series ([`super::series`]:
//!    the scrape cache, relabeling, the guard's folded members);
//! 2. the gate ([`super::series`]): the guard, when the target has one,
//!    and the staleness markers of what vanished;
//! 3. the synthetic series ([`super::report`]);
//! 4. the hand-off of the whole scrape as one batch to the sink, off the
//!    async workers ([`super::commit`]), then the metadata;
//! 5. the self-metrics ([`super::metrics`]) and the target's status
//!    ([`super::status`]).
//!
//! A scrape either succeeds whole or fails whole (as in Prometheus): a
//! failure appends only `up 0`, the other synthetic series, and staleness
//! markers for every series of the last successful scrape.

use super::commit::commit;
use super::error::ScrapeError;
use super::fetch::Fetcher;
use super::guarded::GuardedTarget;
use super::metadata::MetadataTracker;
use super::metrics::ScrapeMetrics;
use super::pass::SamplePass;
use super::report::{Report, ScrapeStats};
use super::series::TargetSeries;
use super::status::TargetStatus;
use super::target::Target;
use crate::guard::{Ceiling, GuardState, TargetGuard};
use crate::pipeline::{Sample, Sinks};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Why a loop is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Keep running.
    Running,
    /// The target went away (reload): its series get staleness markers.
    Removed,
    /// levee is shutting down: series are left as they are, a restart
    /// continues them.
    Shutdown,
}

/// The state of one target's scraping.
pub struct ScrapeLoop<F: Fetcher> {
    target: Arc<Target>,
    fetcher: F,
    sinks: Sinks,
    metrics: Arc<ScrapeMetrics>,
    status: Arc<Mutex<TargetStatus>>,
    series: TargetSeries,
    metadata: MetadataTracker,
    report: Report,
    /// The scrape's batch; its buffer is reused from scrape to scrape.
    batch: Vec<Sample>,
}

impl<F: Fetcher> ScrapeLoop<F> {
    /// A loop for `target` fetching with `fetcher` into `sinks`.
    pub fn new(target: Arc<Target>, fetcher: F, sinks: Sinks, metrics: Arc<ScrapeMetrics>) -> Self {
        ScrapeLoop {
            series: TargetSeries::new(Arc::clone(&target), metrics.guard.clone()),
            status: Arc::new(Mutex::new(TargetStatus::new(&target))),
            report: Report::new(&target.labels),
            metadata: MetadataTracker::default(),
            batch: Vec::new(),
            target,
            fetcher,
            sinks,
            metrics,
        }
    }

    /// Makes a guarded target count toward the whole-agent ceiling.
    pub fn join_ceiling(&mut self, ceiling: &Arc<Ceiling>) {
        if let Some(g) = self.series.guarded_mut() {
            g.join_ceiling(ceiling);
        }
    }

    /// Hands the target's guard the state saved before a restart (ignored
    /// when the target has no guard now).
    pub fn restore_guard(&mut self, state: &GuardState) {
        if let Some(g) = self.series.guarded_mut() {
            g.restore(state);
        }
    }

    /// The target's guard, if it has one (for the cardinality API).
    pub fn guard(&self) -> Option<Arc<Mutex<TargetGuard>>> {
        self.series.guarded().map(GuardedTarget::shared)
    }

    /// The status shown by `/api/v1/targets`, updated after every scrape.
    pub fn status(&self) -> Arc<Mutex<TargetStatus>> {
        self.status.clone()
    }

    /// Runs until `stop` says otherwise, scraping at the target's offset
    /// within each interval.
    pub async fn run(mut self, mut stop: watch::Receiver<StopReason>) {
        let interval = self.target.interval;
        let first = tokio::time::Instant::now() + initial_delay(&self.target, SystemTime::now());
        let mut ticker = tokio::time::interval_at(first, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let ts = now_ms();
                    let _ = self.scrape_once(ts).await;
                }
                changed = stop.changed() => {
                    let reason = if changed.is_err() { StopReason::Shutdown } else { *stop.borrow() };
                    match reason {
                        StopReason::Running => continue,
                        StopReason::Removed => self.end(now_ms()).await,
                        StopReason::Shutdown => {}
                    }
                    break;
                }
            }
        }
        self.metrics
            .cached_series
            .with(&[&self.target.job.name])
            .add(-(self.series.cached() as f64));
    }

    /// One scrape at timestamp `ts_ms`: fetch, parse, append. Returns the
    /// counts, or why it failed (after appending `up 0` and staleness
    /// markers).
    pub async fn scrape_once(&mut self, ts_ms: i64) -> Result<ScrapeStats, ScrapeError> {
        let job = self.target.job.name.clone();
        let started = Instant::now();
        let wall = SystemTime::now();
        let cached_before = self.series.cached();
        self.metrics.scrapes.with(&[&job]).inc();
        self.series.begin(ts_ms);
        self.metadata.begin();
        self.batch.clear();
        let mut stats = ScrapeStats::default();

        let pass = SamplePass::new(
            &self.target,
            &mut self.series,
            &mut self.metadata,
            &mut self.batch,
            &mut stats,
            &self.metrics,
        )
        .run(&self.fetcher, ts_ms);
        let timeout = self.target.timeout;
        let passed = match tokio::time::timeout(timeout, pass).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout(timeout)),
        };
        let duration = started.elapsed();
        let gated = passed.and_then(|()| {
            self.series
                .finish(ts_ms, &mut self.batch)
                .map_err(ScrapeError::SeriesBudget)
        });
        let outcome = match gated {
            Ok(stale) => {
                stats.stale = stale;
                Ok(stats)
            }
            Err(e) => {
                self.batch.clear();
                self.series.mark_all_stale(ts_ms, &mut self.batch);
                stats.stale = self.batch.len() as u64;
                tracing::debug!(target_url = %self.target.url, error = %e, "scrape failed");
                Err(e)
            }
        };
        self.report
            .push(&mut self.batch, ts_ms, outcome.is_ok(), duration, &stats);

        commit(&self.sinks.samples, &mut self.batch).await;
        if let Some(items) = self.metadata.end(outcome.is_ok())
            && let Some(sink) = &self.sinks.metadata
        {
            sink.update(&items);
        }
        self.metrics.record_scrape(
            &job,
            &stats,
            self.batch.len(),
            self.series.cached() as f64 - cached_before as f64,
            outcome.as_ref().err(),
        );
        self.status
            .lock()
            .record(wall, duration, outcome.as_ref().err());
        outcome
    }

    /// The target is gone: staleness markers for all its series, including
    /// the synthetic ones.
    pub async fn end(&mut self, ts_ms: i64) {
        self.batch.clear();
        self.series.mark_all_stale(ts_ms, &mut self.batch);
        self.report.push_stale(&mut self.batch, ts_ms);
        commit(&self.sinks.samples, &mut self.batch).await;
        self.metrics
            .stale_markers
            .with(&[&self.target.job.name])
            .add(self.batch.len() as u64);
        self.batch.clear();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Time until the target's first scrape: each target gets a stable offset
/// within the interval (from a hash of its labels and URL), so targets
/// spread over the interval and keep their slot across restarts.
pub fn initial_delay(target: &Target, now: SystemTime) -> Duration {
    let interval = target.interval.as_nanos().max(1);
    let mut b = target.labels.to_builder();
    b.set("__url__", &target.url);
    let offset = u128::from(b.into_labels().stable_hash()) % interval;
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let phase = now_ns % interval;
    let wait = if offset >= phase {
        offset - phase
    } else {
        interval - phase + offset
    };
    Duration::from_nanos(wait as u64)
}
