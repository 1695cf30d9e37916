//! [`TargetSeries`]: what one target's scrapes know of its series between
//! scrapes (the scrape cache, the guard when the target has one, and the
//! secret both key series with), how a parsed sample resolves to the
//! series it is forwarded as, and who writes the staleness markers.
//!
//! Each sample's series text is hashed once into its [`SeriesKey`] (the
//! guard's keyer when the target has a guard, read at every scrape because
//! a restore replaces it; otherwise one made for the target), which both
//! the scrape cache and the guard use.
//!
//! A target with a series budget or fold rules has a guard: the scrape's
//! samples (after relabeling and limits) go through it before the sink
//! (their keys collected beside them in [`GuardedTarget::keys`], with the
//! guard's slot of each series that the cache entry remembers, so a series
//! seen again is found in the guard without a second lookup), and it, not
//! the scrape cache, decides the staleness markers of what it forwards. A
//! sample whose key is a folded member of the guard is merged as it is
//! parsed, before the cache: no labels are built and no cache entry is
//! kept for it, so a storm target costs the guard's few bytes per member,
//! not a label set per series. When the scrape fails later, such merges
//! stay merged (they are real increases, and nothing of the failed scrape
//! is forwarded).
//!
//! [`SeriesKey`]: crate::series_key::SeriesKey

use super::cache::{ScrapeCache, Visit};
use super::error::ScrapeError;
use super::guarded::{GuardMetrics, GuardedTarget};
use super::series_labels::series_labels;
use super::target::Target;
use crate::exposition::Sample as ParsedSample;
use crate::guard::{GuardError, MemberHit, NO_SLOT, TargetGuard};
use crate::labels::{Labels, LabelsBuilder};
use crate::pipeline::Sample;
use crate::series_key::SeriesKeyer;
use crate::value::stale_nan;
use std::sync::Arc;

/// Where one parsed sample goes.
#[derive(Debug)]
pub(super) enum Resolved {
    /// Forwarded as the series `labels`; `new`: not in the cache before.
    Forward {
        /// The series' final labels.
        labels: Arc<Labels>,
        /// First seen in this scrape.
        new: bool,
    },
    /// Merged into the guard's folded series (kept, as far as
    /// `sample_limit` counts).
    Merged,
    /// Its series appeared before in this scrape: skipped.
    Duplicate,
    /// Metric relabeling drops its series.
    Dropped,
}

/// A target's series between scrapes.
pub(super) struct TargetSeries {
    target: Arc<Target>,
    cache: ScrapeCache,
    /// The secret of the cache's keys: the guard's (read at every scrape,
    /// a restore replaces it) or, without a guard, one made for the target.
    keyer: SeriesKeyer,
    scratch: LabelsBuilder,
    guard: Option<GuardedTarget>,
}

impl TargetSeries {
    /// The series of `target`, with a guard when its job or target label
    /// asks for one.
    pub(super) fn new(target: Arc<Target>, metrics: Arc<GuardMetrics>) -> TargetSeries {
        let guard = GuardedTarget::for_target(&target, metrics);
        let keyer = guard
            .as_ref()
            .map_or_else(SeriesKeyer::random, GuardedTarget::keyer);
        TargetSeries {
            target,
            cache: ScrapeCache::default(),
            keyer,
            scratch: LabelsBuilder::new(),
            guard,
        }
    }

    /// The target's guard, if it has one.
    pub(super) fn guarded(&self) -> Option<&GuardedTarget> {
        self.guard.as_ref()
    }

    /// The same, to restore or configure it.
    pub(super) fn guarded_mut(&mut self) -> Option<&mut GuardedTarget> {
        self.guard.as_mut()
    }

    /// Series in the scrape cache (kept and dropped).
    pub(super) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Starts a scrape at `ts_ms`.
    pub(super) fn begin(&mut self, ts_ms: i64) {
        if let Some(g) = &mut self.guard {
            let keyer = g.keyer();
            if keyer != self.keyer {
                // A restore replaced the guard and with it the secret: the
                // cached keys name nothing now. The guard, not the cache,
                // writes this target's staleness markers, so nothing is lost.
                self.cache.clear(|_| {});
                self.keyer = keyer;
            }
            g.begin(ts_ms);
        }
        self.cache.begin();
    }

