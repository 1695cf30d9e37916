//! Remote write that loses nothing, end to end with the real `levee`
//! binary and a real VictoriaMetrics 1.79: levee scrapes a counter every
//! 100 ms and remote-writes it while it is kill -9'd five times at varying
//! moments and the receiver is down for 60 s (levee keeps scraping and is
//! killed during the outage too). At the end levee is stopped cleanly
//! and its own TSDB — every sample that reached the WAL — is compared with
//! what VictoriaMetrics holds: the same samples, exact values and
//! timestamps, nothing missing and nothing invented; duplicates (batches in
//! flight at a kill) are counted and printed.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use levee::tsdb::db::{Db, Options};
use levee::tsdb::index::Matcher;
use support::targets::{Behaviour, TestTarget};
use support::{Child, VictoriaMetrics, temp_dir};

fn config(target: &str, receiver: &str) -> String {
    format!(
        r#"
global:
  scrape_interval: 100ms
  scrape_timeout: 90ms
scrape_configs:
  - job_name: durable
    static_configs:
      - targets: ['{target}']
remote_write:
  - url: {receiver}
    queue_config:
      batch_send_deadline: 100ms
      min_backoff: 50ms
      max_backoff: 500ms
"#
    )
}

struct Levee {
    dir: std::path::PathBuf,
    config: std::path::PathBuf,
    runs: usize,
}

impl Levee {
    async fn start(&mut self) -> Child {
        self.runs += 1;
        let name = format!("levee-{}", self.runs);
        let data = self.dir.join("data");
        support::levee::run_child(&name, &self.config, &data, &self.dir)
            .await
            .0
    }
}

type SeriesSamples = BTreeMap<BTreeMap<String, String>, Vec<(i64, u64)>>;

fn stored(data: &std::path::Path) -> SeriesSamples {
    let db = Db::open(data, Options::default()).expect("open levee's TSDB");
    let q = db.querier(i64::MIN, i64::MAX);
    let mut out = SeriesSamples::new();
    for s in q
        .select(&[Matcher::equal("job", "durable")])
        .expect("select")
    {
        let labels = s
            .labels()
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        let samples = s
            .samples()
            .map(|r| r.map(|(t, v)| (t, v.to_bits())))
            .collect::<Result<_, _>>()
            .expect("decode");
        out.insert(labels, samples);
    }
    out
}

/// What the receiver holds for the job, without repeats, and how many
/// repeats there were.
async fn received(vm: &VictoriaMetrics) -> (SeriesSamples, usize) {
    let mut got = SeriesSamples::new();
    let mut duplicates = 0usize;
    for (labels, samples) in vm.export(r#"{job="durable"}"#).await {
        let mut seen = BTreeSet::new();
        let mut kept = Vec::new();
        for (t, v) in samples {
            if seen.insert((t, v.to_bits())) {
                kept.push((t, v.to_bits()));
            } else {
                duplicates += 1;
            }
        }
        kept.sort();
        got.insert(labels, kept);
    }
    (got, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_a_receiver_outage_lose_no_sample() {
    let mut vm = VictoriaMetrics::start().await;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let target = TestTarget::start(Behaviour::Counting(
        "durable_requests_total".into(),
        counter.clone(),
    ))
    .await;
    let tmp = temp_dir("levee-durable");
    let config_path = tmp.path().join("levee.yml");
    std::fs::write(&config_path, config(&target.address(), &vm.url_write())).expect("config");
    let mut levee = Levee {
        dir: tmp.path().to_path_buf(),
        config: config_path,
        runs: 0,
    };
    let sleep = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));

    // The receiver is down for 60 s (LEVEE_DURABLE_OUTAGE_SECS to change
    // it) in round 2; levee keeps scraping into its WAL and is killed
    // halfway through the outage.
    let outage_ms: u64 = std::env::var("LEVEE_DURABLE_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        * 1000;
    let mut child = levee.start().await;
    for (round, run_ms) in [1_500u64, 700, outage_ms / 2, 1_100, 1_300]
        .into_iter()
        .enumerate()
    {
        if round == 2 {
            vm.stop();
        }
        sleep(run_ms).await;
        child.kill();
        child = levee.start().await;
        if round == 2 {
            sleep(outage_ms / 2).await;
            vm.restart().await;
        }
    }
    sleep(2_000).await;
    child.terminate(Duration::from_secs(60));
    let scrapes = counter.load(std::sync::atomic::Ordering::SeqCst);
    assert!(scrapes >= 50, "only {scrapes} scrapes happened");
    let outage_scrapes = outage_ms / 100;

    let want = stored(&tmp.path().join("data"));
    let counter_series = want
        .iter()
        .find(|(l, _)| l.get("__name__").map(String::as_str) == Some("durable_requests_total"))
        .map(|(_, s)| s.len())
        .unwrap_or(0);
    // At least the outage's scrapes, halved for the kill and restarts.
    assert!(
        counter_series as u64 >= outage_scrapes / 2,
        "levee stored {counter_series} counter samples"
    );

    // VictoriaMetrics makes what it received searchable within a few
    // seconds: read until the export holds every stored sample (a bounded
    // wait, not a timing assertion), then compare.
    let mut got = SeriesSamples::new();
    let mut duplicates = 0usize;
    for _ in 0..60 {
        vm.flush().await;
        (got, duplicates) = received(&vm).await;
        let complete = want
            .iter()
            .all(|(l, s)| got.get(l).is_some_and(|g| s.iter().all(|x| g.contains(x))));
        if complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{scrapes} scrapes, {counter_series} counter samples stored, {} series, {duplicates} duplicates at the receiver",
        want.len()
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (labels, samples) in &want {
        let arrived = &got[labels];
        let missing: Vec<_> = samples.iter().filter(|s| !arrived.contains(s)).collect();
        let invented: Vec<_> = arrived.iter().filter(|s| !samples.contains(s)).collect();
        assert!(
            missing.is_empty() && invented.is_empty(),
            "{labels:?}: {} stored, {} arrived; missing {:?}; invented {:?}",
            samples.len(),
            arrived.len(),
            &missing[..missing.len().min(10)],
            &invented[..invented.len().min(10)]
        );
    }
}
