//! levee end to end with real peers: it scrapes a real node_exporter (its
//! textfile collector serving values the test chose) and remote-writes into
//! a real Prometheus 2.42 and a real VictoriaMetrics 1.79 at once; the test
//! reads both back through their HTTP APIs and compares series and values
//! with what node_exporter served; one endpoint's write_relabel_configs
//! drop a series for that endpoint only. A second test puts broken targets beside
//! a good one.

use crate::support;

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::levee::TestAgent;
use support::targets::{Behaviour, TestTarget};
use support::{NodeExporter, Prometheus, VictoriaMetrics};

type Series = BTreeMap<String, String>;

const TEXTFILE: &str = "# HELP levee_e2e_requests_total Requests, chosen by the test.\n\
# TYPE levee_e2e_requests_total counter\n\
levee_e2e_requests_total{code=\"200\",path=\"/a b\\\"c\"} 42\n\
levee_e2e_requests_total{code=\"500\",path=\"/\"} 9007199254740992\n\
# TYPE levee_e2e_temperature gauge\n\
levee_e2e_temperature -1.5e-3\n\
# TYPE levee_e2e_limit gauge\n\
levee_e2e_limit +Inf\n";

/// Every series of a text-format body, with the target labels added.
fn served_series(body: &str, job: &str, instance: &str) -> BTreeSet<Series> {
    let mut parser = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    parser
        .push(body.as_bytes())
        .expect("node_exporter body parses");
    parser.finish();
    let mut out = BTreeSet::new();
    while let Some(entry) = parser.next() {
        if let Entry::Sample(s) = entry.expect("node_exporter body parses") {
            let mut series: Series = s
                .labels()
                .map(|(n, v)| (n.to_string(), v.into_owned()))
                .collect();
            series.insert("__name__".into(), s.name.to_string());
            series.insert("job".into(), job.into());
            series.insert("instance".into(), instance.into());
            out.insert(series);
        }
    }
    out
}

