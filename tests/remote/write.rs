//! Remote write against real receivers: Prometheus 2.42 and VictoriaMetrics
//! 1.79 started on 127.0.0.1, with a fault-injecting proxy in front where
//! the receiver must misbehave. Samples go into a real TSDB and every
//! endpoint tails its WAL, stopped as `levee run` stops (drain to the WAL's
//! end, then shut down): `support::remote_db`. Every check is an exact
//! count.

use crate::support;

use levee::labels::Labels;
use levee::pipeline::{MetadataSink, Sample};
use levee::remote::EndpointSettings;
use levee::selfmon::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::remote_db::RemoteDb;
use support::{ExportedSeries, FaultyProxy, Prometheus, VictoriaMetrics};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Fast settings for tests: small batches, short deadline and backoff.
fn settings(name: &str, url: &str) -> EndpointSettings {
    let mut s = EndpointSettings::new(name, url);
    s.timeout = Duration::from_secs(10);
    s.max_samples_per_send = 100;
    s.batch_send_deadline = Duration::from_millis(50);
    s.min_backoff = Duration::from_millis(10);
    s.max_backoff = Duration::from_millis(200);
    s.min_shards = 2;
    s.max_shards = 4;
    s
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Values that stress the wire format: infinities, 2^53, tiny and huge
/// magnitudes, negatives, mixed within each series. Prometheus stores
/// floats bit-exact (XOR chunks), so it must return exactly these.
fn value(series: usize, i: usize) -> f64 {
    match (series + i) % 8 {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => 9_007_199_254_740_993.0,
        3 => 1e308,
        4 => 5e-324,
        5 => -12345.678,
        6 => i as f64,
        _ => 0.1 * series as f64,
    }
}

/// Values VictoriaMetrics stores exactly. It keeps a block's values as
/// decimals with one shared exponent, so mixing 1e308 and 1.5 in one series
/// loses the 1.5 inside VictoriaMetrics; each series therefore keeps one
/// magnitude here: small and large integers, negative decimals, ±Inf.
fn vm_value(series: usize, i: usize) -> f64 {
    match series % 5 {
        0 => i as f64,
        1 => 1e15 + i as f64,
        2 => -1.25 * (i + 1) as f64,
        3 => f64::INFINITY,
        _ => f64::NEG_INFINITY,
    }
}

type ValueFn = fn(usize, usize) -> f64;

/// `n` series × `m` samples, one second apart, ending a minute ago,
/// appended scrape by scrape (all series per timestamp).
fn workload(
    prefix: &str,
    n: usize,
    m: usize,
    value: ValueFn,
) -> (Vec<Arc<Labels>>, Vec<Vec<Sample>>, i64) {
    let series: Vec<Arc<Labels>> = (0..n)
        .map(|s| {
            let mut pairs = vec![
                ("__name__".to_string(), format!("{prefix}_{}", s % 3)),
                ("series".to_string(), s.to_string()),
                ("path".to_string(), format!("/a b/\"q\"/{s}")),
            ];
            if s % 2 == 0 {
                pairs.push(("job".to_string(), "own".to_string()));
            }
            Arc::new(Labels::from_pairs(pairs))
        })
        .collect();
    let start = now_ms() - 60_000 - m as i64 * 1000;
    let scrapes = (0..m)
        .map(|i| {
            series
                .iter()
                .enumerate()
                .map(|(s, l)| Sample {
                    labels: l.clone(),
                    timestamp_ms: start + i as i64 * 1000,
                    value: value(s, i),
                })
                .collect()
        })
        .collect();
    (series, scrapes, start)
}

/// The label sets and points the receiver should hold, with external
/// labels `cluster="c1", job="ext"` added where the series lacks them.
fn expected(series: &[Arc<Labels>], m: usize, start: i64, value: ValueFn) -> Vec<ExportedSeries> {
    let mut out: Vec<_> = series
        .iter()
        .enumerate()
        .map(|(s, l)| {
            let mut labels: BTreeMap<String, String> = [("cluster", "c1"), ("job", "ext")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for p in l.iter() {
                labels.insert(p.name.to_owned(), p.value.to_owned());
            }
            let points = (0..m)
                .map(|i| (start + i as i64 * 1000, value(s, i)))
                .collect();
            (labels, points)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn external() -> Labels {
    Labels::from_pairs([("cluster", "c1"), ("job", "ext")])
}

/// The value of one self-metric line, e.g.
/// `levee_remote_write_samples_total{remote_name="a",url="…"}`; 0 if absent.
fn metric(reg: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let prefix = format!("{name}{{{}}} ", inner.join(","));
    reg.render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.parse().unwrap_or(f64::NAN))
}

fn ep_metric(reg: &Registry, name: &str, s: &EndpointSettings) -> f64 {
    metric(reg, name, &[("remote_name", &s.name), ("url", &s.url)])
}

fn dropped(reg: &Registry, s: &EndpointSettings, reason: &str) -> f64 {
    metric(
        reg,
        "levee_remote_write_samples_dropped_total",
        &[
            ("remote_name", &s.name),
            ("url", &s.url),
            ("reason", reason),
        ],
    )
}

/// The endpoint counters as rendered (what was sent, dropped and why),
/// for an assertion's message: a batch the receiver refused shows here.
fn remote_write_counters(reg: &Registry) -> String {
    reg.render()
        .lines()
        .filter(|l| {
            l.starts_with("levee_remote_write_samples")
                || l.starts_with("levee_remote_write_failed")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits (up to a generous limit, failing with `what`) until `done()`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let (limit, every) = (Duration::from_secs(60), Duration::from_millis(20));
    support::wait_until(what, limit, every, async || done()).await;
}

fn delivered_samples(proxy: &FaultyProxy) -> usize {
    proxy
        .delivered()
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|ts| ts.samples.len())
        .sum()
}

fn assert_same(got: &[ExportedSeries], want: &[ExportedSeries]) {
    assert_eq!(got.len(), want.len(), "series count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "label set");
        let gb: Vec<(i64, u64)> = g.1.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        let wb: Vec<(i64, u64)> = w.1.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(gb, wb, "points of {:?}", g.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_exact_series_values_and_timestamps() {
    let prom = Prometheus::start_receiver().await;
    let reg = Registry::new();
    let s = settings("prom", &prom.url_write());
    let (db, writer) = RemoteDb::start(vec![s.clone()], external(), &reg).expect("start");
    let (series, scrapes, start) = workload("levee_rw_prom", 20, 30, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    db.stop(writer, Duration::from_secs(60)).await;
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        600.0,
        "{}",
        remote_write_counters(&reg)
    );
    assert_eq!(ep_metric(&reg, "levee_remote_write_queue_samples", &s), 0.0);
    assert!(ep_metric(&reg, "levee_remote_write_bytes_sent_total", &s) > 0.0);
    let newest = (start + 29_000) as f64 / 1000.0;
    assert_eq!(
        ep_metric(
            &reg,
            "levee_remote_write_highest_sent_timestamp_seconds",
            &s
        ),
        newest
    );

    let at = now_ms() as f64 / 1000.0;
    let raw = prom
        .raw_samples(r#"{__name__=~"levee_rw_prom_.*"}"#, "1h", at)
        .await;
    let mut got: Vec<_> = raw
        .into_iter()
        .map(|(l, p)| {
            let l: BTreeMap<String, String> = l
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                .collect();
            (l, p)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_same(&got, &expected(&series, 30, start, value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_receives_exact_series_values_and_timestamps() {
    let vm = VictoriaMetrics::start().await;
    let reg = Registry::new();
    let s = settings("vm", &vm.url_write());
    let (db, writer) = RemoteDb::start(vec![s.clone()], external(), &reg).expect("start");
    let (series, scrapes, start) = workload("levee_rw_vm", 20, 30, vm_value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    db.stop(writer, Duration::from_secs(60)).await;
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        600.0
    );
    vm.flush().await;
    let got = vm.export(r#"{__name__=~"levee_rw_vm_.*"}"#).await;
    assert_same(&got, &expected(&series, 30, start, vm_value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_auth_and_stale_markers_on_the_wire() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("wire", &proxy.url_write());
    s.headers = vec![("X-Scope-OrgID".into(), "tenant-1".into())];
    s.basic_auth = Some(("user".into(), "pa:ss".into()));
    let (db, writer) = RemoteDb::start(vec![s], Labels::empty(), &reg).expect("start");
    let l = Arc::new(Labels::from_pairs([("__name__", "gone")]));
    db.append(&[
        Sample {
            labels: l.clone(),
            timestamp_ms: 1000,
            value: 1.0,
        },
        Sample {
            labels: l,
            timestamp_ms: 2000,
            value: f64::from_bits(STALE_NAN),
        },
    ]);
    db.stop(writer, Duration::from_secs(30)).await;
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(
        h["user-agent"],
        format!("levee/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(h["x-scope-orgid"], "tenant-1");
    assert_eq!(h["authorization"], "Basic dXNlcjpwYTpzcw==");
    let body = seen[0].body.as_ref().expect("decodable body");
    let bits: Vec<u64> = body.timeseries[0]
        .samples
        .iter()
        .map(|s| s.value.to_bits())
        .collect();
    assert_eq!(bits, [1.0f64.to_bits(), STALE_NAN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_500_then_recovery_delivers_everything_exactly_once() {
    let vm = VictoriaMetrics::start().await;
    let proxy = FaultyProxy::start(Some(vm.url_write())).await;
    let reg = Registry::new();
    let s = settings("outage", &proxy.url_write());
    let (db, writer) = RemoteDb::start(vec![s.clone()], external(), &reg).expect("start");
    proxy.fail(500, None, None);
    let (series, scrapes, start) = workload("levee_rw_outage", 30, 20, vm_value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    // Let every shard hit the outage and back off a few times.
    wait_until("retries during the outage", || proxy.count(500) >= 10).await;
    proxy.heal();
    db.stop(writer, Duration::from_secs(60)).await;

    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        600.0
    );
    assert!(ep_metric(&reg, "levee_remote_write_samples_retried_total", &s) >= 10.0);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_failed_total", &s),
        0.0
    );
    let code_500 = metric(
        &reg,
        "levee_remote_write_requests_total",
        &[("remote_name", "outage"), ("url", &s.url), ("code", "500")],
    );
    assert_eq!(code_500, proxy.count(500) as f64);
    // Failed attempts never reached the receiver: each sample once.
    assert_eq!(delivered_samples(&proxy), 600);
    vm.flush().await;
    let got = vm.export(r#"{__name__=~"levee_rw_outage_.*"}"#).await;
    assert_same(&got, &expected(&series, 20, start, vm_value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_400_drops_the_batch_once_and_counts_it() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("bad", &proxy.url_write());
    (s.min_shards, s.max_shards) = (1, 1);
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    proxy.fail(400, None, Some(1));
    let (_, scrapes, _) = workload("levee_rw_400", 100, 3, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    db.stop(writer, Duration::from_secs(30)).await;
    // Three full batches of 100: the first rejected, not retried.
    assert_eq!(proxy.count(400), 1);
    assert_eq!(proxy.requests(), 3);
    assert_eq!(delivered_samples(&proxy), 200);
    assert_eq!(dropped(&reg, &s, "http_400"), 100.0);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_failed_total", &s),
        100.0
    );
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_retried_total", &s),
        0.0
    );
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        200.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_honours_retry_after_or_drops_when_not_enabled() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("ratelimited", &proxy.url_write());
    (s.min_shards, s.max_shards) = (1, 1);
    s.retry_on_429 = true;
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    proxy.fail(429, Some("1"), Some(1));
    let (_, scrapes, _) = workload("levee_rw_429", 100, 1, value);
    db.append(&scrapes[0]);
    db.stop(writer, Duration::from_secs(30)).await;
    let seen = proxy.seen();
    assert_eq!(
        seen.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 204]
    );
    // The retry waited for Retry-After (1 s), not min_backoff (10 ms).
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_secs(1));
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_retried_total", &s),
        100.0
    );
    assert_eq!(delivered_samples(&proxy), 100);

    // Without retry_on_429 the batch is dropped like any 4xx.
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("no429", &proxy.url_write());
    (s.min_shards, s.max_shards) = (1, 1);
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    proxy.fail(429, Some("1"), Some(1));
    db.append(&scrapes[0]);
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(proxy.requests(), 1);
    assert_eq!(dropped(&reg, &s, "http_429"), 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoint_never_stalls_a_live_one() {
    let live = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let closed = support::ClosedPort::new();
    let dead_url = format!("http://127.0.0.1:{}/api/v1/write", closed.port());
    let dead = settings("dead", &dead_url);
    let ok = settings("live", &live.url_write());
    let (db, writer) =
        RemoteDb::start(vec![dead.clone(), ok.clone()], Labels::empty(), &reg).expect("start");
    let (_, scrapes, _) = workload("levee_rw_dead", 50, 10, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    // The live endpoint gets (and finishes) everything while the dead one
    // keeps failing with all of its samples still held.
    let want = [("dead".to_string(), 500), ("live".to_string(), 0)];
    wait_until("the live endpoint to finish all samples", || {
        delivered_samples(&live) == 500 && writer.pending() == want
    })
    .await;
    db.stop(writer, Duration::from_millis(500)).await;
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &ok),
        500.0
    );
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &dead),
        0.0
    );
    assert!(ep_metric(&reg, "levee_remote_write_samples_retried_total", &dead) > 0.0);
    let errors = metric(
        &reg,
        "levee_remote_write_requests_total",
        &[
            ("remote_name", "dead"),
            ("url", &dead_url),
            ("code", "error"),
        ],
    );
    assert!(errors > 0.0);
    // No silent loss: nothing was given up on; the dead endpoint's samples
    // stayed in the WAL, and once it answers (a restart with its receiver
    // back) it sends exactly those.
    assert_eq!(dropped(&reg, &dead, "shutdown"), 0.0);
    let revived = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let writer = db
        .start_writer(
            vec![settings("dead", &revived.url_write())],
            Labels::empty(),
            &reg,
        )
        .expect("restart");
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(delivered_samples(&revived), 500, "no silent loss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_bounds_what_is_held_and_the_wal_keeps_the_rest() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("small", &proxy.url_write());
    s.capacity = 50;
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    proxy.fail(500, None, None);
    // Four scrapes (WAL records) of 50: the tailer reads one and waits.
    let (_, scrapes, _) = workload("levee_rw_full", 50, 4, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    wait_until("a failed attempt", || proxy.count(500) >= 1).await;
    assert_eq!(writer.pending(), [("small".to_string(), 50)]);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_queue_samples", &s),
        50.0
    );
    proxy.heal();
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(dropped(&reg, &s, "queue_full"), 0.0);
    assert_eq!(delivered_samples(&proxy), 200);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        200.0
    );
}

/// Checks that, request by request in arrival order, every series'
/// timestamps only increase; returns the number of samples seen.
fn assert_in_order_per_series(proxy: &FaultyProxy) -> usize {
    let mut last: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
    let mut n = 0;
    for req in proxy.delivered() {
        for ts in &req.timeseries {
            let key: Vec<_> = ts
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for s in &ts.samples {
                let prev = last.insert(key.clone(), s.timestamp);
                assert!(
                    prev.is_none_or(|p| p < s.timestamp),
                    "series {key:?} out of order"
                );
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_shards_keep_each_series_in_order() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("ordered", &proxy.url_write());
    (s.min_shards, s.max_shards) = (4, 4);
    s.max_samples_per_send = 37;
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    // A few failures on the way, so retried batches are part of it.
    proxy.fail(503, None, Some(5));
    let (_, scrapes, _) = workload("levee_rw_order", 40, 50, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    db.stop(writer, Duration::from_secs(60)).await;
    assert_eq!(ep_metric(&reg, "levee_remote_write_shards", &s), 4.0);
    assert_eq!(assert_in_order_per_series(&proxy), 2000);
    let series_per_request: Vec<usize> = proxy
        .delivered()
        .iter()
        .map(|r| r.timeseries.len())
        .collect();
    assert!(series_per_request.iter().all(|&n| n <= 37));
}

/// Waits the real reshard interval (10 s): the only slow test here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_scale_up_with_backlog_and_keep_order() {
    let proxy = FaultyProxy::start(None).await;
    // Each request takes 100 ms: one shard moves ~1000 samples/s.
    proxy.set_delay(Duration::from_millis(100));
    let reg = Registry::new();
    let mut s = settings("scaling", &proxy.url_write());
    (s.min_shards, s.max_shards) = (1, 8);
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    let (_, scrapes, _) = workload("levee_rw_scale", 500, 80, value);
    for scrape in &scrapes {
        db.append(scrape);
    }
    wait_until("more than one shard", || {
        ep_metric(&reg, "levee_remote_write_shards", &s) > 1.0
    })
    .await;
    proxy.set_delay(Duration::ZERO);
    db.stop(writer, Duration::from_secs(60)).await;
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        40_000.0
    );
    assert_eq!(assert_in_order_per_series(&proxy), 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_writer_keeps_what_is_unsent_and_shutdown_flushes_partial_batches() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("dropped", &proxy.url_write());
    s.batch_send_deadline = Duration::from_secs(3600);
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    let (_, scrapes, _) = workload("levee_rw_drop", 10, 1, value);
    db.append(&scrapes[0]);
    wait_until("the samples read", || {
        writer.pending() == [("dropped".to_string(), 10)]
    })
    .await;
    // Dropping stops the endpoint at once; the WAL keeps the samples.
    drop(writer);
    let reg = Registry::new();
    let writer = db
        .start_writer(vec![s], Labels::empty(), &reg)
        .expect("restart");
    wait_until("the samples read again", || {
        writer.pending() == [("dropped".to_string(), 10)]
    })
    .await;
    // Shutting down flushes partial batches without waiting an hour.
    writer.shutdown(Duration::from_secs(30)).await;
    assert_eq!(delivered_samples(&proxy), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_after_shutdown_are_sent_by_the_next_start() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let s = settings("late", &proxy.url_write());
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    let (_, scrapes, _) = workload("levee_rw_late", 10, 2, value);
    db.append(&scrapes[0]);
    db.stop(writer, Duration::from_secs(30)).await;
    db.append(&scrapes[1]);
    assert_eq!(delivered_samples(&proxy), 10);
    assert_eq!(dropped(&reg, &s, "shutdown"), 0.0);
    // The next start resumes from the position: exactly the late ten.
    let reg = Registry::new();
    let writer = db
        .start_writer(vec![s.clone()], Labels::empty(), &reg)
        .expect("restart");
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(delivered_samples(&proxy), 20);
    assert_eq!(assert_in_order_per_series(&proxy), 20);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_samples_total", &s),
        10.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_sent_in_rounds_of_bounded_requests() {
    use levee::exposition::MetricType;
    use levee::pipeline::Metadata;
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let mut s = settings("meta", &proxy.url_write());
    s.metadata_send_interval = Duration::from_millis(100);
    s.metadata_max_per_send = 2;
    // No samples: nothing to drain, the WAL stays empty.
    let (_db, writer) = RemoteDb::start(vec![s.clone()], external(), &reg).expect("start");
    let md = |family: &str, kind, help: &str, unit: &str| Metadata {
        family: family.into(),
        kind,
        help: help.into(),
        unit: unit.into(),
    };
    writer.update(&[
        md(
            "node_cpu_seconds_total",
            MetricType::Counter,
            "Seconds the CPUs spent in each mode.",
            "seconds",
        ),
        md("node_load1", MetricType::Gauge, "1m load average.", ""),
        md(
            "http_request_duration_seconds",
            MetricType::Histogram,
            "Request latency.",
            "seconds",
        ),
        // A newer help text replaces the old one.
        md(
            "node_load1",
            MetricType::Gauge,
            "1-minute load average.",
            "",
        ),
    ]);
    let metadata_requests = || {
        proxy
            .delivered()
            .into_iter()
            .filter(|r| !r.metadata.is_empty())
            .collect::<Vec<_>>()
    };
    // Two rounds, so the rounds are seen to repeat.
    wait_until("two metadata rounds", || metadata_requests().len() >= 4).await;
    writer.shutdown(Duration::from_secs(10)).await;
    let reqs = metadata_requests();
    assert!(
        reqs.iter()
            .all(|r| r.timeseries.is_empty() && r.metadata.len() <= 2)
    );
    let first_round: Vec<_> = reqs[..2].iter().flat_map(|r| r.metadata.clone()).collect();
    let got: Vec<(String, i32, String, String)> = first_round
        .into_iter()
        .map(|m| (m.metric_family_name, m.r#type, m.help, m.unit))
        .collect();
    use levee::proto::metric_metadata::MetricType as P;
    assert_eq!(
        got,
        vec![
            (
                "http_request_duration_seconds".into(),
                P::Histogram as i32,
                "Request latency.".into(),
                "seconds".into()
            ),
            (
                "node_cpu_seconds_total".into(),
                P::Counter as i32,
                "Seconds the CPUs spent in each mode.".into(),
                "seconds".into()
            ),
            (
                "node_load1".into(),
                P::Gauge as i32,
                "1-minute load average.".into(),
                String::new()
            ),
        ]
    );
    assert!(ep_metric(&reg, "levee_remote_write_metadata_total", &s) >= 6.0);
    assert_eq!(
        ep_metric(&reg, "levee_remote_write_metadata_failed_total", &s),
        0.0
    );
}

/// A WAL holding no record (levee stopped before any scrape was stored)
/// ends after the segment header, a position no record end reaches: the
/// drain must still see the endpoint done, not stall 5 s and warn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wal_without_records_drains_at_once() {
    let proxy = FaultyProxy::start(None).await;
    let reg = Registry::new();
    let s = settings("empty", &proxy.url_write());
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    assert!(db.stop(writer, Duration::from_secs(30)).await, "drained");
    assert_eq!(proxy.requests(), 0);
}
