//! Differential test against the real Prometheus 2.42 (`/usr/bin/prometheus`,
//! `/usr/bin/promtool`): every case of `tests/data/relabel/*.yml` becomes a
//! scrape job whose static target carries the case's input labels and
//! whose `relabel_configs` are the case's rules. Prometheus' own target
//! relabeling (read back from `/api/v1/targets`) must agree with levee's
//! engine run on the same discovered labels. Error cases must be rejected
//! by `promtool check config`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use levee::labels::Labels;
use levee::relabel::{RelabelConfig, Rules};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support;
const PROMTOOL: &str = "/usr/bin/promtool";
/// Marks each case's target in Prometheus' discovered labels.
const CASE_LABEL: &str = "__levee_case";

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    input: BTreeMap<String, String>,
    rules: Vec<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    prometheus_differs: Option<String>,
    #[serde(flatten)]
    _rest: BTreeMap<String, Value>,
}

fn cases() -> Vec<(String, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/relabel");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/relabel")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        let file = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let list: Vec<Case> =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        out.extend(list.into_iter().map(|c| (file.clone(), c)));
    }
    out
}

/// A minimal HTTP/1.0 GET; returns (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split(' ').nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn static_target(id: usize, input: &BTreeMap<String, String>) -> Value {
    let address = input
        .get("__address__")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:1".to_string());
    let mut labels: BTreeMap<String, String> = input
        .iter()
        .filter(|(k, _)| *k != "__address__")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(CASE_LABEL.to_string(), id.to_string());
    json!({ "targets": [address], "labels": labels })
}

/// What Prometheus 2.42 makes of a relabeled target: `None` when it has no
/// usable `__address__` (the target is discarded with an error), else the
/// public labels (no `__` names) with `instance` defaulting to the address.
fn target_labels(out: &Labels) -> Option<BTreeMap<String, String>> {
    let mut addr = out.get("__address__")?.to_string();
    if addr.contains('/') {
        return None;
    }
    if !addr.contains(':') {
        let port = if out.get("__scheme__") == Some("https") {
            443
        } else {
            80
        };
        addr = format!("{addr}:{port}");
    }
    let mut labels: BTreeMap<String, String> = out
        .iter()
        .filter(|l| !l.name.starts_with("__"))
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect();
    labels.entry("instance".to_string()).or_insert(addr);
    Some(labels)
}

