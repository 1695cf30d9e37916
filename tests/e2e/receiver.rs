//! The remote-write receiver (`POST /api/v1/write`) end to end: hostile
//! requests each answered with the right status, a real Prometheus 2.42
//! scraping node_exporter and remote-writing through levee into a real
//! VictoriaMetrics 1.79 (the same series and samples on both sides), a real
//! vmagent 1.79 writing the same into one VictoriaMetrics directly and into
//! another through levee, and a kill -9 after a 2xx that loses nothing.

use crate::support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use levee::proto::write_v2;
use prost::Message;
use support::levee::TestAgent;
use support::push::{encode_v1 as v1, series};
use support::{NodeExporter, Prometheus, VictoriaMetrics, temp_dir, wait_until};

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compresses")
}

/// A 2.0 request of one series (`refs` into `symbols`), encoded.
fn v2(symbols: &[&str], refs: &[u32], samples: &[(i64, f64)], histograms: usize) -> Vec<u8> {
    write_v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: refs.to_vec(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| write_v2::Sample { value, timestamp })
                .collect(),
            histograms: vec![write_v2::Histogram::default(); histograms],
            exemplars: vec![write_v2::Exemplar::default()],
            metadata: None,
            created_timestamp: 0,
        }],
    }
    .encode_to_vec()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn post(
    url: &str,
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(t) = content_type {
        req = req.header("Content-Type", t);
    }
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    let resp = tokio::time::timeout(Duration::from_secs(10), req.send())
        .await
        .expect("answered within 10 s")
        .expect("levee answers");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("a body"),
    }
}

