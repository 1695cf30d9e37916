//! The tailer's periodic work: refreshing segment sizes, lag, the unread
//! estimate and the published view, noticing segments deleted under the
//! reader, and forgetting series refs the database dropped.

use super::*;

impl Tailer {
    /// Periodic work: persist the position, refresh segment sizes, lag and
    /// the unread estimate. `last` forces the position write.
    pub(super) fn tick(&mut self, last: bool) {
        let now = Instant::now();
        if !last && self.last_tick.is_some_and(|t| now.duration_since(t) < TICK) {
            return;
        }
        self.last_tick = Some(now);
        if last {
            self.src.persist(true);
            return;
        }
        // Counts of segments the reader has passed are never needed.
        self.counts.forget_before(self.reader.position().segment);
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
                let lag_bytes = self.bytes_between(committed, wal_end);
                m.lag_bytes.set(lag_bytes as f64);
                let read = self.reader.position();
                let unread_bytes = self.bytes_between(read, wal_end);
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
        *self.src.tail.lock() = crate::remote::wal::source::TailView {
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
    pub(super) fn collect_series(&mut self) {
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
}