/// A JSON object of label name → string value.
fn json_labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn target_relabeling_agrees_with_prometheus() {
    let all = cases();
    let mut jobs = Vec::new();
    let mut checked: Vec<(usize, String, Rules)> = Vec::new();
    for (id, (file, case)) in all.iter().enumerate() {
        if case.error.is_some() || case.prometheus_differs.is_some() {
            continue;
        }
        let configs: Vec<RelabelConfig> = serde_json::from_value(Value::Array(case.rules.clone()))
            .unwrap_or_else(|e| panic!("{file}: {}: {e}", case.name));
        let rules = Rules::compile(&configs).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        jobs.push(json!({
            "job_name": format!("case_{id}"),
            "scrape_interval": "1h",
            "static_configs": [static_target(id, &case.input)],
            "relabel_configs": case.rules,
        }));
        checked.push((id, format!("{file}: {}", case.name), rules));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    let text = serde_json::to_string_pretty(&json!({ "scrape_configs": jobs })).expect("json");
    std::fs::write(&config, text).expect("write config");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut prometheus = runtime.block_on(support::Prometheus::start_scraping(&config));
    let port = prometheus.port();

    // Wait until every target is either active or dropped.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (active, dropped) = loop {
        let resp = get(port, "/api/v1/targets")
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok());
        if let Some(v) = resp {
            let list = |k: &str| v["data"][k].as_array().cloned().unwrap_or_default();
            let (active, dropped) = (list("activeTargets"), list("droppedTargets"));
            let expected_present = checked
                .iter()
                .filter(|(id, _, rules)| {
                    let input = discovered_guess(&all[*id].1.input, *id);
                    rules
                        .apply(&input)
                        .is_none_or(|out| target_labels(&out).is_some())
                })
                .count();
            if active.len() + dropped.len() >= expected_present {
                break (active, dropped);
            }
        }
        if Instant::now() > deadline {
            let log = prometheus.child().log_text();
            let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            panic!("prometheus did not report all targets within 90s; log tail:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    // Active targets by scrape pool; dropped ones by the marker label (the
    // API's discoveredLabels of 2.42 can show values relabeling wrote, so
    // levee's input is rebuilt from the case, not read back).
    let mut seen: BTreeMap<usize, Option<Value>> = BTreeMap::new();
    for t in &active {
        let pool = t["scrapePool"].as_str().unwrap_or_default();
        if let Some(id) = pool.strip_prefix("case_").and_then(|s| s.parse().ok()) {
            seen.insert(id, Some(t["labels"].clone()));
        }
    }
    for t in &dropped {
        let d = &t["discoveredLabels"];
        if let Some(id) = d[CASE_LABEL].as_str().and_then(|s| s.parse().ok()) {
            seen.insert(id, None);
        }
    }

    assert!(
        checked.len() >= 80 && seen.len() + 5 >= checked.len(),
        "too few cases compared: {} cases, {} seen in Prometheus",
        checked.len(),
        seen.len()
    );
    let mut failures = Vec::new();
    for (id, name, rules) in &checked {
        let input = discovered_guess(&all[*id].1.input, *id);
        let ours = rules.apply(&input).map(|o| target_labels(&o));
        let Some(prom) = seen.get(id) else {
            // Prometheus discards targets without a usable address.
            if ours != Some(None) {
                failures.push(format!("{name}: absent in Prometheus, levee: {ours:?}"));
            }
            continue;
        };
        match (ours, prom) {
            (None, None) => {}
            (Some(Some(ours)), Some(theirs)) if ours == json_labels(theirs) => {}
            (ours, theirs) => failures.push(format!(
                "{name}:\n  input:      {input}\n  levee:      {ours:?}\n  prometheus: {:?}",
                theirs.as_ref().map(json_labels)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Prometheus 2.42:\n{}",
        failures.len(),
        checked.len(),
        failures.join("\n")
    );
}

/// The labels Prometheus 2.42 builds for a case's target before relabeling:
/// the job's defaults, then the static target's address and labels.
fn discovered_guess(input: &BTreeMap<String, String>, id: usize) -> Labels {
    let mut pairs: BTreeMap<String, String> = BTreeMap::from([
        ("job".to_string(), format!("case_{id}")),
        ("__scheme__".to_string(), "http".to_string()),
        ("__metrics_path__".to_string(), "/metrics".to_string()),
        ("__scrape_interval__".to_string(), "1h".to_string()),
        ("__scrape_timeout__".to_string(), "10s".to_string()),
        ("__address__".to_string(), "127.0.0.1:1".to_string()),
    ]);
    pairs.extend(input.clone());
    pairs.insert(CASE_LABEL.to_string(), id.to_string());
    Labels::from_pairs(pairs)
}

#[test]
fn promtool_rejects_every_error_case() {
    support::require_binary(PROMTOOL, "prometheus");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for (file, case) in cases() {
        let Some(want) = &case.error else { continue };
        let config = dir.path().join("c.yml");
        let doc = json!({ "scrape_configs": [{
            "job_name": "x",
            "static_configs": [{ "targets": ["127.0.0.1:1"] }],
            "relabel_configs": case.rules,
        }]});
        std::fs::write(&config, doc.to_string()).expect("write config");
        let out = Command::new(PROMTOOL)
            .args(["check", "config"])
            .arg(&config)
            .output()
            .expect("run promtool");
        if out.status.success() {
            failures.push(format!(
                "{file}: {}: promtool accepts it (levee: {want})",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
