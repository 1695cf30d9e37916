//! [`Db`]: the database a program opens. It owns the directory layout and
//! lock, opens the blocks and replays the head, hands out appenders and
//! queriers, and runs head cuts and retention ([`Db::compact`]).
//!
//! ```text
//! <dir>/LOCK          one process at a time (an OS file lock)
//! <dir>/head.json     the head's lower time bound (docs/format/head.md)
//! <dir>/wal/          WAL segments and checkpoints (docs/format/wal.md)
//! <dir>/chunks_head/  full head chunks (docs/format/chunk-files.md)
//! <dir>/blocks/<id>/  immutable blocks (docs/format/block.md)
//! ```
//!
//! ```
//! use levee::labels::Labels;
//! use levee::tsdb::db::{Db, Options};
//! use levee::tsdb::index::Matcher;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("levee-doc-db-{}", std::process::id()));
//! let db = Db::open(&dir, Options::default())?;
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let mut app = db.appender();
//! let r = app.append(&up, 1_000, 1.0)?;
//! app.append_ref(r, 16_000, 0.0);
//! assert_eq!(app.commit()?.appended, 2);
//!
//! let series = db.querier(0, 20_000).select(&[Matcher::equal("job", "node")])?;
//! let samples: Vec<(i64, f64)> = series[0].samples().collect::<Result<_, _>>()?;
//! assert_eq!(samples, [(1_000, 1.0), (16_000, 0.0)]);
//! db.close()?;
//!
//! // Reopening replays the WAL: the samples are still there.
//! let db = Db::open(&dir, Options::default())?;
//! assert_eq!(db.querier(0, 20_000).select(&[])?.len(), 1);
//! # drop(db);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod compact;
mod error;
mod head_file;
mod options;
mod querier;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

/// The seam [`Db::set_wal_observer`] takes (it lives with the WAL it watches).
pub use crate::tsdb::wal::WalObserver;
pub use compact::CompactStats;
pub use error::DbError;
pub use head_file::HeadFileError;
pub use options::{DEFAULT_BLOCK_RANGE_MS, DEFAULT_CHUNK_FILE_SIZE, Options};
pub use querier::{Querier, Series};

use crate::tsdb::block::{self, Block};
use crate::tsdb::fs::{DirLock, Directory, DiskDirectory};
use crate::tsdb::head::{
    Appender, Head, HeadChunks, HeadCounters, HeadState, ReplayOptions, ReplayStats, replay,
};
use crate::tsdb::wal::Wal;

/// A point-in-time summary for self-metrics.
#[derive(Debug, Clone, Default)]
pub struct DbStats {
    /// Series in the head.
    pub head_series: usize,
    /// Chunks in the head (full and open).
    pub head_chunks: usize,
    /// Oldest and newest sample time in the head.
    pub head_time_range: Option<(i64, i64)>,
    /// Estimated heap bytes of the head (index + per-series state).
    pub head_heap_bytes: usize,
    /// Head counters since open.
    pub counters: HeadCounters,
    /// Bytes written to the WAL since open.
    pub wal_bytes_written: u64,
    /// Seconds spent in WAL fsyncs since open.
    pub wal_sync_seconds: f64,
    /// Number of blocks.
    pub blocks: usize,
    /// Bytes of blocks + WAL + head chunk files on disk.
    pub bytes_on_disk: u64,
    /// Compaction totals since open.
    pub compaction: CompactStats,
    /// How long opening replayed.
    pub replay_duration: Duration,
}

/// An open database.
pub struct Db {
    dir: Arc<dyn Directory>,
    wal_dir: Arc<dyn Directory>,
    blocks_dir: Arc<dyn Directory>,
    head: Arc<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
    compaction: Mutex<CompactStats>,
    opts: Options,
    replay: ReplayStats,
    _lock: DirLock,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db, DbError> {
        let dir: Arc<dyn Directory> = DiskDirectory::open(path.as_ref())?;
        Db::open_in(dir, opts)
    }