    /// Resolves the parsed sample `s`: through the guard's folded members
    /// (`guard`: the target's guard, locked by the caller), else the scrape
    /// cache, else by building its labels. A forwarded sample's key and
    /// slot are pushed to the guard.
    pub(super) fn resolve(
        &mut self,
        s: &ParsedSample<'_>,
        guard: Option<&mut TargetGuard>,
    ) -> Result<Resolved, ScrapeError> {
        let explicit_timestamp = self.target.job.honor_timestamps && s.timestamp_ms.is_some();
        let key = self.keyer.key(s.series);
        if let Some(g) = guard
            && g.compact_members() > 0
        {
            // A folded member: merged by key, no labels built, no cache entry.
            match g.merge_member(key, s.value, explicit_timestamp) {
                MemberHit::Merged => return Ok(Resolved::Merged),
                MemberHit::Duplicate => return Ok(Resolved::Duplicate),
                MemberHit::NotMember => {}
            }
        }
        let (labels, slot, new) = match self.cache.visit(key) {
            Visit::Hit(entry) => (entry.labels.clone(), entry.guard_slot, false),
            Visit::Duplicate => return Ok(Resolved::Duplicate),
            Visit::Miss => {
                let labels = series_labels(&mut self.scratch, s, &self.target)?.map(Arc::new);
                self.cache.insert(key, labels.clone(), explicit_timestamp);
                (labels, NO_SLOT, true)
            }
        };
        let Some(labels) = labels else {
            return Ok(Resolved::Dropped);
        };
        if let Some(g) = &mut self.guard {
            g.push(s.kind, key, slot);
        }
        Ok(Resolved::Forward { labels, new })
    }

    /// Ends a scrape whose pass succeeded: `batch` (its forwarded samples)
    /// goes through the guard, if any, and gets the staleness markers of
    /// the series that vanished. Returns the markers written, or why the
    /// guard refused the scrape.
    pub(super) fn finish(
        &mut self,
        ts_ms: i64,
        batch: &mut Vec<Sample>,
    ) -> Result<u64, GuardError> {
        let cache = &mut self.cache;
        let Some(g) = &mut self.guard else {
            let mut stale = 0;
            cache.commit(|labels| {
                batch.push(stale_marker(labels, ts_ms));
                stale += 1;
            });
            return Ok(stale);
        };
        let stale = g.apply(ts_ms, batch, |key, slot| cache.remember_slot(key, slot))?;
        // Folded members are merged by key before the cache.
        g.for_each_demoted(|key| cache.remove(key));
        // The guard wrote the markers of what it forwarded.
        cache.commit(|_| {});
        Ok(stale)
    }

    /// A failed scrape or a removed target: a staleness marker in `batch`
    /// for every series forwarded last, and the cache emptied.
    pub(super) fn mark_all_stale(&mut self, ts_ms: i64, batch: &mut Vec<Sample>) {
        if let Some(g) = &mut self.guard {
            self.cache.clear(|_| {});
            g.abort(ts_ms, batch);
            return;
        }
        self.cache
            .clear(|labels| batch.push(stale_marker(labels, ts_ms)));
    }
}

