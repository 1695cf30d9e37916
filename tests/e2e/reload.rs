//! Live reload of the whole config, end to end: the real `levee` binary,
//! started with a Prometheus agent's flags (`--config.file`,
//! `--storage.agent.path`, `--web.listen-address`, `--enable-feature=agent`,
//! `--web.enable-lifecycle`), scrapes a counter into a real VictoriaMetrics
//! while it is reloaded 20 times over `POST`/`PUT /-/reload` and SIGHUP:
//! the target set changes, the remote_write endpoint restarts with new
//! settings, a second endpoint comes and goes, the external labels change
//! once, and one new config is invalid (refused, the old one keeps
//! running). The unchanged target loses no sample: the counter goes up by
//! one per scrape, levee's TSDB holds every value from 1 to the last one,
//! and so does VictoriaMetrics (through endpoint restarts and the external
//! label change). The run ends with the right targets, and the reload
//! gauges say what happened.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::targets::{Behaviour, TestTarget};
use support::{VictoriaMetrics, temp_dir, wait_until};

const RELOADS: usize = 20;
/// The reload whose config is invalid.
const INVALID: usize = 13;
/// From this reload on, the external labels differ.
const LATE: usize = 17;

/// The churn targets (indexes) scraped after reload `i`.
fn churn_set(i: usize) -> &'static [usize] {
    match i % 4 {
        0 => &[0],
        1 => &[0, 1],
        2 => &[1, 2],
        _ => &[],
    }
}

/// The config of reload `i` (0 is the first start).
fn config(i: usize, steady: &str, churn: &[TestTarget], receiver: &str) -> String {
    if i == INVALID {
        return "scrape_configs:\n  - job_name: steady\n    scrape_intervall: 1s\n".into();
    }
    let churn: Vec<String> = churn_set(i)
        .iter()
        .map(|&j| format!("'{}'", churn[j].address()))
        .collect();
    let external = match i >= LATE {
        true => "  external_labels:\n    stage: late\n",
        false => "",
    };
    // Changes every time but one in three: the endpoint restarts.
    let per_send = 100 + (i % 3) * 100;
    let second = match i % 5 {
        1 | 2 => format!(
            r#"  - url: {receiver}
    name: second
    queue_config:
      batch_send_deadline: 100ms
    write_relabel_configs:
      - target_label: via
        replacement: second
"#
        ),
        _ => String::new(),
    };
    format!(
        r#"
global:
  scrape_interval: 100ms
  scrape_timeout: 90ms
{external}scrape_configs:
  - job_name: steady
    static_configs:
      - targets: ['{steady}']
  - job_name: churn
    static_configs:
      - targets: [{churn}]
remote_write:
  - url: {receiver}
    name: main
    queue_config:
      batch_send_deadline: 100ms
      max_samples_per_send: {per_send}
      min_backoff: 50ms
      max_backoff: 500ms
{second}"#,
        churn = churn.join(", ")
    )
}