/// Starts a request whose body never completes: headers announcing
/// `declared` bytes, then `sent` bytes. The stream is blocking, with a read
/// timeout, so the test can read the answer.
fn slow_sender(addr: std::net::SocketAddr, declared: usize, sent: usize) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to levee");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    write!(
        s,
        "POST /api/v1/write HTTP/1.1\r\nHost: levee\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {declared}\r\n\r\n"
    )
    .expect("send headers");
    s.write_all(&vec![0u8; sent]).expect("send a little body");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_with_its_status() {
    let agent = TestAgent::start(
        "receiver:\n  max_request_bytes: 64KiB\n  max_concurrent_requests: 1\n  read_timeout: 1s\n",
    )
    .await;
    let addr = agent.agent.web_addr();
    let url = format!("http://{addr}/api/v1/write");
    let t = now_ms();
    let up = [("__name__", "recv_up"), ("job", "push")];

    // Accepted: 1.0 and 2.0.
    let a = post(
        &url,
        None,
        None,
        snappy(&v1(vec![series(&up, &[(t, 1.0), (t + 1, 2.0)])])),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    let symbols = ["", "__name__", "recv_v2", "job", "push"];
    let a = post(
        &url,
        Some(V2),
        Some("snappy"),
        snappy(&v2(&symbols, &[1, 2, 3, 4], &[(t, 5.0)], 0)),
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(
        a.header("X-Prometheus-Remote-Write-Samples-Written"),
        Some("1")
    );
    assert_eq!(
        a.header("X-Prometheus-Remote-Write-Histograms-Written"),
        Some("0")
    );
    assert_eq!(
        a.header("X-Prometheus-Remote-Write-Exemplars-Written"),
        Some("0")
    );
    // Out of order: accounted for (2xx, not retried), counted.
    let a = post(
        &url,
        None,
        None,
        snappy(&v1(vec![series(&up, &[(t - 1000, 3.0)])])),
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let rejected = "levee_receiver_samples_rejected_total{reason=\"out_of_order\"}";
    assert_eq!(agent.self_metric(rejected).await, Some(1.0));

    // Refused as a whole.
    let mut gigabytes = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    gigabytes.extend_from_slice(b"\x00abc");
    let roomy = snappy(&vec![0u8; 100 << 10]);
    let mut not_utf8 = v1(vec![series(
        &[("__name__", "recv_up"), ("a", "xx")],
        &[(t, 1.0)],
    )]);
    let at = not_utf8
        .windows(2)
        .position(|w| w == b"xx")
        .expect("the value");
    not_utf8[at] = 0xff;
    for (what, content_type, encoding, body, status, says) in [
        (
            "wrong content type",
            Some("application/json"),
            None,
            snappy(b"x"),
            415,
            "Content-Type",
        ),
        (
            "unknown proto",
            Some("application/x-protobuf;proto=x.Y"),
            None,
            snappy(b"x"),
            415,
            "Content-Type",
        ),
        (
            "wrong encoding",
            None,
            Some("gzip"),
            snappy(b"x"),
            415,
            "Content-Encoding",
        ),
        (
            "garbage snappy",
            None,
            None,
            b"\x05garbage!".to_vec(),
            400,
            "snappy",
        ),
        (
            "a header claiming gigabytes",
            None,
            None,
            gigabytes,
            413,
            "4294967295",
        ),
        (
            "garbage protobuf",
            None,
            None,
            snappy(b"\xff\xff\xff\xff"),
            400,
            "prometheus.WriteRequest",
        ),
        ("invalid UTF-8", None, None, snappy(&not_utf8), 400, "UTF-8"),
        ("an empty body", None, None, Vec::new(), 400, "empty"),
        (
            "a body over the limit",
            None,
            None,
            vec![0u8; 100 << 10],
            413,
            "over the limit",
        ),
        (
            "decompressing over the limit",
            None,
            None,
            roomy,
            413,
            "decompresses to 102400",
        ),
    ] {
        let a = post(&url, content_type, encoding, body).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert!(a.body.contains(says), "{what}: {}", a.body);
    }

    // Refused series by series, named, the rest stored.
    for (what, labels, says) in [
        (
            "an invalid label name",
            vec![("__name__", "recv_up"), ("1x", "a")],
            r#"{__name__="recv_up", 1x="a"}: invalid label name "1x""#,
        ),
        (
            "a duplicate label name",
            vec![("__name__", "recv_up"), ("a", "1"), ("a", "2")],
            r#"duplicate label name "a""#,
        ),
        (
            "an empty label name",
            vec![("__name__", "recv_up"), ("", "1")],
            "a label name is empty",
        ),
        ("no metric name", vec![("job", "push")], "no metric name"),
    ] {
        let good = series(&[("__name__", "recv_ok"), ("case", what)], &[(t, 1.0)]);
        let a = post(
            &url,
            None,
            None,
            snappy(&v1(vec![good, series(&labels, &[(t, 1.0)])])),
        )
        .await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert!(a.body.contains(says), "{what}: {}", a.body);
        assert!(
            a.body
                .starts_with("stored 1 of 2 samples; refused 1 series"),
            "{what}: {}",
            a.body
        );
    }
    let a = post(
        &url,
        Some(V2),
        None,
        snappy(&v2(&symbols, &[1, 2, 3, 99], &[(t, 1.0)], 0)),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body
            .contains("symbol ref 99 is out of range (the request has 5 symbols)"),
        "{}",
        a.body
    );
    assert_eq!(
        a.header("X-Prometheus-Remote-Write-Samples-Written"),
        Some("0")
    );
    let a = post(
        &url,
        Some(V2),
        None,
        snappy(&v2(&symbols, &[1, 2, 3, 4], &[], 2)),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.contains("native histograms are not supported"),
        "{}",
        a.body
    );
    assert_eq!(
        a.header("X-Prometheus-Remote-Write-Histograms-Written"),
        Some("0")
    );

    // A slow sender holds the only permit until its read timeout: a second
    // request meanwhile is turned away with Retry-After, and the slow one
    // is answered 408.
    let mut slow = slow_sender(addr, 1000, 10);
    let in_flight =
        async || agent.self_metric("levee_receiver_requests_in_flight").await == Some(1.0);
    wait_until(
        "the slow request to hold its permit",
        Duration::from_secs(10),
        Duration::from_millis(20),
        in_flight,
    )
    .await;
    let a = post(
        &url,
        None,
        None,
        snappy(&v1(vec![series(&up, &[(t + 2, 1.0)])])),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.header("Retry-After"), Some("1"));
    let answer = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 512];
        let n = slow.read(&mut buf).expect("the slow sender is answered");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .expect("read");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // What was accepted is in the TSDB, with the timestamps sent.
    let q = agent.agent.db().querier(i64::MIN, i64::MAX);
    let got: BTreeMap<String, Vec<(i64, f64)>> = q
        .select(&[levee::tsdb::index::Matcher::equal("job", "push")])
        .expect("select")
        .into_iter()
        .map(|s| {
            let samples = s.samples().collect::<Result<_, _>>().expect("decode");
            (s.labels().to_string(), samples)
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            (
                r#"{__name__="recv_up", job="push"}"#.to_string(),
                vec![(t, 1.0), (t + 1, 2.0)]
            ),
            (
                r#"{__name__="recv_v2", job="push"}"#.to_string(),
                vec![(t, 5.0)]
            ),
        ])
    );
    let metrics = agent.self_metrics().await;
    for line in [
        "levee_receiver_requests_total{protocol=\"1.0\",code=\"204\"} 2",
        "levee_receiver_requests_total{protocol=\"2.0\",code=\"204\"} 1",
        "levee_receiver_requests_total{protocol=\"unknown\",code=\"415\"} 3",
        "levee_receiver_requests_total{protocol=\"unknown\",code=\"503\"} 1",
        "levee_receiver_samples_rejected_total{reason=\"native_histogram\"} 2",
        "levee_receiver_samples_rejected_total{reason=\"invalid_symbol_ref\"} 1",
        "levee_receiver_requests_refused_total{reason=\"body_timeout\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
}

/// A levee with the receiver on, forwarding into VictoriaMetrics.
fn forwarder_config(vm: &VictoriaMetrics) -> String {
    format!(
        "receiver: {{}}\nremote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 50ms\n      max_backoff: 500ms\n",
        vm.url_write()
    )
}

pub(crate) type Points = BTreeMap<BTreeMap<String, String>, Vec<(i64, u64)>>;

/// What VictoriaMetrics holds of `matcher` up to `until_ms`, staleness
/// markers left out (a range query of Prometheus does not show them).
pub(crate) async fn vm_points(vm: &VictoriaMetrics, matcher: &str, until_ms: i64) -> Points {
    vm.flush().await;
    vm.export(matcher)
        .await
        .into_iter()
        .map(|(labels, points)| {
            let points = points
                .into_iter()
                .filter(|&(t, v)| t <= until_ms && !levee::value::is_stale_nan(v))
                .map(|(t, v)| (t, v.to_bits()))
                .collect();
            (labels, points)
        })
        .filter(|(_, p): &(_, Vec<_>)| !p.is_empty())
        .collect()
}

/// Fails, naming up to five of each, when a series of `want` is missing
/// from `got` or `got` has one `want` lacks.
pub(crate) fn assert_same_series(got: &Points, want: &Points) {
    let missing: Vec<_> = want
        .keys()
        .filter(|l| !got.contains_key(*l))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|l| !want.contains_key(*l))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

/// Whether `a` and `b` hold the same series at the same timestamps.
pub(crate) fn same_times(a: &Points, b: &Points) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, pa), (lb, pb))| {
            la == lb && pa.len() == pb.len() && pa.iter().zip(pb).all(|(x, y)| x.0 == y.0)
        })
}

