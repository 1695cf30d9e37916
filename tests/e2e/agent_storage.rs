//! `levee run` keeps what it scrapes in its TSDB under the data directory:
//! every scraped sample and the synthetic series are stored with their exact
//! values, a restart replays them, and the `levee_tsdb_*` self-metrics say
//! so.

use crate::support;

use std::time::Duration;

use levee::tsdb::db::{Db, Options};
use levee::tsdb::index::Matcher;
use support::levee::TestAgent;
use support::targets::{Behaviour, TestTarget};

fn config(target: &str) -> String {
    format!(
        r#"
global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
storage:
  wal_sync: always
scrape_configs:
  - job_name: stored
    static_configs:
      - targets: ['{target}']
"#
    )
}

async fn wait_for_appended(agent: &TestAgent, at_least: f64) -> f64 {
    for _ in 0..200 {
        if let Some(v) = agent
            .self_metric("levee_tsdb_head_samples_appended_total")
            .await
            && v >= at_least
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "levee stored fewer than {at_least} samples in 10 s:\n{}",
        agent.self_metrics().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_samples_are_stored_and_replayed() {
    let body = "stored_metric{x=\"a\"} 42.5\nstored_metric{x=\"b\"} -1e-3\n";
    let target = TestTarget::start(Behaviour::Body(body.into())).await;
    let agent = TestAgent::start(&config(&target.address())).await;
    // 2 samples + 5 synthetic series per scrape; at least 5 scrapes.
    wait_for_appended(&agent, 35.0).await;
    assert_eq!(agent.self_metric("levee_tsdb_head_series").await, Some(7.0));
    let TestAgent { agent, dir } = agent;
    agent.shutdown().await;

    let data = dir.path().join("data");
    let db = Db::open(&data, Options::default()).expect("open levee's TSDB");
    let q = db.querier(i64::MIN, i64::MAX);
    let series = q
        .select(&[Matcher::equal("job", "stored")])
        .expect("select");
    let names: Vec<String> = series.iter().map(|s| s.labels().to_string()).collect();
    assert_eq!(series.len(), 7, "{names:?}");
    let mut scrapes = None;
    for s in &series {
        let samples: Vec<(i64, f64)> = s.samples().collect::<Result<_, _>>().expect("decode");
        let want = match (s.labels().get("__name__"), s.labels().get("x")) {
            (Some("stored_metric"), Some("a")) => Some(42.5),
            (Some("stored_metric"), Some("b")) => Some(-1e-3),
            (Some("up"), _) => Some(1.0),
            (Some("scrape_samples_scraped"), _) => Some(2.0),
            _ => None,
        };
        if let Some(want) = want.map(|w: f64| w) {
            assert!(
                samples.iter().all(|(_, v)| v.to_bits() == want.to_bits()),
                "{}: {samples:?}",
                s.labels()
            );
        }
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
        // Every series has one sample per successful scrape.
        assert_eq!(
            *scrapes.get_or_insert(samples.len()),
            samples.len(),
            "{}",
            s.labels()
        );
    }
    assert!(scrapes.unwrap_or(0) >= 5);
    drop(db);

    // A restart replays the TSDB: the head has the series again at once.
    let agent = TestAgent::start_in(dir, &config(&target.address())).await;
    assert!(agent.self_metric("levee_tsdb_head_series").await >= Some(7.0));
    let replayed = agent
        .self_metric("levee_tsdb_wal_replay_duration_seconds")
        .await;
    assert!(replayed.is_some_and(|s| s > 0.0), "{replayed:?}");
    let TestAgent { agent, dir: _dir } = agent;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_levee_on_the_same_data_dir_is_refused() {
    let target = TestTarget::start(Behaviour::Body("m 1\n".into())).await;
    let first = TestAgent::start(&config(&target.address())).await;
    let config_path = first.dir.path().join("levee.yml");
    let err = levee::agent::Agent::start(levee::agent::AgentOptions {
        config_path,
        data_dir: Some(first.dir.path().join("data")),
        listen: "127.0.0.1:0".into(),
        enable_remote_write_receiver: false,
        enable_lifecycle: false,
        web_config: None,
    })
    .await
    .err()
    .expect("second agent refused");
    assert!(err.to_string().contains("lock"), "{err}");
    let TestAgent { agent, dir: _dir } = first;
    agent.shutdown().await;
}
