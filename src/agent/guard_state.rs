//! Guard state across restarts for `levee run`: loads
//! `<data-dir>/guard/state` (`docs/format/guard-state.md`) before the first
//! scrape, saves every running target's guard state every
//! `guard.state_save_interval` (10s) and once more at a clean shutdown after the last scrape,
//! and exports `levee_guard_state_*` self-metrics.
//!
//! A missing file is a first start; an unreadable one is logged loudly and
//! every guard starts empty (the next save replaces it). Neither stops the
//! agent.

use crate::guard::SourceGuards;
use crate::guard::persist::{self, Encoder, STATE_FILE, StateError, TargetState};
use crate::scrape::GuardStates;
use crate::selfmon::{Counter, Gauge, Registry};
use crate::tsdb::fs::Directory;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The subdirectory of the data directory holding the state file.
pub const GUARD_DIR: &str = "guard";

/// Reads the saved guard states; any failure means "start empty" (logged).
pub fn load(dir: &dyn Directory) -> Vec<TargetState> {
    match persist::read(dir, STATE_FILE) {
        Ok(None) => {
            tracing::info!("no saved guard state: series budgets start empty");
            Vec::new()
        }
        Ok(Some(states)) => {
            let series: usize = states.iter().map(|t| t.state.series.len()).sum();
            tracing::info!(
                targets = states.len(),
                series,
                "guard state loaded: folds and folded counters continue"
            );
            states
        }
        Err(e) => {
            tracing::error!(
                file = %format!("{GUARD_DIR}/{STATE_FILE}"),
                error = %e,
                "guard state unreadable: every target's series budget starts empty (folds are decided again on the first breach; the next save replaces the file)"
            );
            Vec::new()
        }
    }
}

/// What one save did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaveStats {
    /// Guarded targets saved.
    pub targets: usize,
    /// Scraped series (with labels) in their states.
    pub series: usize,
    /// Folded members in their states.
    pub members: usize,
    /// Bytes of the file.
    pub bytes: usize,
    /// Time taken (encoding, write and fsyncs).
    pub duration: Duration,
}

/// Saves every guarded target's state to `dir` atomically. With no guarded
/// target and no file, writes nothing.
///
/// Each guard is encoded straight into `state.tmp` under its own lock
/// ([`GuardStates::encode`]): the file's body is written a buffer at a
/// time as it is encoded, and only the symbol table (each distinct string
/// once) waits for the end, so the save's heap is the symbol table and
/// one buffer, with no copy of the members and no copy of the encoding.
/// A failure leaves the previous file as it was.
/// Remote-write sources (`sources`) are saved beside the targets.
pub fn save(
    dir: &dyn Directory,
    guards: &GuardStates,
    sources: Option<&SourceGuards>,
) -> Result<SaveStats, StateError> {
    let started = Instant::now();
    let exists = || dir.exists(STATE_FILE).unwrap_or(true);
    let no_sources = sources.is_none_or(|s| s.all().is_empty());
    if guards.is_empty() && no_sources && !exists() {
        return Ok(SaveStats {
            targets: 0,
            series: 0,
            members: 0,
            bytes: 0,
            duration: started.elapsed(),
        });
    }
    let mut enc = Encoder::create(dir, STATE_FILE)?;
    guards.encode(&mut enc);
    if let Some(s) = sources {
        s.save(&mut enc);
    }
    let (targets, series, members) = (enc.targets(), enc.series(), enc.members());
    let bytes = enc.finish()?;
    Ok(SaveStats {
        targets,
        series,
        members,
        bytes,
        duration: started.elapsed(),
    })
}

/// The periodic saver and its self-metrics.
pub struct Saver {
    dir: Arc<dyn Directory>,
    guards: GuardStates,
    sources: Option<Arc<SourceGuards>>,
    bytes: Arc<Gauge>,
    seconds: Arc<Gauge>,
    failures: Arc<Counter>,
    every: Duration,
}

