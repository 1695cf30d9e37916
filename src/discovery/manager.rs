//! The discovery manager: one provider per distinct [`SdConfig`] (jobs
//! with equal configs share it), the current groups of every provider by
//! source, and per job the full list of its target groups (static ones
//! first), published on a `watch` channel.
//!
//! Provider updates are debounced as in Prometheus: the first change not
//! yet published starts a wait of [`DiscoverySettings::debounce`] (5 s),
//! and every change during it joins the one publication at its end, so a
//! target that goes and comes back within the wait never reaches the
//! scrape manager. [`DiscoveryManager::apply`] (start, reload) publishes
//! at once. Applying keeps the providers whose config is unchanged, with
//! their groups, and stops (aborts) the others.

use super::{GroupReceiver, GroupSender, TargetGroup, group_channel};
use crate::config::SdConfig;
use crate::selfmon::{Counter, Family, Gauge, Registry};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Prometheus' debounce of discovery updates.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(5);

/// How the manager publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// How long provider changes are gathered before they are published.
    pub debounce: Duration,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            debounce: DEFAULT_DEBOUNCE,
        }
    }
}

/// What one job asks of discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDiscovery {
    /// The job's name.
    pub job: String,
    /// Its `static_configs`, as groups.
    pub static_groups: Vec<TargetGroup>,
    /// Its `*_sd_configs`.
    pub sd_configs: Vec<SdConfig>,
}

/// Every job's current target groups.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TargetSets {
    /// Job name → its groups (static first, then each provider's in
    /// config order, each provider's by source). Groups without targets
    /// are left out.
    pub jobs: HashMap<String, Vec<Arc<TargetGroup>>>,
}

type ProviderId = u64;

struct Provider {
    id: ProviderId,
    task: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Provider {
    fn stop(&self) {
        self.task.abort();
        self.reader.abort();
    }
}

#[derive(Default)]
struct State {
    /// Each job with the providers of its sd configs, in config order.
    jobs: Vec<(String, Vec<Arc<TargetGroup>>, Vec<ProviderId>)>,
    /// The current groups of each provider, by source.
    groups: HashMap<ProviderId, BTreeMap<String, Arc<TargetGroup>>>,
    /// A provider changed something since the last publication.
    dirty: bool,
}

struct Metrics {
    received: Arc<Counter>,
    published: Arc<Counter>,
    discovered: Arc<Family<Gauge>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
    out: watch::Sender<Arc<TargetSets>>,
    metrics: Metrics,
}

/// Runs the providers and publishes every job's target groups.
pub struct DiscoveryManager {
    shared: Arc<Shared>,
    providers: HashMap<SdConfig, Provider>,
    next_id: ProviderId,
    publisher: JoinHandle<()>,
    registry: Registry,
}

impl DiscoveryManager {
    /// A manager with no jobs yet. Must run inside a tokio runtime.
    pub fn new(settings: DiscoverySettings, registry: &Registry) -> DiscoveryManager {
        let metrics = Metrics {
            received: registry.counter(
                "levee_sd_received_updates_total",
                "Updates received from discovery providers.",
            ),
            published: registry.counter(
                "levee_sd_updates_total",
                "Target group lists published to the scrape manager.",
            ),
            discovered: registry.gauge_vec(
                "levee_sd_discovered_targets",
                "Targets discovered, before relabeling, per job.",
                &["job"],
            ),
        };
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changed: Notify::new(),
            out: watch::Sender::new(Arc::default()),
            metrics,
        });
        let publisher = tokio::spawn(publish_loop(Arc::clone(&shared), settings.debounce));
        DiscoveryManager {
            shared,
            providers: HashMap::new(),
            next_id: 0,
            publisher,
            registry: registry.clone(),
        }
    }

    /// Every publication, the latest first.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetSets>> {
        self.shared.out.subscribe()
    }

    /// Makes the providers match `jobs` (new configs start, unchanged ones
    /// keep running with their groups, unused ones stop) and publishes the
    /// result at once; returns it.
    pub fn apply(&mut self, jobs: &[JobDiscovery]) -> Arc<TargetSets> {
        let shared = Arc::clone(&self.shared);
        let mut state = shared.state.lock();
        let mut used: HashMap<SdConfig, ProviderId> = HashMap::new();
        let mut job_entries = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut ids = Vec::new();
            for config in &job.sd_configs {
                let id = match self.providers.get(config) {
                    Some(p) => p.id,
                    None => {
                        let p = self.start(config);
                        let id = p.id;
                        state.groups.insert(id, BTreeMap::new());
                        self.providers.insert(config.clone(), p);
                        id
                    }
                };
                used.insert(config.clone(), id);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let statics = job
                .static_groups
                .iter()
                .filter(|g| !g.targets.is_empty())
                .cloned()
                .map(Arc::new)
                .collect();
            job_entries.push((job.job.clone(), statics, ids));
        }
        self.providers.retain(|config, p| {
            let keep = used.contains_key(config);
            if !keep {
                p.stop();
                state.groups.remove(&p.id);
            }
            keep
        });
        let gone: Vec<String> = state
            .jobs
            .iter()
            .map(|(j, _, _)| j.clone())
            .filter(|j| !job_entries.iter().any(|(n, _, _)| n == j))
            .collect();
        for job in gone {
            shared.metrics.discovered.remove(&[&job]);
        }
        state.jobs = job_entries;
        publish(&shared, &mut state)
    }

    fn start(&mut self, config: &SdConfig) -> Provider {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx): (GroupSender, GroupReceiver) = group_channel();
        let task = super::spawn(config, tx, &self.registry);
        let reader = tokio::spawn(read_loop(Arc::clone(&self.shared), id, rx));
        Provider { id, task, reader }
    }
}

