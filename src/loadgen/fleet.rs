//! The body of one ordinary ("innocent") target: a fixed set of counters,
//! gauges and 10-bucket histograms whose values change every tick, in the
//! Prometheus text format.
//!
//! A target of `series` series writes `series / 36` histogram label sets
//! (12 series each: 10 buckets with `+Inf`, `_sum`, `_count`), and splits
//! the rest between counters and gauges (counters get the odd one). The
//! series count is exact for any `series >= 0`.

use std::io::{self, Write};

/// Bucket bounds of the histogram family, `+Inf` last.
const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

/// Cumulative share of observations per bucket, in sixteenths.
const SHARE16: [u64; 10] = [1, 2, 4, 6, 9, 11, 13, 14, 15, 16];

/// Series per histogram label set: the buckets plus `_sum` and `_count`.
pub const SERIES_PER_HISTOGRAM: u64 = LE.len() as u64 + 2;

/// The layout of one fleet target's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetTarget {
    /// Number of series in the body.
    pub series: u64,
    /// Varies the values between targets of the same layout, so that
    /// targets are not byte-identical (their label sets are; the agent's
    /// target labels tell them apart).
    pub seed: u64,
}

impl FleetTarget {
    /// A target of `series` series whose values are offset by `seed`.
    pub fn new(series: u64, seed: u64) -> Self {
        FleetTarget { series, seed }
    }

    /// Number of histogram label sets.
    pub fn histograms(&self) -> u64 {
        self.series / (3 * SERIES_PER_HISTOGRAM)
    }

    /// Number of counter series.
    pub fn counters(&self) -> u64 {
        (self.series - self.histograms() * SERIES_PER_HISTOGRAM).div_ceil(2)
    }

    /// Number of gauge series.
    pub fn gauges(&self) -> u64 {
        self.series - self.histograms() * SERIES_PER_HISTOGRAM - self.counters()
    }

    /// Value of counter `i` at tick `tick`: grows every tick.
    pub fn counter(&self, i: u64, tick: u64) -> u64 {
        1000 * (i % 5) + (tick + 1) * (1 + (i + self.seed) % 7)
    }

    /// Value of gauge `i` at tick `tick`, in hundredths: differs from one
    /// tick to the next.
    pub fn gauge_centis(&self, i: u64, tick: u64) -> u64 {
        (i.wrapping_mul(7919) + (tick + 1).wrapping_mul(104_729) + self.seed * 31) % 100_000
    }

    /// Observations of histogram `j` up to tick `tick`.
    pub fn observations(&self, j: u64, tick: u64) -> u64 {
        (tick + 1) * (1 + (j + self.seed) % 11)
    }

    /// Writes the body of tick `tick`.
    pub fn write_to<W: Write>(&self, tick: u64, out: &mut W) -> io::Result<()> {
        out.write_all(b"# HELP loadgen_http_requests_total Requests handled.\n")?;
        out.write_all(b"# TYPE loadgen_http_requests_total counter\n")?;
        for i in 0..self.counters() {
            writeln!(
                out,
                "loadgen_http_requests_total{{handler=\"/api/v1/h{}\",method=\"{}\",code=\"{}\"}} {}",
                i / 2,
                if i % 2 == 0 { "GET" } else { "POST" },
                if i % 10 == 9 { "500" } else { "200" },
                self.counter(i, tick)
            )?;
        }
        out.write_all(b"# HELP loadgen_queue_depth Items waiting.\n")?;
        out.write_all(b"# TYPE loadgen_queue_depth gauge\n")?;
        for i in 0..self.gauges() {
            let c = self.gauge_centis(i, tick);
            writeln!(
                out,
                "loadgen_queue_depth{{queue=\"q{}\",shard=\"{}\"}} {}.{:02}",
                i / 4,
                i % 4,
                c / 100,
                c % 100
            )?;
        }
        out.write_all(b"# HELP loadgen_request_duration_seconds Request latency.\n")?;
        out.write_all(b"# TYPE loadgen_request_duration_seconds histogram\n")?;
        for j in 0..self.histograms() {
            let n = self.observations(j, tick);
            for (le, share) in LE.iter().zip(SHARE16) {
                writeln!(
                    out,
                    "loadgen_request_duration_seconds_bucket{{route=\"r{j}\",le=\"{le}\"}} {}",
                    n * share / 16
                )?;
            }
            // The sum in milliseconds-per-observation steps, written as seconds.
            let sum_ms = n * (20 + j % 80);
            writeln!(
                out,
                "loadgen_request_duration_seconds_sum{{route=\"r{j}\"}} {}.{:03}",
                sum_ms / 1000,
                sum_ms % 1000
            )?;
            writeln!(
                out,
                "loadgen_request_duration_seconds_count{{route=\"r{j}\"}} {n}"
            )?;
        }
        Ok(())
    }

