//! [`WalPins`]: which WAL segments the remote-write endpoints still need,
//! and the cap past which the database deletes them anyway.
//!
//! Each endpoint pins the segment of its durable position (the one in its
//! position file, so a crash never resumes in a deleted segment). The
//! database asks [`WalPins::deletable_before`] before deleting segments; an
//! endpoint whose segments were deleted under it counts the samples it
//! skipped (`samples_dropped_total{reason="wal_cap"}`) and continues at the
//! oldest segment left.

use crate::tsdb::fs::Directory;
use crate::tsdb::wal::{WalError, list_segments, segment_name};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How much WAL lagging endpoints may hold on to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalCap {
    /// Most bytes of WAL segments kept in total (`storage.wal_max_size`):
    /// past it the oldest segments are deleted even if an endpoint still
    /// needs them. `None`: no limit.
    pub max_bytes: Option<u64>,
    /// An endpoint lagging more than this (wall-clock time since the
    /// newest sample it had acknowledged was taken, while it has unsent
    /// samples) no longer holds segments. `None`: no limit.
    pub max_lag: Option<Duration>,
}

const NONE: u64 = u64::MAX;

/// One endpoint's claim on the WAL.
#[derive(Debug)]
pub(crate) struct Pin {
    name: String,
    /// The oldest segment needed, or [`NONE`].
    segment: AtomicU64,
    /// Current lag in milliseconds.
    lag_ms: AtomicU64,
}

impl Pin {
    /// Holds segments from `segment` on.
    pub fn set_segment(&self, segment: u32) {
        self.segment.store(u64::from(segment), Ordering::Release);
    }

    /// Publishes the endpoint's lag.
    pub fn set_lag(&self, lag: Duration) {
        self.lag_ms.store(
            lag.as_millis().min(u128::from(u64::MAX - 1)) as u64,
            Ordering::Relaxed,
        );
    }
}

/// The segments the remote-write endpoints still need. Shared by the
/// database (which asks) and the endpoints (which pin).
#[derive(Debug, Default)]
pub struct WalPins {
    cap: WalCap,
    pins: Mutex<Vec<Weak<Pin>>>,
}

impl WalPins {
    /// Pins limited by `cap`.
    pub fn new(cap: WalCap) -> Arc<Self> {
        Arc::new(WalPins {
            cap,
            pins: Mutex::new(Vec::new()),
        })
    }

    /// The cap.
    pub fn cap(&self) -> WalCap {
        self.cap
    }

    /// A new pin for endpoint `name`, holding `segment` on. It is released
    /// when the returned handle is dropped.
    pub(crate) fn register(&self, name: &str, segment: u32) -> Arc<Pin> {
        let pin = Arc::new(Pin {
            name: name.to_string(),
            segment: AtomicU64::new(u64::from(segment)),
            lag_ms: AtomicU64::new(0),
        });
        let mut pins = self.pins.lock();
        pins.retain(|p| p.strong_count() > 0);
        pins.push(Arc::downgrade(&pin));
        pin
    }

    /// The live pins as `(name, segment, lag)`.
    fn live(&self) -> Vec<(String, u32, Duration)> {
        self.pins
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|p| {
                let seg = p.segment.load(Ordering::Acquire);
                let lag = Duration::from_millis(p.lag_ms.load(Ordering::Relaxed));
                (seg != NONE).then(|| (p.name.clone(), seg as u32, lag))
            })
            .collect()
    }

    /// The oldest segment an endpoint still needs, leaving out endpoints
    /// lagging past [`WalCap::max_lag`]; `None` when none needs any.
    pub fn oldest_needed(&self) -> Option<u32> {
        self.live()
            .into_iter()
            .filter(|(_, _, lag)| self.cap.max_lag.is_none_or(|max| *lag <= max))
            .map(|(_, seg, _)| seg)
            .min()
    }

    /// Where the database may delete up to: it wants to delete the
    /// segments below `wanted` (those its newest checkpoint covers);
    /// `segments` are the `(index, size in bytes)` of every segment present,
    /// ascending. Returns `s ≤ wanted`: delete the segments below `s`.
    ///
    /// Segments an endpoint needs are kept unless keeping them would put
    /// the WAL over [`WalCap::max_bytes`] (then the oldest go first) or the
    /// endpoint lags past [`WalCap::max_lag`]. Every endpoint whose
    /// segments are given up is named in one warning.
    pub fn deletable_before(&self, wanted: u32, segments: &[(u32, u64)]) -> u32 {
        let needed = self.oldest_needed().map_or(wanted, |p| p.min(wanted));
        let mut keep_from = needed;
        if let Some(max) = self.cap.max_bytes {
            let mut total: u64 = segments
                .iter()
                .filter(|(i, _)| *i >= keep_from)
                .map(|(_, len)| len)
                .sum();
            for &(i, len) in segments {
                if i < keep_from {
                    continue;
                }
                if total <= max || i >= wanted {
                    break;
                }
                total -= len;
                keep_from = i + 1;
            }
        }
        let overridden: Vec<String> = self
            .live()
            .into_iter()
            .filter(|(_, seg, _)| *seg < keep_from)
            .map(|(name, seg, lag)| format!("{name} (needs segment {seg}, lag {lag:?})"))
            .collect();
        if !overridden.is_empty() {
            tracing::warn!(
                endpoints = %overridden.join(", "),
                delete_before = keep_from,
                max_bytes = ?self.cap.max_bytes,
                max_lag = ?self.cap.max_lag,
                "remote write: WAL cap reached; deleting segments lagging endpoints have not sent (they count the samples in levee_remote_write_samples_dropped_total{{reason=\"wal_cap\"}})"
            );
        }
        keep_from
    }
}

