//! [`WalSource`]: where an endpoint's samples come from. The tailer thread
//! fills it with samples read from the WAL; the dispatcher
//! takes them and reports what is finished; the committed position goes to
//! the position file and the endpoint's pin.

use super::super::metrics::EndpointMetrics;
use super::pins::Pin;
use super::position;
use super::tracker::Tracker;
use super::watch::WalWatch;
use crate::pipeline::Sample;
use crate::tsdb::fs::Directory;
use crate::tsdb::wal::Position;
use parking_lot::{Condvar, Mutex};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Samples read from the WAL and not yet finished, and the position that
/// is.
pub(crate) struct WalSource {
    pub name: String,
    pub url: String,
    buf: Mutex<Vec<Sample>>,
    pending: AtomicUsize,
    /// Unread WAL samples, estimated by the tailer (for the shard count).
    unread: AtomicUsize,
    accepted: AtomicU64,
    pub capacity: usize,
    closed: AtomicBool,
    notify: Notify,
    room: Mutex<()>,
    room_cond: Condvar,
    pub tracker: Mutex<Tracker>,
    /// Lock order: `persisted` before `tracker` before the watch's state;
    /// never the other way round.
    persisted: Mutex<Persisted>,
    /// The tailer's view, published for [`WalSource::status`].
    pub tail: Mutex<TailView>,
    positions_dir: Arc<dyn Directory>,
    pub file: String,
    pub pin: Arc<Pin>,
    pub watch: Arc<WalWatch>,
    pub metrics: EndpointMetrics,
    interval: Duration,
    /// The tailer thread, joined by [`WalSource::join_tailer`].
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the tailer publishes about itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct TailView {
    pub read: Position,
    pub counted: Vec<u32>,
    pub series: usize,
}

/// The state of one endpoint in WAL mode (see
/// [`RemoteWriter::wal_status`](crate::remote::RemoteWriter::wal_status)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalEndpointStatus {
    /// The endpoint's name.
    pub name: String,
    /// Everything before this position is acknowledged or given up on.
    pub committed: Position,
    /// The position in the position file (what a restart resumes from).
    pub written: Option<Position>,
    /// Where the tailer reads next.
    pub read: Position,
    /// Completed segments ahead of the tailer whose samples it has counted
    /// (a skip over them is counted exactly).
    pub counted_segments: Vec<u32>,
    /// Series refs known.
    pub series: usize,
    /// Samples held: read and not yet finished.
    pub pending: usize,
}

struct Persisted {
    written: Option<Position>,
    at: Instant,
    failing: bool,
}

impl WalSource {
    #[expect(clippy::too_many_arguments, reason = "a constructor of plain parts")]
    pub fn new(
        name: &str,
        url: &str,
        capacity: usize,
        start: Position,
        positions_dir: Arc<dyn Directory>,
        pin: Arc<Pin>,
        watch: Arc<WalWatch>,
        metrics: EndpointMetrics,
        interval: Duration,
        written: Option<Position>,
    ) -> Self {
        WalSource {
            name: name.to_string(),
            url: url.to_string(),
            buf: Mutex::new(Vec::new()),
            pending: AtomicUsize::new(0),
            unread: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            capacity,
            closed: AtomicBool::new(false),
            notify: Notify::new(),
            room: Mutex::new(()),
            room_cond: Condvar::new(),
            tracker: Mutex::new(Tracker::new(start)),
            tail: Mutex::new(TailView::default()),
            persisted: Mutex::new(Persisted {
                written,
                at: Instant::now(),
                failing: false,
            }),
            file: position::file_name(name),
            positions_dir,
            pin,
            watch,
            metrics,
            interval,
            thread: Mutex::new(None),
        }
    }

    /// Remembers the tailer thread.
    pub fn set_thread(&self, handle: std::thread::JoinHandle<()>) {
        *self.thread.lock() = Some(handle);
    }

    /// Closes the source and waits (blocking) for the tailer thread to
    /// exit, so nothing reads the WAL or writes the position file for this
    /// endpoint afterwards; then writes the final position.
    pub fn join_tailer(&self) {
        self.close();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.persist(true);
    }

    /// Hands `samples` (already counted in the tracker's numbering by the
    /// caller) to the dispatcher.
    pub fn push(&self, samples: &mut Vec<Sample>) {
        let n = samples.len();
        if n == 0 {
            return;
        }
        {
            let mut buf = self.buf.lock();
            if buf.is_empty() {
                std::mem::swap(&mut *buf, samples);
            } else {
                buf.append(samples);
            }
            self.pending.fetch_add(n, Ordering::AcqRel);
        }
        self.accepted.fetch_add(n as u64, Ordering::Relaxed);
        self.metrics.wal_read.add(n as u64);
        self.notify.notify_one();
    }

