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

/// The sender's storm and its ground truth.
struct Storm {
    base: i64,
    last: HashMap<(u64, usize), f64>,
    /// Per folded series, the members' reset-aware increases summed.
    truth: BTreeMap<Key, f64>,
}

impl Storm {
    fn new(base: i64) -> Storm {
        Storm {
            base,
            last: HashMap::new(),
            truth: BTreeMap::new(),
        }
    }

    /// Round `r`: one request with scrapes `2r` and `2r + 1` of hosts
    /// `0..4 + 6r`, each series with its two samples.
    fn round(&mut self, r: u64) -> Vec<levee::proto::TimeSeries> {
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
                let label = |l: &str| {
                    extra
                        .iter()
                        .find(|(n, _)| *n == l)
                        .map(|x| x.1.clone())
                        .unwrap_or_default()
                };
                let key = (name.clone(), label("le"), label("response_code"));
                let points: Vec<(i64, f64)> = (0..2u64)
                    .map(|k| {
                        let ts = self.base + ((2 * r + k) as i64) * 1000;
                        let v = scrapes[k as usize][i].2;
                        let inc = member_increase(self.last.insert((h, i), v), v);
                        *self.truth.entry(key.clone()).or_default() += inc;
                        (ts, v)
                    })
                    .collect();
                storm.push(series(&labels, &points));
            }
        }
        storm
    }
}

/// The last value of every folded series in `exported`, by its key.
fn folded_totals(exported: &[support::ExportedSeries]) -> BTreeMap<Key, f64> {
    let mut got = BTreeMap::new();
    for (labels, points) in exported {
        if labels.get("destination_service").map(String::as_str) != Some("__overflow__") {
            continue;
        }
        let Some((_, v)) = points
            .iter()
            .filter(|(_, v)| !v.is_nan())
            .max_by_key(|(t, _)| *t)
            .copied()
        else {
            continue;
        };
        let key = (
            labels.get("__name__").cloned().unwrap_or_default(),
            labels.get("le").cloned().unwrap_or_default(),
            labels.get("response_code").cloned().unwrap_or_default(),
        );
        got.insert(key, v);
    }
    got
}

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
    let mut storm = Storm::new(base);
    let mut calm_sent: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in 0..ROUNDS {
        let storm = storm.round(r);
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
    let got = folded_totals(&exported);
    assert_eq!(got, storm.truth, "folded totals against the ground truth");
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

/// A source's GET of the cardinality API of the levee at `addr`: its entry.
async fn source_entry(addr: std::net::SocketAddr, source: &str) -> serde_json::Value {
    let text = reqwest::get(format!("http://{addr}/api/v1/status/cardinality"))
        .await
        .expect("GET cardinality")
        .text()
        .await
        .expect("cardinality body");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("cardinality JSON ({e}): {text}"));
    v["data"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "source" && e["source"] == source)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_storm_keeps_the_source_folds_and_totals() {
    let vm = VictoriaMetrics::start().await;
    let tmp = support::temp_dir("levee-push-kill");
    let config = tmp.path().join("levee.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  scrape_interval: 1s
guard:
  state_save_interval: 1s
receiver:
  series_budget: {BUDGET}
  fold_interval: 1s
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
"#,
            vm.url_write()
        ),
    )
    .expect("config");
    let data = tmp.path().join("data");
    let client = reqwest::Client::new();
    let base = (now_ms() - 60_000) / 1000 * 1000;
    let mut storm = Storm::new(base);

    let (mut first, addr) = support::levee::run_child("levee-1", &config, &data, tmp.path()).await;
    let url = format!("http://{addr}/api/v1/write");
    for r in 0..3 {
        let (status, body) = push_v1(&client, &url, Some("storm"), storm.round(r)).await;
        assert_eq!(status, 204, "round {r}: {body}");
    }
    let before = source_entry(addr, "storm").await;
    let since = before["folds"][0]["since"].clone();
    assert!(since.is_string(), "folded before the kill: {before}");
    // Two saves after the last push, then kill -9.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    first.kill();

    let (mut second, addr) = support::levee::run_child("levee-2", &config, &data, tmp.path()).await;
    let restored = source_entry(addr, "storm").await;
    assert_eq!(
        restored["folds"][0]["since"], since,
        "the fold continues: {restored}"
    );
    assert_eq!(
        restored["activeSeries"], before["activeSeries"],
        "{restored}"
    );
    let url = format!("http://{addr}/api/v1/write");
    for r in 3..ROUNDS {
        let (status, body) = push_v1(&client, &url, Some("storm"), storm.round(r)).await;
        assert_eq!(status, 204, "round {r}: {body}");
    }
    // One interval after the last push, and the queue's deadline.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics");
    second.terminate(Duration::from_secs(30));
    vm.flush().await;
    assert!(
        !metrics.contains("levee_source_fold_events_total{source=\"storm\""),
        "no new fold after the restart: {metrics}"
    );
    let exported = vm.export(r#"{__name__=~"istio_.*"}"#).await;
    assert_eq!(folded_totals(&exported), storm.truth);
    // Folded counters never went backwards across the kill.
    for (labels, points) in &exported {
        if labels.get("destination_service").map(String::as_str) != Some("__overflow__") {
            continue;
        }
        let mut points: Vec<(i64, f64)> = points
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_nan())
            .collect();
        points.sort_by_key(|(t, _)| *t);
        for w in points.windows(2) {
            assert!(w[1].1 >= w[0].1, "{labels:?} went back: {w:?}");
        }
    }
}
