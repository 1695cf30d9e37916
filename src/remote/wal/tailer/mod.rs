//! The tailer thread of one endpoint: loads the series refs, reads the WAL
//! from the endpoint's position, resolves refs to labels, hands samples to
//! the [`WalSource`], persists the committed position, publishes lag, and
//! steps over segments the WAL cap deleted under it. Periodic work is in
//! `tick`, skips and estimates in `skip`.

mod skip;
mod tick;

use super::WalSourceOptions;
use super::counter::SegmentCounts;
use super::series::{Resolved, SeriesCache, wal_bounds};
use super::source::WalSource;
use crate::pipeline::Sample;
use crate::remote::metrics::DropReason;
use crate::remote::shard::Shared;
use crate::tsdb::fs::Directory;
use crate::tsdb::record::{self, RecordType, RefSample};
use crate::tsdb::wal::{Position, WalError, WalReader, list_segments, segment_name};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes per sample in the WAL when nothing has been measured yet
/// (`docs/tsdb-storage.md`: 7.5 bytes/sample for 1 000-sample batches).
const DEFAULT_BYTES_PER_SAMPLE: f64 = 7.5;

/// How often lag, segment sizes and the pin's lag are refreshed.
const TICK: Duration = Duration::from_millis(500);

/// Log a repeating error at most this often.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Where the tailer starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// At this position (from the position file, or the oldest segment).
    At(Position),
    /// At the end of the WAL as the tailer first reads it.
    End,
}

pub(crate) struct Tailer {
    src: Arc<WalSource>,
    shared: Arc<Shared>,
    wal_dir: Arc<dyn Directory>,
    opts: WalSourceOptions,
    reader: WalReader,
    series: SeriesCache,
    /// Samples handed to the source since the start.
    handed_out: u64,
    /// Last seen size of each segment, for estimating what a skip lost.
    seg_sizes: BTreeMap<u32, u64>,
    /// Sample counts of the segments ahead, for counting a skip exactly.
    counts: SegmentCounts,
    /// Samples read in the reader's current segment: (segment, samples).
    seg_read: (u32, u64),
    /// The newest checkpoint the series refs were collected against.
    collected: Option<u32>,
    /// WAL bytes and samples read, for bytes-per-sample estimates.
    bytes_read: u64,
    samples_read: u64,
    first_read_ms: Option<i64>,
    highest_read_ms: i64,
    last_tick: Option<Instant>,
    last_error: Option<(String, Instant)>,
    unknown_logged: Option<Instant>,
    /// The record being handled (a copy: the reader's borrow ends here).
    rec: Vec<u8>,
    scratch: Vec<RefSample>,
    out: Vec<Sample>,
}

