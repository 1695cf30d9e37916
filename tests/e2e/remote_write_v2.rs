//! levee sending remote write 2.0 (`protobuf_message:
//! io.prometheus.write.v2.Request`) end to end: scraping a real
//! node_exporter and sending 2.0 into a second levee's receiver, which
//! forwards into a real VictoriaMetrics 1.79 (every sample arrives, once);
//! and against a receiver that only speaks 1.0 (415 to 2.0), where the
//! endpoint falls back to 1.0 and resends what was refused, losing and
//! doubling nothing. (VictoriaMetrics 1.79 itself answers a 2.0 request with
//! 204 and stores nothing, so the 1.0-only receiver here is the test proxy
//! answering 415 to 2.0 in front of it.)

use crate::receiver::{Points, assert_same_series, levee_points, same_times, vm_points};
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use levee::exposition::MetricType;
use levee::labels::Labels;
use levee::pipeline::{Metadata, Sample};
use levee::remote::{RequestV2Encoder, WriteRequestEncoder};

use support::levee::TestAgent;
use support::{Fault, FaultyProxy, Seen};
use support::{NodeExporter, VictoriaMetrics, wait_until};

const V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A levee scraping `node` every second and sending it to `url` as 2.0.
fn sender_config(node: &NodeExporter, url: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{}']\n\
         remote_write:\n  - url: {url}\n    protobuf_message: {V2_MESSAGE}\n    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 50ms\n      max_backoff: 500ms\n",
        node.address()
    )
}

/// Waits until `sender` has scraped five times, then returns what its TSDB
/// holds of job `node` up to a second ago: what must arrive downstream.
async fn scraped(sender: &TestAgent) -> (Points, i64) {
    wait_until(
        "levee to scrape node_exporter 5 times",
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            levee_points(sender, "node", i64::MAX)
                .iter()
                .find(|(l, _)| l.get("__name__").is_some_and(|n| n == "up"))
                .is_some_and(|(_, p)| p.len() >= 5)
        },
    )
    .await;
    let until_ms = now_ms() - 1000;
    let want = levee_points(sender, "node", until_ms);
    assert!(
        want.len() > 100,
        "levee stored only {} node series",
        want.len()
    );
    (want, until_ms)
}