    /// Blocks the tailer while the endpoint holds `capacity` samples, at
    /// most `timeout`.
    pub fn wait_for_room(&self, timeout: Duration) {
        let mut g = self.room.lock();
        if self.pending() >= self.capacity && !self.is_closed() {
            self.room_cond.wait_for(&mut g, timeout);
        }
    }

    /// Sets the estimate of samples in the WAL not read yet.
    pub fn set_unread(&self, n: usize) {
        self.unread.store(n, Ordering::Relaxed);
    }

    /// Closes the source: the tailer stops reading, the dispatcher sends
    /// what it holds and stops.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
        {
            let _g = self.room.lock();
            self.room_cond.notify_all();
        }
        self.watch.notify();
    }

    /// Writes the committed position to the position file if it moved and
    /// `force` or the interval has passed since the last write; then moves
    /// the pin to it. Returns false if writing failed (logged).
    pub fn persist(&self, force: bool) -> bool {
        let mut p = self.persisted.lock();
        let mut committed = self.tracker.lock().committed();
        if let Some(synced) = self.watch.synced() {
            committed = committed.min(synced);
        }
        if p.written.is_some_and(|w| w >= committed) {
            return true;
        }
        if !force && p.at.elapsed() < self.interval {
            return true;
        }
        p.at = Instant::now();
        match position::write(&*self.positions_dir, &self.file, committed) {
            Ok(()) => {
                p.written = Some(committed);
                self.pin.set_segment(committed.segment);
                self.metrics
                    .position_segment
                    .set(f64::from(committed.segment));
                if std::mem::take(&mut p.failing) {
                    tracing::info!(remote_name = %self.name, url = %self.url, "remote write: position file written again");
                }
                true
            }
            Err(e) => {
                if !std::mem::replace(&mut p.failing, true) {
                    tracing::error!(remote_name = %self.name, url = %self.url, "remote write: cannot write the position file (sending goes on; after a restart, samples since the last written position are sent again): {e}");
                }
                false
            }
        }
    }

    /// Moves the committed position back to `to` and writes it (the stored
    /// position was ahead of a WAL created anew).
    pub fn rewind(&self, to: Position) {
        *self.tracker.lock() = Tracker::new(to);
        self.persisted.lock().written = None;
        self.persist(true);
    }

    /// The position last written to the position file.
    pub fn written(&self) -> Option<Position> {
        self.persisted.lock().written
    }

    /// A snapshot of the endpoint's state.
    pub fn status(&self) -> WalEndpointStatus {
        // One lock at a time: `persist` takes `persisted`, then `tracker`.
        let tail = self.tail.lock().clone();
        let committed = self.tracker.lock().committed();
        let written = self.written();
        WalEndpointStatus {
            name: self.name.clone(),
            committed,
            written,
            read: tail.read,
            counted_segments: tail.counted,
            series: tail.series,
            pending: self.pending(),
        }
    }
}

/// What the dispatcher calls.
impl WalSource {
    /// Moves the samples read so far into `out` (appending, in order).
    pub fn take(&self, out: &mut Vec<Sample>) {
        let mut buf = self.buf.lock();
        if out.is_empty() {
            std::mem::swap(&mut *buf, out);
        } else {
            out.append(&mut buf);
        }
    }

    /// Resolves when samples may be available or the source was closed.
    pub fn wait(&self) -> impl Future<Output = ()> + Send {
        self.notify.notified()
    }

    /// True once closed: after that, `take` yields what is left and then
    /// nothing more.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Reports that `n` samples taken earlier are finished (acknowledged or
    /// given up on), so the tailer may read more.
    pub fn done(&self, n: usize) {
        let before = self.pending.fetch_sub(n, Ordering::AcqRel);
        if before >= self.capacity && before - n < self.capacity {
            let _g = self.room.lock();
            self.room_cond.notify_all();
        }
    }

    /// Samples taken or takeable but not yet finished.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Samples read since the start (for the arrival rate).
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Every sample numbered below `upto` is finished (acknowledged or
    /// given up on). Samples are numbered 0, 1, 2, … in the order `take`
    /// hands them out; batches finish out of order across shards, and the
    /// dispatcher reports the lowest number still held anywhere. The
    /// committed position advances past the records all of whose samples
    /// are below it.
    pub fn release(&self, upto: u64) {
        self.tracker.lock().release(upto);
    }

    /// Samples waiting to be sent, the unread part of the WAL included:
    /// what the shard count must catch up with.
    pub fn backlog(&self) -> usize {
        self.pending()
            .saturating_add(self.unread.load(Ordering::Relaxed))
    }

    /// The dispatcher has stopped: everything it will ever release is
    /// released; the position is written.
    pub fn stopped(&self) {
        self.persist(true);
    }
}
