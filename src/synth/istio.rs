//! An Istio-sidecar-style exposition body: the four standard Istio metric
//! families with source/destination labels, one set of series per
//! destination host, with counter values that grow deterministically with
//! the scrape index so tests know the exact totals.
//!
//! Per host there are [`SERIES_PER_HOST`] series: `istio_requests_total`
//! (counter) and three histograms, `istio_request_duration_milliseconds`,
//! `istio_request_bytes` and `istio_response_bytes`, each with six buckets
//! (`+Inf` included), `_sum` and `_count`. Families are written whole, one
//! after the other, as the text format requires.

use std::io::{self, Write};

/// Series per destination host: 1 counter + 3 histograms of 8 series.
pub const SERIES_PER_HOST: usize = 25;

/// One histogram family: name, help, bucket bounds, cumulative bucket
/// shares in sixteenths (the `+Inf` bucket is always all of them) and the
/// per-request mean of the `_sum`.
struct Histogram {
    name: &'static str,
    help: &'static str,
    le: [&'static str; 5],
    share16: [u64; 5],
    mean: fn(u64) -> u64,
}

const HISTOGRAMS: [Histogram; 3] = [
    Histogram {
        name: "istio_request_duration_milliseconds",
        help: "Request duration in milliseconds.",
        le: ["5", "10", "25", "100", "500"],
        share16: [2, 6, 11, 14, 15],
        mean: |host| 10 + host % 40,
    },
    Histogram {
        name: "istio_request_bytes",
        help: "Request size in bytes.",
        le: ["100", "1000", "10000", "100000", "1e+06"],
        share16: [4, 10, 14, 15, 16],
        mean: |host| 300 + host % 700,
    },
    Histogram {
        name: "istio_response_bytes",
        help: "Response size in bytes.",
        le: ["100", "1000", "10000", "100000", "1e+06"],
        share16: [1, 5, 12, 15, 16],
        mean: |host| 1200 + (host * 7) % 5000,
    },
];

/// Labels every series carries with the full label set, after the
/// host-specific ones; constant, as in a real sidecar.
const FULL_EXTRA_LABELS: [(&str, &str); 12] = [
    (
        "source_principal",
        "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
    ),
    ("source_app", "productpage"),
    ("source_version", "v1"),
    ("source_cluster", "Kubernetes"),
    ("source_canonical_service", "productpage"),
    ("source_canonical_revision", "v1"),
    (
        "destination_principal",
        "spiffe://cluster.local/ns/mesh/sa/default",
    ),
    ("destination_version", "v1"),
    ("destination_service_namespace", "mesh"),
    ("destination_cluster", "Kubernetes"),
    ("grpc_response_status", ""),
    ("response_flags", "-"),
];

/// An Istio-style target: destination hosts `first_host..first_host + hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstioWorkload {
    /// Index of the first destination host.
    pub first_host: u64,
    /// Number of destination hosts.
    pub hosts: u64,
    /// Write Istio's full label set (about 25 labels per series, ~900 bytes
    /// per line) instead of the compact one (9 labels, ~300 bytes).
    pub full_labels: bool,
}

/// Ground truth for one scrape: the sum over all series of each counter
/// sample name (histogram buckets excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IstioTotals {
    /// Sum of `istio_requests_total`.
    pub requests_total: f64,
    /// Sum of `istio_request_duration_milliseconds_count`.
    pub duration_count: f64,
    /// Sum of `istio_request_duration_milliseconds_sum`.
    pub duration_sum: f64,
    /// Sum of `istio_request_bytes_count`.
    pub request_bytes_count: f64,
    /// Sum of `istio_request_bytes_sum`.
    pub request_bytes_sum: f64,
    /// Sum of `istio_response_bytes_count`.
    pub response_bytes_count: f64,
    /// Sum of `istio_response_bytes_sum`.
    pub response_bytes_sum: f64,
}