/// Polls VictoriaMetrics until it holds `want`'s series at `want`'s
/// timestamps (so each sample once), then checks the values: exact up to
/// VictoriaMetrics' ~15 significant digits.
async fn assert_delivered(vm: &VictoriaMetrics, want: &Points, until_ms: i64) {
    let mut got = Points::new();
    for _ in 0..60 {
        got = vm_points(vm, r#"{job="node"}"#, until_ms).await;
        if same_times(&got, want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_same_series(&got, want);
    for (labels, points) in want {
        let arrived = &got[labels];
        let times = |p: &[(i64, u64)]| p.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(times(arrived), times(points), "{labels:?}");
        for (&(t, a), &(_, b)) in arrived.iter().zip(points) {
            let (a, b) = (f64::from_bits(a), f64::from_bits(b));
            let close = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * b.abs();
            assert!(close, "{labels:?} at {t}: {a} arrived, {b} sent");
        }
    }
    let samples: usize = want.values().map(Vec::len).sum();
    println!("{} series, {samples} samples delivered", want.len());
}

/// The value of the sender's `levee_remote_write_protocol` for `version`.
async fn protocol_gauge(agent: &TestAgent, version: &str) -> Option<f64> {
    let suffix = format!("version=\"{version}\"}}");
    agent.self_metrics().await.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        (series.starts_with("levee_remote_write_protocol{") && series.ends_with(&suffix))
            .then(|| value.parse().ok())?
    })
}

/// The metadata of a text exposition body (`# HELP` and `# TYPE` lines).
fn exposition_metadata(body: &str) -> BTreeMap<String, Metadata> {
    let mut out: BTreeMap<String, Metadata> = BTreeMap::new();
    for line in body.lines() {
        let mut words = line.splitn(4, ' ');
        let (Some("#"), Some(kind), Some(family)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let rest = words.next().unwrap_or_default();
        let m = out.entry(family.to_string()).or_insert_with(|| Metadata {
            family: family.to_string(),
            kind: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
        });
        match (kind, rest) {
            ("HELP", help) => m.help = help.to_string(),
            ("TYPE", "counter") => m.kind = MetricType::Counter,
            ("TYPE", "gauge") => m.kind = MetricType::Gauge,
            ("TYPE", "histogram") => m.kind = MetricType::Histogram,
            ("TYPE", "summary") => m.kind = MetricType::Summary,
            _ => {}
        }
    }
    out
}

/// Compressed request bytes per sample of `points` sent as the sender
/// batches them (in timestamp order, 500 samples per request, Prometheus'
/// and levee's default `max_samples_per_send`): 1.0, 2.0 without metadata,
/// 2.0 with each series' metadata in-line.
fn wire_bytes_per_sample(points: &Points, metadata: &BTreeMap<String, Metadata>) -> [f64; 3] {
    let mut samples: Vec<Sample> = Vec::new();
    for (labels, points) in points {
        let labels = Arc::new(Labels::from_pairs(labels.clone()));
        samples.extend(points.iter().map(|&(t, v)| Sample {
            labels: labels.clone(),
            timestamp_ms: t,
            value: f64::from_bits(v),
        }));
    }
    samples.sort_by_key(|s| s.timestamp_ms);
    let (mut v1, mut v2) = (WriteRequestEncoder::new(), RequestV2Encoder::new());
    let mut bytes = [0usize; 3];
    let none = Labels::empty();
    for batch in samples.chunks(500) {
        bytes[0] += v1.encode(batch, &none).expect("1.0").0.len();
        bytes[1] += v2.encode(batch, &none, |_| None).expect("2.0").0.len();
        bytes[2] += v2
            .encode(batch, &none, |f| metadata.get(f))
            .expect("2.0")
            .0
            .len();
    }
    bytes.map(|b| b as f64 / samples.len() as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levee_sends_2_0_through_levee_into_victoria_metrics() {
    let vm = VictoriaMetrics::start().await;
    let receiver = TestAgent::start(&format!(
        "receiver: {{}}\nremote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 50ms\n      max_backoff: 500ms\n",
        vm.url_write()
    ))
    .await;
    let node = NodeExporter::start().await;
    let url = format!("http://{}/api/v1/write", receiver.agent.web_addr());
    let sender = TestAgent::start(&sender_config(&node, &url)).await;
    let (want, until_ms) = scraped(&sender).await;
    assert_delivered(&vm, &want, until_ms).await;
    let samples: usize = want.values().map(Vec::len).sum();
    // All of it went as 2.0, with its metadata in-line.
    let metric = |name: &str| {
        let agent = &receiver;
        let name = name.to_string();
        async move { agent.self_metric(&name).await }
    };
    assert!(
        metric("levee_receiver_samples_written_total{protocol=\"2.0\"}")
            .await
            .is_some_and(|n| n >= samples as f64)
    );
    assert!(
        metric("levee_receiver_samples_written_total{protocol=\"1.0\"}")
            .await
            .is_none_or(|n| n == 0.0)
    );
    assert!(
        metric("levee_receiver_metadata_received_total")
            .await
            .is_some_and(|n| n > 0.0)
    );
    assert_eq!(protocol_gauge(&sender, "2.0").await, Some(1.0));
    let reported = sender.self_metrics().await;
    let reported: f64 = reported
        .lines()
        .filter(|l| l.starts_with("levee_remote_write_samples_written_reported_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(
        reported >= samples as f64,
        "receiver reported {reported} of {samples}"
    );

    // Bytes on the wire per sample, 1.0 vs 2.0, on this node_exporter data.
    let body = reqwest::get(node.url()).await.expect("GET node_exporter");
    let metadata = exposition_metadata(&body.text().await.expect("node_exporter body"));
    let [v1, v2, v2_meta] = wire_bytes_per_sample(&want, &metadata);
    println!(
        "wire bytes/sample (snappy, 500-sample requests): 1.0 {v1:.2}, 2.0 {v2:.2} ({:.0} %), 2.0 with in-line metadata {v2_meta:.2} ({:.0} %)",
        100.0 * v2 / v1,
        100.0 * v2_meta / v1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_415_to_2_0_falls_back_to_1_0_and_loses_nothing() {
    let vm = VictoriaMetrics::start().await;
    let proxy = FaultyProxy::start(Some(vm.url_write())).await;
    proxy.set(Fault::Refuse2_0);
    let node = NodeExporter::start().await;
    let sender = TestAgent::start(&sender_config(&node, &proxy.url_write())).await;
    let (want, until_ms) = scraped(&sender).await;
    assert_delivered(&vm, &want, until_ms).await;
    let seen = proxy.seen();
    let is_v2 = |s: &Seen| {
        s.headers
            .get("content-type")
            .is_some_and(|t| t.contains(V2_MESSAGE))
    };
    assert!(seen.iter().any(|s| is_v2(s) && s.status == 415));
    assert!(seen.iter().filter(|s| is_v2(s)).all(|s| s.status == 415));
    assert!(seen.iter().filter(|s| !is_v2(s)).all(|s| {
        s.headers
            .get("x-prometheus-remote-write-version")
            .map(String::as_str)
            == Some("0.1.0")
    }));
    // Each (series, timestamp) delivered once.
    let mut delivered = BTreeSet::new();
    for req in proxy.delivered() {
        for ts in req.timeseries {
            let labels: Vec<_> = ts
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for s in ts.samples {
                assert!(
                    delivered.insert((labels.clone(), s.timestamp)),
                    "{labels:?} at {} delivered twice",
                    s.timestamp
                );
            }
        }
    }
    assert_eq!(protocol_gauge(&sender, "1.0").await, Some(1.0));
    assert_eq!(protocol_gauge(&sender, "2.0").await, Some(0.0));
    // The refused 2.0 requests were resent, not dropped.
    let metrics = sender.self_metrics().await;
    let dropped: Vec<_> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("levee_remote_write_samples_dropped_total{") && !l.ends_with(" 0")
        })
        .collect();
    assert!(dropped.is_empty(), "{dropped:?}");
}
