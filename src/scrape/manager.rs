//! The scrape manager: one task per target. Its one input is every job's
//! target groups from the discovery manager (static ones included),
//! applied when the jobs change (start, reload) and whenever discovery
//! publishes: loops start for new targets, loops whose target went away
//! stop (with staleness markers), and unchanged targets (same job, final
//! labels and URL) keep running undisturbed, with their guard state.

use super::job::Job;
use super::metrics::ScrapeMetrics;
use super::scrape_loop::{ScrapeLoop, StopReason};
use super::status::{DroppedTarget, GuardEntry, StatusList, TargetStatus, TargetsView};
use super::target::{Populated, Target, TargetError, populate};
use crate::discovery::manager::{DiscoveryManager, DiscoverySettings, JobDiscovery, TargetSets};
use crate::guard::persist::{Encoder, Sink, TargetState};
use crate::guard::{Ceiling, GuardState};
use crate::labels::Labels;
use crate::pipeline::Sinks;
use crate::selfmon::Registry;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

type TargetKey = (String, Labels, String);

/// How long after [`ScrapeManager::restore_guards`] the guard state of a
/// target not running yet is kept for it: a discovered target appears
/// only when its provider first reports (a file read, an API server
/// listed) and the debounce passed, after the first apply. States of jobs
/// without discovery are settled by the first apply.
pub const RESTORE_GRACE: Duration = Duration::from_secs(120);

struct Running {
    stop: watch::Sender<StopReason>,
    task: JoinHandle<()>,
    status: Arc<Mutex<TargetStatus>>,
    guard: Option<GuardEntry>,
}

/// Owns the scrape loops and the discovery that finds their targets.
pub struct ScrapeManager {
    loops: Arc<Mutex<Loops>>,
    discovery: DiscoveryManager,
    follower: JoinHandle<()>,
}

/// The running loops and what they were made from.
struct Loops {
    sinks: Sinks,
    metrics: Arc<ScrapeMetrics>,
    running: HashMap<TargetKey, Running>,
    view: Arc<StatusList>,
    ceiling: Arc<Ceiling>,
    /// The jobs of the last [`ScrapeManager::apply`].
    jobs: Vec<Arc<Job>>,
    /// Guard states saved before a restart, handed to their targets' new
    /// loops; see [`RESTORE_GRACE`].
    restored: HashMap<TargetKey, GuardState>,
    restored_at: Instant,
}

impl ScrapeManager {
    /// A manager sending every scrape to `sinks`, with discovery's default
    /// settings. Must run inside a tokio runtime.
    pub fn new(sinks: Sinks, registry: &Registry) -> Self {
        Self::with_discovery(sinks, registry, DiscoverySettings::default())
    }

    /// A manager whose discovery publishes with `settings`.
    pub fn with_discovery(sinks: Sinks, registry: &Registry, settings: DiscoverySettings) -> Self {
        let discovery = DiscoveryManager::new(settings, registry);
        let loops = Arc::new(Mutex::new(Loops {
            sinks,
            metrics: Arc::new(ScrapeMetrics::new(registry)),
            running: HashMap::new(),
            view: Arc::default(),
            ceiling: Arc::default(),
            jobs: Vec::new(),
            restored: HashMap::new(),
            restored_at: Instant::now(),
        }));
        let follower = tokio::spawn(follow(Arc::clone(&loops), discovery.subscribe()));
        ScrapeManager {
            loops,
            discovery,
            follower,
        }
    }

    /// The whole-agent ceiling the targets share (remote-write sources
    /// join it too).
    pub fn ceiling(&self) -> Arc<Ceiling> {
        Arc::clone(&self.loops.lock().ceiling)
    }

    /// Guard states saved before a restart: the next [`ScrapeManager::apply`]
    /// hands each to its target's new loop; states of targets not running
    /// then are kept for discovered targets up to [`RESTORE_GRACE`].
    pub fn restore_guards(&mut self, states: Vec<TargetState>) {
        let mut loops = self.loops.lock();
        loops.restored = states
            .into_iter()
            .map(|t| ((t.job, t.labels, t.url), t.state))
            .collect();
        loops.restored_at = Instant::now();
    }

    /// A handle for saving every running target's guard state.
    pub fn guard_states(&self) -> GuardStates {
        GuardStates(self.loops.lock().view.clone())
    }

    /// The target list for the web API.
    pub fn targets_view(&self) -> Arc<dyn TargetsView> {
        self.loops.lock().view.clone()
    }

