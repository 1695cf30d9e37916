//! The guard in the scrape loop, without sockets: Istio storm bodies served
//! from memory through a job compiled from YAML. The sink sees the folded
//! series with the workload's exact totals, the staleness markers of the
//! series that were folded, the synthetic series untouched; the
//! `__series_budget__` target label overrides the job's budget; folded
//! members are merged by key with no label set in the cache; `fail`
//! fails the scrape like `sample_limit`; `drop` forwards the known series
//! and counts the new ones past the budget; the guard's self-metrics
//! appear.

use levee::config::Config;
use levee::labels::Labels;
use levee::pipeline::{Appended, Sample, SampleSink, Sinks};
use levee::scrape::{Job, MemoryFetcher, ScrapeError, ScrapeLoop, ScrapeMetrics, populate};
use levee::selfmon::Registry;
use levee::synth::IstioWorkload;
use levee::value::is_stale_nan;
use parking_lot::Mutex;
use std::sync::Arc;

#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<Sample>>>);

impl SampleSink for Recorder {
    fn append(&self, batch: &[Sample]) -> Appended {
        self.0.lock().push(batch.to_vec());
        Appended::all(batch.len())
    }
}

impl Recorder {
    fn last(&self) -> Vec<Sample> {
        self.0.lock().last().cloned().unwrap_or_default()
    }
}

const TEXT: &str = "text/plain; version=0.0.4";

fn setup(
    yaml: &str,
) -> (
    MemoryFetcher,
    Arc<Recorder>,
    ScrapeLoop<MemoryFetcher>,
    Registry,
) {
    let cfg = Config::from_yaml(yaml).expect("valid config");
    let job = Arc::new(Job::compile(&cfg.scrape_configs[0], &cfg.global).expect("job compiles"));
    let group = &job.groups[0];
    let target = populate(&job, &group.labels, &group.targets[0])
        .expect("valid target")
        .expect("kept");
    let fetcher = MemoryFetcher::new(4096);
    let sink = Arc::new(Recorder::default());
    let registry = Registry::new();
    let metrics = Arc::new(ScrapeMetrics::new(&registry));
    let lp = ScrapeLoop::new(
        Arc::new(target),
        fetcher.clone(),
        Sinks::samples(sink.clone()),
        metrics,
    );
    (fetcher, sink, lp, registry)
}

fn sum_of(batch: &[Sample], name: &str) -> f64 {
    batch
        .iter()
        .filter(|s| s.labels.metric_name() == Some(name) && !is_stale_nan(s.value))
        .map(|s| s.value)
        .sum()
}

fn value(batch: &[Sample], name: &str) -> Option<f64> {
    batch
        .iter()
        .find(|s| s.labels.metric_name() == Some(name))
        .map(|s| s.value)
}