/// What levee's own TSDB holds of `job` up to `until_ms`, exact.
pub(crate) fn levee_points(agent: &TestAgent, job: &str, until_ms: i64) -> Points {
    let q = agent.agent.db().querier(i64::MIN, until_ms);
    q.select(&[levee::tsdb::index::Matcher::equal("job", job)])
        .expect("select")
        .into_iter()
        .map(|s| {
            let labels = s
                .labels()
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            let points = s
                .samples()
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<Vec<_>, _>>()
                .expect("decode")
                .into_iter()
                .filter(|&(t, v)| t <= until_ms && !levee::value::is_stale_nan(f64::from_bits(v)))
                .collect();
            (labels, points)
        })
        .filter(|(_, p): &(_, Vec<_>)| !p.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_node_exporter_through_levee_into_victoria_metrics() {
    let vm = VictoriaMetrics::start().await;
    let agent = TestAgent::start(&forwarder_config(&vm)).await;
    let node = NodeExporter::start().await;
    let dir = temp_dir("levee-recv-prom");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config: {{batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 500ms}}\n",
            node.address(),
            agent.agent.web_addr()
        ),
    )
    .expect("write prometheus.yml");
    let prom = Prometheus::start_scraping(&config).await;
    let scraped = async || {
        let data = prom.query(r#"count_over_time(up{job="node"}[1h])"#).await;
        data["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 5.0)
    };
    wait_until(
        "Prometheus to scrape node_exporter 5 times",
        Duration::from_secs(60),
        Duration::from_millis(200),
        scraped,
    )
    .await;
    // Everything Prometheus stored up to `until` must arrive.
    let until_ms = now_ms() - 1000;
    let until = until_ms as f64 / 1000.0;
    let want: Points = prom
        .raw_samples(r#"{job="node"}"#, "1h", until)
        .await
        .into_iter()
        .map(|(labels, points)| {
            let labels = labels
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                .collect();
            (
                labels,
                points.into_iter().map(|(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect();
    assert!(
        want.len() > 100,
        "Prometheus stored only {} node series",
        want.len()
    );
    // levee stores exactly what Prometheus stored, once Prometheus has sent
    // it (its queue sends every 500 ms).
    let mut stored = Points::new();
    for _ in 0..60 {
        stored = levee_points(&agent, "node", until_ms);
        if stored == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(stored, want);
    let mut got = Points::new();
    for _ in 0..60 {
        got = vm_points(&vm, r#"{job="node"}"#, until_ms).await;
        if same_times(&got, &want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let samples: usize = want.values().map(Vec::len).sum();
    println!("{} series, {samples} samples forwarded", want.len());
    assert_same_series(&got, &want);
    // VictoriaMetrics keeps about 15 significant digits of a value
    // (its decimal conversion), so values are compared within that.
    for (labels, points) in &want {
        let arrived = &got[labels];
        let times = |p: &[(i64, u64)]| p.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(times(arrived), times(points), "{labels:?}");
        for (&(t, a), &(_, b)) in arrived.iter().zip(points) {
            let (a, b) = (f64::from_bits(a), f64::from_bits(b));
            let close = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * b.abs();
            assert!(close, "{labels:?} at {t}: {a} arrived, {b} sent");
        }
    }
    let written = "levee_receiver_samples_written_total{protocol=\"1.0\"}";
    assert!(
        agent
            .self_metric(written)
            .await
            .is_some_and(|n| n >= samples as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_after_a_2xx_loses_nothing() {
    let mut vm = VictoriaMetrics::start().await;
    // Down while levee takes the pushes: they cannot have been forwarded
    // before the kill.
    vm.stop();
    let tmp = temp_dir("levee-recv-kill");
    let config = tmp.path().join("levee.yml");
    std::fs::write(&config, forwarder_config(&vm)).expect("config");
    let data = tmp.path().join("data");
    let (mut first, addr) = support::levee::run_child("levee-1", &config, &data, tmp.path()).await;
    let url = format!("http://{addr}/api/v1/write");
    let t = now_ms();
    let mut want = Points::new();
    for i in 0..5 {
        let name = format!("recv_durable_{i}");
        let points: Vec<(i64, f64)> = (0..3).map(|k| (t + k, (i * 10 + k) as f64)).collect();
        let body = v1(vec![series(
            &[("__name__", &name), ("job", "kill")],
            &points,
        )]);
        let a = post(&url, None, Some("snappy"), snappy(&body)).await;
        assert_eq!(a.status, 204, "{}", a.body);
        want.insert(
            BTreeMap::from([
                ("__name__".to_string(), name),
                ("job".to_string(), "kill".to_string()),
            ]),
            points.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
        );
    }
    first.kill();
    let (mut second, _) = support::levee::run_child("levee-2", &config, &data, tmp.path()).await;
    vm.restart().await;
    let mut got = Points::new();
    for _ in 0..60 {
        got = vm_points(&vm, r#"{job="kill"}"#, i64::MAX).await;
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    second.terminate(Duration::from_secs(30));
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vmagent_remote_writes_the_same_into_victoria_metrics_directly_and_through_levee() {
    const VMAGENT: &str = "/usr/bin/vmagent";
    support::require_binary(VMAGENT, "vmagent");
    // vmagent sends every sample to two receivers: one VictoriaMetrics
    // directly (the ground truth, with VictoriaMetrics' own value
    // rounding) and levee, which forwards into a second one.
    let direct = VictoriaMetrics::start().await;
    let relayed = VictoriaMetrics::start().await;
    let agent = TestAgent::start(&forwarder_config(&relayed)).await;
    let node = NodeExporter::start().await;
    let dir = temp_dir("levee-recv-vmagent");
    let config = dir.path().join("scrape.yml");
    std::fs::write(
        &config,
        format!(
            "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{}']\n",
            node.address()
        ),
    )
    .expect("write vmagent's scrape config");
    let args = |port| {
        vec![
            format!("-promscrape.config={}", config.display()),
            format!("-remoteWrite.url={}", direct.url_write()),
            format!(
                "-remoteWrite.url=http://{}/api/v1/write",
                agent.agent.web_addr()
            ),
            format!(
                "-remoteWrite.tmpDataPath={}",
                dir.path().join("queue").display()
            ),
            "-remoteWrite.flushInterval=500ms".to_string(),
            format!("-httpListenAddr=127.0.0.1:{port}"),
        ]
    };
    let listening = support::Listening {
        name: "vmagent",
        program: VMAGENT,
        log_dir: dir.path(),
        client: &reqwest::Client::new(),
        timeout: Duration::from_secs(60),
    };
    let (_vmagent, _) = listening
        .spawn(args, |port| format!("http://127.0.0.1:{port}/health"))
        .await;
    let scraped = async || {
        let up = vm_points(&direct, r#"up{job="node"}"#, i64::MAX).await;
        up.values().next().is_some_and(|p| p.len() >= 5)
    };
    wait_until(
        "vmagent to deliver 5 scrapes",
        Duration::from_secs(90),
        Duration::from_millis(500),
        scraped,
    )
    .await;
    let until_ms = now_ms() - 2000;
    let (mut want, mut got) = (Points::new(), Points::new());
    for _ in 0..60 {
        want = vm_points(&direct, r#"{job="node"}"#, until_ms).await;
        got = vm_points(&relayed, r#"{job="node"}"#, until_ms).await;
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let samples: usize = want.values().map(Vec::len).sum();
    println!("{} series, {samples} samples", want.len());
    assert!(
        want.len() > 100,
        "only {} node series arrived directly",
        want.len()
    );
    assert_eq!(got, want);
    let written = "levee_receiver_samples_written_total{protocol=\"1.0\"}";
    assert!(
        agent
            .self_metric(written)
            .await
            .is_some_and(|n| n >= samples as f64)
    );
}
