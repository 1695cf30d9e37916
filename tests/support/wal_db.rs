//! A stand-in for the database's WAL writing, for remote-write tests:
//! series records once, then one samples record per "scrape" of every
//! series, `WalWatch::notify` after each commit, and head cuts that
//! checkpoint and delete what the pins allow.

use levee::labels::Labels;
use levee::remote::wal::{WalPins, WalWatch};
use levee::tsdb::checkpoint;
use levee::tsdb::fs::Directory;
use levee::tsdb::record::{self, RefSample, RefSeries};
use levee::tsdb::wal::{Position, SyncPolicy, Wal, WalOptions, list_segments};
use std::sync::Arc;

pub const SERIES: u32 = 40;
/// Timestamps start here (ms): 2025-11-24, inside VictoriaMetrics' retention.
pub const T0: i64 = 1_764_000_000_000;

/// Writes the WAL as the database does.
pub struct FakeDb {
    pub wal: Wal,
    pub dir: Arc<dyn Directory>,
    pub watch: Arc<WalWatch>,
    buf: Vec<u8>,
    /// Next scrape index.
    pub next: i64,
    /// Timestamp of scrape 0 (ms); scrape `i` is at `t0 + i s`.
    pub t0: i64,
    /// End position after each scrape's samples record.
    pub ends: Vec<Position>,
}

impl FakeDb {
    pub fn open(dir: Arc<dyn Directory>, segment_size: u64) -> FakeDb {
        let opts = WalOptions {
            segment_size,
            sync: SyncPolicy::Never,
        };
        let (wal, _) = Wal::open(dir.clone(), opts).expect("open WAL");
        FakeDb {
            wal,
            dir,
            watch: WalWatch::new(),
            buf: Vec::new(),
            next: 0,
            t0: T0,
            ends: Vec::new(),
        }
    }

    pub fn labels(series: u32) -> Labels {
        Labels::from_pairs([
            ("__name__", format!("levee_walq_{}", series % 4)),
            ("instance", format!("host-{series}")),
            ("job", "walq".to_string()),
        ])
    }

    pub fn write_series(&mut self) {
        let series: Vec<RefSeries> = (0..SERIES)
            .map(|s| RefSeries {
                series: s + 1,
                labels: Self::labels(s),
            })
            .collect();
        self.buf.clear();
        record::encode_series(&series, &mut self.buf);
        self.wal.log(&[&self.buf]).expect("log series");
        self.watch.notify();
    }

    /// One scrape: a sample of every series at `t0 + i s`, value
    /// `i + series / 1000`.
    pub fn scrape(&mut self) {
        let i = self.next;
        let samples: Vec<RefSample> = (0..SERIES)
            .map(|s| RefSample {
                series: s + 1,
                t: self.t0 + i * 1000,
                v: i as f64 + f64::from(s) / 1000.0,
            })
            .collect();
        self.buf.clear();
        record::encode_samples(&samples, &mut self.buf);
        let end = self.wal.log(&[&self.buf]).expect("log samples");
        self.ends.push(end);
        self.next += 1;
        self.watch.notify();
    }

    pub fn scrapes(&mut self, n: usize) {
        for _ in 0..n {
            self.scrape();
        }
    }

    pub fn total(&self) -> usize {
        self.next as usize * SERIES as usize
    }

    /// Segment sizes, as the database sees them.
    pub fn sizes(&self) -> Vec<(u32, u64)> {
        list_segments(&*self.dir)
            .expect("segments")
            .into_iter()
            .map(|s| (s, self.dir.len(&format!("{s:08}")).expect("segment size")))
            .collect()
    }

    /// A head cut: checkpoint every completed segment (all series kept, no
    /// samples), then delete what the pins allow. Returns the first
    /// segment kept.
    pub fn head_cut(&mut self, pins: &WalPins) -> u32 {
        let (_, newest) = self.wal.segments();
        let Some(cp) = newest.checked_sub(1) else {
            return 0;
        };
        if checkpoint::last(&*self.dir).expect("checkpoints") >= Some(cp) {
            return self.wal.segments().0;
        }
        checkpoint::create(&self.dir, cp, |_| true, i64::MAX).expect("checkpoint");
        let keep_from = pins
            .deletable_before_in(&*self.dir, cp + 1)
            .expect("segment sizes");
        self.wal.truncate_before(keep_from).expect("truncate");
        checkpoint::delete_before(&*self.dir, cp).expect("delete checkpoints");
        self.watch.notify();
        keep_from
    }
}
