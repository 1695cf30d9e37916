//! The scrape-path fixture `benches/scrape.rs` and `benches/scrape_cpu.rs`
//! share: the Istio job (with a guard configuration), the three guard
//! settings they compare, a sink that discards, and a scrape loop serving a
//! body from memory in 64 KiB chunks.

use levee::config::JobGuardConfig;
use levee::labels::Labels;
use levee::pipeline::{Appended, Sample, SampleSink, Sinks};
use levee::relabel::Rules;
use levee::scrape::{
    HttpFetcher, Job, Limits, MemoryFetcher, ScrapeLoop, ScrapeMetrics, TargetGroup, populate,
};
use levee::selfmon::Registry;
use std::sync::Arc;
use std::time::Duration;

/// A sink that discards every batch.
pub struct Discard;

impl SampleSink for Discard {
    fn append(&self, batch: &[Sample]) -> Appended {
        Appended::all(std::hint::black_box(batch.len()))
    }
}

/// The Istio job scraping `pod:15090`, guarded as `guard` says.
pub fn job(guard: JobGuardConfig) -> Arc<Job> {
    Arc::new(Job {
        name: "istio".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        interval_text: "15s".into(),
        timeout_text: "10s".into(),
        metrics_path: "/metrics".into(),
        scheme: "http".into(),
        params: vec![],
        honor_labels: false,
        honor_timestamps: true,
        target_relabel: Rules::default(),
        metric_relabel: Rules::default(),
        limits: Limits::default(),
        groups: vec![TargetGroup {
            targets: vec!["pod:15090".into()],
            labels: Labels::empty(),
        }],
        fetcher: HttpFetcher::new(reqwest::Client::new(), None),
        guard,
    })
}

/// The guard settings compared: none (`cached`), a budget of 1M the 100k
/// series stay under (`guarded`), a rule folding the host labels
/// (`folded`).
pub fn guard_cases() -> [(&'static str, JobGuardConfig); 3] {
    let folded = levee::guard::FoldRule::new(
        vec!["destination_service".into(), "destination_workload".into()],
        None,
    )
    .expect("rule");
    [
        ("cached", JobGuardConfig::default()),
        (
            "guarded",
            JobGuardConfig {
                series_budget: 1_000_000,
                ..Default::default()
            },
        ),
        (
            "folded",
            JobGuardConfig {
                fold_labels: vec![folded],
                ..Default::default()
            },
        ),
    ]
}

/// A loop over `job` serving `body` at every scrape into `sink`.
pub fn scrape_loop(
    job: &Arc<Job>,
    body: Vec<u8>,
    sink: Arc<dyn SampleSink>,
) -> ScrapeLoop<MemoryFetcher> {
    let target = Arc::new(
        populate(job, &Labels::empty(), "pod:15090")
            .expect("target")
            .expect("kept"),
    );
    let fetcher = MemoryFetcher::new(64 * 1024);
    fetcher.push_body("text/plain; version=0.0.4", body);
    ScrapeLoop::new(
        target,
        fetcher,
        Sinks::samples(sink),
        Arc::new(ScrapeMetrics::new(&Registry::new())),
    )
}
