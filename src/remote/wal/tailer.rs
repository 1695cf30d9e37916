//! The tailer thread of one endpoint: loads the series refs, reads the WAL
//! from the endpoint's position, resolves refs to labels, hands samples to
//! the [`WalSource`], persists the committed position, publishes lag, and
//! steps over segments the WAL cap deleted under it.

use super::super::Sample;
use super::super::metrics::DropReason;
use super::super::shard::Shared;
use super::super::source::SampleSource;
use super::WalSourceOptions;
use super::counter::SegmentCounts;
use super::series::{Resolved, SeriesCache, wal_bounds};
use super::source::WalSource;
use crate::tsdb::fs::Directory;
use crate::tsdb::record::{self, RecordType, RefSample};
use crate::tsdb::wal::{
    Position, SEGMENT_HEADER_LEN, WalError, WalReader, list_segments, segment_name,
};
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
                    self.src.wait_for_room(self.opts.poll_interval);
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
    fn init(&mut self, start: Start) -> Result<(), super::WalSourceError> {
        let rules = &self.shared.settings.write_relabel;
        if let Err(e) = self.series.load_checkpoint(&self.wal_dir, rules) {
            tracing::error!(remote_name = %self.src.name, url = %self.src.url, "remote write: cannot read the WAL checkpoint's series; samples of series declared only there will count as unknown_series: {e}");
        }
        let Some((first, _)) = wal_bounds(&*self.wal_dir)? else {
            // No WAL yet: start at segment 0.
            self.start_at(Position::default());
            return Ok(());
        };
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

    fn start_at(&mut self, p: Position) {
        self.counts.started_at(p);
        self.seg_read = (p.segment, 0);
        self.reader = WalReader::new(self.wal_dir.clone(), p);
        *self.src.tracker.lock() = super::tracker::Tracker::new(p);
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
        self.bytes_read += if before.segment == end.segment {
            end.offset
                .saturating_sub(before.offset.max(SEGMENT_HEADER_LEN))
        } else {
            end.offset.saturating_sub(SEGMENT_HEADER_LEN)
        };
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

    fn bytes_per_sample(&self) -> f64 {
        if self.samples_read >= 1000 {
            self.bytes_read as f64 / self.samples_read as f64
        } else {
            DEFAULT_BYTES_PER_SAMPLE
        }
    }

    /// Bytes per sample for estimating a skip: measured on what this tailer
    /// read, else on the oldest segment left (`first`, read now as far as
    /// it goes), else [`DEFAULT_BYTES_PER_SAMPLE`].
    fn bytes_per_sample_near(&mut self, first: u32) -> f64 {
        if self.samples_read >= 1000 {
            return self.bytes_per_sample();
        }
        let mut reader = WalReader::new(self.wal_dir.clone(), Position::start_of(first))
            .with_end(Position::start_of(first.saturating_add(1)));
        let mut samples = 0u64;
        while let Ok(Some(rec)) = reader.next_record() {
            self.scratch.clear();
            if matches!(record::record_type(rec), Ok(RecordType::Samples))
                && record::decode_samples(rec, &mut self.scratch).is_ok()
            {
                samples += self.scratch.len() as u64;
            }
        }
        let bytes = reader.position().offset.saturating_sub(SEGMENT_HEADER_LEN);
        if samples > 0 {
            bytes as f64 / samples as f64
        } else {
            DEFAULT_BYTES_PER_SAMPLE
        }
    }

    /// The size of segment `s` as last seen, or the configured segment size.
    fn segment_size(&self, s: u32) -> u64 {
        self.seg_sizes
            .get(&s)
            .copied()
            .unwrap_or(self.opts.segment_size)
    }

    /// Bytes from `from` to the start of segment `to`.
    fn bytes_between(&self, from: Position, to: u32) -> u64 {
        (from.segment..to)
            .map(|s| {
                let size = self.segment_size(s);
                if s == from.segment {
                    size.saturating_sub(from.offset.max(SEGMENT_HEADER_LEN))
                } else {
                    size.saturating_sub(SEGMENT_HEADER_LEN)
                }
            })
            .sum()
    }

    /// The reader's segment was deleted (the WAL cap): count what was
    /// skipped, reload the series from the checkpoint and go on at the
    /// oldest segment left.
    fn skip_deleted(&mut self) {
        let from = self.reader.position();
        let first = match list_segments(&*self.wal_dir) {
            Ok(segs) => segs.first().copied(),
            Err(e) => {
                self.log_error(format!("listing WAL segments: {e}"));
                std::thread::sleep(self.opts.poll_interval);
                return;
            }
        };
        let Some(first) = first.filter(|&f| f > from.segment) else {
            // Not deleted after all (or the WAL is being recreated): retry.
            std::thread::sleep(self.opts.poll_interval);
            return;
        };
        let read_here = if self.seg_read.0 == from.segment {
            self.seg_read.1
        } else {
            0
        };
        let skipped = self.counts.skipped(from, read_here, first);
        let bytes: u64 = skipped
            .uncounted
            .iter()
            .map(|&s| {
                let start = if s == from.segment {
                    from
                } else {
                    Position::start_of(s)
                };
                self.bytes_between(start, s + 1)
            })
            .sum();
        let per_sample = if bytes > 0 {
            self.bytes_per_sample_near(first)
        } else {
            DEFAULT_BYTES_PER_SAMPLE
        };
        let estimated = (bytes as f64 / per_sample).round() as u64;
        let samples = skipped.counted + estimated;
        self.shared.metrics.dropped(DropReason::WalCap, samples);
        tracing::error!(
            remote_name = %self.src.name, url = %self.src.url,
            from = %from, resume_segment = first, counted = skipped.counted,
            estimated, uncounted_segments = ?skipped.uncounted,
            "remote write: WAL CAP: segments this endpoint had not sent were deleted; DROPPED {samples} samples ({} counted exactly, {estimated} estimated from {bytes} bytes of segments deleted before they were counted), counted in levee_remote_write_samples_dropped_total{{reason=\"wal_cap\"}}; resuming at the oldest segment left",
            skipped.counted
        );
        self.counts.forget_before(first);
        self.seg_read = (first, 0);
        let rules = &self.shared.settings.write_relabel;
        if let Err(e) = self.series.load_checkpoint(&self.wal_dir, rules) {
            self.log_error(format!("reloading series from the checkpoint: {e}"));
        }
        let to = Position::start_of(first);
        self.reader = WalReader::new(self.wal_dir.clone(), to);
        self.src.tracker.lock().record_read(self.handed_out, to);
    }

    /// The stored position lies past the end of its segment: the WAL lost
    /// its unsynced tail in a machine crash and was repaired. Continue at
    /// the segment's end, or the next segment's start.
    fn past_end(&mut self, position: Position, reason: &str) {
        let len = self
            .wal_dir
            .len(&segment_name(position.segment))
            .unwrap_or(0);
        let newer = list_segments(&*self.wal_dir)
            .ok()
            .and_then(|s| s.last().copied())
            .is_some_and(|l| l > position.segment);
        let to = if newer {
            Position::start_of(position.segment.saturating_add(1))
        } else {
            Position {
                segment: position.segment,
                offset: len,
            }
        };
        tracing::warn!(remote_name = %self.src.name, url = %self.src.url, stored = %position, resume = %to, "remote write: position {reason} (the WAL was cut back after a crash); resuming at {to}");
        self.reader = WalReader::new(self.wal_dir.clone(), to);
        self.src.tracker.lock().record_read(self.handed_out, to);
    }

    /// A damaged record: if a newer segment exists, skip the rest of this
    /// one (counted, estimated); otherwise wait for a repair.
    fn corrupt(&mut self, e: WalError) {
        let at = self.reader.position();
        let newer = list_segments(&*self.wal_dir)
            .ok()
            .and_then(|s| s.last().copied())
            .is_some_and(|l| l > at.segment);
        if !newer {
            self.log_error(format!("{e}; waiting for the WAL to be repaired"));
            std::thread::sleep(self.opts.poll_interval);
            return;
        }
        let next = at.segment.saturating_add(1);
        let bytes = self.bytes_between(at, next);
        let samples = (bytes as f64 / self.bytes_per_sample()).round() as u64;
        self.shared.metrics.dropped(DropReason::WalCorrupt, samples);
        tracing::error!(remote_name = %self.src.name, url = %self.src.url, skipped_bytes = bytes, dropped_samples_estimate = samples, "remote write: {e}; skipping the rest of the segment, DROPPED about {samples} samples (counted in levee_remote_write_samples_dropped_total{{reason=\"wal_corrupt\"}})");
        let to = Position::start_of(next);
        self.reader = WalReader::new(self.wal_dir.clone(), to);
        self.src.tracker.lock().record_read(self.handed_out, to);
    }

    /// Periodic work: persist the position, refresh segment sizes, lag and
    /// the unread estimate. `last` forces the position write.
    fn tick(&mut self, last: bool) {
        let now = Instant::now();
        if !last && self.last_tick.is_some_and(|t| now.duration_since(t) < TICK) {
            return;
        }
        self.last_tick = Some(now);
        if last {
            self.src.persist(true);
            return;
        }
        let first = list_segments(&*self.wal_dir)
            .ok()
            .and_then(|s| s.first().copied());
        if first.is_some_and(|f| self.reader.position().segment < f) {
            // Deleted under the reader (which does not notice on its own
            // when the segments after its own are gone too).
            self.skip_deleted();
        }
        self.collect_series();
        let committed = self.src.tracker.lock().committed();
        let m = &self.shared.metrics;
        if let Ok(segs) = list_segments(&*self.wal_dir) {
            self.seg_sizes
                .retain(|s, _| segs.first().is_some_and(|f| s >= f));
            for &s in &segs {
                if s >= committed.segment.min(self.reader.position().segment)
                    && let Ok(len) = self.wal_dir.len(&segment_name(s))
                {
                    self.seg_sizes.insert(s, len);
                }
            }
            if let Some(&last_seg) = segs.last() {
                let wal_end = Position {
                    segment: last_seg,
                    offset: self.segment_size(last_seg),
                };
                let lag_bytes = self.bytes_between(committed, last_seg)
                    + if committed.segment <= last_seg {
                        wal_end
                            .offset
                            .saturating_sub(if committed.segment == last_seg {
                                committed.offset.max(SEGMENT_HEADER_LEN)
                            } else {
                                SEGMENT_HEADER_LEN
                            })
                    } else {
                        0
                    };
                m.lag_bytes.set(lag_bytes as f64);
                let read = self.reader.position();
                let unread_bytes = self.bytes_between(read, last_seg)
                    + wal_end.offset.saturating_sub(if read.segment == last_seg {
                        read.offset.max(SEGMENT_HEADER_LEN)
                    } else {
                        SEGMENT_HEADER_LEN
                    });
                self.src
                    .set_unread((unread_bytes as f64 / self.bytes_per_sample()) as usize);
                let lag = if lag_bytes > 0 {
                    let acked_ms = (m.highest_sent.get() * 1000.0) as i64;
                    let oldest = self.first_read_ms.map_or(acked_ms, |f| f.max(acked_ms));
                    if self.first_read_ms.is_none() && acked_ms <= 0 {
                        Duration::ZERO
                    } else {
                        Duration::from_millis(now_ms().saturating_sub(oldest).max(0) as u64)
                    }
                } else {
                    Duration::ZERO
                };
                m.lag_seconds.set(lag.as_secs_f64());
                self.src.pin.set_lag(lag);
            }
        }
        *self.src.tail.lock() = super::source::TailView {
            read: self.reader.position(),
            counted: self.counts.counted(),
            series: self.series.len(),
        };
        if self.highest_read_ms > i64::MIN {
            m.highest_read.set(self.highest_read_ms as f64 / 1000.0);
        }
    }

    /// Forgets series refs the database dropped, once the tailer has read
    /// past a new checkpoint (see [`SeriesCache::collect`]).
    fn collect_series(&mut self) {
        let Ok(Some(cp)) = crate::tsdb::checkpoint::last(&*self.wal_dir) else {
            return;
        };
        if self.collected.is_some_and(|c| c >= cp) || self.reader.position().segment <= cp {
            return;
        }
        let rules = &self.shared.settings.write_relabel;
        match self.series.collect(&self.wal_dir, cp, rules) {
            Ok(dropped) => {
                self.collected = Some(cp);
                tracing::debug!(remote_name = %self.src.name, checkpoint = cp, dropped, series = self.series.len(), "remote write: forgot series refs the database dropped");
            }
            Err(e) => self.log_error(format!(
                "collecting series refs against checkpoint {cp}: {e}"
            )),
        }
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