impl Saver {
    /// A saver of `guards` into `dir`, registering its metrics in `reg`.
    pub fn new(
        dir: Arc<dyn Directory>,
        guards: GuardStates,
        reg: &Registry,
        every: Duration,
    ) -> Saver {
        Saver {
            dir,
            guards,
            sources: None,
            every: every.max(Duration::from_millis(1)),
            bytes: reg.gauge(
                "levee_guard_state_bytes",
                "Size of the last guard state file saved.",
            ),
            seconds: reg.gauge(
                "levee_guard_state_save_duration_seconds",
                "How long the last guard state save took (encode, write, fsync).",
            ),
            failures: reg.counter(
                "levee_guard_state_save_failures_total",
                "Guard state saves that failed.",
            ),
        }
    }

    /// Saves the remote-write sources' budgets too.
    pub fn with_sources(mut self, sources: Option<Arc<SourceGuards>>) -> Saver {
        self.sources = sources;
        self
    }

    /// One save on the blocking pool, logged and counted.
    pub async fn save_now(&self) {
        let (dir, guards) = (Arc::clone(&self.dir), self.guards.clone());
        let sources = self.sources.clone();
        let res =
            tokio::task::spawn_blocking(move || save(&*dir, &guards, sources.as_deref())).await;
        match res {
            Ok(Ok(stats)) => {
                self.bytes.set(stats.bytes as f64);
                self.seconds.set(stats.duration.as_secs_f64());
                tracing::debug!(
                    targets = stats.targets,
                    series = stats.series,
                    members = stats.members,
                    bytes = stats.bytes,
                    ms = stats.duration.as_secs_f64() * 1000.0,
                    "guard state saved"
                );
            }
            Ok(Err(e)) => {
                self.failures.inc();
                tracing::error!(error = %e, "saving the guard state failed; the previous save stays");
            }
            Err(e) => {
                self.failures.inc();
                tracing::error!(error = %e, "saving the guard state panicked");
            }
        }
    }

    /// Saves every `every` (`guard.state_save_interval`) until `stop`
    /// fires.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) -> Saver {
        let start = tokio::time::Instant::now() + self.every;
        let mut interval = tokio::time::interval_at(start, self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => self.save_now().await,
                _ = stop.changed() => return self,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Appended, Sample, SampleSink, Sinks};
    use crate::scrape::ScrapeManager;
    use crate::tsdb::fs::MemDirectory;

    #[test]
    fn a_missing_or_damaged_file_means_start_empty() {
        let dir = MemDirectory::new();
        assert!(load(&*dir).is_empty());
        let mut bytes = Encoder::new().into_bytes();
        persist::write(&*dir, STATE_FILE, &bytes).expect("write");
        assert!(load(&*dir).is_empty());
        // Damaged: logged, empty, no panic.
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        persist::write(&*dir, STATE_FILE, &bytes).expect("write");
        assert!(load(&*dir).is_empty());
        persist::write(&*dir, STATE_FILE, &bytes[..10]).expect("write");
        assert!(load(&*dir).is_empty());
    }

    struct Discard;

    impl SampleSink for Discard {
        fn append(&self, batch: &[Sample]) -> Appended {
            Appended::all(batch.len())
        }
    }

    #[tokio::test]
    async fn no_guarded_target_and_no_file_writes_nothing() {
        let dir = MemDirectory::new();
        let reg = Registry::new();
        let manager = ScrapeManager::new(Sinks::samples(Arc::new(Discard)), &reg);
        let stats = save(&*dir, &manager.guard_states(), None).expect("save");
        assert_eq!(stats.bytes, 0);
        assert!(!dir.exists(STATE_FILE).expect("exists"));
        // A file from before (its targets gone): replaced by an empty state.
        persist::write(&*dir, STATE_FILE, b"old").expect("write");
        let stats = save(&*dir, &manager.guard_states(), None).expect("save");
        assert_eq!(stats.bytes, Encoder::new().into_bytes().len());
        let back = persist::read(&*dir, STATE_FILE).expect("read");
        assert_eq!(back.map(|v| v.len()), Some(0));
    }
}
