//! Series budgets for pushed data end to end: a test sender remote-writes
//! an Istio-style explosion into a real levee under `X-Scope-OrgID: storm`
//! (requests of two scrapes each, hosts arriving all along, some
//! restarting), while source `calm` pushes ordinary series; levee forwards
//! into a real VictoriaMetrics 1.79. Downstream the storm has at most its
//! budget of series plus the few it had before the fold, its folded
//! counters and histogram buckets equal the ground truth exactly, and the
//! calm source arrives as pushed. A source with `budget_action: fail` is
//! answered 400 with the reason; the cardinality API and self-metrics
//! name the sources.

use crate::support;

use levee::guard::member_increase;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::VictoriaMetrics;
use support::levee::TestAgent;
use support::push::{push_v1, series};

const BUDGET: usize = 40;
const ROUNDS: u64 = 6;
/// Series per host: two request counters, three buckets, count, sum.
const PER_HOST: usize = 7;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// One series of a host: metric name, labels besides the host, value.
type HostSeries = (String, Vec<(&'static str, String)>, f64);

/// Host `h`'s series at scrape `s` (hosts with `h % 7 == 3` restart at
/// scrape 8).
fn host(h: u64, s: u64) -> Vec<HostSeries> {
    let n = if h % 7 == 3 && s >= 8 { s - 7 } else { s + 1 };
    let mut v = Vec::new();
    for (code, k) in [("200", 10), ("503", 1)] {
        v.push((
            "istio_requests_total".to_string(),
            vec![("response_code", code.to_string())],
            (n * (h % 5 + 1) * k) as f64,
        ));
    }
    let name = "istio_request_duration_milliseconds";
    for (i, le) in ["10", "100", "+Inf"].iter().enumerate() {
        v.push((
            format!("{name}_bucket"),
            vec![("le", le.to_string())],
            (n * (i as u64 + 1) * 2) as f64,
        ));
    }
    v.push((format!("{name}_count"), Vec::new(), (n * 6) as f64));
    v.push((format!("{name}_sum"), Vec::new(), (n * 170) as f64));
    v
}

/// The identity of a folded series downstream: name, `le`, `response_code`.
type Key = (String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_storm_is_folded_exactly_and_the_other_source_arrives_as_pushed() {
    let vm = VictoriaMetrics::start().await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
receiver:
  series_budget: {BUDGET}
  fold_interval: 1s
  sources:
    calm: {{series_budget: 1000}}
    strict: {{series_budget: 3, budget_action: fail}}
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
"#,
        vm.url_write()
    );
    let agent = TestAgent::start(&config).await;
    let web = agent.agent.web_addr();
    let url = format!("http://{web}/api/v1/write");
    let client = reqwest::Client::new();
    // Sample timestamps a minute in the past: the sender's, not levee's.
    let base = (now_ms() - 60_000) / 1000 * 1000;
    let mut last: HashMap<(u64, usize), f64> = HashMap::new();
    let mut truth: BTreeMap<Key, f64> = BTreeMap::new();
    let mut calm_sent: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in 0..ROUNDS {
        let mut storm = Vec::new();
        for h in 0..(4 + 6 * r) {
            let svc = format!("svc-{h}.default.svc.cluster.local");
            let scrapes: Vec<_> = (0..2).map(|k| host(h, 2 * r + k)).collect();
            for (i, (name, extra, _)) in scrapes[0].iter().enumerate() {
                let mut labels = vec![
                    ("__name__", name.as_str()),
                    ("destination_service", svc.as_str()),
                ];
                labels.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
                let points: Vec<(i64, f64)> = (0..2u64)
                    .map(|k| {
                        let ts = base + ((2 * r + k) as i64) * 1000;
                        let v = scrapes[k as usize][i].2;
                        let inc = member_increase(last.insert((h, i), v), v);
                        let le = extra.iter().find(|(n, _)| *n == "le");
                        let code = extra.iter().find(|(n, _)| *n == "response_code");
                        let key = (
                            name.clone(),
                            le.map(|x| x.1.clone()).unwrap_or_default(),
                            code.map(|x| x.1.clone()).unwrap_or_default(),
                        );
                        *truth.entry(key).or_default() += inc;
                        (ts, v)
                    })
                    .collect();
                storm.push(series(&labels, &points));
            }
        }
        let (status, body) = push_v1(&client, &url, Some("storm"), storm).await;
        assert_eq!(status, 204, "storm round {r}: {body}");
        let calm: Vec<_> = (0..4)
            .map(|cpu| {
                let cpu = cpu.to_string();
                let points: Vec<(i64, f64)> = (0..2)
                    .map(|k| {
                        let ts = base + ((2 * r + k) as i64) * 1000;
                        (ts, (r * 100 + k) as f64 + cpu.parse::<f64>().unwrap_or(0.0))
                    })
                    .collect();
                calm_sent
                    .entry(cpu.clone())
                    .or_default()
                    .extend(points.iter().copied());
                series(
                    &[
                        ("__name__", "node_cpu_seconds_total"),
                        ("cpu", cpu.as_str()),
                    ],
                    &points,
                )
            })
            .collect();
        let (status, body) = push_v1(&client, &url, Some("calm"), calm).await;
        assert_eq!(status, 204, "calm round {r}: {body}");
    }
    // `fail`: refused whole, and told why.
    let strict: Vec<_> = (0..5)
        .map(|i| {
            let name = format!("strict_metric_{i}");
            series(&[("__name__", name.as_str())], &[(base, 1.0)])
        })
        .collect();
    let (status, body) = push_v1(&client, &url, Some("strict"), strict).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("series budget exceeded for source \"strict\"") && body.contains("budget 3"),
        "{body}"
    );

    // One fold interval after the last push the folded series are written.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let metrics = agent.self_metrics().await;
    let text = reqwest::get(format!("http://{web}/api/v1/status/cardinality?limit=2"))
        .await
        .expect("GET cardinality")
        .text()
        .await
        .expect("cardinality body");
    let cardinality: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("cardinality JSON ({e}): {text}"));
    let TestAgent { agent, dir: _dir } = agent;
    agent.shutdown().await;
    vm.flush().await;

    assert!(
        metrics.contains(
            "levee_source_fold_events_total{source=\"storm\",label=\"destination_service\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "levee_source_series_budget{{source=\"storm\"}} {BUDGET}"
        )),
        "{metrics}"
    );
    let entries = cardinality["data"]["targets"].as_array().expect("entries");
    let storm_c = entries
        .iter()
        .find(|e| e["kind"] == "source" && e["source"] == "storm")
        .unwrap_or_else(|| panic!("storm listed: {cardinality}"));
    assert_eq!(storm_c["folds"][0]["labels"][0], "destination_service");
    assert!(storm_c["activeSeries"].as_u64().unwrap_or(u64::MAX) <= BUDGET as u64);

    // Downstream: the storm's series, and the last value of each.
    let exported = vm.export(r#"{__name__=~"istio_.*"}"#).await;
    let folded: Vec<_> = exported
        .iter()
        .filter(|(l, _)| l.get("destination_service").map(String::as_str) == Some("__overflow__"))
        .collect();
    assert_eq!(folded.len(), PER_HOST, "folded series: {folded:?}");
    // Before the fold the first round's 4 hosts passed as they were.
    assert!(
        exported.len() <= BUDGET + PER_HOST,
        "{} storm series downstream",
        exported.len()
    );
    let mut got: BTreeMap<Key, f64> = BTreeMap::new();
    for (labels, points) in &folded {
        let (_, v) = points
            .iter()
            .filter(|(_, v)| !v.is_nan())
            .max_by_key(|(t, _)| *t)
            .copied()
            .expect("a folded value");
        let key = (
            labels.get("__name__").cloned().unwrap_or_default(),
            labels.get("le").cloned().unwrap_or_default(),
            labels.get("response_code").cloned().unwrap_or_default(),
        );
        got.insert(key, v);
    }
    assert_eq!(got, truth, "folded totals against the ground truth");
    let b = |le: &str| {
        got[&(
            "istio_request_duration_milliseconds_bucket".to_string(),
            le.to_string(),
            String::new(),
        )]
    };
    assert!(b("10") <= b("100") && b("100") <= b("+Inf"));
    assert_eq!(
        b("+Inf"),
        got[&(
            "istio_request_duration_milliseconds_count".to_string(),
            String::new(),
            String::new()
        )]
    );

    // The calm source: every sample as pushed.
    let calm_got: BTreeMap<String, Vec<(i64, f64)>> = vm
        .export("node_cpu_seconds_total")
        .await
        .into_iter()
        .map(|(l, points)| (l.get("cpu").cloned().unwrap_or_default(), points))
        .collect();
    assert_eq!(calm_got, calm_sent);
}