fn stale_marker(labels: &Arc<Labels>, ts_ms: i64) -> Sample {
    Sample {
        labels: labels.clone(),
        timestamp_ms: ts_ms,
        value: stale_nan(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::metadata::MetadataTracker;
    use crate::scrape::pass::SamplePass;
    use crate::scrape::report::ScrapeStats;
    use crate::scrape::{Job, MemoryFetcher, ScrapeMetrics, populate};
    use crate::selfmon::Registry;

    const GUARDED: &str = "scrape_configs:\n  - job_name: j\n    series_budget: 1000\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: gone\n        action: drop\n    static_configs:\n      - targets: ['h:1']\n";
    const UNGUARDED: &str =
        "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['h:1']\n";
    const TEXT: &str = "text/plain; version=0.0.4";

    struct Scraper {
        target: Arc<Target>,
        metrics: ScrapeMetrics,
        fetcher: MemoryFetcher,
        series: TargetSeries,
        batch: Vec<Sample>,
    }

    impl Scraper {
        fn new(yaml: &str) -> Scraper {
            let cfg = crate::config::Config::from_yaml(yaml).expect("valid config");
            let job = Arc::new(Job::compile(&cfg.scrape_configs[0], &cfg.global).expect("job"));
            let group = &job.groups[0];
            let target = populate(&job, &group.labels, &group.targets[0])
                .expect("valid target")
                .into_active()
                .expect("kept");
            let target = Arc::new(target);
            let metrics = ScrapeMetrics::new(&Registry::new());
            let series = TargetSeries::new(target.clone(), metrics.guard.clone());
            Scraper {
                target,
                metrics,
                fetcher: MemoryFetcher::new(5),
                series,
                batch: Vec::new(),
            }
        }

        /// The sample pass over `body`, after `begin`: the batch it
        /// collected and its counts.
        async fn pass(&mut self, body: &'static str, ts_ms: i64) -> ScrapeStats {
            self.fetcher.push_body(TEXT, body);
            self.batch.clear();
            let mut stats = ScrapeStats::default();
            let mut metadata = MetadataTracker::default();
            SamplePass::new(
                &self.target,
                &mut self.series,
                &mut metadata,
                &mut self.batch,
                &mut stats,
                &self.metrics,
            )
            .run(&self.fetcher, ts_ms)
            .await
            .expect("parses");
            stats
        }

        /// A whole successful scrape as the series see it.
        async fn scrape(&mut self, body: &'static str, ts_ms: i64) -> ScrapeStats {
            self.series.begin(ts_ms);
            let stats = self.pass(body, ts_ms).await;
            self.series
                .finish(ts_ms, &mut self.batch)
                .expect("within the budget");
            stats
        }
    }

    /// The guard gets one key per sample of the batch it sees, in order:
    /// none for a series relabeling dropped or for a duplicate.
    #[tokio::test]
    async fn guarded_samples_carry_their_series_keys() {
        let mut s = Scraper::new(GUARDED);
        s.series.begin(1_000);
        s.pass("a 1\ngone 2\nb{x=\"1\"} 3\na 4\n", 1_000).await;
        let g = s.series.guarded().expect("guarded");
        let keyer = g.keyer();
        assert_eq!(
            keyer, s.series.keyer,
            "the series key with the guard's secret"
        );
        assert_eq!(s.batch.len(), 2);
        assert_eq!(g.kinds.len(), 2);
        assert_eq!(g.keys, vec![keyer.key(b"a"), keyer.key(b"b{x=\"1\"}")]);
    }

    /// The cache remembers where the guard keeps each series: from the
    /// second scrape on, every sample reaches the guard with its slot.
    #[tokio::test]
    async fn cached_series_hand_the_guard_its_slots() {
        let mut s = Scraper::new(GUARDED);
        let body = "a 1\ngone 2\nb{x=\"1\"} 3\n";
        s.scrape(body, 1_000).await;
        s.series.begin(2_000);
        s.pass(body, 2_000).await;
        let g = s.series.guarded().expect("guarded");
        assert_eq!(g.slots.len(), 2);
        assert!(!g.slots.contains(&NO_SLOT), "slots: {:?}", g.slots);
        assert_ne!(g.slots[0], g.slots[1]);
    }

    /// A restore replaces the guard and with it the secret: the next scrape
    /// keys with the new one, from an emptied cache, and the scrape after
    /// it hits that cache.
    #[tokio::test]
    async fn the_series_key_with_the_guard_they_have_now() {
        let body = "a 1\nb 2\n";
        let saved = Scraper::new(GUARDED);
        let state = crate::guard::persist::saved_state(
            &saved.series.guarded().expect("guarded").shared().lock(),
        );
        let mut s = Scraper::new(GUARDED);
        let first = s.scrape(body, 1_000).await;
        assert_eq!(first.series_added, 2);
        let before = s.series.keyer;
        s.series.guarded_mut().expect("guarded").restore(&state);
        let second = s.scrape(body, 2_000).await;
        let now = s.series.guarded().expect("guarded").keyer();
        assert_ne!(before, now, "restore brought another secret");
        assert_eq!(s.series.keyer, now);
        assert_eq!(second.series_added, 2, "old keys were dropped");
        assert_eq!(s.series.cached(), 2);
        let third = s.scrape(body, 3_000).await;
        assert_eq!((third.series_added, third.post_relabel), (0, 2));
    }

    #[tokio::test]
    async fn unguarded_series_keep_their_own_secret() {
        let mut s = Scraper::new(UNGUARDED);
        assert!(s.series.guarded().is_none());
        let keyer = s.series.keyer;
        assert_eq!(s.scrape("a 1\n", 1_000).await.series_added, 1);
        assert_eq!(s.scrape("a 2\n", 2_000).await.series_added, 0);
        assert_eq!(s.series.keyer, keyer);
    }
}