fn is_synthetic(s: &Series) -> bool {
    matches!(
        s.get("__name__").map(String::as_str),
        Some(
            "up" | "scrape_duration_seconds"
                | "scrape_samples_scraped"
                | "scrape_samples_post_metric_relabeling"
                | "scrape_series_added"
        )
    )
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let every = Duration::from_millis(500);
    support::wait_until(what, limit, every, async || check().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_into_prometheus_and_victoria_metrics() {
    let textdir = tempfile::tempdir().expect("textfile dir");
    std::fs::write(textdir.path().join("levee.prom"), TEXTFILE).expect("write textfile");
    let node = NodeExporter::start_with(&[
        "--collector.disable-defaults".into(),
        "--collector.textfile".into(),
        format!(
            "--collector.textfile.directory={}",
            textdir.path().display()
        ),
    ])
    .await;
    let prom = Prometheus::start_receiver().await;
    let vm = VictoriaMetrics::start().await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    agent: e2e
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['{}']
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
    write_relabel_configs:
      - source_labels: [__name__]
        regex: levee_e2e_limit
        action: drop
"#,
        node.address(),
        prom.url_write(),
        vm.url_write(),
    );
    let agent = TestAgent::start(&config).await;

    wait_for(
        "textfile series in Prometheus",
        Duration::from_secs(60),
        || async { !prom.series("levee_e2e_temperature").await.is_empty() },
    )
    .await;
    // Let a few more scrapes land so every series has arrived.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let body = reqwest::get(node.url())
        .await
        .expect("GET node_exporter")
        .text()
        .await
        .expect("node_exporter body");
    let served: BTreeSet<Series> = served_series(&body, "node", &node.address())
        .into_iter()
        .map(|mut s| {
            s.insert("agent".into(), "e2e".into());
            s
        })
        .collect();
    // node_exporter's own per-request series are the same set every scrape.
    let in_prom: BTreeSet<Series> = prom
        .series("{job=\"node\"}")
        .await
        .iter()
        .map(|v| serde_json::from_value(v.clone()).expect("series is a label map"))
        .collect();
    let prom_scraped: BTreeSet<Series> = in_prom
        .iter()
        .filter(|s| !is_synthetic(s))
        .cloned()
        .collect();
    let missing: Vec<_> = served.difference(&prom_scraped).collect();
    let invented: Vec<_> = prom_scraped.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in Prometheus: {missing:?}"
    );
    assert!(
        invented.is_empty(),
        "in Prometheus but never served: {invented:?}"
    );
    assert_eq!(
        in_prom.iter().filter(|s| is_synthetic(s)).count(),
        5,
        "the five synthetic series"
    );

    // Exact values, through each receiver.
    let expect = [
        (r#"levee_e2e_requests_total{code="200"}"#, 42.0),
        (
            r#"levee_e2e_requests_total{code="500"}"#,
            9_007_199_254_740_992.0,
        ),
        ("levee_e2e_temperature", -1.5e-3),
        ("levee_e2e_limit", f64::INFINITY),
        (r#"up{job="node"}"#, 1.0),
    ];
    for (query, want) in expect {
        let result = prom.query(query).await;
        let point = &result["result"][0]["value"];
        let (_, got) = support::parse_point(point);
        assert_eq!(got, want, "Prometheus {query}: {result}");
    }
    let path = prom.series(r#"levee_e2e_requests_total{code="200"}"#).await;
    assert_eq!(
        path[0]["path"], "/a b\"c",
        "escaped label value arrives unescaped"
    );

    vm.flush().await;
    wait_for(
        "series in VictoriaMetrics",
        Duration::from_secs(60),
        || async {
            vm.flush().await;
            !vm.export("levee_e2e_temperature").await.is_empty()
        },
    )
    .await;
    assert!(
        vm.export("levee_e2e_limit").await.is_empty(),
        "write_relabel_configs of the VictoriaMetrics endpoint drop levee_e2e_limit there only"
    );
    for (name, want) in [("levee_e2e_temperature", -1.5e-3)] {
        let exported = vm.export(name).await;
        assert_eq!(exported.len(), 1, "{name}: {exported:?}");
        let (labels, samples) = &exported[0];
        assert_eq!(labels.get("agent").map(String::as_str), Some("e2e"));
        assert!(!samples.is_empty());
        assert!(
            samples.iter().all(|(_, v)| *v == want),
            "{name}: {samples:?}"
        );
    }
    let counters = vm.export("levee_e2e_requests_total").await;
    let by_code: BTreeMap<String, f64> = counters
        .iter()
        .map(|(l, s)| (l["code"].clone(), s.last().map(|p| p.1).unwrap_or(f64::NAN)))
        .collect();
    assert_eq!(by_code.get("200"), Some(&42.0));
    assert_eq!(by_code.get("500"), Some(&9_007_199_254_740_992.0));

    let failures = agent.self_metrics().await;
    assert!(
        !failures.contains("levee_scrape_failures_total{"),
        "no failed scrapes:\n{failures}"
    );
    agent.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_targets_fail_alone_and_are_counted() {
    let good = TestTarget::start(Behaviour::Body("ok_metric 1\n".into())).await;
    let garbage = TestTarget::start(Behaviour::Body("this is { not exposition\n".into())).await;
    let hang = TestTarget::start(Behaviour::Hang(Duration::from_secs(30))).await;
    let huge = TestTarget::start(Behaviour::Body("big_metric 1\n".repeat(20_000))).await;
    let prom = Prometheus::start_receiver().await;
    let config = format!(
        r#"global:
  scrape_interval: 2s
  scrape_timeout: 1s
scrape_configs:
  - job_name: good
    static_configs: [{{targets: ['{}']}}]
  - job_name: garbage
    static_configs: [{{targets: ['{}']}}]
  - job_name: hang
    static_configs: [{{targets: ['{}']}}]
  - job_name: huge
    body_size_limit: 10KB
    static_configs: [{{targets: ['{}']}}]
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
"#,
        good.address(),
        garbage.address(),
        hang.address(),
        huge.address(),
        prom.url_write(),
    );
    let agent = TestAgent::start(&config).await;
    let reasons = [
        "garbage\",reason=\"parse",
        "hang\",reason=\"timeout",
        "huge\",reason=\"body_size_limit",
    ];
    let started = Instant::now();
    loop {
        let m = agent.self_metrics().await;
        let failed_twice = |k: &str| {
            m.lines()
                .filter(|l| l.starts_with("levee_scrape_failures_total{") && l.contains(k))
                .any(|l| {
                    l.rsplit(' ')
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v >= 2.0)
                })
        };
        if reasons.iter().all(|k| failed_twice(k)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "each broken target should fail twice with its reason within 90 s; levee's metrics:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_for(
        "up series in Prometheus",
        Duration::from_secs(60),
        || async {
            let r = prom.query("up").await;
            r["result"].as_array().map(|a| a.len()) == Some(4)
        },
    )
    .await;
    let r = prom.query("up").await;
    let ups: BTreeMap<String, f64> = r["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| {
            let job = s["metric"]["job"].as_str().expect("job").to_string();
            (job, support::parse_point(&s["value"]).1)
        })
        .collect();
    assert_eq!(ups.get("good"), Some(&1.0), "{ups:?}");
    assert_eq!(ups.get("garbage"), Some(&0.0), "{ups:?}");
    assert_eq!(ups.get("hang"), Some(&0.0), "{ups:?}");
    assert_eq!(ups.get("huge"), Some(&0.0), "{ups:?}");
    let ok = prom.query("ok_metric").await;
    assert_eq!(
        support::parse_point(&ok["result"][0]["value"]).1,
        1.0,
        "the good target flows: {ok}"
    );
    assert!(
        prom.query("big_metric").await["result"]
            .as_array()
            .is_some_and(|a| a.is_empty()),
        "nothing of an over-limit body is kept"
    );
    let m = agent.self_metrics().await;
    assert!(
        !m.contains("levee_scrape_failures_total{job=\"good\""),
        "{m}"
    );
    agent.agent.shutdown().await;
}
