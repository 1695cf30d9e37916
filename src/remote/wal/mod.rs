//! Remote write from the WAL: each endpoint tails the TSDB's write-ahead
//! log from its own durable position, so the WAL is the queue and nothing
//! accepted is lost across receiver outages or levee restarts.
//!
//! Per endpoint, a tailer thread (`tailer`) loads the series refs (the
//! newest checkpoint's, then the WAL's up to the position), reads records
//! from the position on, resolves refs to labels (after the endpoint's
//! `write_relabel_configs`) and hands samples to the endpoint's dispatcher
//! through a `WalSource` (`source`), never holding more than the
//! endpoint's `capacity`. The dispatcher reports the watermark below which
//! every sample is acknowledged or given up on; the `tracker` turns it
//! into a WAL position, written to the endpoint's position file
//! (`docs/format/remote_position.md`) at most every `position_interval`.
//!
//! What the database does: call [`WalWatch::notify`] after each commit, and
//! ask [`WalPins::deletable_before`] before deleting segments. See
//! `docs/remote_write.md` ("WAL mode").

mod counter;
mod error;
mod pins;
mod position;
mod series;
pub(crate) mod source;
mod tailer;
mod tracker;
mod watch;

pub use error::{PositionError, WalSourceError};
pub use pins::{WalCap, WalPins};
pub use position::{
    POSITION_VERSION, file_name as position_file_name, read as read_position,
    write as write_position,
};
pub use source::WalEndpointStatus;
pub use watch::WalWatch;

use super::metrics::EndpointMetrics;
use super::shard::Shared;
use crate::tsdb::fs::Directory;
use crate::tsdb::wal::{DEFAULT_SEGMENT_SIZE, Position};
use source::WalSource;
use std::sync::Arc;
use std::time::Duration;
use tailer::{Start, Tailer};

/// Where an endpoint without a position file starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartAt {
    /// At the end of the WAL: only samples written from now on (the
    /// default; what Prometheus does for a new endpoint).
    #[default]
    End,
    /// At the oldest segment present: everything the WAL still holds.
    Oldest,
}

/// Tuning of the WAL tailers.
#[derive(Clone, Copy, Debug)]
pub struct WalSourceOptions {
    /// The position file is written at most this often while the position
    /// moves (and when the endpoint stops). After a crash, samples
    /// acknowledged within this window before it are sent again.
    pub position_interval: Duration,
    /// How long a tailer waits for a [`WalWatch::notify`] before looking at
    /// the WAL anyway.
    pub poll_interval: Duration,
    /// The WAL's segment size: the size assumed for a deleted segment whose
    /// size the tailer never saw, when estimating what a skip dropped.
    pub segment_size: u64,
    /// Where an endpoint without a position file starts.
    pub start_at: StartAt,
}

impl Default for WalSourceOptions {
    fn default() -> Self {
        WalSourceOptions {
            position_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            segment_size: DEFAULT_SEGMENT_SIZE,
            start_at: StartAt::End,
        }
    }
}

/// What the remote writer needs to send from the WAL.
#[derive(Clone, Debug)]
pub struct WalQueue {
    /// The WAL directory (`<data-dir>/wal`).
    pub wal_dir: Arc<dyn Directory>,
    /// Where the position files live (`<data-dir>/remote_write`).
    pub positions_dir: Arc<dyn Directory>,
    /// Notified by the database after each commit.
    pub watch: Arc<WalWatch>,
    /// Consulted by the database before deleting segments.
    pub pins: Arc<WalPins>,
    /// Tuning.
    pub options: WalSourceOptions,
}

/// Reads the endpoint's position, pins its segment and starts its tailer
/// thread. Synchronous up to the pin, so a head cut right after this call
/// already keeps the endpoint's segments.
pub(crate) fn start(
    shared: &Arc<Shared>,
    metrics: EndpointMetrics,
    q: &WalQueue,
) -> Result<Arc<WalSource>, WalSourceError> {
    let s = &shared.settings;
    let file = position::file_name(&s.name);
    let stored = position::read(&*q.positions_dir, &file)?;
    let bounds = series::wal_bounds(&*q.wal_dir)?;
    let (first, last) = bounds.unwrap_or((0, 0));
    let (start, pin_at, tracker_at) = match (stored, q.options.start_at) {
        (Some(p), _) => (Start::At(p), p.segment, p),
        (None, StartAt::Oldest) => {
            let p = Position::start_of(first);
            (Start::At(p), first, p)
        }
        (None, StartAt::End) => (Start::End, last, Position::start_of(last)),
    };
    let pin = q.pins.register(&s.name, pin_at);
    metrics.position_segment.set(f64::from(pin_at));
    let src = Arc::new(WalSource::new(
        &s.name,
        &s.url,
        s.capacity,
        tracker_at,
        q.positions_dir.clone(),
        pin,
        q.watch.clone(),
        metrics,
        q.options.position_interval,
        stored,
    ));
    if let Start::At(_) = start
        && stored.is_none()
    {
        src.persist(true);
    }
    let tailer = Tailer::new(src.clone(), shared.clone(), q.wal_dir.clone(), q.options);
    let (name, url) = (s.name.clone(), s.url.clone());
    let handle = std::thread::Builder::new()
        .name(format!("levee-rw-{}", s.name))
        .spawn(move || {
            // A bug must not pass silently: the endpoint stops sending, and
            // says so; its position stays where it was (nothing is lost).
            let run = std::panic::AssertUnwindSafe(move || tailer.run(start));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!(remote_name = %name, url = %url, "remote write: the WAL tailer thread panicked; this endpoint stopped sending (its position file is kept: a restart resumes there)");
            }
        })
        .map_err(|e| WalSourceError::Thread {
            endpoint: s.name.clone(),
            reason: e.to_string(),
        })?;
    src.set_thread(handle);
    Ok(src)
}
