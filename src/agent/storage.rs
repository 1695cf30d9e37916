//! The agent's TSDB: opening it from the `storage:` section, the sink that
//! stores every scraped sample (and staleness marker) in it, the
//! maintenance task (head cuts, retention, WAL syncs) and the
//! `levee_tsdb_*` self-metrics.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{StorageConfig, WalSync};
use crate::pipeline::Sample;
use crate::pipeline::{Appended, SampleSink};
use crate::remote::wal::{WalCap, WalPins, WalWatch};
use crate::selfmon::Registry;
use crate::tsdb::db::{Db, DbError, DbStats, Options, WalObserver};
use crate::tsdb::fs::Directory;
use crate::tsdb::head::SeriesRef;
use crate::tsdb::wal::{Position, SyncPolicy, WalOptions};

/// How often the maintenance task looks for a head cut and retention.
const COMPACT_EVERY: Duration = Duration::from_secs(60);
/// How old cached stats may be when `/metrics` renders.
const STATS_MAX_AGE: Duration = Duration::from_secs(1);

/// The database options `storage:` asks for.
pub fn db_options(cfg: &StorageConfig) -> Options {
    let sync = match cfg.wal_sync {
        WalSync::Always => SyncPolicy::Always,
        WalSync::Never => SyncPolicy::Never,
        WalSync::Interval(d) => SyncPolicy::Interval(d.as_std()),
    };
    Options {
        block_range_ms: cfg.block_range.as_millis() as i64,
        retention_ms: (!cfg.retention.is_zero()).then(|| cfg.retention.as_millis() as i64),
        retention_bytes: cfg.retention_size.map(|s| s.0),
        wal: WalOptions {
            segment_size: cfg.wal_segment_size.0,
            sync,
        },
        ..Options::default()
    }
}

/// Opens the agent's database in `dir` (blocking: replays the WAL).
pub fn open(dir: &Path, cfg: &StorageConfig) -> Result<Arc<Db>, DbError> {
    Db::open(dir, db_options(cfg)).map(Arc::new)
}

/// The WAL cap `storage:` asks for.
pub fn wal_cap(cfg: &StorageConfig) -> WalCap {
    WalCap {
        max_bytes: cfg.wal_max_size.map(|s| s.0),
        max_lag: cfg.wal_max_lag.map(|d| d.as_std()),
    }
}

/// Connects the database's WAL to remote write: commits wake the endpoint
/// tailers, and segments are deleted only once the endpoints (within the
/// cap) no longer need them.
pub struct RemoteWalObserver {
    /// Woken after commits and syncs.
    pub watch: Arc<WalWatch>,
    /// The endpoints' claims on segments.
    pub pins: Arc<WalPins>,
}

impl WalObserver for RemoteWalObserver {
    fn logged(&self, synced: Position) {
        self.watch.notify_synced(synced);
    }

    fn deletable_before(&self, wal_dir: &dyn Directory, wanted: u32) -> u32 {
        match self.pins.deletable_before_in(wal_dir, wanted) {
            Ok(keep_from) => keep_from,
            Err(e) => {
                // Without segment sizes the cap cannot be applied: keep
                // what the endpoints need.
                tracing::error!(error = %e, "cannot list WAL segments; keeping what remote write needs");
                self.pins.oldest_needed().unwrap_or(wanted).min(wanted)
            }
        }
    }
}

/// Stores each batch (a scrape, a received request) as one commit. `append` writes the WAL (and with
/// `wal_sync: always` fsyncs it) before it returns, so the scrape loops
/// call it on the blocking pool (`src/scrape/commit.rs`).
///
/// The scrape loops hand over the same `Arc<Labels>` for a series scrape
/// after scrape (their caches hold it), so the sink remembers each one's
/// `SeriesRef` by the `Arc`'s address: a repeated series is appended by ref,
/// without hashing its labels. The sink holds a clone of each `Arc`, so an
/// address cannot be reused by another label set while it is remembered;
/// entries whose `Arc` nobody else holds any more are swept once as many
/// samples as there are entries went by. A ref that went stale (its series
/// left the head at a cut) falls back to the labels at commit.
pub struct TsdbSink {
    db: Arc<Db>,
    refs: Mutex<RefCache>,
    failed_commits: AtomicU64,
    failed_samples: AtomicU64,
}