/// The value of levee's self-metric `series` (exact series text).
async fn self_metric(http: &reqwest::Client, base: &str, series: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `(scrapePool, instance)` of every active target.
async fn active_targets(http: &reqwest::Client, base: &str) -> BTreeSet<(String, String)> {
    let text = http
        .get(format!("{base}/api/v1/targets"))
        .send()
        .await
        .expect("targets answer")
        .text()
        .await
        .expect("targets body");
    let v: serde_json::Value = serde_json::from_str(&text).expect("targets JSON");
    v["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets")
        .iter()
        .map(|t| {
            (
                t["scrapePool"].as_str().unwrap_or_default().to_string(),
                t["labels"]["instance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Every value of the steady counter in levee's TSDB at `data`.
fn stored_values(data: &std::path::Path) -> BTreeSet<u64> {
    use levee::tsdb::db::{Db, Options};
    let db = Db::open(data, Options::default()).expect("open levee's TSDB");
    let q = db.querier(i64::MIN, i64::MAX);
    let mut out = BTreeSet::new();
    let steady = [levee::tsdb::index::Matcher::equal(
        "__name__",
        "steady_requests_total",
    )];
    for s in q.select(&steady).expect("select") {
        for sample in s.samples() {
            let (_, v) = sample.expect("decode");
            out.insert(v as u64);
        }
    }
    out
}

/// What VictoriaMetrics holds of the steady counter.
#[derive(Default)]
struct Received {
    /// Values sent by `main` (under any external labels).
    values: BTreeSet<u64>,
    /// Samples `main` sent more than once.
    duplicates: usize,
    /// The `stage` external label values seen (`""`: none).
    stages: BTreeSet<String>,
    /// Samples the second endpoint sent.
    via_second: usize,
}

async fn received(vm: &VictoriaMetrics) -> Received {
    let mut r = Received::default();
    let mut total = 0usize;
    for (labels, samples) in vm.export("steady_requests_total").await {
        if labels.get("via").map(String::as_str) == Some("second") {
            r.via_second += samples.len();
            continue;
        }
        r.stages
            .insert(labels.get("stage").cloned().unwrap_or_default());
        total += samples.len();
        r.values.extend(samples.into_iter().map(|(_, v)| v as u64));
    }
    r.duplicates = total - r.values.len();
    r
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_lose_no_sample_of_an_unchanged_target() {
    let vm = VictoriaMetrics::start().await;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let steady = TestTarget::start(Behaviour::Counting(
        "steady_requests_total".into(),
        counter.clone(),
    ))
    .await;
    let mut churn = Vec::new();
    for _ in 0..3 {
        churn.push(TestTarget::start(Behaviour::Body("churn_value 1\n".into())).await);
    }
    let tmp = temp_dir("levee-reload");
    let config_path = tmp.path().join("prometheus.yml");
    let write = |i: usize| {
        let yaml = config(i, &steady.address(), &churn, &vm.url_write());
        std::fs::write(&config_path, yaml).expect("write config");
    };
    write(0);
    let args: Vec<String> = [
        "run".to_string(),
        format!("--config.file={}", config_path.display()),
        format!("--storage.agent.path={}", tmp.path().join("data").display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--enable-feature=agent".to_string(),
        "--web.enable-lifecycle".to_string(),
    ]
    .into();
    let (mut child, addr) = support::levee::run_child_with("levee", &args, tmp.path()).await;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let reloaded = "configuration reloaded";
    let failed = "reload failed";

    for i in 1..=RELOADS {
        // Some scrapes between reloads.
        tokio::time::sleep(Duration::from_millis(300)).await;
        write(i);
        if i % 4 == 3 {
            let log = child.log_text();
            let before = count(&log, reloaded) + count(&log, failed);
            let status = std::process::Command::new("kill")
                .args(["-HUP", &child.pid().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -HUP");
            wait_until(
                &format!("SIGHUP reload {i} logged"),
                Duration::from_secs(30),
                Duration::from_millis(20),
                async || {
                    let log = child.log_text();
                    count(&log, reloaded) + count(&log, failed) > before
                },
            )
            .await;
            let failures = usize::from(i > INVALID);
            assert_eq!(
                count(&child.log_text(), failed),
                failures,
                "{}",
                child.log_tail()
            );
            continue;
        }
        let request = match i % 2 {
            0 => http.put(format!("{base}/-/reload")),
            _ => http.post(format!("{base}/-/reload")),
        };
        let resp = request.send().await.expect("reload answers");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("a body");
        if i == INVALID {
            assert_eq!(status, 500, "{body}");
            assert!(
                body.starts_with("failed to reload config: ") && body.contains("scrape_intervall"),
                "names the key: {body}"
            );
            let ok = self_metric(&http, &base, "levee_config_last_reload_successful").await;
            assert_eq!(ok, Some(0.0), "the gauge says the reload failed");
        } else {
            assert_eq!(status, 200, "reload {i}: {body}\n{}", child.log_tail());
        }
    }

    // The last config runs, and the gauges say so.
    let want: BTreeSet<(String, String)> = std::iter::once(("steady".into(), steady.address()))
        .chain(
            churn_set(RELOADS)
                .iter()
                .map(|&j| ("churn".to_string(), churn[j].address())),
        )
        .collect();
    assert_eq!(active_targets(&http, &base).await, want);
    assert_eq!(
        self_metric(&http, &base, "levee_config_last_reload_successful").await,
        Some(1.0)
    );
    let stamp = self_metric(
        &http,
        &base,
        "levee_config_last_reload_success_timestamp_seconds",
    )
    .await
    .expect("the timestamp gauge");
    assert!(stamp > 1.6e9, "a Unix time: {stamp}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A clean stop sends everything. levee's own TSDB holds every scrape
    // of the steady target (the last one may be cut by the stop): each
    // value from 1 on, none missing across the reloads.
    child.terminate(Duration::from_secs(60));
    let served = counter.load(Ordering::SeqCst);
    let stored = stored_values(&tmp.path().join("data"));
    let want: BTreeSet<u64> = (1..=stored.last().copied().unwrap_or(0)).collect();
    assert_eq!(
        stored, want,
        "levee scraped every time, across every reload"
    );
    assert!(
        stored.len() as u64 + 1 >= served,
        "{} stored of {served} served",
        stored.len()
    );
    assert!(served > 40, "scraping went on during the reloads: {served}");

    // VictoriaMetrics gets every one of them (it makes the last ones
    // searchable a moment after it acknowledged them: poll, bounded).
    let mut got = Received::default();
    for _ in 0..60 {
        vm.flush().await;
        got = received(&vm).await;
        if got.values == stored {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        got.values, stored,
        "every stored sample reached the receiver"
    );
    // Batches in flight when an endpoint restarts are sent again.
    eprintln!(
        "{served} scrapes, {} values received, {} sent twice (restarts)",
        got.values.len(),
        got.duplicates
    );
    assert_eq!(
        got.stages,
        BTreeSet::from([String::new(), "late".to_string()]),
        "the external label changed at reload {LATE}"
    );
    assert!(
        got.via_second > 0,
        "the added endpoint sent while it was configured"
    );
    let log = child.log_text();
    assert_eq!(count(&log, reloaded), RELOADS - 1, "{}", child.log_tail());
    assert_eq!(count(&log, failed), 1);
}
