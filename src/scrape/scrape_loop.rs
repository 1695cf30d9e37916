//! The scrape loop of one target: every interval (at a stable per-target
//! offset) fetch the body, parse it as it streams in, turn each sample into
//! its final series through the scrape cache, add the synthetic series,
//! write staleness markers for what vanished, and hand the whole scrape to
//! the sink at once.
//!
//! A scrape either succeeds whole or fails whole (as in Prometheus): a
//! failure appends only `up 0`, the other synthetic series, and staleness
//! markers for every series of the last successful scrape.
//!
//! Each sample's series text is hashed once into its [`SeriesKey`]
//! (the target's secret keyer: the guard's when the target has one, read
//! at every scrape because a restore replaces it; otherwise one made for
//! the loop), which both the scrape cache and the guard use.
//!
//! A target with a series budget or fold rules has a guard: the scrape's
//! samples (after relabeling and limits) go through it before the sink
//! (their keys collected beside them in [`GuardedTarget::keys`], with the
//! guard's slot of each series that the cache entry remembers, so a series
//! seen again is found in the guard without a second lookup), and it, not
//! the scrape cache, decides the staleness
//! markers of what it forwards (the synthetic series bypass it). A sample
//! whose key is a folded member of the guard is merged as it is parsed,
//! before the cache: no labels are built and no cache entry is kept for it,
//! so a storm target costs the guard's few bytes per member, not a label
//! set per series. Such merges count toward `sample_limit` like any kept
//! sample; when the scrape fails later, they stay merged (they are real
//! increases, and nothing of the failed scrape is forwarded).
//!
//! [`SeriesKey`]: crate::series_key::SeriesKey

use super::cache::{ScrapeCache, Visit};
use super::error::ScrapeError;
use super::fetch::{BodyStream, FetchRequest, Fetcher};
use super::guarded::{GuardCeiling, GuardedTarget};
use super::metrics::ScrapeMetrics;
use super::target::Target;
use crate::exposition::{Entry, Format, ParserLimits, Sample as ParsedSample, StreamParser};
use crate::guard::{MemberHit, NO_SLOT, TargetGuard};
use crate::labels::{Labels, LabelsBuilder, METRIC_NAME};
use crate::pipeline::Sample;
use crate::pipeline::Sinks;
use crate::series_key::SeriesKeyer;
use crate::value::stale_nan;
use crate::web::{TargetHealth, TargetStatus};
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

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The state of one target's scraping.
pub struct ScrapeLoop<F: Fetcher> {
    target: Arc<Target>,
    fetcher: F,
    sinks: Sinks,
    metrics: Arc<ScrapeMetrics>,
    status: Arc<Mutex<TargetStatus>>,
    cache: ScrapeCache,
    /// The secret of the cache's keys: the guard's (read at every scrape,
    /// a restore replaces it) or, without a guard, one made for the loop.
    keyer: SeriesKeyer,
    metadata: super::metadata::MetadataTracker,
    batch: Vec<Sample>,
    scratch: LabelsBuilder,
    report: [Arc<Labels>; 5],
    reported: bool,
    stats: ScrapeStats,
    guard: Option<GuardedTarget>,
}

impl<F: Fetcher> ScrapeLoop<F> {
    /// A loop for `target` fetching with `fetcher` into `sinks`.
    pub fn new(target: Arc<Target>, fetcher: F, sinks: Sinks, metrics: Arc<ScrapeMetrics>) -> Self {
        let report = REPORT_NAMES.map(|name| {
            let mut b = target.labels.to_builder();
            b.set(METRIC_NAME, name);
            Arc::new(b.into_labels())
        });
        let guard = GuardedTarget::for_target(&target, metrics.guard.clone());
        let keyer = guard
            .as_ref()
            .map_or_else(SeriesKeyer::random, GuardedTarget::keyer);
        let status = Arc::new(Mutex::new(TargetStatus {
            job: target.job.name.clone(),
            discovered_labels: target.discovered.clone(),
            labels: target.labels.clone(),
            scrape_url: target.url.clone(),
            health: TargetHealth::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_scrape_duration: Duration::ZERO,
            scrape_interval: target.job.interval_text.clone(),
            scrape_timeout: target.job.timeout_text.clone(),
        }));
        ScrapeLoop {
            target,
            fetcher,
            sinks,
            metrics,
            status,
            cache: ScrapeCache::default(),
            keyer,
            metadata: Default::default(),
            batch: Vec::new(),
            scratch: LabelsBuilder::new(),
            report,
            reported: false,
            stats: ScrapeStats::default(),
            guard,
        }
    }

