//! Estimates and recovery of the tailer: bytes per sample, sizes of
//! segments, stepping over segments the WAL cap deleted (counted exactly or
//! estimated), positions past a segment's end, damaged segments.

use super::*;

impl Tailer {
    pub(super) fn bytes_per_sample(&self) -> f64 {
        if self.samples_read >= 1000 {
            self.bytes_read as f64 / self.samples_read as f64
        } else {
            DEFAULT_BYTES_PER_SAMPLE
        }
    }

    /// Bytes per sample for estimating a skip: measured on what this tailer
    /// read, else on the oldest segment left (`first`, read now as far as
    /// it goes), else [`DEFAULT_BYTES_PER_SAMPLE`].
    pub(super) fn bytes_per_sample_near(&mut self, first: u32) -> f64 {
        if self.samples_read >= 1000 {
            return self.bytes_per_sample();
        }
        segment_bytes_per_sample(&self.wal_dir, first, |s| self.segment_size(s))
            .unwrap_or(DEFAULT_BYTES_PER_SAMPLE)
    }

    /// The size of segment `s` as last seen, or the configured segment size.
    pub(super) fn segment_size(&self, s: u32) -> u64 {
        self.seg_sizes
            .get(&s)
            .copied()
            .unwrap_or(self.opts.segment_size)
    }

    /// Bytes of records from `from` to `to`, with segment sizes as last
    /// seen.
    pub(super) fn bytes_between(&self, from: Position, to: Position) -> u64 {
        from.bytes_to(to, |s| self.segment_size(s))
    }