    /// Number of running target loops.
    pub fn target_count(&self) -> usize {
        self.loops.lock().running.len()
    }

    /// Makes the running loops match `jobs`: their static targets at once,
    /// the discovered ones as discovery has them now and as it finds
    /// more. Returns the targets that could not be built (each also
    /// logged); the others run regardless.
    pub fn apply(&mut self, jobs: &[Arc<Job>]) -> Vec<TargetError> {
        let wanted: Vec<JobDiscovery> = jobs
            .iter()
            .map(|j| JobDiscovery {
                job: j.name.clone(),
                static_groups: j.groups.clone(),
                sd_configs: j.sd_configs.clone(),
            })
            .collect();
        // Under the loops' lock, so the follower sees the new jobs with
        // the sets discovery publishes from now on.
        let mut loops = self.loops.lock();
        let sets = self.discovery.apply(&wanted);
        loops.jobs = jobs.to_vec();
        loops.sync(&sets)
    }

    /// Stops discovery and every loop (no staleness markers: a restart
    /// continues the series) and waits for them to finish their current
    /// scrape.
    pub async fn shutdown(self) {
        self.follower.abort();
        drop(self.discovery);
        let running: Vec<Running> = self.loops.lock().running.drain().map(|(_, r)| r).collect();
        for r in &running {
            let _ = r.stop.send(StopReason::Shutdown);
        }
        for r in running {
            let _ = r.task.await;
        }
    }
}

/// Applies every publication of discovery to the loops.
async fn follow(loops: Arc<Mutex<Loops>>, mut sets: watch::Receiver<Arc<TargetSets>>) {
    while sets.changed().await.is_ok() {
        let mut loops = loops.lock();
        // The latest, read under the lock (see `ScrapeManager::apply`).
        let latest = Arc::clone(&sets.borrow_and_update());
        loops.sync(&latest);
    }
}