#[derive(Default)]
struct RefCache {
    by_addr: rustc_hash::FxHashMap<usize, (Arc<crate::labels::Labels>, SeriesRef)>,
    since_sweep: usize,
}

impl RefCache {
    fn sweep_if_due(&mut self) {
        if self.since_sweep > self.by_addr.len().max(100_000) {
            self.by_addr.retain(|_, (l, _)| Arc::strong_count(l) > 1);
            self.since_sweep = 0;
        }
    }
}

impl TsdbSink {
    /// A sink into `db`.
    pub fn new(db: Arc<Db>) -> Self {
        TsdbSink {
            db,
            refs: Mutex::new(RefCache::default()),
            failed_commits: AtomicU64::new(0),
            failed_samples: AtomicU64::new(0),
        }
    }
}

impl SampleSink for TsdbSink {
    fn append(&self, batch: &[Sample]) -> Appended {
        let mut refs = self.refs.lock();
        let mut app = self.db.appender();
        let mut invalid = 0u64;
        for s in batch {
            let addr = Arc::as_ptr(&s.labels) as usize;
            if let Some((_, r)) = refs.by_addr.get(&addr) {
                app.append_ref_or(*r, &s.labels, s.timestamp_ms, s.value);
                continue;
            }
            match app.append(&s.labels, s.timestamp_ms, s.value) {
                Ok(r) => {
                    refs.by_addr.insert(addr, (Arc::clone(&s.labels), r));
                }
                Err(_) => invalid += 1,
            }
        }
        refs.since_sweep += batch.len();
        let outcome = match app.commit() {
            Ok(stats) => {
                if stats.refs_replaced > 0 {
                    refs.by_addr.clear();
                }
                Appended {
                    stored: stats.appended,
                    out_of_order: stats.out_of_order,
                    out_of_bounds: stats.out_of_bounds + stats.unknown_refs,
                    duplicates: stats.duplicates,
                    invalid,
                    failed: false,
                }
            }
            Err(e) => {
                self.failed_commits.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, samples = batch.len(), "storing a batch failed");
                Appended {
                    failed: true,
                    ..Appended::default()
                }
            }
        };
        refs.sweep_if_due();
        drop(refs);
        let failed = if outcome.failed {
            batch.len() as u64
        } else {
            invalid
        };
        self.failed_samples.fetch_add(failed, Ordering::Relaxed);
        outcome
    }
}

/// Stats read at most once per [`STATS_MAX_AGE`], shared by the metric
/// callbacks.
struct StatsCache {
    db: Arc<Db>,
    cached: Mutex<Option<(Instant, DbStats)>>,
}

impl StatsCache {
    fn get(&self) -> DbStats {
        let mut c = self.cached.lock();
        if let Some((at, stats)) = c.as_ref()
            && at.elapsed() < STATS_MAX_AGE
        {
            return stats.clone();
        }
        let stats = self.db.stats();
        *c = Some((Instant::now(), stats.clone()));
        stats
    }
}