impl WalPins {
    /// [`WalPins::deletable_before`] with the segments and their sizes read
    /// from `wal_dir`.
    pub fn deletable_before_in(
        &self,
        wal_dir: &dyn Directory,
        wanted: u32,
    ) -> Result<u32, WalError> {
        let mut sizes = Vec::new();
        for s in list_segments(wal_dir)? {
            sizes.push((s, wal_dir.len(&segment_name(s))?));
        }
        Ok(self.deletable_before(wanted, &sizes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(n: u32, size: u64) -> Vec<(u32, u64)> {
        (0..n).map(|i| (i, size)).collect()
    }

    #[test]
    fn pins_hold_segments_until_released() {
        let pins = WalPins::new(WalCap::default());
        assert_eq!(pins.oldest_needed(), None);
        assert_eq!(pins.deletable_before(8, &segs(10, 100)), 8);
        let a = pins.register("a", 3);
        let b = pins.register("b", 6);
        assert_eq!(pins.oldest_needed(), Some(3));
        assert_eq!(pins.deletable_before(8, &segs(10, 100)), 3);
        a.set_segment(9);
        assert_eq!(pins.deletable_before(8, &segs(10, 100)), 6);
        assert_eq!(
            pins.deletable_before(4, &segs(10, 100)),
            4,
            "never past wanted"
        );
        drop(b);
        assert_eq!(pins.deletable_before(8, &segs(10, 100)), 8);
    }

    #[test]
    fn byte_cap_deletes_oldest_first() {
        let pins = WalPins::new(WalCap {
            max_bytes: Some(450),
            max_lag: None,
        });
        let _dead = pins.register("dead", 0);
        // 10 segments of 100 bytes: keep the newest 4 (400 ≤ 450).
        assert_eq!(pins.deletable_before(8, &segs(10, 100)), 6);
        // The cap never deletes what the database itself needs.
        assert_eq!(pins.deletable_before(2, &segs(10, 100)), 2);
    }

    #[test]
    fn reads_segment_sizes_from_the_directory() {
        use crate::tsdb::fs::MemDirectory;
        use crate::tsdb::wal::{SyncPolicy, Wal, WalOptions};
        let dir = MemDirectory::new();
        let opts = WalOptions {
            segment_size: 100,
            sync: SyncPolicy::Never,
        };
        let (mut wal, _) = Wal::open(dir.clone(), opts).unwrap();
        for _ in 0..10 {
            wal.log(&[&[7u8; 60]]).unwrap();
        }
        let (_, newest) = wal.segments();
        let total: u64 = (0..=newest)
            .map(|s| dir.len(&segment_name(s)).unwrap())
            .sum();
        let cap = total / 2;
        let pins = WalPins::new(WalCap {
            max_bytes: Some(cap),
            max_lag: None,
        });
        let _p = pins.register("p", 0);
        let got = pins.deletable_before_in(&*dir, newest).unwrap();
        let kept: u64 = (got..=newest)
            .map(|s| dir.len(&segment_name(s)).unwrap())
            .sum();
        assert!(
            got > 0 && kept <= cap,
            "keep from {got}: {kept} of {total} bytes, cap {cap}"
        );
    }

    #[test]
    fn lag_cap_releases_a_pin() {
        let pins = WalPins::new(WalCap {
            max_bytes: None,
            max_lag: Some(Duration::from_secs(60)),
        });
        let slow = pins.register("slow", 1);
        let ok = pins.register("ok", 5);
        assert_eq!(pins.oldest_needed(), Some(1));
        slow.set_lag(Duration::from_secs(61));
        ok.set_lag(Duration::from_secs(59));
        assert_eq!(pins.oldest_needed(), Some(5));
        assert_eq!(pins.deletable_before(8, &segs(10, 1)), 5);
    }
}
