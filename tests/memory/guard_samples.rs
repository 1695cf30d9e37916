//! The scrape the guard's heap tests feed it: 100k Istio-style series of
//! one counter, 25 per destination service (so folding
//! `destination_service` leaves 4,000 members), each with its own label set.

use std::sync::Arc;

use levee::labels::Labels;
use levee::pipeline::Sample;

/// Series per scrape.
pub const SERIES: usize = 100_000;

/// The scrape at `ts`: series `i` has the value `i`.
pub fn samples(ts: i64) -> Vec<Sample> {
    (0..SERIES)
        .map(|i| Sample {
            labels: Arc::new(Labels::from_pairs([
                ("__name__", "istio_requests_total".to_string()),
                ("job", "istio".to_string()),
                ("instance", "sidecar:15090".to_string()),
                ("reporter", "destination".to_string()),
                (
                    "destination_service",
                    format!("svc-{}.mesh.svc.cluster.local", i / 25),
                ),
                ("destination_workload", format!("svc-{}-v1", i / 25)),
                ("response_code", format!("{}", 200 + i % 25)),
                ("request_protocol", "http".to_string()),
            ])),
            timestamp_ms: ts,
            value: i as f64,
        })
        .collect()
}