impl IstioTotals {
    /// Adds the series of `host` as they are at scrape `scrape`.
    pub fn add_host(&mut self, host: u64, scrape: u64) {
        let n = IstioWorkload::requests(host, scrape);
        let sum = |i: usize| (n * (HISTOGRAMS[i].mean)(host)) as f64;
        self.requests_total += n as f64;
        self.duration_count += n as f64;
        self.duration_sum += sum(0);
        self.request_bytes_count += n as f64;
        self.request_bytes_sum += sum(1);
        self.response_bytes_count += n as f64;
        self.response_bytes_sum += sum(2);
    }

    /// The totals keyed by sample name.
    pub fn by_sample_name(&self) -> [(&'static str, f64); 7] {
        [
            ("istio_requests_total", self.requests_total),
            (
                "istio_request_duration_milliseconds_count",
                self.duration_count,
            ),
            ("istio_request_duration_milliseconds_sum", self.duration_sum),
            ("istio_request_bytes_count", self.request_bytes_count),
            ("istio_request_bytes_sum", self.request_bytes_sum),
            ("istio_response_bytes_count", self.response_bytes_count),
            ("istio_response_bytes_sum", self.response_bytes_sum),
        ]
    }
}

impl IstioWorkload {
    /// `hosts` destination hosts starting at host 0, compact labels.
    pub fn new(hosts: u64) -> Self {
        IstioWorkload {
            first_host: 0,
            hosts,
            full_labels: false,
        }
    }

    /// The same workload starting at host `first`.
    pub fn with_first_host(mut self, first: u64) -> Self {
        self.first_host = first;
        self
    }

    /// The same workload with Istio's full label set.
    pub fn with_full_labels(mut self, full: bool) -> Self {
        self.full_labels = full;
        self
    }

    /// Number of series in one body.
    pub fn series(&self) -> u64 {
        self.hosts * SERIES_PER_HOST as u64
    }

    /// The `destination_service` of a host.
    pub fn host_name(host: u64) -> String {
        format!("svc-{host}.mesh.svc.cluster.local")
    }

    /// `istio_requests_total` of `host` at scrape `scrape` (from 0): it
    /// grows by a host-specific step every scrape.
    pub fn requests(host: u64, scrape: u64) -> u64 {
        (scrape + 1) * (1 + host % 13)
    }

    /// The `response_code` label of a host.
    fn response_code(host: u64) -> &'static str {
        if host % 10 == 9 { "503" } else { "200" }
    }

    fn host_range(&self) -> std::ops::Range<u64> {
        self.first_host..self.first_host.saturating_add(self.hosts)
    }

    /// Writes the body of scrape `scrape` in the Prometheus text format.
    pub fn write_to<W: Write>(&self, scrape: u64, out: &mut W) -> io::Result<()> {
        let mut labels = String::with_capacity(1024);
        out.write_all(b"# HELP istio_requests_total Total requests.\n")?;
        out.write_all(b"# TYPE istio_requests_total counter\n")?;
        for host in self.host_range() {
            self.labels(host, &mut labels);
            writeln!(
                out,
                "istio_requests_total{{{labels}}} {}",
                Self::requests(host, scrape)
            )?;
        }
        for h in &HISTOGRAMS {
            writeln!(out, "# HELP {} {}", h.name, h.help)?;
            writeln!(out, "# TYPE {} histogram", h.name)?;
            for host in self.host_range() {
                self.labels(host, &mut labels);
                let n = Self::requests(host, scrape);
                for (le, share) in h.le.iter().zip(h.share16) {
                    writeln!(
                        out,
                        "{}_bucket{{{labels},le=\"{le}\"}} {}",
                        h.name,
                        n * share / 16
                    )?;
                }
                writeln!(out, "{}_bucket{{{labels},le=\"+Inf\"}} {n}", h.name)?;
                writeln!(out, "{}_sum{{{labels}}} {}", h.name, n * (h.mean)(host))?;
                writeln!(out, "{}_count{{{labels}}} {n}", h.name)?;
            }
        }
        Ok(())
    }

    /// The body of scrape `scrape` as bytes.
    pub fn body(&self, scrape: u64) -> Vec<u8> {
        let per_line = if self.full_labels { 900 } else { 320 };
        let mut out = Vec::with_capacity(self.series() as usize * per_line);
        // Writing into a Vec cannot fail.
        let _ = self.write_to(scrape, &mut out);
        out
    }

