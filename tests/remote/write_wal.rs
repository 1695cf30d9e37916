//! Remote write in WAL mode: records are written to a real WAL in a temp
//! dir exactly as the database writes them (series records, then samples
//! records, `WalWatch::notify` after each commit), and the endpoints tail
//! it. Receivers: a counting proxy (every request decoded, duplicates
//! visible) and a real VictoriaMetrics 1.79 read back through its export
//! API. Every check is an exact count.

use crate::support;

use levee::labels::Labels;
use levee::remote::wal::{
    StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, position_file_name, read_position,
};
use levee::remote::{EndpointSettings, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::wal::list_segments;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::{FaultyProxy, VictoriaMetrics};

use support::wal_db::{FakeDb, SERIES, T0};

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
    let (limit, every) = (Duration::from_secs(120), Duration::from_millis(20));
    support::wait_until(what, limit, every, async || done()).await;
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

/// The samples of `db` every endpoint should have: (instance, t) pairs.
fn all_samples(db: &FakeDb) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = (0..db.next)
        .flat_map(|i| (0..SERIES).map(move |s| (format!("host-{s}"), T0 + i * 1000)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_position_without_gap_or_duplicate() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("restart", &proxy.url_write());
    db.write_series();
    for round in 0..4 {
        db.scrapes(30);
        let reg = Registry::new();
        let w = RemoteWriter::start_wal(
            vec![s.clone()],
            Labels::empty(),
            &reg,
            queue(&db, &positions, &pins),
        )
        .expect("start");
        // Written while this incarnation runs, too.
        db.scrapes(20);
        let total = db.total();
        wait_until("every sample so far", || {
            w.wal_status()[0].committed == db.wal.position()
        })
        .await;
        w.shutdown(Duration::from_secs(30)).await;
        assert_eq!(
            delivered_count(&proxy),
            total,
            "round {round}: nothing sent twice after a clean stop"
        );
    }
    let got = delivered(&proxy);
    let mut keys: Vec<(String, i64)> = got.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, all_samples(&db), "no gap across restarts");
    assert!(got.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_while_the_receiver_fails_resends_only_what_was_not_acknowledged() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("crashy", &proxy.url_write());
    db.write_series();
    db.scrapes(100);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    // A slow receiver, so that part is still unsent when it starts failing.
    proxy.set_delay(Duration::from_millis(50));
    wait_until("some samples", || delivered_count(&proxy) >= 1000).await;
    proxy.fail(503, None, None);
    // Stop with batches stuck in retries: the deadline passes, nothing is
    // counted as dropped, the position stays before the unacknowledged.
    w.shutdown(Duration::from_millis(300)).await;
    assert_eq!(dropped(&reg, &s, "shutdown"), 0.0);
    let before = delivered_count(&proxy);
    let pos = read_position(&*positions, &position_file_name("crashy"))
        .expect("read")
        .expect("position");
    assert!(pos < db.wal.position(), "stopped before the end");
    proxy.heal();
    proxy.set_delay(Duration::ZERO);
    db.scrapes(50);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("restart");
    wait_until("everything", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(30)).await;
    let got = delivered(&proxy);
    let mut keys: Vec<(String, i64)> = got.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, all_samples(&db), "no gap");
    // Duplicates: only samples after the stored position that had been
    // acknowledged before the stop (the position is written at most every
    // 50 ms in these tests).
    let first_unstored = db
        .ends
        .iter()
        .position(|e| *e > pos)
        .expect("a record after the position");
    for ((inst, t), n) in &got {
        if *n > 1 {
            let i = ((t - T0) / 1000) as usize;
            assert!(
                i >= first_unstored,
                "{inst}@{i} sent twice but its record was before the stored position"
            );
        }
    }
    let dups: usize = got.values().map(|n| n - 1).sum();
    assert!(
        dups <= before,
        "duplicates {dups} ≤ delivered before the stop {before}"
    );
    eprintln!(
        "duplicates after the restart: {dups} (of {} samples)",
        db.total()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_down_then_restarted_receives_every_sample_exactly() {
    let mut vm = VictoriaMetrics::start().await;
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 64 << 10);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let reg = Registry::new();
    let s = settings("vm", &vm.url_write());
    db.write_series();
    db.scrapes(30);
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    let sent = |reg: &Registry| ep_metric(reg, "levee_remote_write_samples_total", &s) as usize;
    let n = db.total();
    wait_until("the first part", || sent(&reg) == n).await;
    vm.flush().await;
    vm.stop();
    // The receiver is down: the WAL keeps growing, the endpoint retries.
    db.scrapes(300);
    wait_until("retries against the dead receiver", || {
        ep_metric(&reg, "levee_remote_write_samples_retried_total", &s) > 0.0
    })
    .await;
    assert!(ep_metric(&reg, "levee_remote_write_lag_bytes", &s) > 0.0);
    vm.restart().await;
    let total = db.total();
    wait_until("everything after the restart", || sent(&reg) == total).await;
    w.shutdown(Duration::from_secs(30)).await;
    vm.flush().await;
    let got = vm.export(r#"{job="walq"}"#).await;
    assert_eq!(got.len(), SERIES as usize);
    for (labels, points) in &got {
        let s: u32 = labels["instance"]
            .trim_start_matches("host-")
            .parse()
            .expect("instance");
        let want: Vec<(i64, u64)> = (0..db.next)
            .map(|i| (T0 + i * 1000, (i as f64 + f64::from(s) / 1000.0).to_bits()))
            .collect();
        let got: Vec<(i64, u64)> = points.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(got, want, "series {labels:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_beside_a_live_one_pins_the_wal_and_delays_nothing() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let live = FaultyProxy::start(None).await;
    let closed = support::ClosedPort::new();
    let dead_url = format!("http://127.0.0.1:{}/api/v1/write", closed.port());
    let reg = Registry::new();
    let ls = settings("live", &live.url_write());
    let ds = settings("dead", &dead_url);
    db.write_series();
    let w = RemoteWriter::start_wal(
        vec![ls.clone(), ds.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    for _ in 0..10 {
        db.scrapes(20);
        // Head cuts keep what the dead endpoint still needs.
        db.head_cut(&pins);
        let total = db.total();
        wait_until("the live endpoint to catch up", || {
            delivered_count(&live) == total
        })
        .await;
    }
    wait_until("the live endpoint's acknowledgements", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    let st = w.wal_status();
    let dead = &st[1];
    assert!(dead.committed < db.wal.position());
    let (first, _) = db.wal.segments();
    assert!(first <= dead.written.expect("dead wrote a position").segment);
    assert_eq!(pins.oldest_needed(), dead.written.map(|p| p.segment));
    // Lag is refreshed twice a second.
    wait_until("lag metrics", || {
        ep_metric(&reg, "levee_remote_write_lag_bytes", &ds) > 0.0
            && ep_metric(&reg, "levee_remote_write_lag_bytes", &ls) == 0.0
    })
    .await;
    let got = delivered(&live);
    assert_eq!(got.len(), db.total());
    assert!(got.values().all(|&n| n == 1));
    // Dropping the writer stops the endpoints at once and releases the pins.
    drop(w);
    wait_until("the pins to be released", || pins.oldest_needed().is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_cap_drops_counted_exactly_and_sending_resumes() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let cap = 3 * 4096;
    let pins = WalPins::new(WalCap {
        max_bytes: Some(cap),
        max_lag: None,
    });
    let down = FaultyProxy::start(None).await;
    down.fail(503, None, None);
    let live = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let ds = settings("down", &down.url_write());
    let ls = settings("live", &live.url_write());
    db.write_series();
    let w = RemoteWriter::start_wal(
        vec![ds.clone(), ls.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    for _ in 0..8 {
        db.scrapes(25);
        // Before each cut, let the blocked endpoint count the segments the
        // cut may delete (what it does while it cannot send).
        let (_, newest) = db.wal.segments();
        wait_until("the stuck endpoint to count the segments ahead", || {
            let st = &w.wal_status()[0];
            (st.read.segment..newest).all(|s| st.counted_segments.contains(&s))
        })
        .await;
        let keep_from = db.head_cut(&pins);
        let (_, newest) = db.wal.segments();
        let kept: u64 = db
            .sizes()
            .iter()
            .filter(|(s, _)| *s >= keep_from && *s < newest)
            .map(|(_, len)| len)
            .sum();
        assert!(
            kept <= cap,
            "completed segments kept: {kept} bytes > cap {cap}"
        );
    }
    let total = db.total();
    wait_until("the skip to be counted", || {
        dropped(&reg, &ds, "wal_cap") > 0.0
    })
    .await;
    down.heal();
    wait_until("the endpoint to catch up", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    wait_until("the live endpoint", || delivered_count(&live) == total).await;
    let got = delivered(&down);
    assert!(got.values().all(|&n| n == 1), "no duplicates");
    let lost = dropped(&reg, &ds, "wal_cap") as usize;
    assert_eq!(
        got.len() + lost,
        total,
        "delivered {} + dropped {lost} = written {total}",
        got.len()
    );
    // The newest samples all arrived after the endpoint came back.
    let newest_t = T0 + (db.next - 1) * 1000;
    assert!(got.contains_key(&("host-0".to_string(), newest_t)));
    assert_eq!(
        dropped(&reg, &ls, "wal_cap"),
        0.0,
        "the live endpoint lost nothing"
    );
    assert_eq!(delivered(&live).len(), total);
    w.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_endpoint_starts_at_the_end_of_the_wal() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let s = settings("fresh", &proxy.url_write());
    db.write_series();
    db.scrapes(30);
    let mut q = queue(&db, &positions, &pins);
    q.options.start_at = StartAt::End;
    let w = RemoteWriter::start_wal(vec![s.clone()], Labels::empty(), &reg, q).expect("start");
    // The tailer has found the end once it wrote its first position.
    wait_until("the first position", || w.wal_status()[0].written.is_some()).await;
    assert_eq!(w.wal_status()[0].written, Some(db.wal.position()));
    db.scrapes(20);
    wait_until("the new samples", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let got = delivered(&proxy);
    assert_eq!(
        got.len(),
        20 * SERIES as usize,
        "only samples written after the start"
    );
    assert!(got.keys().all(|(_, t)| *t >= T0 + 30_000));
    assert_eq!(
        dropped(&reg, &s, "unknown_series"),
        0.0,
        "series from before the start are known"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_into_deleted_segments_estimates_the_drop_and_resumes() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let proxy = FaultyProxy::start(None).await;
    let s = settings("late", &proxy.url_write());
    db.write_series();
    db.scrapes(20);
    {
        let pins = WalPins::new(WalCap::default());
        let reg = Registry::new();
        let w = RemoteWriter::start_wal(
            vec![s.clone()],
            Labels::empty(),
            &reg,
            queue(&db, &positions, &pins),
        )
        .expect("start");
        wait_until("the first part", || {
            w.wal_status()[0].committed == db.wal.position()
        })
        .await;
        w.shutdown(Duration::from_secs(10)).await;
    }
    let stored = read_position(&*positions, &position_file_name("late"))
        .expect("read")
        .expect("position");
    // levee is down; the WAL grows and head cuts delete what nobody pins.
    let pins = WalPins::new(WalCap::default());
    for _ in 0..6 {
        db.scrapes(25);
        db.head_cut(&pins);
    }
    let (first, _) = db.wal.segments();
    assert!(
        first > stored.segment,
        "the stored position's segment is gone"
    );
    let skipped_records = db
        .ends
        .iter()
        .filter(|e| **e > stored && e.segment < first)
        .count();
    let skipped = skipped_records * SERIES as usize;
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("restart");
    wait_until("the rest", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    let w_status = w.wal_status();
    w.shutdown(Duration::from_secs(10)).await;
    let got = delivered(&proxy);
    // Everything from the oldest segment left arrived, with its series
    // (declared in a deleted segment) from the checkpoint.
    let kept = db.ends.iter().filter(|e| e.segment >= first).count() * SERIES as usize;
    assert_eq!(
        got.len(),
        20 * SERIES as usize + kept,
        "first {first}, stored {stored}, wal_cap {}, status {:?}",
        dropped(&reg, &s, "wal_cap"),
        w_status
    );
    assert_eq!(dropped(&reg, &s, "unknown_series"), 0.0);
    // What was skipped is estimated (the segments were deleted while levee
    // was down, uncounted) from their size and the bytes per sample of the
    // oldest segment left: within 30 %.
    let est = dropped(&reg, &s, "wal_cap");
    assert!(
        est >= skipped as f64 * 0.7 && est <= skipped as f64 * 1.3,
        "estimated {est} for {skipped} skipped samples"
    );
    eprintln!(
        "skipped {skipped} samples, estimated {est}; stored {stored}, first {first}, sizes {:?}",
        db.sizes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_the_wal_exactly() {
    let prom = support::Prometheus::start_receiver().await;
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    // Recent timestamps: Prometheus' head takes samples near now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    db.t0 = now_ms - 600_000;
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let reg = Registry::new();
    let s = settings("prom", &prom.url_write());
    db.write_series();
    db.scrapes(60);
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    db.scrapes(60);
    let total = db.total();
    wait_until("every sample", || {
        ep_metric(&reg, "levee_remote_write_samples_total", &s) as usize == total
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let at = (db.t0 + 200_000) as f64 / 1000.0;
    let got = prom.raw_samples(r#"{job="walq"}"#, "10m", at).await;
    assert_eq!(got.len(), SERIES as usize);
    for (labels, points) in got {
        let inst = labels["instance"].as_str().unwrap_or_default();
        let series: u32 = inst.trim_start_matches("host-").parse().expect("instance");
        let want: Vec<(i64, u64)> = (0..db.next)
            .map(|i| {
                (
                    db.t0 + i * 1000,
                    (i as f64 + f64::from(series) / 1000.0).to_bits(),
                )
            })
            .collect();
        let got: Vec<(i64, u64)> = points.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(got, want, "{inst}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_ahead_of_a_new_wal_sends_the_new_wal_from_its_start() {
    let tmp = support::temp_dir("levee-walq");
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let proxy = FaultyProxy::start(None).await;
    let s = settings("wiped", &proxy.url_write());
    let pins = WalPins::new(WalCap::default());
    {
        let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
        db.write_series();
        db.scrapes(100);
        let reg = Registry::new();
        let w = RemoteWriter::start_wal(
            vec![s.clone()],
            Labels::empty(),
            &reg,
            queue(&db, &positions, &pins),
        )
        .expect("start");
        wait_until("the old WAL", || {
            w.wal_status()[0].committed == db.wal.position()
        })
        .await;
        w.shutdown(Duration::from_secs(10)).await;
    }
    let old = delivered_count(&proxy);
    // The operator deletes the WAL; the database starts a new one.
    std::fs::remove_dir_all(tmp.path().join("wal")).expect("delete the WAL");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    db.write_series();
    db.scrapes(10);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("restart");
    wait_until("the new WAL", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    assert_eq!(delivered_count(&proxy) - old, 10 * SERIES as usize);
    let pos = read_position(&*positions, &position_file_name("wiped"))
        .expect("read")
        .expect("position");
    assert_eq!(pos, db.wal.position());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_scale_with_the_backlog_in_the_wal_and_keep_order() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 64 << 10);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    // One request takes 50 ms: one shard moves 2 000 samples/s.
    proxy.set_delay(Duration::from_millis(50));
    let reg = Registry::new();
    let mut s = settings("backlog", &proxy.url_write());
    s.min_shards = 1;
    s.max_shards = 8;
    // Little is held in memory: the backlog the shard count sees is the
    // unread WAL.
    s.capacity = 500;
    db.write_series();
    db.scrapes(2000);
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    wait_until("a reshard up (the first check is after 10 s)", || {
        ep_metric(&reg, "levee_remote_write_shards", &s) > 1.0
    })
    .await;
    let total = db.total();
    wait_until("every sample", || delivered_count(&proxy) == total).await;
    w.shutdown(Duration::from_secs(10)).await;
    // Order per series across all requests, in arrival order.
    let mut seen = proxy.seen();
    seen.sort_by_key(|r| r.at);
    let mut last: HashMap<String, i64> = HashMap::new();
    for req in seen
        .iter()
        .filter(|r| r.status == 204)
        .filter_map(|r| r.body.as_ref())
    {
        for ts in &req.timeseries {
            let inst = ts
                .labels
                .iter()
                .find(|l| l.name == "instance")
                .map(|l| l.value.clone())
                .unwrap_or_default();
            for p in &ts.samples {
                let prev = last.insert(inst.clone(), p.timestamp);
                assert!(
                    prev.is_none_or(|t| t < p.timestamp),
                    "{inst}: {prev:?} then {}",
                    p.timestamp
                );
            }
        }
    }
    assert_eq!(delivered(&proxy).len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_past_a_cut_back_segment_resumes_at_its_end() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 64 << 10);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("cutback", &proxy.url_write());
    db.write_series();
    db.scrapes(10);
    // A machine crash lost the WAL's unsynced tail after the position file
    // had recorded it.
    let end = db.wal.position();
    let ahead = levee::tsdb::wal::Position {
        segment: end.segment,
        offset: end.offset + 500,
    };
    levee::remote::wal::write_position(&*positions, &position_file_name("cutback"), ahead)
        .expect("write position");
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    wait_until("the position to come back", || {
        w.wal_status()[0].written == Some(end)
    })
    .await;
    db.scrapes(5);
    wait_until("the new samples", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let got = delivered(&proxy);
    assert_eq!(
        got.len(),
        5 * SERIES as usize,
        "the samples written after the cut"
    );
    assert!(got.keys().all(|(_, t)| *t >= T0 + 10_000));
    let pos = read_position(&*positions, &position_file_name("cutback"))
        .expect("read")
        .expect("position");
    assert_eq!(
        pos,
        db.wal.position(),
        "the stored position came back to the WAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_positions_never_pass_the_synced_position() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("synced", &proxy.url_write());
    db.write_series();
    db.scrapes(30);
    // The database has fsynced only the first ten scrapes.
    db.watch.notify_synced(db.ends[9]);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    wait_until("everything sent", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        delivered_count(&proxy),
        db.total(),
        "sending does not wait for fsync"
    );
    let pos = read_position(&*positions, &position_file_name("synced"))
        .expect("read")
        .expect("position");
    assert_eq!(
        pos, db.ends[9],
        "the stored position stops at the synced one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_inside_a_record_resumes_at_the_record_before_it() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 64 << 10);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("inside", &proxy.url_write());
    db.write_series();
    db.scrapes(10);
    // The WAL was cut back and written again: the stored position now
    // falls inside the sixth scrape's record.
    let inside = levee::tsdb::wal::Position {
        segment: db.ends[4].segment,
        offset: db.ends[4].offset + 10,
    };
    levee::remote::wal::write_position(&*positions, &position_file_name("inside"), inside)
        .expect("write position");
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    wait_until("the rest", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let got = delivered(&proxy);
    assert_eq!(
        got.len(),
        5 * SERIES as usize,
        "scrapes 5..10, from the boundary before the position"
    );
    assert!(got.keys().all(|(_, t)| *t >= T0 + 5_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_position_file_never_stops_sending() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let mem = levee::tsdb::fs::MemDirectory::new();
    let positions: Arc<dyn Directory> = mem.clone();
    let pins = WalPins::new(WalCap::default());
    let proxy = FaultyProxy::start(None).await;
    let s = settings("nofsync", &proxy.url_write());
    db.write_series();
    db.scrapes(20);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![s.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    wait_until("the first position", || w.wal_status()[0].written.is_some()).await;
    let before = w.wal_status()[0].written;
    // The disk under the position files fails every fsync.
    mem.set_fail_sync(true);
    db.scrapes(20);
    wait_until("everything sent", || {
        w.wal_status()[0].committed == db.wal.position()
    })
    .await;
    assert_eq!(delivered_count(&proxy), db.total());
    assert_eq!(
        w.wal_status()[0].written,
        before,
        "nothing written while fsync fails"
    );
    assert_eq!(
        pins.oldest_needed(),
        before.map(|p| p.segment),
        "the pin stays with the file"
    );
    mem.set_fail_sync(false);
    wait_until("the position once the disk is back", || {
        w.wal_status()[0].written == Some(db.wal.position())
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let pos = read_position(&*positions, &position_file_name("nofsync"))
        .expect("read")
        .expect("position");
    assert_eq!(pos, db.wal.position());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfigure_adds_removes_restarts_and_keeps_endpoints() {
    let tmp = support::temp_dir("levee-walq");
    let mut db = FakeDb::open(disk_dir(&tmp.path().join("wal")), 4096);
    let positions = disk_dir(&tmp.path().join("remote_write"));
    let pins = WalPins::new(WalCap::default());
    let (pa, pb, pc, pd) = (
        FaultyProxy::start(None).await,
        FaultyProxy::start(None).await,
        FaultyProxy::start(None).await,
        FaultyProxy::start(None).await,
    );
    let (a, b, c, d) = (
        settings("kept", &pa.url_write()),
        settings("changed", &pb.url_write()),
        settings("removed", &pc.url_write()),
        settings("added", &pd.url_write()),
    );
    db.write_series();
    db.scrapes(40);
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(
        vec![a.clone(), b.clone(), c.clone()],
        Labels::empty(),
        &reg,
        queue(&db, &positions, &pins),
    )
    .expect("start");
    let first = db.total();
    wait_until("the first samples everywhere", || {
        [&pa, &pb, &pc].iter().all(|p| delivered_count(p) >= first)
    })
    .await;
    let names =
        |w: &RemoteWriter| -> Vec<String> { w.wal_status().into_iter().map(|s| s.name).collect() };

    // An invalid set changes nothing.
    let unchanged = std::collections::HashSet::from(["kept".to_string()]);
    let twice = w.prepare(vec![a.clone(), a.clone()], &Labels::empty(), &unchanged);
    assert!(twice.is_err(), "two endpoints with one name");
    assert_eq!(names(&w), ["kept", "changed", "removed"]);

    let mut b2 = b.clone();
    b2.max_samples_per_send = 50;
    let plan = w
        .prepare(vec![a.clone(), b2, d.clone()], &Labels::empty(), &unchanged)
        .expect("a valid set");
    let report = w.reconfigure(plan).await.expect("applied");
    assert_eq!(report.added, ["added"]);
    assert_eq!(report.removed, ["removed"]);
    assert_eq!(report.restarted, ["changed"]);
    assert_eq!(report.unchanged, ["kept"]);
    assert_eq!(names(&w), ["kept", "changed", "added"]);
    let text = reg.render();
    assert!(
        !text.contains("remote_name=\"removed\""),
        "the removed endpoint's series are gone:\n{text}"
    );
    assert!(text.contains("remote_name=\"changed\""), "{text}");

    db.scrapes(60);
    let total = db.total();
    wait_until("every sample at the endpoints configured", || {
        [&pa, &pb, &pd].iter().all(|p| delivered_count(p) >= total)
    })
    .await;
    w.shutdown(Duration::from_secs(30)).await;
    let want = all_samples(&db);
    for (proxy, name) in [(&pa, "kept"), (&pb, "changed"), (&pd, "added")] {
        let got = delivered(proxy);
        let mut keys: Vec<_> = got.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, want, "{name}: every sample");
        assert!(got.values().all(|&n| n == 1), "{name}: none twice");
    }
    assert_eq!(
        delivered_count(&pc),
        first,
        "the removed endpoint sent nothing after its removal"
    );
}