#[tokio::test]
async fn the_storm_is_folded_with_exact_totals() {
    let (f, sink, mut lp, registry) = setup(
        "scrape_configs:\n  - job_name: istio\n    series_budget: 100000\n    static_configs:\n      - targets: ['sidecar:15090']\n        labels: {__series_budget__: '300'}\n",
    );
    // The fetcher serves queued bodies in order.
    for k in 0..6u64 {
        f.push_body(TEXT, IstioWorkload::new(5 * (k + 1)).body(k));
    }
    for k in 0..6u64 {
        let w = IstioWorkload::new(5 * (k + 1));
        let stats = lp
            .scrape_once(1_000 * (k as i64 + 1))
            .await
            .expect("scrape succeeds");
        let batch = sink.last();
        let live: Vec<&Sample> = batch.iter().filter(|s| !is_stale_nan(s.value)).collect();
        // 5 synthetic series beside at most 300 forwarded.
        assert!(live.len() <= 300 + 5, "scrape {k}: {}", live.len());
        for (name, total) in w.totals(k).by_sample_name() {
            assert_eq!(sum_of(&batch, name), total, "{name} at scrape {k}");
        }
        assert_eq!(value(&batch, "up"), Some(1.0));
        assert_eq!(
            value(&batch, "scrape_samples_scraped"),
            Some(w.series() as f64)
        );
        if k == 2 {
            // 15 hosts = 375 series > 300: folded now; the 250 raw series
            // forwarded before get staleness markers.
            assert_eq!(stats.stale, 250);
            let folded = live
                .iter()
                .filter(|s| s.labels.get("destination_service") == Some("__overflow__"))
                .count();
            assert_eq!(folded, 50);
        }
    }
    // Folded members hold no labels: the scrape cache lets the series go as
    // soon as the guard makes them members (the last scrape's 5 new hosts ×
    // 25 included), the guard keeps every member as a key.
    let guard = lp.guard().expect("guarded");
    assert_eq!(guard.lock().compact_members(), 750);
    assert_eq!(guard.lock().scraped_series(), 750);
    let text = registry.render();
    assert!(
        text.contains("levee_scrape_cache_series{job=\"istio\"} 0"),
        "{text}"
    );
    for line in [
        "levee_target_active_series{job=\"istio\",instance=\"sidecar:15090\"} 50",
        "levee_target_series_budget{job=\"istio\",instance=\"sidecar:15090\"} 300",
        "levee_guard_folded_series{job=\"istio\",instance=\"sidecar:15090\"} 750",
        "levee_guard_fold_events_total{job=\"istio\",instance=\"sidecar:15090\",label=\"destination_service\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // The target goes away: staleness markers for the folded series and the
    // synthetic ones, nothing for the raw series already marked.
    lp.end(10_000).await;
    let end = sink.last();
    assert_eq!(end.len(), 50 + 5);
    assert!(end.iter().all(|s| is_stale_nan(s.value)));
}

#[tokio::test]
async fn fail_fails_the_scrape_like_sample_limit() {
    let (f, sink, mut lp, registry) = setup(
        "scrape_configs:\n  - job_name: istio\n    series_budget: 60\n    budget_action: fail\n    static_configs: [{targets: ['sidecar:15090']}]\n",
    );
    f.push_body(TEXT, IstioWorkload::new(2).body(0));
    f.push_body(TEXT, IstioWorkload::new(3).body(1));
    lp.scrape_once(1000).await.expect("50 series fit");
    let err = lp.scrape_once(2000).await.expect_err("75 series do not");
    assert!(matches!(err, ScrapeError::SeriesBudget(_)), "{err}");
    assert_eq!(err.reason(), "series_budget");
    let batch = sink.last();
    assert_eq!(value(&batch, "up"), Some(0.0));
    assert_eq!(batch.iter().filter(|s| is_stale_nan(s.value)).count(), 50);
    assert!(
        registry
            .render()
            .contains("levee_scrape_failures_total{job=\"istio\",reason=\"series_budget\"} 1")
    );
}

#[tokio::test]
async fn drop_forwards_known_series_and_counts_the_new_ones_past_the_budget() {
    let (f, sink, mut lp, registry) = setup(
        "scrape_configs:\n  - job_name: istio\n    series_budget: 60\n    budget_action: drop\n    static_configs: [{targets: ['sidecar:15090']}]\n",
    );
    for k in 0..3u64 {
        f.push_body(TEXT, IstioWorkload::new(2 + k).body(k));
    }
    lp.scrape_once(1000).await.expect("50 series fit");
    // Scrape 1: 25 new series, 10 fit under 60; scrape 2: 25 more, none fit.
    for (k, forwarded) in [(1u64, 60), (2, 60)] {
        lp.scrape_once(1000 * (k as i64 + 1))
            .await
            .expect("drop never fails a scrape");
        let batch = sink.last();
        let guarded = batch
            .iter()
            .filter(|s| {
                s.labels
                    .metric_name()
                    .is_some_and(|n| n.starts_with("istio_"))
            })
            .count();
        assert_eq!(guarded, forwarded, "scrape {k}");
        assert_eq!(value(&batch, "up"), Some(1.0));
        // The two hosts of the first scrape flow on whole.
        let first = IstioWorkload::new(2).totals(k);
        assert!(sum_of(&batch, "istio_requests_total") >= first.requests_total);
    }
    // 40 distinct series dropped (15, then 25 more); samples: the 15 again
    // in scrape 2, so 15 + 15 + 25.
    let text = registry.render();
    for line in [
        "levee_target_active_series{job=\"istio\",instance=\"sidecar:15090\"} 60",
        "levee_guard_dropped_series_total{job=\"istio\",instance=\"sidecar:15090\"} 40",
        "levee_guard_dropped_samples_total{job=\"istio\",instance=\"sidecar:15090\",reason=\"budget\"} 55",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn unguarded_targets_are_untouched() {
    let (f, sink, mut lp, registry) =
        setup("scrape_configs:\n  - job_name: plain\n    static_configs: [{targets: ['h:1']}]\n");
    f.push_body(TEXT, IstioWorkload::new(4).body(0));
    lp.scrape_once(1000).await.expect("scrape succeeds");
    assert_eq!(sink.last().len(), 100 + 5);
    assert!(lp.guard().is_none());
    assert!(!registry.render().contains("levee_target_active_series{"));
    let _ = Labels::empty();
}

#[test]
fn a_bad_series_budget_label_is_a_target_error() {
    let cfg = Config::from_yaml(
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['h:1']\n        labels: {__series_budget__: 'lots'}\n",
    )
    .expect("valid config");
    let job = Arc::new(Job::compile(&cfg.scrape_configs[0], &cfg.global).expect("compiles"));
    let err = populate(&job, &job.groups[0].labels, "h:1").expect_err("bad label");
    assert_eq!(
        err.to_string(),
        "invalid __series_budget__ \"lots\": expected a non-negative integer"
    );
}