    /// Makes a guarded target count toward the whole-agent ceiling.
    pub fn join_ceiling(&mut self, ceiling: Arc<GuardCeiling>) {
        if let Some(g) = &mut self.guard {
            g.join_ceiling(ceiling);
        }
    }

    /// Hands the target's guard the state saved before a restart (ignored
    /// when the target has no guard now).
    pub fn restore_guard(&mut self, state: &crate::guard::GuardState) {
        if let Some(g) = &mut self.guard {
            g.restore(state);
        }
    }

    /// The target's guard, if it has one (for the cardinality API).
    pub fn guard(&self) -> Option<Arc<Mutex<crate::guard::TargetGuard>>> {
        self.guard.as_ref().map(GuardedTarget::shared)
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
                        StopReason::Removed => self.end(now_ms()),
                        StopReason::Shutdown => {}
                    }
                    break;
                }
            }
        }
        self.metrics
            .cached_series
            .with(&[&self.target.job.name])
            .add(-(self.cache.len() as f64));
    }

    /// One scrape at timestamp `ts_ms`: fetch, parse, append. Returns the
    /// counts, or why it failed (after appending `up 0` and staleness
    /// markers).
    pub async fn scrape_once(&mut self, ts_ms: i64) -> Result<ScrapeStats, ScrapeError> {
        let job = self.target.job.name.clone();
        let started = Instant::now();
        let wall = SystemTime::now();
        let cached_before = self.cache.len();
        self.metrics.scrapes.with(&[&job]).inc();
        if let Some(g) = &mut self.guard {
            let keyer = g.keyer();
            if keyer != self.keyer {
                // A restore replaced the guard and with it the secret:
                // the cached keys name nothing now. The guard, not the cache, writes
                // this target's staleness markers, so nothing is lost.
                self.cache.clear(|_| {});
                self.keyer = keyer;
            }
            g.begin(ts_ms);
        }
        self.cache.begin();
        self.metadata.begin();
        self.batch.clear();
        self.stats = ScrapeStats::default();

        let timeout = self.target.timeout;
        let result = match tokio::time::timeout(timeout, self.fetch_and_parse(ts_ms)).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout(timeout)),
        };
        let duration = started.elapsed();
        let cache = &mut self.cache;
        let result = match (result, &mut self.guard) {
            (Ok(()), Some(g)) => g
                .apply(ts_ms, &mut self.batch, |key, slot| {
                    cache.remember_slot(key, slot)
                })
                .map(|stale| self.stats.stale = stale)
                .map_err(ScrapeError::SeriesBudget),
            (result, _) => result,
        };

        let outcome = match result {
            Ok(()) => {
                let mut stale = 0u64;
                if let Some(g) = &self.guard {
                    // Folded members are merged by key before the cache.
                    g.for_each_demoted(|key| self.cache.remove(key));
                }
                let batch = &mut self.batch;
                let guarded = self.guard.is_some();
                self.cache.commit(|labels| {
                    if guarded {
                        return;
                    }
                    batch.push(Sample {
                        labels: labels.clone(),
                        timestamp_ms: ts_ms,
                        value: stale_nan(),
                    });
                    stale += 1;
                });
                self.stats.stale += stale;
                self.append_report(ts_ms, true, duration);
                Ok(self.stats)
            }
            Err(e) => {
                self.batch.clear();
                self.mark_all_stale(ts_ms);
                self.stats.stale = self.batch.len() as u64;
                self.append_report(ts_ms, false, duration);
                self.metrics.failures.with(&[&job, e.reason()]).inc();
                tracing::debug!(target_url = %self.target.url, error = %e, "scrape failed");
                Err(e)
            }
        };
        self.metrics
            .samples_scraped
            .with(&[&job])
            .add(self.stats.scraped);
        self.metrics
            .stale_markers
            .with(&[&job])
            .add(self.stats.stale);
        self.metrics
            .samples_appended
            .with(&[&job])
            .add(self.batch.len() as u64);
        self.metrics
            .cached_series
            .with(&[&job])
            .add(self.cache.len() as f64 - cached_before as f64);
        self.sinks.samples.append(&self.batch);
        if let Some(items) = self.metadata.end(outcome.is_ok())
            && let Some(sink) = &self.sinks.metadata
        {
            sink.update(&items);
        }

        let mut status = self.status.lock();
        status.last_scrape = Some(wall);
        status.last_scrape_duration = duration;
        match &outcome {
            Ok(_) => {
                status.health = TargetHealth::Up;
                status.last_error.clear();
            }
            Err(e) => {
                status.health = TargetHealth::Down;
                status.last_error = e.to_string();
            }
        }
        outcome
    }

    /// The target is gone: staleness markers for all its series, including
    /// the synthetic ones.
    pub fn end(&mut self, ts_ms: i64) {
        self.batch.clear();
        self.mark_all_stale(ts_ms);
        if self.reported {
            for labels in &self.report {
                self.batch.push(Sample {
                    labels: labels.clone(),
                    timestamp_ms: ts_ms,
                    value: stale_nan(),
                });
            }
        }
        self.metrics
            .stale_markers
            .with(&[&self.target.job.name])
            .add(self.batch.len() as u64);
        self.sinks.samples.append(&self.batch);
        self.batch.clear();
    }

    fn mark_all_stale(&mut self, ts_ms: i64) {
        let batch = &mut self.batch;
        if let Some(g) = &mut self.guard {
            self.cache.clear(|_| {});
            g.abort(ts_ms, batch);
            return;
        }
        self.cache.clear(|labels| {
            batch.push(Sample {
                labels: labels.clone(),
                timestamp_ms: ts_ms,
                value: stale_nan(),
            })
        });
    }

    fn append_report(&mut self, ts_ms: i64, up: bool, duration: Duration) {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            self.stats.scraped as f64,
            self.stats.post_relabel as f64,
            self.stats.series_added as f64,
        ];
        for (labels, value) in self.report.iter().zip(values) {
            self.batch.push(Sample {
                labels: labels.clone(),
                timestamp_ms: ts_ms,
                value,
            });
        }
        self.reported = true;
    }

    async fn fetch_and_parse(&mut self, ts_ms: i64) -> Result<(), ScrapeError> {
        let request = FetchRequest {
            url: self.target.url.clone(),
            timeout: self.target.timeout,
        };
        let mut body = self.fetcher.fetch(&request).await?;
        let format = Format::from_content_type(body.content_type());
        let mut parser = StreamParser::new(format, ParserLimits::default());
        let limit = self.target.job.limits.body_size_limit;
        let mut received = 0u64;
        while let Some(chunk) = body.chunk().await? {
            received += chunk.len() as u64;
            if limit > 0 && received > limit {
                return Err(ScrapeError::BodySizeLimit { limit });
            }
            parser
                .push(&chunk)
                .map_err(|e| ScrapeError::Parse(e.to_string()))?;
            self.drain(&mut parser, ts_ms)?;
        }
        parser.finish();
        self.drain(&mut parser, ts_ms)?;
        self.metrics
            .exemplars_skipped
            .with(&[&self.target.job.name])
            .add(parser.exemplars_skipped());
        Ok(())
    }

    fn drain(&mut self, parser: &mut StreamParser, ts_ms: i64) -> Result<(), ScrapeError> {
        // The guard is locked per chunk, not per sample: folded members are
        // merged into it as they are parsed.
        let shared = self.guard.as_ref().map(GuardedTarget::shared);
        let mut guard = shared.as_ref().map(|g| g.lock());
        while let Some(entry) = parser.next() {
            match entry.map_err(|e| ScrapeError::Parse(e.to_string()))? {
                Entry::Sample(s) => self.add_sample(&s, ts_ms, guard.as_deref_mut())?,
                Entry::Help { family, text } => self.metadata.help(family, &text),
                Entry::Type { family, kind } => self.metadata.kind(family, kind),
                Entry::Unit { family, unit } => self.metadata.unit(family, unit),
            }
        }
        Ok(())
    }

    fn add_sample(
        &mut self,
        s: &ParsedSample<'_>,
        ts_ms: i64,
        guard: Option<&mut TargetGuard>,
    ) -> Result<(), ScrapeError> {
        self.stats.scraped += 1;
        let honor = self.target.job.honor_timestamps;
        let timestamp_ms = match s.timestamp_ms {
            Some(t) if honor => t,
            _ => ts_ms,
        };
        let key = self.keyer.key(s.series);
        if let Some(g) = guard
            && g.compact_members() > 0
        {
            // A folded member: merged by key, no labels built, no cache entry.
            match g.merge_member(key, s.value, honor && s.timestamp_ms.is_some()) {
                MemberHit::Merged => return self.count_post_relabel(),
                MemberHit::Duplicate => {
                    self.metrics.duplicates.with(&[&self.target.job.name]).inc();
                    return Ok(());
                }
                MemberHit::NotMember => {}
            }
        }
        let (labels, slot) = match self.cache.visit(key) {
            Visit::Hit(entry) => (entry.labels.clone(), entry.guard_slot),
            Visit::Duplicate => {
                self.metrics.duplicates.with(&[&self.target.job.name]).inc();
                return Ok(());
            }
            Visit::Miss => {
                let labels = self.series_labels(s)?.map(Arc::new);
                if labels.is_some() {
                    self.stats.series_added += 1;
                }
                self.cache
                    .insert(key, labels.clone(), honor && s.timestamp_ms.is_some());
                (labels, NO_SLOT)
            }
        };
        if let Some(labels) = labels {
            self.count_post_relabel()?;
            self.batch.push(Sample {
                labels,
                timestamp_ms,
                value: s.value,
            });
            if let Some(g) = &mut self.guard {
                g.push(s.kind, key, slot);
            }
        }
        Ok(())
    }

    /// Counts a sample kept after relabeling, against `sample_limit`.
    fn count_post_relabel(&mut self) -> Result<(), ScrapeError> {
        self.stats.post_relabel += 1;
        let limit = self.target.job.limits.sample_limit;
        if limit > 0 && self.stats.post_relabel > limit {
            return Err(ScrapeError::SampleLimit { limit });
        }
        Ok(())
    }

    /// The final labels of a series new to the cache: scraped labels, target
    /// labels (honor_labels or `exported_` renames), metric relabeling,
    /// limits. `None` when relabeling drops it.
    fn series_labels(&mut self, s: &ParsedSample<'_>) -> Result<Option<Labels>, ScrapeError> {
        let b = &mut self.scratch;
        b.clear();
        for (name, value) in s.labels() {
            b.set(name, &value);
        }
        b.set(METRIC_NAME, s.name);
        merge_target_labels(b, &self.target.labels, self.target.job.honor_labels);
        if !self.target.job.metric_relabel.process(b) {
            return Ok(None);
        }
        check_limits(b, &self.target.job.limits)?;
        Ok(Some(b.labels()))
    }
}