impl Tailer {
    pub fn new(
        src: Arc<WalSource>,
        shared: Arc<Shared>,
        wal_dir: Arc<dyn Directory>,
        opts: WalSourceOptions,
    ) -> Self {
        let reader = WalReader::new(wal_dir.clone(), Position::default());
        Tailer {
            src,
            shared,
            wal_dir,
            opts,
            reader,
            series: SeriesCache::default(),
            handed_out: 0,
            seg_sizes: BTreeMap::new(),
            counts: SegmentCounts::default(),
            seg_read: (0, 0),
            collected: None,
            bytes_read: 0,
            samples_read: 0,
            first_read_ms: None,
            highest_read_ms: i64::MIN,
            last_tick: None,
            last_error: None,
            unknown_logged: None,
            rec: Vec::new(),
            scratch: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Runs until the source is closed.
    pub fn run(mut self, start: Start) {
        while !self.src_closed() {
            match self.init(start) {
                Ok(()) => break,
                Err(e) => {
                    self.log_error(format!("cannot start tailing the WAL (retrying): {e}"));
                    std::thread::sleep(self.opts.poll_interval);
                }
            }
        }
        // Idle waits end in time to persist a position that moved.
        let idle = self
            .opts
            .poll_interval
            .min(self.opts.position_interval.max(Duration::from_millis(10)));
        while !self.src_closed() {
            self.src.persist(false);
            self.tick(false);
            if self.src.pending() >= self.src.capacity {
                // Blocked by the endpoint: count the segments ahead while
                // waiting, so a skip over them can be counted exactly.
                match self
                    .counts
                    .count_next(&self.wal_dir, self.reader.position().segment)
                {
                    Ok(true) => self.src.tail.lock().counted = self.counts.counted(),
                    Ok(false) => self.src.wait_for_room(idle),
                    Err(e) => {
                        self.log_error(format!("counting samples of WAL segments ahead: {e}"));
                        self.src.wait_for_room(idle);
                    }
                }
                continue;
            }
            let generation = self.src.watch.generation();
            let before = self.reader.position();
            match self.reader.next_record() {
                Ok(Some(rec)) => {
                    self.rec.clear();
                    self.rec.extend_from_slice(rec);
                    self.handle_record(before);
                }
                Ok(None) => {
                    self.src.watch.wait(generation, idle);
                }
                Err(WalError::SegmentMissing { .. }) => self.skip_deleted(),
                Err(WalError::InvalidPosition { position, reason }) => {
                    self.past_end(position, reason);
                }
                Err(e @ WalError::Corrupt { .. }) => self.corrupt(e),
                Err(e) => {
                    self.log_error(format!("reading the WAL (retrying): {e}"));
                    std::thread::sleep(self.opts.poll_interval);
                }
            }
        }
        self.tick(true);
    }

    fn src_closed(&self) -> bool {
        self.src.is_closed()
    }

    /// Loads the series before the start and positions the reader there.
    fn init(&mut self, start: Start) -> Result<(), crate::remote::wal::WalSourceError> {
        let rules = &self.shared.settings.write_relabel;
        if let Err(e) = self.series.load_checkpoint(&self.wal_dir, rules) {
            tracing::error!(remote_name = %self.src.name, url = %self.src.url, "remote write: cannot read the WAL checkpoint's series; samples of series declared only there will count as unknown_series: {e}");
        }
        let Some((first, last)) = wal_bounds(&*self.wal_dir)? else {
            // No WAL yet: start at segment 0.
            self.rewind_if_ahead(start, Position::default());
            self.start_at(Position::default());
            return Ok(());
        };
        if let Start::At(p) = start
            && p.segment > last
        {
            let to = Position::start_of(first);
            self.rewind_if_ahead(start, to);
            self.start_at(to);
            return Ok(());
        }
        match start {
            Start::At(p) if p.segment < first => {
                self.reader = WalReader::new(self.wal_dir.clone(), p);
                self.skip_deleted();
            }
            Start::At(p) => {
                let mut pre =
                    WalReader::new(self.wal_dir.clone(), Position::start_of(first)).with_end(p);
                self.series.load_until(&mut pre, None, rules)?;
                self.start_at(p);
            }
            Start::End => {
                let mut pre = WalReader::new(self.wal_dir.clone(), Position::start_of(first));
                self.series.load_until(&mut pre, None, rules)?;
                let end = pre.position();
                self.start_at(end);
                self.src.persist(true);
            }
        }
        tracing::info!(remote_name = %self.src.name, url = %self.src.url, position = %self.reader.position(), series = self.series.len(), "remote write: tailing the WAL");
        Ok(())
    }

    /// A stored position ahead of the WAL (it was deleted and created
    /// anew): everything in it is new, so send it all from `to`.
    fn rewind_if_ahead(&mut self, start: Start, to: Position) {
        let Start::At(p) = start else {
            return;
        };
        if p.segment > to.segment || (p.segment == to.segment && !p.is_segment_start()) {
            tracing::warn!(remote_name = %self.src.name, url = %self.src.url, stored = %p, resume = %to, "remote write: the stored position is ahead of the WAL (was the WAL deleted?); sending the WAL from its start");
            self.src.rewind(to);
        }
    }

    fn start_at(&mut self, p: Position) {
        self.counts.started_at(p);
        self.seg_read = (p.segment, 0);
        self.reader = WalReader::new(self.wal_dir.clone(), p);
        *self.src.tracker.lock() = crate::remote::wal::tracker::Tracker::new(p);
    }

    /// Handles the record the reader just returned (it started at `before`).
    fn handle_record(&mut self, before: Position) {
        let end = self.reader.position();
        let rules = &self.shared.settings.write_relabel;
        let rec = std::mem::take(&mut self.rec);
        match record::record_type(&rec) {
            Ok(RecordType::Series) => {
                if let Err(e) = self.series.add_record(&rec, end.segment, rules) {
                    self.log_error(format!(
                        "skipping a series record ending at {end} that does not decode: {e}"
                    ));
                }
            }
            Ok(RecordType::Samples) => {
                self.scratch.clear();
                if let Err(e) = record::decode_samples(&rec, &mut self.scratch) {
                    self.log_error(format!(
                        "skipping a samples record ending at {end} that does not decode: {e}"
                    ));
                } else {
                    self.resolve_samples(before, end);
                }
            }
            Err(e) => self.log_error(format!("skipping a record ending at {end}: {e}")),
        }
        self.rec = rec;
        self.src.tracker.lock().record_read(self.handed_out, end);
    }

    fn resolve_samples(&mut self, before: Position, end: Position) {
        let mut unknown = 0u64;
        for s in &self.scratch {
            match self.series.resolve(s.series) {
                Resolved::Send(labels) => self.out.push(Sample {
                    labels: labels.clone(),
                    timestamp_ms: s.t,
                    value: s.v,
                }),
                Resolved::Relabeled => {}
                Resolved::Unknown => unknown += 1,
            }
            self.highest_read_ms = self.highest_read_ms.max(s.t);
        }
        if self.first_read_ms.is_none() {
            self.first_read_ms = self.scratch.iter().map(|s| s.t).min();
        }
        self.samples_read += self.scratch.len() as u64;
        if self.seg_read.0 != end.segment {
            self.seg_read = (end.segment, 0);
        }
        self.seg_read.1 += self.scratch.len() as u64;
        // A record lies in one segment: one that ends in a later segment
        // than the reader stood in started at that segment's start.
        let start = if before.segment == end.segment {
            before
        } else {
            Position::start_of(end.segment)
        };
        self.bytes_read += start.bytes_to(end, |s| self.segment_size(s));
        if unknown > 0 {
            self.shared
                .metrics
                .dropped(DropReason::UnknownSeries, unknown);
            let now = Instant::now();
            if self
                .unknown_logged
                .is_none_or(|t| now.duration_since(t) >= ERROR_LOG_INTERVAL)
            {
                self.unknown_logged = Some(now);
                tracing::error!(remote_name = %self.src.name, url = %self.src.url, samples = unknown, record_end = %end, "remote write: DROPPED samples of series refs never declared (their series record was in a deleted segment and not in the checkpoint); counted in levee_remote_write_samples_dropped_total{{reason=\"unknown_series\"}}");
            }
        }
        self.handed_out += self.out.len() as u64;
        self.src.push(&mut self.out);
        self.out.clear();
    }

    fn log_error(&mut self, msg: String) {
        let now = Instant::now();
        let repeat = self
            .last_error
            .as_ref()
            .is_some_and(|(m, t)| *m == msg && now.duration_since(*t) < ERROR_LOG_INTERVAL);
        if !repeat {
            tracing::error!(remote_name = %self.src.name, url = %self.src.url, "remote write: {msg}");
            self.last_error = Some((msg, now));
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
