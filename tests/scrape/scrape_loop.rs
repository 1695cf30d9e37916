//! The scrape loop without sockets: a memory fetcher serves bodies in
//! small chunks, a recording sink keeps every batch, and each test checks
//! exactly which samples (values, timestamps, staleness markers, synthetic
//! series) one scrape produced.

use levee::labels::Labels;
use levee::pipeline::{Appended, Sample, SampleSink, Sinks};
use levee::relabel::{RelabelConfig, Rules};
use levee::scrape::{
    HttpFetcher, Job, Limits, MemoryFetcher, ScrapeError, ScrapeLoop, ScrapeMetrics, Target,
    TargetGroup,
};
use levee::selfmon::Registry;
use levee::value::is_stale_nan;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<Sample>>>);

impl SampleSink for Recorder {
    fn append(&self, batch: &[Sample]) -> Appended {
        self.0.lock().push(batch.to_vec());
        Appended::all(batch.len())
    }
}

impl Recorder {
    fn last(&self) -> Vec<(String, f64, i64)> {
        let batches = self.0.lock();
        let mut out: Vec<(String, f64, i64)> = batches
            .last()
            .map(|b| {
                b.iter()
                    .map(|s| (s.labels.to_string(), s.value, s.timestamp_ms))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn job(honor_labels: bool, limits: Limits, metric_relabel: &str) -> Arc<Job> {
    let rules: Vec<RelabelConfig> = if metric_relabel.is_empty() {
        vec![]
    } else {
        serde_saphyr::from_str(metric_relabel).expect("test rules parse")
    };
    Arc::new(Job {
        name: "test".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        interval_text: "15s".into(),
        timeout_text: "10s".into(),
        metrics_path: "/metrics".into(),
        scheme: "http".into(),
        params: vec![],
        honor_labels,
        honor_timestamps: true,
        target_relabel: Rules::default(),
        metric_relabel: Rules::compile(&rules).expect("test rules compile"),
        limits,
        groups: vec![TargetGroup {
            targets: vec!["h:1".into()],
            labels: Labels::empty(),
        }],
        fetcher: HttpFetcher::new(reqwest::Client::new(), None),
        guard: Default::default(),
    })
}

fn target(job: Arc<Job>) -> Arc<Target> {
    let t = levee::scrape::populate(&job, &Labels::empty(), "h:1")
        .expect("valid target")
        .expect("not dropped");
    Arc::new(t)
}

/// Bodies are cut into 7-byte chunks so every test also exercises the
/// streaming parser's chunk boundaries.
fn setup(job: Arc<Job>) -> (MemoryFetcher, Arc<Recorder>, ScrapeLoop<MemoryFetcher>) {
    let fetcher = MemoryFetcher::new(7);
    let sink = Arc::new(Recorder::default());
    let metrics = Arc::new(ScrapeMetrics::new(&Registry::new()));
    let lp = ScrapeLoop::new(
        target(job),
        fetcher.clone(),
        Sinks::samples(sink.clone()),
        metrics,
    );
    (fetcher, sink, lp)
}

fn value_of(rows: &[(String, f64, i64)], series: &str) -> Option<f64> {
    rows.iter().find(|r| r.0 == series).map(|r| r.1)
}

const TEXT: &str = "text/plain; version=0.0.4";

#[tokio::test]
async fn a_scrape_appends_samples_and_synthetic_series() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(
        TEXT,
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\na_total{x=\"2\"} 4\nb 1.5 1000\n",
    );
    let stats = lp.scrape_once(5_000).await.expect("scrape succeeds");
    assert_eq!(
        (
            stats.scraped,
            stats.post_relabel,
            stats.series_added,
            stats.stale
        ),
        (3, 3, 3, 0)
    );
    let rows = sink.last();
    assert_eq!(rows.len(), 3 + 5);
    assert_eq!(
        value_of(
            &rows,
            r#"{__name__="a_total", instance="h:1", job="test", x="1"}"#
        ),
        Some(3.0)
    );
    // honor_timestamps: the explicit timestamp wins; others get the scrape's.
    let b = rows
        .iter()
        .find(|r| r.0.starts_with(r#"{__name__="b""#))
        .expect("b present");
    assert_eq!(b.2, 1000);
    assert!(
        rows.iter()
            .filter(|r| !r.0.starts_with(r#"{__name__="b""#))
            .all(|r| r.2 == 5_000)
    );
    assert_eq!(
        value_of(&rows, r#"{__name__="up", instance="h:1", job="test"}"#),
        Some(1.0)
    );
    assert_eq!(
        value_of(
            &rows,
            r#"{__name__="scrape_samples_scraped", instance="h:1", job="test"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        value_of(
            &rows,
            r#"{__name__="scrape_series_added", instance="h:1", job="test"}"#
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn vanished_series_get_exactly_one_staleness_marker() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(TEXT, "a 1\nb 2\n");
    f.push_body(TEXT, "a 1\n");
    f.push_body(TEXT, "a 1\n");
    lp.scrape_once(1_000).await.expect("first");
    let second = lp.scrape_once(2_000).await.expect("second");
    assert_eq!((second.series_added, second.stale), (0, 1));
    let rows = sink.last();
    let b = rows
        .iter()
        .find(|r| r.0 == r#"{__name__="b", instance="h:1", job="test"}"#)
        .expect("stale marker for b");
    assert!(is_stale_nan(b.1), "b's marker is the exact StaleNaN");
    assert_eq!(b.2, 2_000);
    let third = lp.scrape_once(3_000).await.expect("third");
    assert_eq!(third.stale, 0, "a vanished series is marked once");
}

#[tokio::test]
async fn a_failed_scrape_reports_up_zero_and_marks_everything_stale() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(TEXT, "a 1\nb 2\n");
    f.push_error("connection refused");
    lp.scrape_once(1_000).await.expect("first");
    let err = lp.scrape_once(2_000).await.expect_err("second fails");
    assert!(matches!(err, ScrapeError::Connection(_)));
    let rows = sink.last();
    assert_eq!(
        value_of(&rows, r#"{__name__="up", instance="h:1", job="test"}"#),
        Some(0.0)
    );
    let stale: Vec<_> = rows
        .iter()
        .filter(|r| is_stale_nan(r.1))
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(stale.len(), 2, "{stale:?}");
}

#[tokio::test]
async fn garbage_fails_the_whole_scrape_and_keeps_nothing_of_it() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(TEXT, "good 1\nbad{ 2\n");
    let err = lp.scrape_once(1_000).await.expect_err("parse error");
    assert!(matches!(err, ScrapeError::Parse(_)), "{err}");
    assert!(
        err.to_string().contains("line 2"),
        "error names the line: {err}"
    );
    let rows = sink.last();
    assert_eq!(rows.len(), 5, "only the synthetic series: {rows:?}");
    assert_eq!(
        value_of(&rows, r#"{__name__="up", instance="h:1", job="test"}"#),
        Some(0.0)
    );
}

#[tokio::test]
async fn sample_limit_fails_the_scrape_like_prometheus() {
    let limits = Limits {
        sample_limit: 2,
        ..Limits::default()
    };
    let (f, sink, mut lp) = setup(job(false, limits, ""));
    f.push_body(TEXT, "a 1\nb 1\nc 1\n");
    let err = lp.scrape_once(1_000).await.expect_err("over the limit");
    assert!(matches!(err, ScrapeError::SampleLimit { limit: 2 }));
    assert_eq!(sink.last().len(), 5);
}

#[tokio::test]
async fn metric_relabeling_drops_and_the_drop_is_cached() {
    let rules = "- source_labels: [__name__]\n  regex: drop_.*\n  action: drop\n";
    let (f, sink, mut lp) = setup(job(false, Limits::default(), rules));
    f.push_body(TEXT, "drop_me 1\nkeep 2\n");
    f.push_body(TEXT, "drop_me 1\nkeep 3\n");
    let s1 = lp.scrape_once(1_000).await.expect("first");
    assert_eq!((s1.scraped, s1.post_relabel), (2, 1));
    let s2 = lp.scrape_once(2_000).await.expect("second");
    assert_eq!(
        (s2.scraped, s2.post_relabel, s2.series_added, s2.stale),
        (2, 1, 0, 0)
    );
    let rows = sink.last();
    assert_eq!(
        value_of(&rows, r#"{__name__="keep", instance="h:1", job="test"}"#),
        Some(3.0)
    );
    assert!(rows.iter().all(|r| !r.0.contains("drop_me")));
}

/// `labeldrop` removes the label that told two series apart: each series
/// as the target wrote it keeps its own cache entry, so both samples pass
/// (neither counts as a duplicate), both hit the cache on the next scrape,
/// and each vanishes on its own.
#[tokio::test]
async fn series_relabeled_onto_one_label_set_stay_two_series() {
    let rules = "- regex: x\n  action: labeldrop\n";
    let (f, sink, mut lp) = setup(job(false, Limits::default(), rules));
    f.push_body(TEXT, "m{x=\"1\"} 1\nm{x=\"2\"} 2\n");
    f.push_body(TEXT, "m{x=\"1\"} 3\nm{x=\"2\"} 4\n");
    f.push_body(TEXT, "m{x=\"2\"} 5\n");
    let s1 = lp.scrape_once(1_000).await.expect("first");
    assert_eq!(
        (s1.scraped, s1.post_relabel, s1.series_added, s1.stale),
        (2, 2, 2, 0)
    );
    let s2 = lp.scrape_once(2_000).await.expect("second");
    assert_eq!(
        (s2.scraped, s2.post_relabel, s2.series_added, s2.stale),
        (2, 2, 0, 0)
    );
    let m = r#"{__name__="m", instance="h:1", job="test"}"#;
    let values: Vec<f64> = sink
        .last()
        .iter()
        .filter(|r| r.0 == m)
        .map(|r| r.1)
        .collect();
    assert_eq!(values, vec![3.0, 4.0], "both samples are forwarded");
    let s3 = lp.scrape_once(3_000).await.expect("third");
    assert_eq!(
        (s3.scraped, s3.post_relabel, s3.series_added, s3.stale),
        (1, 1, 0, 1),
        "x=\"1\" vanished: one marker, under the shared label set"
    );
}

#[tokio::test]
async fn duplicate_series_in_one_body_count_once() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(TEXT, "a 1\na 2\n");
    let s = lp.scrape_once(1_000).await.expect("scrape");
    assert_eq!((s.scraped, s.post_relabel), (2, 1));
    assert_eq!(
        value_of(
            &sink.last(),
            r#"{__name__="a", instance="h:1", job="test"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn label_limit_fails_the_scrape() {
    let limits = Limits {
        label_limit: 3,
        ..Limits::default()
    };
    let (f, _sink, mut lp) = setup(job(false, limits, ""));
    f.push_body(TEXT, "a{x=\"1\",y=\"2\"} 1\n");
    let err = lp.scrape_once(1_000).await.expect_err("5 labels > 3");
    assert!(
        matches!(
            err,
            ScrapeError::LabelLimit {
                got: 5,
                limit: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn openmetrics_bodies_are_parsed_as_openmetrics() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "# TYPE c counter\nc_total 7 1.5\n# EOF\n",
    );
    lp.scrape_once(9_000).await.expect("scrape");
    let rows = sink.last();
    let c = rows
        .iter()
        .find(|r| r.0 == r#"{__name__="c_total", instance="h:1", job="test"}"#)
        .expect("c_total");
    assert_eq!(
        (c.1, c.2),
        (7.0, 1_500),
        "OpenMetrics timestamps are seconds"
    );
}

#[tokio::test]
async fn target_removal_marks_every_series_and_the_synthetic_ones_stale() {
    let (f, sink, mut lp) = setup(job(false, Limits::default(), ""));
    f.push_body(TEXT, "a 1\n");
    lp.scrape_once(1_000).await.expect("scrape");
    lp.end(2_000).await;
    let rows = sink.last();
    assert_eq!(rows.len(), 1 + 5);
    assert!(rows.iter().all(|r| is_stale_nan(r.1) && r.2 == 2_000));
}
