//! Guard state across restarts, end to end with the real `levee` binary and
//! a real VictoriaMetrics 1.79: an Istio storm target (10 new destination
//! hosts a scrape, and its 2 oldest hosts leave the body every scrape) is
//! folded by its series budget; levee is `kill -9`'d after a guard state
//! save that follows the fold (and a scrape or more after that save), then
//! restarted on the same data directory, then stopped cleanly and started
//! once more. Read back from VictoriaMetrics:
//!
//! - at every scrape the storm target has at most its budget of live
//!   series, the first scrapes after each restart included (no burst);
//! - from the fold on, the folded `istio_requests_total` summed over what
//!   arrived equals the ground truth at every scrape: every host ever
//!   served, at its last value. Hosts that left the body keep their share,
//!   so a guard that forgot them at a restart would show a drop (a reset),
//!   and one that counted members twice would show a jump;
//! - the restarted levees load the state and decide no new fold.

use crate::support;

use levee::synth::IstioWorkload;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use support::storm::StormTarget;
use support::{Child, VictoriaMetrics, temp_dir};

const BUDGET: usize = 600;
const NEW_HOSTS: u64 = 10;
const LEAVING: u64 = 2;

struct Levee {
    dir: PathBuf,
    config: PathBuf,
    runs: usize,
    port: u16,
}

impl Levee {
    async fn start(&mut self) -> Child {
        self.runs += 1;
        let name = format!("levee-{}", self.runs);
        let data = self.dir.join("data");
        let (child, addr) = support::levee::run_child(&name, &self.config, &data, &self.dir).await;
        self.port = addr.port();
        child
    }

