//! Which metric family a sample belongs to and what part it plays in it
//! (cumulative counter part, gauge, summary quantile, creation time), from
//! its name and the family type of the exposition's `# TYPE` line.

use crate::exposition::MetricType;

/// How a sample of a folded series is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Counters, histogram `_bucket`/`_count`/`_sum`, summary
    /// `_count`/`_sum`: merged by summing member increases.
    Cumulative,
    /// Gauges, untyped and everything else: merged by `gauge_fold`.
    Gauge,
    /// A summary quantile: cannot be merged, dropped when folded.
    Quantile,
    /// An OpenMetrics `_created` timestamp: merged by taking the earliest.
    Created,
}

/// The family name of a sample and its role.
pub fn classify(name: &str, kind: MetricType) -> (&str, Role) {
    let strip = |suffixes: &[&'static str]| -> Option<(&str, &'static str)> {
        suffixes
            .iter()
            .find_map(|s| name.strip_suffix(s).map(|base| (base, *s)))
    };
    match kind {
        MetricType::Counter => match name.strip_suffix("_created") {
            Some(_) => (name, Role::Created),
            None => (name, Role::Cumulative),
        },
        MetricType::Histogram => match strip(&["_bucket", "_count", "_sum", "_created"]) {
            Some((base, "_created")) => (base, Role::Created),
            Some((base, _)) => (base, Role::Cumulative),
            None => (name, Role::Cumulative),
        },
        MetricType::Summary => match strip(&["_count", "_sum", "_created"]) {
            Some((base, "_created")) => (base, Role::Created),
            Some((base, _)) => (base, Role::Cumulative),
            None => (name, Role::Quantile),
        },
        MetricType::GaugeHistogram => match strip(&["_bucket", "_gcount", "_gsum"]) {
            Some((base, _)) => (base, Role::Gauge),
            None => (name, Role::Gauge),
        },
        MetricType::Gauge | MetricType::Info | MetricType::StateSet | MetricType::Unknown => {
            (name, Role::Gauge)
        }
    }
}

/// True for samples that count requests-like events (counters and
/// `_count`), used to rank values for `keep_top`.
pub fn counts_events(name: &str, role: Role) -> bool {
    role == Role::Cumulative && !name.ends_with("_sum") && !name.ends_with("_bucket")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_roles() {
        use MetricType::*;
        assert_eq!(
            classify("req_total", Counter),
            ("req_total", Role::Cumulative)
        );
        assert_eq!(classify("lat_bucket", Histogram), ("lat", Role::Cumulative));
        assert_eq!(classify("lat_sum", Histogram), ("lat", Role::Cumulative));
        assert_eq!(classify("lat_created", Histogram), ("lat", Role::Created));
        assert_eq!(classify("rpc", Summary), ("rpc", Role::Quantile));
        assert_eq!(classify("rpc_count", Summary), ("rpc", Role::Cumulative));
        assert_eq!(classify("temp", Gauge), ("temp", Role::Gauge));
        assert_eq!(classify("x", Unknown), ("x", Role::Gauge));
        assert!(counts_events("lat_count", Role::Cumulative));
        assert!(!counts_events("lat_bucket", Role::Cumulative));
    }
}
