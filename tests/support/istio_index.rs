//! Istio-style label sets for index tests and benches: sidecar metrics
//! with 12 labels whose values are shared the way a mesh shares them (a
//! few metric names, a handful of namespaces, one pod and instance per
//! sidecar, ~25 destination services per pod drawn from a pool of 300).
//!
//! Series `i` is a fixed function of `i`: pod `i / 800`, then metric (4) ×
//! destination service (25) × response code (4) × reporter (2) within the
//! pod, so every index yields a distinct label set.

use levee::labels::Labels;

/// Series per pod (4 metrics × 25 services × 4 codes × 2 reporters).
pub const SERIES_PER_POD: usize = 800;

const METRICS: [&str; 4] = [
    "istio_requests_total",
    "istio_request_duration_milliseconds_count",
    "istio_request_bytes_sum",
    "istio_response_bytes_sum",
];
const CODES: [&str; 4] = ["200", "404", "500", "503"];
const REPORTERS: [&str; 2] = ["source", "destination"];
const APPS: [&str; 10] = [
    "productpage",
    "reviews",
    "ratings",
    "details",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "frontend",
    "catalog",
];

/// A small deterministic mix, for pod name suffixes.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Name of destination service `k` (of the pool of 300).
pub fn service(k: usize) -> String {
    format!(
        "{}-{k}.ns-{}.svc.cluster.local",
        APPS[k % APPS.len()],
        k % 20
    )
}

/// The label set of series `i`.
pub fn series(i: usize) -> Labels {
    let pod = i / SERIES_PER_POD;
    let j = i % SERIES_PER_POD;
    let (metric, rest) = (j % 4, j / 4);
    let (svc, rest) = (rest % 25, rest / 25);
    let (code, reporter) = (rest % 4, rest / 4);
    let app = APPS[pod % APPS.len()];
    let h = mix(pod as u64);
    let service_index = (pod * 7 + svc) % 300;
    let dest_app = APPS[service_index % APPS.len()];
    Labels::from_pairs([
        ("__name__", METRICS[metric].to_owned()),
        ("job", "kubernetes-pods".to_owned()),
        ("namespace", format!("ns-{}", pod % 20)),
        (
            "pod",
            format!(
                "{app}-v{}-{:010x}-{:05x}",
                pod % 3 + 1,
                h >> 24,
                h & 0xfffff
            ),
        ),
        (
            "instance",
            format!(
                "10.{}.{}.{}:15020",
                (pod >> 16) & 255,
                (pod >> 8) & 255,
                pod & 255
            ),
        ),
        ("app", app.to_owned()),
        ("version", format!("v{}", pod % 3 + 1)),
        ("reporter", REPORTERS[reporter].to_owned()),
        ("destination_service", service(service_index)),
        ("destination_workload", format!("{dest_app}-v1")),
        ("response_code", CODES[code].to_owned()),
        ("request_protocol", "http".to_owned()),
    ])
}

/// The storm: like [`series`], but every 25 series bring a new
/// `destination_service` host name (a leaking sidecar that names each
/// request's target), so values are barely shared.
pub fn storm_series(i: usize) -> Labels {
    let mut b = series(i).to_builder();
    b.set(
        "destination_service",
        &format!("req-{:08x}.external.example.com", i / 25),
    );
    b.into_labels()
}