    fn log(&self, run: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("levee-{run}.log"))).unwrap_or_default()
    }

    async fn storm_folds(&self) -> usize {
        let url = format!("http://127.0.0.1:{}/api/v1/status/cardinality", self.port);
        let Ok(resp) = reqwest::get(&url).await else {
            return 0;
        };
        let text = resp.text().await.unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["data"]["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["job"] == "storm"))
            .and_then(|t| t["folds"].as_array().map(Vec::len))
            .unwrap_or(0)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Waits (bounded, not a timing assertion) until `done` holds.
async fn wait_for(what: &str, child: &mut Child, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        child.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "waited 90 s for {what}\n{}",
            child.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The folded counter's ground truth at scrape `k`: every host served up
/// to then, at its value in the last scrape the guard saw (`seen`) that
/// served it.
fn requests_truth(k: u64, seen: impl Fn(u64) -> bool) -> f64 {
    (0..NEW_HOSTS * (k + 1))
        .filter_map(|h| {
            let (first, last) = (h / NEW_HOSTS, k.min(h / LEAVING));
            (first..=last)
                .rev()
                .find(|&j| seen(j))
                .map(|j| IstioWorkload::requests(h, j) as f64)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restarts_keep_the_fold_and_the_folded_totals() {
    let vm = VictoriaMetrics::start().await;
    let storm = StormTarget::start_leaving(NEW_HOSTS, LEAVING).await;
    let tmp = temp_dir("levee-guard-restart");
    let config = tmp.path().join("levee.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: storm
    series_budget: {BUDGET}
    static_configs: [{{targets: ['{}']}}]
remote_write:
  - url: {}
    queue_config:
      batch_send_deadline: 200ms
"#,
            storm.address(),
            vm.url_write()
        ),
    )
    .expect("config");
    let state = tmp.path().join("data/guard/state");
    let mut levee = Levee {
        dir: tmp.path().to_path_buf(),
        config,
        runs: 0,
        port: 0,
    };

    // Run 1: fold, a save after the fold, a scrape or two more, kill -9.
    let mut child = levee.start().await;
    wait_for("the storm to be folded", &mut child, async || {
        levee.storm_folds().await > 0
    })
    .await;
    let folded_at = SystemTime::now();
    wait_for(
        "a guard state save after the fold",
        &mut child,
        async || modified(&state).is_some_and(|t| t > folded_at),
    )
    .await;
    let served = storm.served();
    wait_for("two scrapes after the save", &mut child, async || {
        storm.served() >= served + 2
    })
    .await;
    child.kill();
    let killed_ms = now_ms();
    // The crash window: the restarted levee continues from the last save,
    // which saw the storm up to this scrape timestamp.
    let saved = levee::guard::persist::read(
        &*levee::tsdb::fs::DiskDirectory::open(tmp.path().join("data/guard")).expect("guard dir"),
        "state",
    )
    .expect("state file reads")
    .expect("state file exists");
    let saved_ts = saved
        .iter()
        .find(|t| t.job == "storm")
        .map(|t| t.state.last_ts_ms)
        .expect("storm target saved");
    assert!(
        saved.iter().any(|t| !t.state.folds.is_empty()),
        "the save after the fold has no fold"
    );

    // Run 2: restarted from the state; stopped cleanly after a few scrapes.
    let mut child = levee.start().await;
    let served = storm.served();
    wait_for("five scrapes after the kill", &mut child, async || {
        storm.served() >= served + 5
    })
    .await;
    assert!(levee.storm_folds().await > 0, "fold lost at the restart");
    child.terminate(Duration::from_secs(60));

    // Run 3: after a clean stop.
    let mut child = levee.start().await;
    let served = storm.served();
    wait_for(
        "four scrapes after the clean restart",
        &mut child,
        async || storm.served() >= served + 4,
    )
    .await;
    child.terminate(Duration::from_secs(60));

    for run in [2, 3] {
        let log = levee.log(run);
        assert!(log.contains("guard state loaded"), "run {run}:\n{log}");
        assert!(
            !log.contains("new offender"),
            "run {run} decided a new fold:\n{log}"
        );
    }
    assert!(levee.log(1).contains("new offender"), "{}", levee.log(1));

    // What arrived, without the repeats a kill may cause: per timestamp,
    // live storm series and the sum of istio_requests_total.
    vm.flush().await;
    let index: BTreeMap<i64, u64> = vm
        .export("storm_scrape_index")
        .await
        .into_iter()
        .flat_map(|(_, points)| points)
        .filter(|(_, v)| !v.is_nan())
        .map(|(t, v)| (t, v as u64))
        .collect();
    let mut live: BTreeMap<i64, usize> = BTreeMap::new();
    let mut requests: BTreeMap<i64, f64> = BTreeMap::new();
    let mut folded_from: Option<i64> = None;
    for (labels, points) in vm.export(r#"{job="storm",__name__=~"istio_.*"}"#).await {
        let overflow =
            labels.get("destination_service").map(String::as_str) == Some("__overflow__");
        let points: BTreeMap<i64, f64> = points.into_iter().filter(|(_, v)| !v.is_nan()).collect();
        if overflow && let Some((&t, _)) = points.first_key_value() {
            folded_from = Some(folded_from.map_or(t, |f| f.min(t)));
        }
        let is_requests =
            labels.get("__name__").map(String::as_str) == Some("istio_requests_total");
        for (t, v) in points {
            *live.entry(t).or_insert(0) += 1;
            if is_requests {
                *requests.entry(t).or_insert(0.0) += v;
            }
        }
    }
    for (t, n) in &live {
        assert!(*n <= BUDGET, "{n} live storm series at {t}");
    }
    let folded_from = folded_from.expect("no folded series arrived");
    let ts_of: BTreeMap<u64, i64> = index.iter().map(|(t, k)| (*k, *t)).collect();
    let mut checked = 0;
    let mut previous = 0.0;
    for (&t, &k) in index.range(folded_from..) {
        // Scrapes of run 1 after the save are unknown to the restarted
        // guard: hosts that left meanwhile keep their value of the save.
        let seen = |j: u64| {
            ts_of
                .get(&j)
                .is_some_and(|&tj| j <= k && (t < killed_ms || tj <= saved_ts || tj > killed_ms))
        };
        let got = requests.get(&t).copied().unwrap_or(0.0);
        assert_eq!(got, requests_truth(k, seen), "scrape {k} at {t}");
        assert!(
            got >= previous,
            "the folded counter went back at scrape {k}: {previous} -> {got}"
        );
        previous = got;
        checked += 1;
    }
    let scrapes = index.len();
    println!("{scrapes} scrapes stored, {checked} checked after the fold");
    assert!(checked >= 10, "only {checked} scrapes after the fold");
}
