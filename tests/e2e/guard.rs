//! The series budget end to end: a real levee scrapes an Istio storm target
//! (10 new destination hosts a scrape, 25 series each, kept forever) and an
//! innocent target, and remote-writes into a real VictoriaMetrics 1.79.
//! Read back through VictoriaMetrics' export API: at every scrape the storm
//! target has at most its budget of live series; at every scrape the
//! folded `istio_requests_total`, every `_count`/`_sum` and every histogram
//! bucket sum to the workload's ground truth exactly; the innocent target
//! arrives as served; levee's self-metrics and cardinality API name
//! `destination_service`.

use crate::support;

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::VictoriaMetrics;
use support::levee::TestAgent;
use support::storm::StormTarget;
use support::targets::{Behaviour, TestTarget};

const BUDGET: usize = 600;
const INNOCENT: &str = "# TYPE app_requests_total counter\n\
app_requests_total{code=\"200\",path=\"/a\"} 10\n\
app_requests_total{code=\"200\",path=\"/b\"} 20\n\
app_requests_total{code=\"500\",path=\"/a\"} 3\n\
# TYPE app_temperature gauge\n\
app_temperature{room=\"x\"} 21.5\n";

/// Sum of every sample by (metric name, le) in a text body.
fn truth(body: &[u8]) -> BTreeMap<(String, String), f64> {
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    p.push(body).expect("storm body parses");
    p.finish();
    let mut sums = BTreeMap::new();
    while let Some(e) = p.next() {
        if let Entry::Sample(s) = e.expect("storm body parses") {
            let le = s
                .labels()
                .find(|(n, _)| *n == "le")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            *sums.entry((s.name.to_string(), le)).or_insert(0.0) += s.value;
        }
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_is_held_to_its_budget_with_exact_totals() {
    let vm = VictoriaMetrics::start().await;
    let storm = StormTarget::start(10).await;
    let innocent = TestTarget::start(Behaviour::Body(INNOCENT.into())).await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: storm
    series_budget: {BUDGET}
    static_configs: [{{targets: ['{}']}}]
  - job_name: innocent
    series_budget: {BUDGET}
    static_configs: [{{targets: ['{}']}}]
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
"#,
        storm.address(),
        innocent.address(),
        vm.url_write(),
    );
    let agent = TestAgent::start(&config).await;
    let started = Instant::now();
    while storm.served() < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "storm target scraped only {} times in 60 s",
            storm.served()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = agent.self_metrics().await;
    let text = reqwest::get(format!(
        "http://{}/api/v1/status/cardinality?limit=3",
        agent.agent.web_addr()
    ))
    .await
    .expect("GET cardinality")
    .text()
    .await
    .expect("cardinality body");
    let cardinality: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("cardinality JSON ({e}): {text}"));
    // The operator's view: `levee cardinality --url`.
    let url = format!("http://{}", agent.agent.web_addr());
    let table = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_levee"))
            .args(["cardinality", "--url", &url, "--limit", "2"])
            .output()
            .expect("run levee cardinality")
    })
    .await
    .expect("levee cardinality ran");
    let stdout = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    assert!(stdout.starts_with("TARGET"), "{stdout}");
    assert!(
        stdout.contains(&format!("storm/{}", storm.address())),
        "{stdout}"
    );
    assert!(
        stdout.contains("fold [auto] destination_service+destination_workload"),
        "{stdout}"
    );
    // Shutdown flushes everything queued.
    let TestAgent { agent, dir: _dir } = agent;
    agent.shutdown().await;
    vm.flush().await;

    // Self-metrics and the cardinality API name the offender.
    let instance = storm.address();
    let fold_line = format!(
        "levee_guard_fold_events_total{{job=\"storm\",instance=\"{instance}\",label=\"destination_service\"}} 1"
    );
    assert!(metrics.contains(&fold_line), "{metrics}");
    assert_eq!(cardinality["status"], "success", "{cardinality}");
    let targets = cardinality["data"]["targets"].as_array().expect("targets");
    let storm_c = targets
        .iter()
        .find(|t| t["job"] == "storm")
        .expect("storm target listed");
    assert_eq!(storm_c["folds"][0]["labels"][0], "destination_service");
    assert_eq!(storm_c["seriesBudget"], BUDGET);
    assert!(storm_c["activeSeries"].as_u64().unwrap_or(u64::MAX) <= BUDGET as u64);
    assert_eq!(storm_c["topLabels"].as_array().map(Vec::len), Some(3));
    let innocent_c = targets
        .iter()
        .find(|t| t["job"] == "innocent")
        .expect("innocent target listed");
    assert_eq!(innocent_c["folds"].as_array().map(Vec::len), Some(0));

    // Which scrape each timestamp was.
    let index: BTreeMap<i64, u64> = vm
        .export("storm_scrape_index")
        .await
        .into_iter()
        .flat_map(|(_, points)| points)
        .filter(|(_, v)| !v.is_nan())
        .map(|(t, v)| (t, v as u64))
        .collect();
    assert!(index.len() >= 8, "scrapes stored: {index:?}");

    // Per timestamp: live series of the storm target and sums by (name, le).
    let mut live: BTreeMap<i64, usize> = BTreeMap::new();
    let mut sums: BTreeMap<i64, BTreeMap<(String, String), f64>> = BTreeMap::new();
    let mut folded_seen = false;
    for (labels, points) in vm.export(r#"{job="storm"}"#).await {
        let name = labels.get("__name__").cloned().unwrap_or_default();
        if matches!(
            name.as_str(),
            "up" | "scrape_duration_seconds"
                | "scrape_samples_scraped"
                | "scrape_samples_post_metric_relabeling"
                | "scrape_series_added"
        ) {
            continue;
        }
        folded_seen |=
            labels.get("destination_service").map(String::as_str) == Some("__overflow__");
        let le = labels.get("le").cloned().unwrap_or_default();
        for (t, v) in points {
            if v.is_nan() {
                continue;
            }
            *live.entry(t).or_insert(0) += 1;
            *sums
                .entry(t)
                .or_default()
                .entry((name.clone(), le.clone()))
                .or_insert(0.0) += v;
        }
    }
    assert!(folded_seen, "no folded series arrived");
    for (t, n) in &live {
        assert!(*n <= BUDGET, "{n} live storm series at {t}");
    }
    let mut checked = 0;
    for (t, k) in &index {
        let want = truth(&{
            let mut b = storm.workload(*k).body(*k);
            b.extend_from_slice(format!("storm_scrape_index {k}\n").as_bytes());
            b
        });
        let got = sums.get(t).cloned().unwrap_or_default();
        assert_eq!(got, want, "scrape {k} at {t}");
        checked += 1;
    }
    assert!(checked >= 8);

    // The innocent target: exactly what it served, at every scrape.
    let innocent_series: BTreeSet<BTreeMap<String, String>> = vm
        .export(r#"{job="innocent",__name__=~"app_.*"}"#)
        .await
        .into_iter()
        .map(|(labels, points)| {
            let want = match labels.get("path").map(String::as_str) {
                Some("/a") if labels.get("code").map(String::as_str) == Some("200") => 10.0,
                Some("/a") => 3.0,
                Some("/b") => 20.0,
                _ => 21.5,
            };
            assert!(
                points.iter().all(|(_, v)| v.is_nan() || *v == want),
                "{labels:?}: {points:?}"
            );
            labels
        })
        .collect();
    assert_eq!(innocent_series.len(), 4, "{innocent_series:?}");
}

