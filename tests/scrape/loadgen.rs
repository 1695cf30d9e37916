//! The load generator over real HTTP: every target answers `/metrics` with
//! a valid body of the tick's size, other paths get 404, and the report
//! counts exactly the requests made. No timing is asserted.

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::loadgen::{Loadgen, Workload};
use std::time::Duration;

/// Sample count and `loadgen_tick` value of a body.
fn parse(body: &[u8]) -> (u64, Option<u64>) {
    let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
    p.push(body).expect("push");
    p.finish();
    let (mut n, mut tick) = (0, None);
    while let Some(e) = p.next() {
        if let Entry::Sample(s) = e.expect("valid body") {
            n += 1;
            if s.name == "loadgen_tick" {
                tick = Some(s.value as u64);
            }
        }
    }
    (n, tick)
}

#[tokio::test]
async fn serves_every_target_and_counts_what_it_served() {
    let loadgen = Loadgen::bind(Workload::storm(3, 0, 2, 50), Duration::from_millis(100))
        .await
        .expect("bind");
    let targets = loadgen.targets().to_vec();
    assert_eq!(targets.len(), 3);
    assert!(targets.iter().all(|(_, a)| a.ip().is_loopback()));
    assert_eq!(
        targets.iter().map(|(job, _)| *job).collect::<Vec<_>>(),
        ["istio", "innocent", "innocent"]
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(loadgen.run(Duration::from_secs(600), async {
        let _ = stop_rx.await;
    }));

    let http = reqwest::Client::new();
    let mut storm_seen = Vec::new();
    let mut requests = 0;
    for _ in 0..5 {
        for (job, addr) in &targets {
            let resp = http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .expect("GET /metrics");
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain; version=0.0.4")
            );
            let body = resp.bytes().await.expect("body");
            requests += 1;
            let (n, tick) = parse(&body);
            if *job == "istio" {
                let tick = tick.expect("storm body carries loadgen_tick");
                assert_eq!(n, 3 * (tick + 1) * 25 + 1);
                storm_seen.push((tick, n));
            } else {
                assert_eq!(n, 50);
                assert_eq!(tick, None);
            }
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let missing = http
        .get(format!("http://{}/other", targets[0].1))
        .send()
        .await
        .expect("GET /other");
    assert_eq!(missing.status(), 404);

    stop_tx.send(()).expect("stop");
    let report = run.await.expect("join").expect("run");
    assert_eq!(report.workload, "storm");
    assert_eq!(report.requests, requests);
    assert_eq!(
        report
            .targets
            .iter()
            .map(|t| t.requests)
            .collect::<Vec<_>>(),
        [5, 5, 5]
    );
    // Ticks are numbered from 0 without gaps, and every tick the test saw
    // is in the report with its series count and ground truth.
    for (i, t) in report.ticks.iter().enumerate() {
        assert_eq!(t.tick, i as u64);
        assert!(t.istio_totals.as_ref().unwrap()["istio_requests_total"] > 0.0);
    }
    let mut expected_samples = 0;
    for (tick, n) in &storm_seen {
        let rec = &report.ticks[*tick as usize];
        assert_eq!(rec.series, n + 2 * 50);
        expected_samples += n + 2 * 50;
    }
    assert_eq!(report.samples_served, expected_samples);
    assert!(report.cpu_seconds >= 0.0 && report.peak_rss_bytes > 0);
}

#[tokio::test]
async fn a_zero_interval_is_refused() {
    let err = Loadgen::bind(Workload::big(10), Duration::ZERO)
        .await
        .err()
        .expect("zero interval must fail");
    assert!(err.to_string().contains("interval"), "{err}");
}
