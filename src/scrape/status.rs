//! What scraping shows about its targets: each target's [`TargetStatus`]
//! (health, last error, last scrape), the targets relabeling dropped
//! ([`DroppedTarget`]), each guarded target's [`CardinalityTarget`], and
//! [`StatusList`], the manager's live list of them behind the
//! [`TargetsView`] the web server reads (`/api/v1/targets`,
//! `/api/v1/status/cardinality`).

use super::error::ScrapeError;
use super::target::Target;
use crate::guard::{TargetCardinality, TargetGuard};
use crate::labels::Labels;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Health of a target after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    /// Not scraped yet.
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

/// One target as the API shows it.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// The job (scrape pool) name.
    pub job: String,
    /// Labels before relabeling.
    pub discovered_labels: Labels,
    /// Labels after relabeling (attached to every series).
    pub labels: Labels,
    /// The URL scraped.
    pub scrape_url: String,
    /// Health after the last scrape.
    pub health: TargetHealth,
    /// Error of the last scrape, empty when it succeeded.
    pub last_error: String,
    /// Start of the last scrape.
    pub last_scrape: Option<SystemTime>,
    /// Duration of the last scrape.
    pub last_scrape_duration: Duration,
    /// The target's interval (its job's, or as relabeling set it), as
    /// Prometheus writes durations.
    pub scrape_interval: String,
    /// The target's timeout, likewise.
    pub scrape_timeout: String,
}

impl TargetStatus {
    /// The status of `target` before its first scrape.
    pub fn new(target: &Target) -> TargetStatus {
        TargetStatus {
            job: target.job.name.clone(),
            discovered_labels: target.discovered.clone(),
            labels: target.labels.clone(),
            scrape_url: target.url.clone(),
            health: TargetHealth::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_scrape_duration: Duration::ZERO,
            scrape_interval: duration_text(
                target.interval,
                target.job.interval,
                &target.job.interval_text,
            ),
            scrape_timeout: duration_text(
                target.timeout,
                target.job.timeout,
                &target.job.timeout_text,
            ),
        }
    }

    /// Records a scrape started at `started` that took `duration`, and
    /// whether it failed.
    pub fn record(
        &mut self,
        started: SystemTime,
        duration: Duration,
        failure: Option<&ScrapeError>,
    ) {
        self.last_scrape = Some(started);
        self.last_scrape_duration = duration;
        match failure {
            None => {
                self.health = TargetHealth::Up;
                self.last_error.clear();
            }
            Some(e) => {
                self.health = TargetHealth::Down;
                self.last_error = e.to_string();
            }
        }
    }
}

/// A discovered target that relabeling dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    /// The job (scrape pool) name.
    pub job: String,
    /// Its labels before relabeling.
    pub discovered_labels: Labels,
}

/// A target's interval or timeout as shown: the job's text, or, when
/// relabeling set another (`__scrape_interval__`), that one in
/// Prometheus' duration format.
fn duration_text(target: Duration, job: Duration, job_text: &str) -> String {
    if target == job {
        job_text.to_owned()
    } else {
        crate::config::Duration::from_millis(target.as_millis() as u64).to_string()
    }
}

/// One guarded target's cardinality.
#[derive(Debug, Clone)]
pub struct CardinalityTarget {
    /// The job.
    pub job: String,
    /// The target's labels.
    pub labels: Labels,
    /// What its guard knows.
    pub cardinality: TargetCardinality,
}

/// Anything that can list targets (the scrape manager's [`StatusList`]).
pub trait TargetsView: Send + Sync {
    /// The current targets, in a stable order.
    fn targets(&self) -> Vec<TargetStatus>;

    /// The discovered targets relabeling dropped, in a stable order (none
    /// by default).
    fn dropped(&self) -> Vec<DroppedTarget> {
        Vec::new()
    }

    /// Guarded targets' cardinality with up to `top` labels each, in a
    /// stable order (none by default).
    fn cardinality(&self, _top: usize) -> Vec<CardinalityTarget> {
        Vec::new()
    }
}

/// A running target's guard, for reloads, saving and the cardinality API.
#[derive(Clone)]
pub(super) struct GuardEntry {
    pub(super) job: String,
    pub(super) labels: Labels,
    pub(super) url: String,
    pub(super) guard: Arc<Mutex<TargetGuard>>,
}

/// The live list of target statuses and dropped targets behind
/// `/api/v1/targets`, and of target guards behind
/// `/api/v1/status/cardinality`; the manager replaces them whenever its
/// targets change.
#[derive(Default)]
pub struct StatusList {
    statuses: Mutex<Vec<Arc<Mutex<TargetStatus>>>>,
    dropped: Mutex<Vec<DroppedTarget>>,
    guards: Mutex<Vec<GuardEntry>>,
}

impl StatusList {
    /// Replaces the lists with those of the targets running now.
    pub(super) fn set(
        &self,
        statuses: Vec<Arc<Mutex<TargetStatus>>>,
        mut dropped: Vec<DroppedTarget>,
        guards: Vec<GuardEntry>,
    ) {
        dropped.sort_by(|a, b| (&a.job, &a.discovered_labels).cmp(&(&b.job, &b.discovered_labels)));
        *self.statuses.lock() = statuses;
        *self.dropped.lock() = dropped;
        *self.guards.lock() = guards;
    }

    /// The guards of the targets running now (the list locked only while
    /// it is copied).
    pub(super) fn guards(&self) -> Vec<GuardEntry> {
        self.guards.lock().clone()
    }

    /// Guarded targets running now.
    pub(super) fn guard_count(&self) -> usize {
        self.guards.lock().len()
    }
}

impl TargetsView for StatusList {
    fn targets(&self) -> Vec<TargetStatus> {
        let mut all: Vec<TargetStatus> = self
            .statuses
            .lock()
            .iter()
            .map(|s| s.lock().clone())
            .collect();
        all.sort_by(|a, b| (&a.job, &a.scrape_url).cmp(&(&b.job, &b.scrape_url)));
        all
    }

    fn dropped(&self) -> Vec<DroppedTarget> {
        self.dropped.lock().clone()
    }

    fn cardinality(&self, top: usize) -> Vec<CardinalityTarget> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut all: Vec<CardinalityTarget> = self
            .guards()
            .iter()
            .map(|g| CardinalityTarget {
                job: g.job.clone(),
                labels: g.labels.clone(),
                cardinality: g.guard.lock().snapshot(now, top),
            })
            .collect();
        all.sort_by(|a, b| (&a.job, &a.labels).cmp(&(&b.job, &b.labels)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relabeled_interval_is_shown_as_the_target_has_it() {
        let s = Duration::from_secs;
        assert_eq!(duration_text(s(15), s(15), "15s"), "15s");
        assert_eq!(duration_text(s(90), s(15), "15s"), "1m30s");
        assert_eq!(
            duration_text(Duration::from_millis(500), s(1), "1s"),
            "500ms"
        );
    }
}
