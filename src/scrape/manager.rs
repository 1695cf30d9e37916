//! The scrape manager: one task per target. Applying a new set of jobs
//! starts loops for new targets, stops (with staleness markers) loops whose
//! target went away, and leaves unchanged targets running undisturbed.

use super::job::Job;
use super::metrics::ScrapeMetrics;
use super::scrape_loop::{ScrapeLoop, StopReason};
use super::status::{GuardEntry, StatusList, TargetStatus, TargetsView};
use super::target::{Target, TargetError, populate};
use crate::guard::persist::{Encoder, Sink, TargetState};
use crate::guard::{Ceiling, GuardState};
use crate::labels::Labels;
use crate::pipeline::Sinks;
use crate::selfmon::Registry;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

type TargetKey = (String, Labels, String);

struct Running {
    stop: watch::Sender<StopReason>,
    task: JoinHandle<()>,
    status: Arc<Mutex<TargetStatus>>,
    guard: Option<GuardEntry>,
}

/// Owns the scrape loops.
pub struct ScrapeManager {
    sinks: Sinks,
    metrics: Arc<ScrapeMetrics>,
    running: HashMap<TargetKey, Running>,
    view: Arc<StatusList>,
    ceiling: Arc<Ceiling>,
    /// Guard states saved before a restart, handed to their targets by the
    /// first [`ScrapeManager::apply`].
    restored: HashMap<TargetKey, GuardState>,
}

impl ScrapeManager {
    /// A manager sending every scrape to `sinks`.
    pub fn new(sinks: Sinks, registry: &Registry) -> Self {
        ScrapeManager {
            sinks,
            metrics: Arc::new(ScrapeMetrics::new(registry)),
            running: HashMap::new(),
            view: Arc::default(),
            ceiling: Arc::default(),
            restored: HashMap::new(),
        }
    }

    /// The whole-agent ceiling the targets share (remote-write sources
    /// join it too).
    pub fn ceiling(&self) -> Arc<Ceiling> {
        Arc::clone(&self.ceiling)
    }

    /// Guard states saved before a restart: the next [`ScrapeManager::apply`]
    /// hands each to its target's new loop and drops those of targets that
    /// are not configured any more.
    pub fn restore_guards(&mut self, states: Vec<TargetState>) {
        self.restored = states
            .into_iter()
            .map(|t| ((t.job, t.labels, t.url), t.state))
            .collect();
    }

    /// A handle for saving every running target's guard state.
    pub fn guard_states(&self) -> GuardStates {
        GuardStates(self.view.clone())
    }

    /// The target list for the web API.
    pub fn targets_view(&self) -> Arc<dyn TargetsView> {
        self.view.clone()
    }

    /// Number of running target loops.
    pub fn target_count(&self) -> usize {
        self.running.len()
    }

    /// Makes the running loops match `jobs`. Returns the targets that could
    /// not be built (each also logged); the others run regardless.
    pub fn apply(&mut self, jobs: &[Arc<Job>]) -> Vec<TargetError> {
        let mut errors = Vec::new();
        let max_series = jobs.iter().map(|j| j.guard.max_series).max().unwrap_or(0);
        self.ceiling.set_max(max_series);
        let mut wanted: HashMap<TargetKey, Target> = HashMap::new();
        for job in jobs {
            for group in &job.groups {
                for address in &group.targets {
                    match populate(job, &group.labels, address) {
                        Ok(Some(t)) => {
                            wanted.insert(t.identity(), t);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(job = %job.name, address = %address, error = %e, "target skipped");
                            errors.push(e);
                        }
                    }
                }
            }
        }
        let gone: Vec<TargetKey> = self
            .running
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(r) = self.running.remove(&key) {
                let _ = r.stop.send(StopReason::Removed);
            }
        }
        for (key, target) in wanted {
            if let Some(r) = self.running.get(&key) {
                // A reload may change the guard settings of a running target.
                if let Some(g) = &r.guard {
                    let settings = target.job.guard.settings(target.series_budget);
                    let mut guard = g.guard.lock();
                    if *guard.settings() != settings {
                        guard.reconfigure(settings);
                    }
                }
                continue;
            }
            let fetcher = target.job.fetcher.clone();
            let job_name = target.job.name.clone();
            let lp_labels = target.labels.clone();
            let mut lp = ScrapeLoop::new(
                Arc::new(target),
                fetcher,
                self.sinks.clone(),
                self.metrics.clone(),
            );
            if let Some(state) = self.restored.remove(&key) {
                lp.restore_guard(&state);
            }
            lp.join_ceiling(&self.ceiling);
            let guard = lp.guard().map(|guard| GuardEntry {
                job: job_name.clone(),
                labels: lp_labels.clone(),
                url: key.2.clone(),
                guard,
            });
            let status = lp.status();
            let (stop, stop_rx) = watch::channel(StopReason::Running);
            let task = tokio::spawn(lp.run(stop_rx));
            self.metrics.targets.with(&[&job_name]).add(1.0);
            self.running.insert(
                key,
                Running {
                    stop,
                    task,
                    status,
                    guard,
                },
            );
        }
        if !self.restored.is_empty() {
            tracing::info!(
                targets = self.restored.len(),
                "guard state of targets no longer configured dropped"
            );
            self.restored.clear();
        }
        self.refresh_view(jobs);
        errors
    }

    fn refresh_view(&self, jobs: &[Arc<Job>]) {
        self.view.set(
            self.running.values().map(|r| r.status.clone()).collect(),
            self.running
                .values()
                .filter_map(|r| r.guard.clone())
                .collect(),
        );
        // Target counts per job follow the running set.
        for job in jobs {
            let n = self.running.keys().filter(|k| k.0 == job.name).count();
            self.metrics.targets.with(&[&job.name]).set(n as f64);
        }
    }

    /// Stops every loop (no staleness markers: a restart continues the
    /// series) and waits for them to finish their current scrape.
    pub async fn shutdown(mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for r in &running {
            let _ = r.stop.send(StopReason::Shutdown);
        }
        for r in running {
            let _ = r.task.await;
        }
    }
}

/// Every running target's guard, for saving their states
/// (`docs/format/guard-state.md`).
#[derive(Clone)]
pub struct GuardStates(Arc<StatusList>);

impl GuardStates {
    /// Guarded targets running now.
    pub fn len(&self) -> usize {
        self.0.guard_count()
    }

    /// Whether no guarded target runs now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every guarded target's state to `enc`, each guard locked only
    /// while its own state is encoded (its members straight from its
    /// table: [`Encoder::add_guard`]); stops early when a write of `enc`
    /// failed (its [`Encoder::finish`] reports it). The encoder writes
    /// the file as it encodes it, so a guard's lock is held through the
    /// writes of the buffers its state fills (to the page cache; the
    /// fsync follows unlocked). The scrape loop locks the guard per body
    /// chunk, so a save delays one chunk of a target's scrape by at most
    /// one encoding of that target (its cost: `docs/guard.md`, "Across
    /// restarts").
    pub fn encode<S: Sink>(&self, enc: &mut Encoder<S>) {
        let entries = self.0.guards();
        for g in &entries {
            if enc.failed() {
                return;
            }
            let guard = g.guard.lock();
            enc.add_guard(&g.job, &g.url, &g.labels, &guard);
        }
    }
}
