//! Remote write in WAL mode: records are written to a real WAL in a temp
//! dir exactly as the database writes them (series records, then samples
//! records, `WalWatch::notify` after each commit), and the endpoints tail
//! it. Receivers: a counting proxy (every request decoded, duplicates
//! visible) and a real VictoriaMetrics 1.79 read back through its export
//! API. Every check is an exact count.

mod support;

use levee::labels::Labels;
use levee::remote::wal::{
    StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, WalWatch, position_file_name,
    read_position,
};
use levee::remote::{EndpointSettings, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::checkpoint;
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::record::{self, RefSample, RefSeries};
use levee::tsdb::wal::{Position, SyncPolicy, Wal, WalOptions, list_segments};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{FaultyProxy, VictoriaMetrics};

const SERIES: u32 = 40;
/// Timestamps start here (ms): 2025-11-24, inside VictoriaMetrics' retention.
const T0: i64 = 1_764_000_000_000;

/// Writes the WAL as the database does.
struct FakeDb {
    wal: Wal,
    dir: Arc<dyn Directory>,
    watch: Arc<WalWatch>,
    buf: Vec<u8>,
    /// Next scrape index.
    next: i64,
    /// End position after each scrape's samples record.
    ends: Vec<Position>,
}

impl FakeDb {
    fn open(dir: Arc<dyn Directory>, segment_size: u64) -> FakeDb {
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
            ends: Vec::new(),
        }
    }

    fn labels(series: u32) -> Labels {
        Labels::from_pairs([
            ("__name__", format!("levee_walq_{}", series % 4)),
            ("instance", format!("host-{series}")),
            ("job", "walq".to_string()),
        ])
    }

    fn write_series(&mut self) {
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

    /// One scrape: a sample of every series at `T0 + i s`, value `i`.
    fn scrape(&mut self) {
        let i = self.next;
        let samples: Vec<RefSample> = (0..SERIES)
            .map(|s| RefSample {
                series: s + 1,
                t: T0 + i * 1000,
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

    fn scrapes(&mut self, n: usize) {
        for _ in 0..n {
            self.scrape();
        }
    }

    fn total(&self) -> usize {
        self.next as usize * SERIES as usize
    }
}

fn settings(name: &str, url: &str) -> EndpointSettings {
    let mut s = EndpointSettings::new(name, url);
    s.timeout = Duration::from_secs(10);
    s.max_samples_per_send = 100;
    s.batch_send_deadline = Duration::from_millis(20);
    s.min_backoff = Duration::from_millis(10);
    s.max_backoff = Duration::from_millis(100);
    s.min_shards = 3;
    s.max_shards = 3;
    s.capacity = 1000;
    s
}

fn queue(db: &FakeDb, positions: &Arc<dyn Directory>, pins: &Arc<WalPins>) -> WalQueue {
    WalQueue {
        wal_dir: db.dir.clone(),
        positions_dir: positions.clone(),
        watch: db.watch.clone(),
        pins: pins.clone(),
        options: WalSourceOptions {
            position_interval: Duration::from_millis(50),
            poll_interval: Duration::from_millis(200),
            segment_size: 4096,
            start_at: StartAt::Oldest,
        },
    }
}

fn ep_metric(reg: &Registry, name: &str, s: &EndpointSettings) -> f64 {
    let text = reg.render();
    let want = format!("{name}{{remote_name=\"{}\",url=\"{}\"}} ", s.name, s.url);
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn dropped(reg: &Registry, s: &EndpointSettings, reason: &str) -> f64 {
    let text = reg.render();
    let want = format!(
        "levee_remote_write_samples_dropped_total{{remote_name=\"{}\",url=\"{}\",reason=\"{reason}\"}} ",
        s.name, s.url
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every delivered sample as (instance, t) → how many times it arrived,
/// checking values and per-series order on the way.
fn delivered(proxy: &FaultyProxy) -> HashMap<(String, i64), usize> {
    let mut out = HashMap::new();
    for req in proxy.delivered() {
        for ts in req.timeseries {
            let inst = ts
                .labels
                .iter()
                .find(|l| l.name == "instance")
                .map(|l| l.value.clone())
                .unwrap_or_default();
            let s: u32 = inst.trim_start_matches("host-").parse().unwrap_or(0);
            let mut last = i64::MIN;
            for p in ts.samples {
                assert!(
                    p.timestamp > last,
                    "{inst}: samples out of order in a request"
                );
                last = p.timestamp;
                let i = (p.timestamp - T0) / 1000;
                assert_eq!(p.value, i as f64 + f64::from(s) / 1000.0, "{inst} at {i}");
                *out.entry((inst.clone(), p.timestamp)).or_insert(0) += 1;
            }
        }
    }
    out
}

fn delivered_count(proxy: &FaultyProxy) -> usize {
    proxy
        .delivered()
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|t| t.samples.len())
        .sum()
}

fn disk_dir(path: &std::path::Path) -> Arc<dyn Directory> {
    DiskDirectory::open(path).expect("open dir")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tails_the_wal_exactly_once_and_stores_its_position() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    db.write_series();
    db.scrapes(50);
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let s = settings("sink", &proxy.url_write());
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    // More while it runs, across segment rolls (4 KiB segments).
    db.scrapes(150);
    let total = db.total();
    wait_until("every sample", || delivered_count(&proxy) >= total).await;
    w.shutdown(Duration::from_secs(30)).await;
    let got = delivered(&proxy);
    assert_eq!(got.len(), total, "distinct samples");
    assert!(
        got.values().all(|&n| n == 1),
        "no duplicates without a restart"
    );
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        total as f64
    );
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_wal_samples_read_total", &s),
        total as f64
    );
    let pos = read_position(&*positions, &position_file_name("sink"))
        .expect("read position")
        .expect("position file");
    assert_eq!(pos, db.wal.position(), "the position is the WAL's end");
    assert!(
        list_segments(&*db.dir).expect("segments").len() > 3,
        "test crosses segments"
    );
    assert_eq!(
        ep_metric(
            &reg,
            "levee_remote_write_highest_sent_timestamp_seconds",
            &s
        ),
        (T0 + 199_000) as f64 / 1000.0
    );
    assert!(ep_metric(&reg, "levee_remote_write_bytes_per_sample", &s) > 0.0);
}