impl Loops {
    /// Makes the running loops match the jobs' targets in `sets`.
    fn sync(&mut self, sets: &TargetSets) -> Vec<TargetError> {
        let mut errors = Vec::new();
        let max_series = self
            .jobs
            .iter()
            .map(|j| j.guard.max_series)
            .max()
            .unwrap_or(0);
        self.ceiling.set_max(max_series);
        let mut wanted: HashMap<TargetKey, Target> = HashMap::new();
        let mut dropped = Vec::new();
        for job in &self.jobs {
            for group in sets.jobs.get(&job.name).into_iter().flatten() {
                for labels in &group.targets {
                    match populate(job, &group.labels, labels) {
                        Ok(Populated::Active(t)) => {
                            wanted.insert(t.identity(), t);
                        }
                        Ok(Populated::Dropped(discovered_labels)) => dropped.push(DroppedTarget {
                            job: job.name.clone(),
                            discovered_labels,
                        }),
                        Err(e) => {
                            tracing::warn!(job = %job.name, source = %group.source, error = %e, "target skipped");
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
                // The same target, perhaps with other labels before
                // relabeling (a pod's annotation changed).
                let mut status = r.status.lock();
                if status.discovered_labels != target.discovered {
                    status.discovered_labels = target.discovered.clone();
                }
                drop(status);
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
            self.start(key, target);
        }
        let discovered: Vec<&str> = self
            .jobs
            .iter()
            .filter(|j| !j.sd_configs.is_empty())
            .map(|j| j.name.as_str())
            .collect();
        let in_grace = self.restored_at.elapsed() < RESTORE_GRACE;
        let before = self.restored.len();
        self.restored
            .retain(|key, _| in_grace && discovered.contains(&key.0.as_str()));
        if self.restored.len() < before {
            tracing::info!(
                targets = before - self.restored.len(),
                "guard state of targets no longer configured dropped"
            );
        }
        self.refresh_view(dropped);
        errors
    }

    fn start(&mut self, key: TargetKey, target: Target) {
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
            job: job_name,
            labels: lp_labels,
            url: key.2.clone(),
            guard,
        });
        let status = lp.status();
        let (stop, stop_rx) = watch::channel(StopReason::Running);
        let task = tokio::spawn(lp.run(stop_rx));
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

    fn refresh_view(&self, dropped: Vec<DroppedTarget>) {
        self.view.set(
            self.running.values().map(|r| r.status.clone()).collect(),
            dropped,
            self.running
                .values()
                .filter_map(|r| r.guard.clone())
                .collect(),
        );
        // Target counts per job follow the running set.
        for job in &self.jobs {
            let n = self.running.keys().filter(|k| k.0 == job.name).count();
            self.metrics.targets.with(&[&job.name]).set(n as f64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Appended, Sample, SampleSink};

    struct Discard;
    impl SampleSink for Discard {
        fn append(&self, batch: &[Sample]) -> Appended {
            Appended::all(batch.len())
        }
    }

    /// A job over one file whose single target is `127.0.0.1:1` (nothing
    /// listens there: scrapes fail and leave the guard as restored).
    fn job(dir: &std::path::Path, budget: u64) -> Arc<Job> {
        std::fs::write(
            dir.join("t.json"),
            r#"[{"targets": ["127.0.0.1:1"], "labels": {"env": "a"}}]"#,
        )
        .unwrap();
        let yaml = format!(
            "scrape_configs:\n  - job_name: files\n    scrape_interval: 1h\n    series_budget: {budget}\n    file_sd_configs: [{{files: ['{}/t.json']}}]\n",
            dir.display()
        );
        let cfg = crate::config::Config::from_yaml(&yaml).unwrap();
        Arc::new(Job::compile(&cfg.scrape_configs[0], &cfg.global).unwrap())
    }

    #[tokio::test]
    async fn a_discovered_target_gets_its_guard_state_back() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), 600);
        let saved = std::fs::read("tests/data/guard/state-v1").unwrap();
        let mut states = crate::guard::persist::decode("state-v1", &saved).unwrap();
        let mut state = states.swap_remove(0);
        let restored_series =
            crate::guard::TargetGuard::restore(job.guard.settings(None), &state.state)
                .unwrap()
                .snapshot(0, 0)
                .scraped_series;
        assert!(restored_series > 0);
        state.job = "files".into();
        state.url = "http://127.0.0.1:1/metrics".into();
        state.labels =
            Labels::from_pairs([("env", "a"), ("instance", "127.0.0.1:1"), ("job", "files")]);
        let mut m = ScrapeManager::with_discovery(
            Sinks::samples(Arc::new(Discard)),
            &Registry::new(),
            DiscoverySettings {
                debounce: Duration::from_millis(20),
            },
        );
        m.restore_guards(vec![state]);
        // The first apply has no discovered target yet; the state waits.
        m.apply(std::slice::from_ref(&job));
        let view = m.targets_view();
        let deadline = Instant::now() + Duration::from_secs(20);
        while view.targets().is_empty() {
            assert!(Instant::now() < deadline, "the file's target never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let card = view.cardinality(0);
        assert_eq!(card.len(), 1);
        assert_eq!(card[0].cardinality.scraped_series, restored_series);
        assert!(m.loops.lock().restored.is_empty());
        m.shutdown().await;
    }

    fn task_ids(m: &ScrapeManager) -> HashMap<String, tokio::task::Id> {
        m.loops
            .lock()
            .running
            .iter()
            .map(|(k, r)| (k.2.clone(), r.task.id()))
            .collect()
    }

    async fn wait_for(m: &ScrapeManager, urls: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut now: Vec<String> = task_ids(m).into_keys().collect();
            now.sort();
            if now == urls {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "targets {now:?}, waiting for {urls:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn targets_come_and_go_without_restarting_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), 0);
        let file = dir.path().join("t.json");
        let mut m = ScrapeManager::with_discovery(
            Sinks::samples(Arc::new(Discard)),
            &Registry::new(),
            DiscoverySettings {
                debounce: Duration::from_millis(20),
            },
        );
        std::fs::write(&file, r#"[{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]"#).unwrap();
        m.apply(std::slice::from_ref(&job));
        wait_for(
            &m,
            &["http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"],
        )
        .await;
        let before = task_ids(&m);
        std::fs::write(
            &file,
            r#"[{"targets": ["127.0.0.1:1", "127.0.0.1:3", "x/y"]}]"#,
        )
        .unwrap();
        wait_for(
            &m,
            &["http://127.0.0.1:1/metrics", "http://127.0.0.1:3/metrics"],
        )
        .await;
        let after = task_ids(&m);
        let kept = "http://127.0.0.1:1/metrics";
        assert_eq!(
            before[kept], after[kept],
            "the unchanged target's loop restarted"
        );
        // A reload with the same job keeps it too.
        m.apply(std::slice::from_ref(&job));
        assert_eq!(task_ids(&m)[kept], before[kept]);
        m.shutdown().await;
    }
}