    /// Opens the database in any [`Directory`] (an in-memory one for tests).
    pub fn open_in(dir: Arc<dyn Directory>, opts: Options) -> Result<Db, DbError> {
        opts.validate()?;
        let lock = dir.lock("LOCK")?;
        let blocks_dir = dir.subdir("blocks")?;
        let opened = block::open_all(&blocks_dir)?;
        for (name, e) in &opened.failed {
            tracing::error!(block = %name, error = %e, "block does not open: left in place, not queried");
        }
        let blocks = opened.blocks;
        let newest_block_end = blocks.iter().map(|b| b.meta().max_time).max();
        let min_valid = match (head_file::read(&*dir)?, newest_block_end) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(i64::MIN),
        };
        let wal_dir = dir.subdir("wal")?;
        let (wal, wal_replay) = Wal::open(Arc::clone(&wal_dir), opts.wal)?;
        let chunks = HeadChunks::open(dir.subdir("chunks_head")?, opts.chunk_file_size)?;
        let mut st = HeadState::new(wal, chunks, opts.block_range_ms, min_valid);
        let replay_stats = replay(
            &mut st,
            &wal_dir,
            wal_replay,
            ReplayOptions {
                repair: opts.repair_wal,
            },
        )?;
        tracing::info!(
            series = st.num_series(),
            samples = replay_stats.samples,
            chunks_from_files = replay_stats.mapped_chunks,
            blocks = blocks.len(),
            duration_ms = replay_stats.duration.as_millis() as u64,
            "tsdb opened"
        );
        Ok(Db {
            dir,
            wal_dir,
            blocks_dir,
            head: Arc::new(Head::new(st)),
            blocks: RwLock::new(blocks),
            compaction: Mutex::new(CompactStats::default()),
            opts,
            replay: replay_stats,
            _lock: lock,
        })
    }

    /// A new appender: buffer samples, then [`Appender::commit`].
    pub fn appender(&self) -> Appender {
        self.head.appender()
    }

    /// A querier over `[mint, maxt]` (inclusive, ms).
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier<'_> {
        Querier::new(self, mint, maxt)
    }

    /// The head's lower bound: appends of samples older than this are
    /// refused as out of bounds (that range was cut into a block).
    /// `i64::MIN` before the first head cut.
    pub fn head_min_valid_time(&self) -> i64 {
        self.head.lock().min_valid_time
    }

    /// What replay did when the database was opened.
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The WAL directory (remote write tails it).
    pub fn wal_dir(&self) -> &Arc<dyn Directory> {
        &self.wal_dir
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Syncs the WAL (call from a timer when the sync policy is an
    /// interval, so an idle WAL is durable too).
    pub fn sync_wal(&self) -> Result<(), DbError> {
        let synced = {
            let mut st = self.head.lock();
            st.wal.sync()?;
            st.wal.synced_position()
        };
        self.head.notify(synced);
        Ok(())
    }

    /// The WAL's end: where the next record will be written.
    pub fn wal_end(&self) -> crate::tsdb::wal::Position {
        self.head.lock().wal.position()
    }

    /// Registers the other reader of the WAL (remote write): it is told of
    /// every commit and asked before segments are deleted. Segments are
    /// only deleted by [`Db::compact`], so registering right after opening
    /// loses nothing.
    pub fn set_wal_observer(&self, observer: Arc<dyn WalObserver>) {
        self.head.set_observer(observer);
    }

    /// A summary for self-metrics. Walks the head: call it at scrape
    /// intervals, not per sample.
    pub fn stats(&self) -> DbStats {
        let (head_series, head_chunks, head_time_range, head_heap_bytes, counters, wal) = {
            let st = self.head.lock();
            (
                st.num_series(),
                st.num_chunks(),
                st.time_range(),
                st.heap_bytes(),
                st.counters,
                st.wal.stats(),
            )
        };
        DbStats {
            head_series,
            head_chunks,
            head_time_range,
            head_heap_bytes,
            counters,
            wal_bytes_written: wal.bytes_written,
            wal_sync_seconds: wal.sync_seconds,
            blocks: self.blocks.read().len(),
            bytes_on_disk: compact::dir_size(&*self.dir),
            compaction: *self.compaction.lock(),
            replay_duration: self.replay.duration,
        }
    }

    /// Syncs and closes.
    pub fn close(self) -> Result<(), DbError> {
        let mut st = self.head.lock();
        st.chunks.sync()?;
        st.wal.sync()?;
        Ok(())
    }
}
