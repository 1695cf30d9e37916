//! `file_sd_configs` end to end: levee runs with file discovery over
//! loopback targets while the test adds, changes, breaks and deletes the
//! files, and `/api/v1/targets` follows (a broken file keeps its targets
//! and is counted); then a real Prometheus 2.42 reads the same files and
//! its `/api/v1/targets` has the same shape and the same labels.

use crate::support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use support::levee::TestAgent;
use support::targets::{Behaviour, TestTarget};

/// Discovery publishes 5 s after a change, files are polled every second
/// and targets scraped every second: well within this.
const LIMIT: Duration = Duration::from_secs(40);

async fn targets(addr: std::net::SocketAddr, query: &str) -> Value {
    let url = format!("http://{addr}/api/v1/targets{query}");
    let body = reqwest::get(&url)
        .await
        .expect("GET /api/v1/targets")
        .text()
        .await
        .expect("read body");
    serde_json::from_str(&body).expect("targets JSON")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v["data"][key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `(instance, env, health)` of every active target.
fn active(v: &Value) -> BTreeSet<(String, String, String)> {
    list(v, "activeTargets")
        .iter()
        .map(|t| {
            let s = |x: &Value| x.as_str().unwrap_or("").to_owned();
            (
                s(&t["labels"]["instance"]),
                s(&t["labels"]["env"]),
                s(&t["health"]),
            )
        })
        .collect()
}

fn config(interval: &str) -> String {
    format!(
        "global: {{scrape_interval: {interval}}}\n\
         scrape_configs:\n\
         \x20 - job_name: files\n\
         \x20   file_sd_configs:\n\
         \x20     - files: [targets/*.json, targets/extra.yml]\n\
         \x20   relabel_configs:\n\
         \x20     - {{source_labels: [drop], regex: 'yes', action: drop}}\n"
    )
}

fn group_json(addr: &str, env: &str) -> String {
    format!(r#"{{"targets": ["{addr}"], "labels": {{"env": "{env}"}}}}"#)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_added_changed_broken_and_deleted_while_levee_runs() {
    let a = TestTarget::start(Behaviour::Counting(
        "a_total".into(),
        Arc::new(AtomicU64::new(0)),
    ))
    .await;
    let b = TestTarget::start(Behaviour::Counting(
        "b_total".into(),
        Arc::new(AtomicU64::new(0)),
    ))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let files = dir.path().join("targets");
    std::fs::create_dir(&files).expect("targets dir");
    let a_json = files.join("a.json");
    // One kept target and one the relabel rules drop.
    std::fs::write(
        &a_json,
        format!(
            "[{}, {{\"targets\": [\"127.0.0.1:1\"], \"labels\": {{\"drop\": \"yes\"}}}}]",
            group_json(&a.address(), "one")
        ),
    )
    .expect("write a.json");
    let agent = TestAgent::start_in(dir, &config("1s")).await;
    let addr = agent.agent.web_addr();
    let (ta, tb) = (a.address(), b.address());

    // Added before the start: scraped, and the dropped one listed.
    support::wait_until(
        "a.json's target scraped",
        LIMIT,
        Duration::from_millis(250),
        async || {
            let v = targets(addr, "").await;
            active(&v) == BTreeSet::from([(ta.clone(), "one".into(), "up".into())])
                && list(&v, "droppedTargets").len() == 1
        },
    )
    .await;
    let v = targets(addr, "").await;
    let t = &list(&v, "activeTargets")[0];
    // Relative file names are taken from the config file's directory.
    let a_path = a_json.display().to_string();
    assert_eq!(t["discoveredLabels"]["__meta_filepath"], a_path.as_str());
    assert_eq!(t["discoveredLabels"]["__address__"], ta.as_str());
    assert_eq!(t["scrapePool"], "files");
    assert_eq!(
        list(&v, "droppedTargets")[0]["discoveredLabels"]["drop"],
        "yes"
    );
    assert!(list(&targets(addr, "?state=active").await, "droppedTargets").is_empty());
    assert!(list(&targets(addr, "?state=dropped").await, "activeTargets").is_empty());

    // A second file (YAML) adds a target beside the first.
    let extra = agent.dir.path().join("targets/extra.yml");
    std::fs::write(
        &extra,
        format!("- targets: ['{tb}']\n  labels: {{env: two}}\n"),
    )
    .expect("write extra.yml");
    support::wait_until(
        "extra.yml's target scraped",
        LIMIT,
        Duration::from_millis(250),
        async || {
            active(&targets(addr, "").await)
                == BTreeSet::from([
                    (ta.clone(), "one".into(), "up".into()),
                    (tb.clone(), "two".into(), "up".into()),
                ])
        },
    )
    .await;

    // Broken: its targets stay, the error is counted.
    std::fs::write(&a_json, "[{\"targets\": [").expect("break a.json");
    support::wait_until(
        "the read error counted",
        LIMIT,
        Duration::from_millis(250),
        async || agent.self_metric("levee_sd_file_read_errors_total").await >= Some(1.0),
    )
    .await;
    assert_eq!(
        active(&targets(addr, "").await),
        BTreeSet::from([
            (ta.clone(), "one".into(), "up".into()),
            (tb.clone(), "two".into(), "up".into()),
        ]),
        "a broken file keeps its targets"
    );

    // Fixed with another label: the target follows.
    std::fs::write(&a_json, format!("[{}]", group_json(&ta, "changed"))).expect("fix a.json");
    support::wait_until(
        "a.json's new labels",
        LIMIT,
        Duration::from_millis(250),
        async || {
            let v = targets(addr, "").await;
            active(&v).contains(&(ta.clone(), "changed".into(), "up".into()))
                && list(&v, "activeTargets").len() == 2
                && list(&v, "droppedTargets").is_empty()
        },
    )
    .await;

    // Deleted: its target goes, the other stays.
    std::fs::remove_file(&extra).expect("delete extra.yml");
    support::wait_until(
        "extra.yml's target removed",
        LIMIT,
        Duration::from_millis(250),
        async || {
            active(&targets(addr, "").await)
                == BTreeSet::from([(ta.clone(), "changed".into(), "up".into())])
        },
    )
    .await;
    let metrics = agent.self_metrics().await;
    assert!(
        metrics.contains("levee_sd_discovered_targets{job=\"files\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("levee_scrape_targets{job=\"files\"} 1\n"),
        "{metrics}"
    );

    // A real Prometheus over the same files: same shape, same labels.
    std::fs::write(
        &extra,
        format!("- targets: ['{tb}']\n  labels: {{drop: 'yes'}}\n"),
    )
    .expect("write extra.yml");
    let prom_config = agent.dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, config("1s")).expect("write prometheus.yml");
    let prometheus = support::Prometheus::start_scraping(&prom_config).await;
    let prom_addr: std::net::SocketAddr = format!("127.0.0.1:{}", prometheus.port())
        .parse()
        .expect("addr");
    let settled = |v: &Value| {
        list(v, "activeTargets").len() == 1
            && list(v, "droppedTargets").len() == 1
            && list(v, "activeTargets")[0]["health"] == "up"
    };
    support::wait_until(
        "both settled",
        LIMIT,
        Duration::from_millis(250),
        async || settled(&targets(addr, "").await) && settled(&targets(prom_addr, "").await),
    )
    .await;
    let ours = targets(addr, "").await;
    let theirs = targets(prom_addr, "").await;
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(keys(&ours["data"]), keys(&theirs["data"]));
    let (o, t) = (
        &list(&ours, "activeTargets")[0],
        &list(&theirs, "activeTargets")[0],
    );
    assert_eq!(keys(o), keys(t));
    for same in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "globalUrl",
        "health",
        "lastError",
        "scrapeInterval",
        "scrapeTimeout",
    ] {
        assert_eq!(o[same], t[same], "{same}");
    }
    for (field, value) in [("ours", o), ("theirs", t)] {
        let last = value["lastScrape"].as_str().unwrap_or("");
        assert!(
            last.ends_with('Z') && last.len() > 20,
            "{field} lastScrape {last}"
        );
        assert!(
            value["lastScrapeDuration"].is_f64(),
            "{field} lastScrapeDuration"
        );
    }
    let (o, t) = (
        &list(&ours, "droppedTargets")[0],
        &list(&theirs, "droppedTargets")[0],
    );
    assert_eq!(keys(o), keys(t));
    assert_eq!(o["discoveredLabels"], t["discoveredLabels"]);
    assert!(Path::new(&a_path).exists());
    agent.agent.shutdown().await;
}