#[test]
fn cardinality_without_a_levee_says_so() {
    let closed = support::ClosedPort::new();
    let port = closed.port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_levee"))
        .args(["cardinality", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .expect("run levee cardinality");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "levee cardinality: GET http://127.0.0.1:{port}/api/v1/status/cardinality?limit=10: "
        )),
        "{err}"
    );
}

/// A body with `n` series of one counter, told apart by label `i`.
fn wide_body(n: usize) -> String {
    let mut b = String::from("# TYPE wide_total counter\n");
    for i in 0..n {
        b.push_str(&format!("wide_total{{i=\"{i}\"}} {i}\n"));
    }
    b
}

async fn cardinality_of(agent: &TestAgent) -> serde_json::Value {
    let text = reqwest::get(format!(
        "http://{}/api/v1/status/cardinality",
        agent.agent.web_addr()
    ))
    .await
    .expect("GET cardinality")
    .text()
    .await
    .expect("cardinality body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cardinality JSON ({e}): {text}"))
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (limit, every) = (Duration::from_secs(30), Duration::from_millis(200));
    support::wait_until(what, limit, every, async || check().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_fold_rules_of_running_targets() {
    let target = TestTarget::start(Behaviour::Body(wide_body(6))).await;
    let config = |rules: &str| {
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: wide\n    series_budget: 100\n{rules}    static_configs: [{{targets: ['{}']}}]\n",
            target.address()
        )
    };
    let mut agent = TestAgent::start(&config("    fold_labels: [{labels: [i]}]\n")).await;
    let folded = format!(
        "levee_guard_folded_series{{job=\"wide\",instance=\"{}\"}}",
        target.address()
    );
    wait_until("the rule folds the six series", || async {
        agent.self_metric(&folded).await == Some(6.0)
    })
    .await;
    let c = cardinality_of(&agent).await;
    assert_eq!(c["data"]["targets"][0]["folds"][0]["origin"], "rule", "{c}");
    std::fs::write(agent.dir.path().join("levee.yml"), config("")).expect("rewrite config");
    agent.agent.reload().await.expect("reload");
    wait_until("the fold lifted", || async {
        agent.self_metric(&folded).await == Some(0.0)
    })
    .await;
    let c = cardinality_of(&agent).await;
    assert_eq!(
        c["data"]["targets"][0]["folds"],
        serde_json::json!([]),
        "{c}"
    );
    assert_eq!(c["data"]["targets"][0]["activeSeries"], 6, "{c}");
    agent.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_agent_ceiling_holds_the_largest_targets() {
    let big = TestTarget::start(Behaviour::Body(wide_body(80))).await;
    let small = TestTarget::start(Behaviour::Body(wide_body(10))).await;
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nguard:\n  max_series: 100\nscrape_configs:\n  - job_name: big\n    static_configs: [{{targets: ['{}']}}]\n  - job_name: small\n    static_configs: [{{targets: ['{}']}}]\n",
        big.address(),
        small.address()
    );
    let agent = TestAgent::start(&config).await;
    let active = |job: &str, addr: String| {
        format!("levee_target_active_series{{job=\"{job}\",instance=\"{addr}\"}}")
    };
    // 90 series against a ceiling of 100: near it, the big target (above
    // its fair share of 50) is held to 50 and folds; the small one is not.
    wait_until("the big target folded", || async {
        agent.self_metric(&active("big", big.address())).await == Some(1.0)
    })
    .await;
    assert_eq!(
        agent.self_metric(&active("small", small.address())).await,
        Some(10.0)
    );
    let folds = format!(
        "levee_guard_fold_events_total{{job=\"big\",instance=\"{}\",label=\"i\"}}",
        big.address()
    );
    assert_eq!(agent.self_metric(&folds).await, Some(1.0));
    let TestAgent { agent, dir: _dir } = agent;
    agent.shutdown().await;
}