/// Adds the target's labels to a scraped series. With `honor_labels` the
/// scraped values win; otherwise the target's win and a clashing scraped
/// label is kept as `exported_<name>` (more `exported_` prefixes while that
/// name is taken too).
pub fn merge_target_labels(b: &mut LabelsBuilder, target: &Labels, honor_labels: bool) {
    if honor_labels {
        for l in target {
            if !b.has(l.name) {
                b.set(l.name, l.value);
            }
        }
        return;
    }
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for l in target {
        let existing = b.get(l.name);
        if !existing.is_empty() {
            conflicts.push((l.name.to_string(), existing.to_string()));
        }
        b.set(l.name, l.value);
    }
    for (name, value) in conflicts {
        let mut exported = format!("exported_{name}");
        while b.has(&exported) || target.get(&exported).is_some() {
            exported.insert_str(0, "exported_");
        }
        b.set(&exported, &value);
    }
}

fn check_limits(b: &LabelsBuilder, limits: &super::job::Limits) -> Result<(), ScrapeError> {
    if limits.label_limit > 0 && b.len() as u64 > limits.label_limit {
        return Err(ScrapeError::LabelLimit {
            series: b.labels().to_string(),
            got: b.len(),
            limit: limits.label_limit,
        });
    }
    for l in b.iter() {
        if limits.label_name_length_limit > 0
            && l.name.len() as u64 > limits.label_name_length_limit
        {
            return Err(ScrapeError::LabelNameLength {
                name: l.name.chars().take(64).collect(),
                got: l.name.len(),
                limit: limits.label_name_length_limit,
            });
        }
        if limits.label_value_length_limit > 0
            && l.value.len() as u64 > limits.label_value_length_limit
        {
            return Err(ScrapeError::LabelValueLength {
                name: l.name.clone(),
                got: l.value.len(),
                limit: limits.label_value_length_limit,
            });
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SampleSink;
    use crate::scrape::{Job, MemoryFetcher, ScrapeMetrics, populate};
    use crate::selfmon::Registry;

    struct Discard;

    impl SampleSink for Discard {
        fn append(&self, _: &[Sample]) {}
    }

    const GUARDED: &str = "scrape_configs:\n  - job_name: j\n    series_budget: 1000\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: gone\n        action: drop\n    static_configs:\n      - targets: ['h:1']\n";

    fn guarded_loop() -> (MemoryFetcher, ScrapeLoop<MemoryFetcher>) {
        let cfg = crate::config::Config::from_yaml(GUARDED).expect("valid config");
        let job = Arc::new(Job::compile(&cfg.scrape_configs[0], &cfg.global).expect("job"));
        let group = &job.groups[0];
        let target = populate(&job, &group.labels, &group.targets[0])
            .expect("valid target")
            .expect("kept");
        let fetcher = MemoryFetcher::new(5);
        let metrics = Arc::new(ScrapeMetrics::new(&Registry::new()));
        let lp = ScrapeLoop::new(
            Arc::new(target),
            fetcher.clone(),
            Sinks::samples(Arc::new(Discard)),
            metrics,
        );
        (fetcher, lp)
    }

    /// The guard gets one key per sample of the batch it sees, in order:
    /// none for a series relabeling dropped or for a duplicate.
    #[tokio::test]
    async fn guarded_samples_carry_their_series_keys() {
        let (f, mut lp) = guarded_loop();
        f.push_body(
            "text/plain; version=0.0.4",
            "a 1\ngone 2\nb{x=\"1\"} 3\na 4\n",
        );
        lp.cache.begin();
        lp.fetch_and_parse(1_000).await.expect("parses");
        let keyer = lp
            .guard
            .as_ref()
            .map(GuardedTarget::keyer)
            .expect("guarded");
        assert_eq!(keyer, lp.keyer, "the loop keys with the guard's secret");
        let g = lp.guard.as_ref().expect("guarded");
        assert_eq!(lp.batch.len(), 2);
        assert_eq!(g.kinds.len(), 2);
        assert_eq!(g.keys, vec![keyer.key(b"a"), keyer.key(b"b{x=\"1\"}")]);
    }

    /// The cache remembers where the guard keeps each series: from the
    /// second scrape on, every sample reaches the guard with its slot.
    #[tokio::test]
    async fn cached_series_hand_the_guard_its_slots() {
        let (f, mut lp) = guarded_loop();
        let body = "a 1\ngone 2\nb{x=\"1\"} 3\n";
        for _ in 0..2 {
            f.push_body("text/plain; version=0.0.4", body);
        }
        lp.scrape_once(1_000).await.expect("first");
        if let Some(g) = &mut lp.guard {
            g.begin(2_000);
        }
        lp.cache.begin();
        lp.fetch_and_parse(2_000).await.expect("parses");
        let g = lp.guard.as_ref().expect("guarded");
        assert_eq!(g.slots.len(), 2);
        assert!(!g.slots.contains(&NO_SLOT), "slots: {:?}", g.slots);
        assert_ne!(g.slots[0], g.slots[1]);
    }

    /// A restore replaces the guard and with it the secret: the next scrape
    /// keys with the new one, from an emptied cache, and the scrape after
    /// it hits that cache.
    #[tokio::test]
    async fn the_loop_keys_with_the_guard_it_has_now() {
        let body = "a 1\nb 2\n";
        let (_, saved) = guarded_loop();
        let state = crate::guard::persist::saved_state(&saved.guard().expect("guarded").lock());
        let (f, mut lp) = guarded_loop();
        for _ in 0..3 {
            f.push_body("text/plain; version=0.0.4", body);
        }
        let first = lp.scrape_once(1_000).await.expect("first");
        assert_eq!(first.series_added, 2);
        let before = lp.keyer;
        lp.restore_guard(&state);
        let second = lp.scrape_once(2_000).await.expect("second");
        let now = lp.guard().expect("guarded").lock().keyer();
        assert_ne!(before, now, "restore brought another secret");
        assert_eq!(lp.keyer, now);
        assert_eq!(second.series_added, 2, "old keys were dropped");
        assert_eq!(lp.cache.len(), 2);
        let third = lp.scrape_once(3_000).await.expect("third");
        assert_eq!((third.series_added, third.post_relabel), (0, 2));
    }

    #[tokio::test]
    async fn an_unguarded_loop_keeps_its_own_secret() {
        let mut cfg = crate::config::Config::from_yaml(
            "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['h:1']\n",
        )
        .expect("valid config");
        let job = Arc::new(Job::compile(&cfg.scrape_configs.remove(0), &cfg.global).expect("job"));
        let target = populate(&job, &Labels::empty(), "h:1")
            .expect("valid target")
            .expect("kept");
        let f = MemoryFetcher::new(5);
        let metrics = Arc::new(ScrapeMetrics::new(&Registry::new()));
        let mut lp = ScrapeLoop::new(
            Arc::new(target),
            f.clone(),
            Sinks::samples(Arc::new(Discard)),
            metrics,
        );
        assert!(lp.guard.is_none());
        let keyer = lp.keyer;
        f.push_body("text/plain; version=0.0.4", "a 1\n");
        f.push_body("text/plain; version=0.0.4", "a 2\n");
        assert_eq!(lp.scrape_once(1_000).await.expect("first").series_added, 1);
        assert_eq!(lp.scrape_once(2_000).await.expect("second").series_added, 0);
        assert_eq!(lp.keyer, keyer);
    }

    #[test]
    fn exported_prefix_on_conflict() {
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let mut b = LabelsBuilder::new();
        b.set("__name__", "m");
        b.set("job", "scraped");
        b.set("exported_job", "taken");
        merge_target_labels(&mut b, &target, false);
        assert_eq!(
            b.labels(),
            Labels::from_pairs([
                ("__name__", "m"),
                ("job", "node"),
                ("instance", "h:1"),
                ("exported_job", "taken"),
                ("exported_exported_job", "scraped"),
            ])
        );
    }

    #[test]
    fn honor_labels_keeps_scraped_values() {
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let mut b = LabelsBuilder::new();
        b.set("__name__", "m");
        b.set("job", "scraped");
        merge_target_labels(&mut b, &target, true);
        assert_eq!(
            b.labels(),
            Labels::from_pairs([("__name__", "m"), ("job", "scraped"), ("instance", "h:1")])
        );
    }
}