    /// The body of tick `tick` as bytes.
    pub fn body(&self, tick: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.series as usize * 72);
        // Writing into a Vec cannot fail.
        let _ = self.write_to(tick, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, MetricType, ParserLimits, StreamParser};
    use std::collections::HashMap;

    /// Parses a body: series text -> (type, value).
    fn parse(body: &[u8]) -> HashMap<Vec<u8>, (MetricType, f64)> {
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        let mut out = HashMap::new();
        let mut feed = |p: &mut StreamParser| {
            while let Some(e) = p.next() {
                if let Entry::Sample(s) = e.expect("valid body") {
                    let prev = out.insert(s.series.to_vec(), (s.kind, s.value));
                    assert!(prev.is_none(), "series repeats: {:?}", s.series);
                }
            }
        };
        for chunk in body.chunks(1000) {
            p.push(chunk).expect("push");
            feed(&mut p);
        }
        p.finish();
        feed(&mut p);
        out
    }

    #[test]
    fn series_counts_are_exact_for_any_size() {
        for series in [0, 1, 2, 35, 36, 37, 1000, 2000, 4321] {
            let t = FleetTarget::new(series, 3);
            assert_eq!(
                t.histograms() * SERIES_PER_HISTOGRAM + t.counters() + t.gauges(),
                series
            );
            let parsed = parse(&t.body(0));
            assert_eq!(parsed.len() as u64, series, "{series}");
        }
    }

    #[test]
    fn the_standard_target_mixes_the_three_types() {
        let t = FleetTarget::new(2000, 0);
        let parsed = parse(&t.body(5));
        let count = |k: MetricType| parsed.values().filter(|(kind, _)| *kind == k).count();
        assert_eq!(count(MetricType::Counter) as u64, t.counters());
        assert_eq!(count(MetricType::Gauge) as u64, t.gauges());
        assert_eq!(
            count(MetricType::Histogram) as u64,
            t.histograms() * SERIES_PER_HISTOGRAM
        );
        assert!(t.histograms() >= 50 && t.counters() >= 600 && t.gauges() >= 600);
    }

    #[test]
    fn every_value_moves_and_counters_only_grow() {
        let t = FleetTarget::new(500, 9);
        let a = parse(&t.body(3));
        let b = parse(&t.body(4));
        assert_eq!(a.len(), b.len());
        let mut changed = 0;
        for (series, (kind, x)) in &a {
            let (_, y) = b[series];
            if *kind == MetricType::Counter || *kind == MetricType::Histogram {
                assert!(y >= *x, "{:?}: {x} -> {y}", String::from_utf8_lossy(series));
            }
            if y != *x {
                changed += 1;
            }
        }
        // Every counter, gauge, _sum and _count moves; only a bucket whose
        // share rounds to the same count may stay.
        let histogram_buckets = t.histograms() * LE.len() as u64;
        assert!(changed as u64 >= 500 - histogram_buckets, "{changed}");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let t = FleetTarget::new(36, 0);
        let parsed = parse(&t.body(7));
        let value = |s: &str| parsed[s.as_bytes()].1;
        let mut prev = 0.0;
        for le in LE {
            let v = value(&format!(
                "loadgen_request_duration_seconds_bucket{{route=\"r0\",le=\"{le}\"}}"
            ));
            assert!(v >= prev);
            prev = v;
        }
        assert_eq!(
            prev,
            value("loadgen_request_duration_seconds_count{route=\"r0\"}")
        );
    }

    #[test]
    fn targets_with_different_seeds_differ() {
        assert_ne!(
            FleetTarget::new(100, 1).body(0),
            FleetTarget::new(100, 2).body(0)
        );
    }
}