    /// The ground-truth totals of scrape `scrape`.
    pub fn totals(&self, scrape: u64) -> IstioTotals {
        let mut t = IstioTotals::default();
        for host in self.host_range() {
            t.add_host(host, scrape);
        }
        t
    }

    /// The label pairs of `host`'s series (without `le`), written into
    /// `out` as `name="value",...`.
    fn labels(&self, host: u64, out: &mut String) {
        use std::fmt::Write as _;
        out.clear();
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "reporter=\"destination\",source_workload=\"productpage-v1\",\
             source_workload_namespace=\"default\",destination_workload=\"svc-{host}-v1\",\
             destination_workload_namespace=\"mesh\",destination_service=\"{}\",",
            Self::host_name(host)
        );
        if self.full_labels {
            let _ = write!(
                out,
                "destination_app=\"svc-{host}\",destination_service_name=\"svc-{host}\",\
                 destination_canonical_service=\"svc-{host}\",\
                 destination_canonical_revision=\"v1\","
            );
            for (name, value) in FULL_EXTRA_LABELS {
                let _ = write!(out, "{name}=\"{value}\",");
            }
        }
        let _ = write!(
            out,
            "request_protocol=\"http\",response_code=\"{}\",connection_security_policy=\"mutual_tls\"",
            Self::response_code(host)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, MetricType, ParserLimits, StreamParser};
    use std::collections::{BTreeMap, HashSet};

    /// Parses a body and sums every non-bucket sample by name.
    fn parse(body: &[u8]) -> (usize, BTreeMap<String, f64>, HashSet<Vec<u8>>) {
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        let mut sums = BTreeMap::new();
        let mut series = HashSet::new();
        let mut count = 0;
        for chunk in body.chunks(4096) {
            p.push(chunk).expect("push");
            while let Some(e) = p.next() {
                if let Entry::Sample(s) = e.expect("valid body") {
                    count += 1;
                    assert!(series.insert(s.series.to_vec()), "series repeats");
                    if s.name == "istio_requests_total" {
                        assert_eq!(s.kind, MetricType::Counter);
                    } else {
                        assert_eq!(s.kind, MetricType::Histogram, "{}", s.name);
                    }
                    if !s.name.ends_with("_bucket") {
                        *sums.entry(s.name.to_string()).or_insert(0.0) += s.value;
                    }
                }
            }
        }
        p.finish();
        assert!(p.next().is_none());
        (count, sums, series)
    }

    #[test]
    fn body_parses_to_the_ground_truth() {
        for full in [false, true] {
            let w = IstioWorkload::new(40)
                .with_first_host(7)
                .with_full_labels(full);
            for scrape in [0, 3] {
                let (count, sums, _) = parse(&w.body(scrape));
                assert_eq!(count as u64, w.series());
                for (name, total) in w.totals(scrape).by_sample_name() {
                    assert_eq!(sums.get(name).copied(), Some(total), "{name}");
                }
            }
        }
    }

    #[test]
    fn counters_grow_with_the_scrape_index() {
        let w = IstioWorkload::new(5);
        let a = w.totals(1);
        let b = w.totals(2);
        for ((name, x), (_, y)) in a.by_sample_name().iter().zip(b.by_sample_name()) {
            assert!(y > *x, "{name}: {x} -> {y}");
        }
        assert_eq!(w.body(4), w.body(4));
    }

    #[test]
    fn hosts_have_distinct_series_and_full_labels_are_longer() {
        let w = IstioWorkload::new(3);
        let (_, _, series) = parse(&w.body(0));
        assert_eq!(series.len(), 3 * SERIES_PER_HOST);
        let compact = w.body(0).len();
        let full = w.clone().with_full_labels(true).body(0).len();
        assert!(full > 2 * compact, "{full} vs {compact}");
        let other = IstioWorkload::new(3).with_first_host(3);
        let (_, _, other_series) = parse(&other.body(0));
        assert!(series.is_disjoint(&other_series));
    }
}