/// Registers the `levee_tsdb_*` metrics.
pub fn register_metrics(reg: &Registry, db: &Arc<Db>, sink: &Arc<TsdbSink>) {
    let cache = Arc::new(StatsCache {
        db: Arc::clone(db),
        cached: Mutex::new(None),
    });
    type Read = fn(&DbStats) -> f64;
    let gauges: [(&'static str, &'static str, Read); 7] = [
        ("levee_tsdb_head_series", "Series in the TSDB head.", |s| {
            s.head_series as f64
        }),
        (
            "levee_tsdb_head_chunks",
            "Chunks in the TSDB head (full and open).",
            |s| s.head_chunks as f64,
        ),
        (
            "levee_tsdb_head_heap_bytes",
            "Estimated heap bytes of the head index and per-series state.",
            |s| s.head_heap_bytes as f64,
        ),
        ("levee_tsdb_blocks", "Blocks on disk.", |s| s.blocks as f64),
        (
            "levee_tsdb_storage_bytes",
            "Bytes of blocks, WAL and head chunk files on disk.",
            |s| s.bytes_on_disk as f64,
        ),
        (
            "levee_tsdb_wal_replay_duration_seconds",
            "How long replaying the WAL took at start.",
            |s| s.replay_duration.as_secs_f64(),
        ),
        (
            "levee_tsdb_head_max_time_seconds",
            "Newest sample time in the head (Unix seconds; 0 when empty).",
            |s| s.head_time_range.map_or(0.0, |r| r.1 as f64 / 1000.0),
        ),
    ];
    for (name, help, read) in gauges {
        let c = Arc::clone(&cache);
        reg.gauge_fn(name, help, move || read(&c.get()));
    }
    let counters: [(&'static str, &'static str, Read); 10] = [
        (
            "levee_tsdb_head_samples_appended_total",
            "Samples appended to the head (staleness markers included).",
            |s| s.counters.samples_appended as f64,
        ),
        (
            "levee_tsdb_out_of_order_samples_total",
            "Samples refused: older than their series' last sample, or its timestamp with another value.",
            |s| s.counters.out_of_order as f64,
        ),
        (
            "levee_tsdb_out_of_bounds_samples_total",
            "Samples refused: older than the head's lower bound (already cut into a block).",
            |s| s.counters.out_of_bounds as f64,
        ),
        (
            "levee_tsdb_duplicate_samples_total",
            "Samples ignored: exact repeats of their series' last sample.",
            |s| s.counters.duplicates as f64,
        ),
        (
            "levee_tsdb_head_series_created_total",
            "Series created in the head.",
            |s| s.counters.series_created as f64,
        ),
        (
            "levee_tsdb_head_series_removed_total",
            "Series removed from the head by head cuts.",
            |s| s.counters.series_removed as f64,
        ),
        (
            "levee_tsdb_wal_bytes_written_total",
            "Bytes written to the WAL.",
            |s| s.wal_bytes_written as f64,
        ),
        (
            "levee_tsdb_wal_fsync_duration_seconds_total",
            "Time spent in WAL fsyncs.",
            |s| s.wal_sync_seconds,
        ),
        (
            "levee_tsdb_compactions_total",
            "Head cuts and retention passes that changed something.",
            |s| s.compaction.runs as f64,
        ),
        (
            "levee_tsdb_compaction_duration_seconds_total",
            "Time spent in head cuts and retention.",
            |s| s.compaction.duration_ms as f64 / 1000.0,
        ),
    ];
    for (name, help, read) in counters {
        let c = Arc::clone(&cache);
        reg.counter_fn(name, help, move || read(&c.get()));
    }
    let s = Arc::clone(sink);
    reg.counter_fn(
        "levee_tsdb_append_failed_samples_total",
        "Scraped samples the TSDB could not store (invalid series, or a failed commit).",
        move || s.failed_samples.load(Ordering::Relaxed) as f64,
    );
}

/// Runs head cuts and retention every minute and WAL syncs at the policy's
/// interval, on the blocking pool, until `stop` fires.
pub async fn maintain(
    db: Arc<Db>,
    sync_every: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let tick = sync_every.unwrap_or(COMPACT_EVERY).min(COMPACT_EVERY);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_compact = Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        let compact_due = last_compact.elapsed() >= COMPACT_EVERY;
        if compact_due {
            last_compact = Instant::now();
        }
        let db = Arc::clone(&db);
        let res = tokio::task::spawn_blocking(move || {
            if sync_every.is_some() {
                db.sync_wal()?;
            }
            if compact_due {
                db.compact()?;
            }
            Ok::<(), DbError>(())
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "TSDB maintenance failed"),
            Err(e) => tracing::error!(error = %e, "TSDB maintenance task panicked"),
        }
    }
}
