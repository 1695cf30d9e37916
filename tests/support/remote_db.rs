//! A real TSDB (`levee::tsdb::db::Db`) in a temp dir with remote write
//! tailing its WAL, wired as `levee run` wires them (`src/agent/mod.rs`):
//! the writer starts on the database's WAL before the database may delete
//! anything, the database's WAL observer wakes the endpoints and asks their
//! pins before deleting segments, and samples go in through the agent's
//! `TsdbSink`, one commit per scrape. Stopping is the agent's too: sync the
//! WAL, drain to its end, shut down.

use levee::agent::storage::{RemoteWalObserver, TsdbSink};
use levee::labels::Labels;
use levee::pipeline::{Sample, SampleSink};
use levee::remote::wal::{StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, WalWatch};
use levee::remote::{EndpointSettings, RemoteError, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::fs::{Directory, DiskDirectory};
use std::sync::Arc;
use std::time::Duration;

/// The database, its sink and the remote writer on its WAL.
pub struct RemoteDb {
    pub db: Arc<Db>,
    sink: TsdbSink,
    watch: Arc<WalWatch>,
    pins: Arc<WalPins>,
    positions: Arc<dyn Directory>,
    _dir: tempfile::TempDir,
}

impl RemoteDb {
    /// Opens a database in a new temp dir; no writer yet.
    pub fn open() -> RemoteDb {
        let dir = super::temp_dir("levee-remote-db");
        let db = Arc::new(Db::open(dir.path().join("db"), Options::default()).expect("open db"));
        let positions = DiskDirectory::open(dir.path().join("remote_write")).expect("positions");
        let watch = WalWatch::new();
        let pins = WalPins::new(WalCap::default());
        RemoteDb {
            sink: TsdbSink::new(Arc::clone(&db)),
            db,
            watch,
            pins,
            positions,
            _dir: dir,
        }
    }

    /// Opens a database and starts `endpoints` on its WAL (see
    /// [`start_writer`](Self::start_writer)).
    pub fn start(
        endpoints: Vec<EndpointSettings>,
        external: Labels,
        registry: &Registry,
    ) -> Result<(RemoteDb, RemoteWriter), RemoteError> {
        let db = RemoteDb::open();
        let writer = db.start_writer(endpoints, external, registry)?;
        Ok((db, writer))
    }

    /// Starts `endpoints` on the WAL, as `levee run` does at start (a
    /// second call is a restart: each endpoint resumes from its position
    /// file). An endpoint without a position file starts at the WAL's
    /// oldest segment, so every sample appended is sent.
    pub fn start_writer(
        &self,
        endpoints: Vec<EndpointSettings>,
        external: Labels,
        registry: &Registry,
    ) -> Result<RemoteWriter, RemoteError> {
        let writer = RemoteWriter::start_wal(
            endpoints,
            external,
            registry,
            WalQueue {
                wal_dir: Arc::clone(self.db.wal_dir()),
                positions_dir: Arc::clone(&self.positions),
                watch: Arc::clone(&self.watch),
                pins: Arc::clone(&self.pins),
                options: WalSourceOptions {
                    start_at: StartAt::Oldest,
                    ..WalSourceOptions::default()
                },
            },
        )?;
        self.db.set_wal_observer(Arc::new(RemoteWalObserver {
            watch: Arc::clone(&self.watch),
            pins: Arc::clone(&self.pins),
        }));
        Ok(writer)
    }

    /// Stores one scrape (one commit), as the scrape loops do.
    pub fn append(&self, samples: &[Sample]) {
        self.sink.append(samples);
    }

    /// Stops as `levee run` stops: syncs the WAL, waits (up to `deadline`,
    /// or 5 s without progress) until every endpoint finished the WAL up to
    /// its end, then shuts the writer down with what is left of
    /// `deadline`. Returns whether the drain reached the end.
    pub async fn stop(&self, writer: RemoteWriter, deadline: Duration) -> bool {
        let started = tokio::time::Instant::now();
        self.db.sync_wal().expect("sync the WAL");
        let drained = writer.drain(self.db.wal_end(), deadline).await;
        writer
            .shutdown(deadline.saturating_sub(started.elapsed()))
            .await;
        drained
    }

    /// Where the WAL ends now.
    pub fn wal_end(&self) -> levee::tsdb::wal::Position {
        self.db.wal_end()
    }

    /// The position stored for endpoint `name`, if any.
    pub fn position(&self, name: &str) -> Option<levee::tsdb::wal::Position> {
        levee::remote::wal::read_position(
            &*self.positions,
            &levee::remote::wal::position_file_name(name),
        )
        .expect("read the position file")
    }
}