    /// The reader's segment was deleted (the WAL cap): count what was
    /// skipped, reload the series from the checkpoint and go on at the
    /// oldest segment left.
    pub(super) fn skip_deleted(&mut self) {
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
                self.bytes_between(start, Position::start_of(s + 1))
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
    pub(super) fn past_end(&mut self, position: Position, reason: &str) {
        let newer = list_segments(&*self.wal_dir)
            .ok()
            .and_then(|s| s.last().copied())
            .is_some_and(|l| l > position.segment);
        let to = if newer {
            Position::start_of(position.segment.saturating_add(1))
        } else {
            // The database may be appending to this segment right now.
            self.last_boundary(position)
        };
        tracing::warn!(remote_name = %self.src.name, url = %self.src.url, stored = %position, resume = %to, "remote write: position {reason} (the WAL was cut back after a crash); resuming at {to}");
        self.resume_below(to);
    }

    /// The end of the last whole record at or before `limit` in its
    /// segment (the segment's start if none).
    fn last_boundary(&self, limit: Position) -> Position {
        let seg = limit.segment;
        let mut r = WalReader::segment(self.wal_dir.clone(), seg);
        let mut last = Position::start_of(seg);
        while let Ok(Some(_)) = r.next_record() {
            if r.position() > limit {
                break;
            }
            last = r.position();
        }
        last
    }

    /// Continues reading at `to`, a position below where the tailer was.
    fn resume_below(&mut self, to: Position) {
        self.reader = WalReader::new(self.wal_dir.clone(), to);
        if self.src.pending() == 0 {
            // Nothing outstanding (the usual case: this is the first read
            // after a start): store the new position, lower than the old.
            self.src.rewind(to);
        } else {
            self.src.tracker.lock().record_read(self.handed_out, to);
        }
    }

    /// A damaged record: if a newer segment exists, skip the rest of this
    /// one (counted, estimated); otherwise wait for a repair.
    pub(super) fn corrupt(&mut self, e: WalError) {
        let at = self.reader.position();
        let newer = list_segments(&*self.wal_dir)
            .ok()
            .and_then(|s| s.last().copied())
            .is_some_and(|l| l > at.segment);
        if !newer {
            // A stored position inside a record (the WAL was cut back after
            // a machine crash and written again) is not damage: resume at
            // the record boundary before it.
            let boundary = self.last_boundary(at);
            if boundary < at {
                tracing::warn!(remote_name = %self.src.name, url = %self.src.url, stored = %at, resume = %boundary, "remote write: position inside a record (the WAL was cut back after a crash and written again); resuming at the record boundary before it");
                self.resume_below(boundary);
                return;
            }
            self.log_error(format!("{e}; waiting for the WAL to be repaired"));
            std::thread::sleep(self.opts.poll_interval);
            return;
        }
        let next = at.segment.saturating_add(1);
        let bytes = self.bytes_between(at, Position::start_of(next));
        let samples = (bytes as f64 / self.bytes_per_sample()).round() as u64;
        self.shared.metrics.dropped(DropReason::WalCorrupt, samples);
        tracing::error!(remote_name = %self.src.name, url = %self.src.url, skipped_bytes = bytes, dropped_samples_estimate = samples, "remote write: {e}; skipping the rest of the segment, DROPPED about {samples} samples (counted in levee_remote_write_samples_dropped_total{{reason=\"wal_corrupt\"}})");
        let to = Position::start_of(next);
        self.reader = WalReader::new(self.wal_dir.clone(), to);
        self.src.tracker.lock().record_read(self.handed_out, to);
    }
}

/// Bytes of records per sample in segment `segment`, read as far as it
/// goes, or `None` if that holds no samples. `segment_len` gives segment
/// sizes.
fn segment_bytes_per_sample(
    dir: &Arc<dyn Directory>,
    segment: u32,
    segment_len: impl FnMut(u32) -> u64,
) -> Option<f64> {
    let mut reader = WalReader::segment(dir.clone(), segment);
    let (mut samples, mut scratch) = (0u64, Vec::new());
    while let Ok(Some(rec)) = reader.next_record() {
        scratch.clear();
        if matches!(record::record_type(rec), Ok(RecordType::Samples))
            && record::decode_samples(rec, &mut scratch).is_ok()
        {
            samples += scratch.len() as u64;
        }
    }
    // Having read the whole segment, the reader stands at the next
    // segment's start: measure up to there, not its offset in that segment.
    let bytes = Position::start_of(segment).bytes_to(reader.position(), segment_len);
    (samples > 0).then(|| bytes as f64 / samples as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::fs::MemDirectory;
    use crate::tsdb::wal::{SyncPolicy, Wal, WalOptions};

    /// A finished segment with fewer than 1000 samples and newer segments
    /// unread: the estimate is that segment's own bytes per sample (it was
    /// 0, so a skip estimated infinitely many samples, saturated to
    /// `u64::MAX` and overflowed when the exactly counted ones were added).
    #[test]
    fn bytes_per_sample_of_a_finished_segment_with_newer_ones_left() {
        let dir: Arc<dyn Directory> = MemDirectory::new();
        let opts = WalOptions {
            segment_size: 512,
            sync: SyncPolicy::Never,
        };
        let (mut wal, _) = Wal::open(dir.clone(), opts).unwrap();
        let (mut buf, mut ends) = (Vec::new(), Vec::new());
        for r in 0..40 {
            let samples: Vec<RefSample> = (0..10)
                .map(|i| RefSample {
                    series: 1,
                    t: r * 10 + i,
                    v: (r * 7919 + i) as f64,
                })
                .collect();
            buf.clear();
            record::encode_samples(&samples, &mut buf);
            ends.push(wal.log(&[&buf]).unwrap());
        }
        assert!(wal.segments().1 >= 3, "needs segments after segment 1");
        let len = |s| dir.len(&segment_name(s)).unwrap();
        let samples = 10 * ends.iter().filter(|p| p.segment == 1).count() as u64;
        assert!((1..1000).contains(&samples), "{samples} samples");
        let bytes = Position::start_of(1).bytes_to(Position::start_of(2), len);
        assert!(bytes > 0);

        let per_sample = segment_bytes_per_sample(&dir, 1, len).unwrap();
        assert_eq!(per_sample, bytes as f64 / samples as f64);
        // What a skip of that segment then estimates, added to a count.
        let estimated = (bytes as f64 / per_sample).round() as u64;
        assert_eq!(estimated, samples);
        assert_eq!(estimated.checked_add(1000), Some(samples + 1000));
    }
}