/// Dropping the manager stops every provider and the publisher.
impl Drop for DiscoveryManager {
    fn drop(&mut self) {
        for p in self.providers.values() {
            p.stop();
        }
        self.publisher.abort();
    }
}

/// Takes a provider's changes into the state and wakes the publisher.
async fn read_loop(shared: Arc<Shared>, id: ProviderId, mut rx: GroupReceiver) {
    loop {
        let changes = rx.changed().await;
        let mut state = shared.state.lock();
        // A provider stopped by `apply` has no entry any more.
        let Some(groups) = state.groups.get_mut(&id) else {
            return;
        };
        for g in changes {
            if g.targets.is_empty() {
                groups.remove(&g.source);
            } else {
                groups.insert(g.source.clone(), Arc::new(g));
            }
        }
        state.dirty = true;
        drop(state);
        shared.metrics.received.inc();
        shared.changed.notify_one();
    }
}

/// Publishes `debounce` after the first change not yet published.
async fn publish_loop(shared: Arc<Shared>, debounce: Duration) {
    loop {
        shared.changed.notified().await;
        tokio::time::sleep(debounce).await;
        let mut state = shared.state.lock();
        if state.dirty {
            publish(&shared, &mut state);
        }
    }
}

/// Builds every job's groups from `state` and sends them, under the
/// state's lock so publications leave in the order of the states.
fn publish(shared: &Shared, state: &mut State) -> Arc<TargetSets> {
    let mut sets = TargetSets::default();
    for (job, statics, ids) in &state.jobs {
        let mut groups = statics.clone();
        for id in ids {
            if let Some(of) = state.groups.get(id) {
                groups.extend(of.values().cloned());
            }
        }
        let n: usize = groups.iter().map(|g| g.targets.len()).sum();
        shared.metrics.discovered.with(&[job]).set(n as f64);
        sets.jobs.insert(job.clone(), groups);
    }
    state.dirty = false;
    let sets = Arc::new(sets);
    shared.out.send_replace(Arc::clone(&sets));
    shared.metrics.published.inc();
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileSdConfig;
    use crate::labels::Labels;

    fn group(source: &str, addrs: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: addrs
                .iter()
                .map(|a| Labels::from_pairs([(super::super::ADDRESS_LABEL, *a)]))
                .collect(),
            labels: Labels::default(),
        }
    }

    fn file_config(dir: &std::path::Path, name: &str) -> SdConfig {
        SdConfig::File(FileSdConfig {
            files: vec![dir.join(name)],
            refresh_interval: crate::config::Duration::from_secs(300),
        })
    }

    fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
        let mut out: Vec<String> = sets.jobs[job]
            .iter()
            .flat_map(|g| g.targets.iter())
            .map(|t| t.get(super::super::ADDRESS_LABEL).unwrap_or("").to_owned())
            .collect();
        out.sort();
        out
    }

    /// A manager whose provider is fed by hand: the state of a provider
    /// with no task, as `apply` would have set it up.
    fn fed(debounce: Duration) -> (DiscoveryManager, GroupSender) {
        let mut m = DiscoveryManager::new(DiscoverySettings { debounce }, &Registry::new());
        let (tx, rx) = group_channel();
        let id = 1000;
        m.shared.state.lock().groups.insert(id, BTreeMap::new());
        m.shared.state.lock().jobs = vec![("j".into(), Vec::new(), vec![id])];
        let reader = tokio::spawn(read_loop(Arc::clone(&m.shared), id, rx));
        m.providers.insert(
            file_config(std::path::Path::new("/nonexistent"), "x.json"),
            Provider {
                id,
                task: tokio::spawn(async {}),
                reader,
            },
        );
        (m, tx)
    }

    #[tokio::test(start_paused = true)]
    async fn changes_within_the_debounce_make_one_publication() {
        let (m, tx) = fed(Duration::from_secs(5));
        let mut rx = m.subscribe();
        rx.borrow_and_update();
        tx.send([group("a", &["127.0.0.1:1"])]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The target flaps: gone and back within the wait.
        tx.send([group("a", &[])]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send([group("a", &["127.0.0.1:1"]), group("b", &["127.0.0.1:2"])]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!rx.has_changed().unwrap(), "published before the debounce");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(rx.has_changed().unwrap());
        let sets = rx.borrow_and_update().clone();
        assert_eq!(addresses(&sets, "j"), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(m.shared.metrics.published.get(), 1);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!rx.has_changed().unwrap(), "published without a change");
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_group_removes_its_source() {
        let (m, tx) = fed(Duration::from_millis(10));
        let mut rx = m.subscribe();
        tx.send([group("a", &["127.0.0.1:1"]), group("b", &["127.0.0.1:2"])]);
        rx.changed().await.unwrap();
        tx.send([group("a", &[])]);
        rx.changed().await.unwrap();
        let sets = rx.borrow_and_update().clone();
        assert_eq!(addresses(&sets, "j"), ["127.0.0.1:2"]);
    }

    #[tokio::test]
    async fn equal_configs_share_a_provider_and_reload_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("t.json"),
            r#"[{"targets": ["127.0.0.1:7"]}]"#,
        )
        .unwrap();
        let reg = Registry::new();
        let mut m = DiscoveryManager::new(
            DiscoverySettings {
                debounce: Duration::from_millis(10),
            },
            &reg,
        );
        let shared = file_config(dir.path(), "t.json");
        let other = file_config(dir.path(), "u.json");
        let jobs = |names: &[(&str, &SdConfig)]| -> Vec<JobDiscovery> {
            names
                .iter()
                .map(|(j, c)| JobDiscovery {
                    job: (*j).into(),
                    static_groups: vec![group("0", &["127.0.0.1:9"])],
                    sd_configs: vec![(*c).clone()],
                })
                .collect()
        };
        let first = m.apply(&jobs(&[("a", &shared), ("b", &shared), ("c", &other)]));
        assert_eq!(m.providers.len(), 2);
        // Static groups are there at once.
        assert_eq!(addresses(&first, "a"), ["127.0.0.1:9"]);
        let mut rx = m.subscribe();
        let sets = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                rx.changed().await.unwrap();
                let sets = rx.borrow_and_update().clone();
                if sets.jobs["b"].len() == 2 {
                    return sets;
                }
            }
        })
        .await
        .expect("the file's targets are published");
        assert_eq!(addresses(&sets, "a"), ["127.0.0.1:7", "127.0.0.1:9"]);
        assert_eq!(addresses(&sets, "b"), ["127.0.0.1:7", "127.0.0.1:9"]);
        assert_eq!(addresses(&sets, "c"), ["127.0.0.1:9"]);
        assert_eq!(
            reg.render()
                .lines()
                .find(|l| l.starts_with("levee_sd_discovered_targets{job=\"a\"}")),
            Some("levee_sd_discovered_targets{job=\"a\"} 2")
        );

        // A reload without `c` and with `a` unchanged: `a`'s provider keeps
        // its groups (published at once), `c`'s stops.
        let id = m.providers[&shared].id;
        let again = m.apply(&jobs(&[("a", &shared)]));
        assert_eq!(m.providers.len(), 1);
        assert_eq!(m.providers[&shared].id, id);
        assert_eq!(addresses(&again, "a"), ["127.0.0.1:7", "127.0.0.1:9"]);
        assert!(!again.jobs.contains_key("b"));
        assert!(!reg.render().contains("job=\"c\""));
    }
}
