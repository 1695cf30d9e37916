//! What the load generator reports at exit: the targets it served, every
//! tick's ground truth, how much it served and what it cost itself (CPU
//! seconds, peak RSS, late ticks), as JSON for the benchmark script.

use crate::synth::IstioTotals;
use serde::Serialize;
use std::collections::BTreeMap;

/// One served target.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TargetReport {
    /// The job it belongs to.
    pub job: String,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// Requests for `/metrics` answered.
    pub requests: u64,
}

/// One tick: when it was published and its ground truth.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TickReport {
    /// The tick index.
    pub tick: u64,
    /// When its bodies started being served (Unix milliseconds).
    pub published_unix_ms: u64,
    /// Series over all targets.
    pub series: u64,
    /// Seconds spent building the bodies.
    pub build_seconds: f64,
    /// Storm only: the sum of each Istio counter over the storm target's
    /// series, keyed by sample name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub istio_totals: Option<BTreeMap<&'static str, f64>>,
    /// Storm only: the same, with every host that left the body counted
    /// at its last values (equal to `istio_totals` until a host leaves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub istio_retained_totals: Option<BTreeMap<&'static str, f64>>,
}

impl TickReport {
    /// Converts storm ground truth into the report's map.
    pub fn totals_map(t: &IstioTotals) -> BTreeMap<&'static str, f64> {
        t.by_sample_name().into_iter().collect()
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// `steady`, `storm` or `big`.
    pub workload: String,
    /// Seconds between ticks.
    pub interval_seconds: f64,
    /// Seconds served.
    pub duration_seconds: f64,
    /// The targets, in port order.
    pub targets: Vec<TargetReport>,
    /// Every published tick, in order.
    pub ticks: Vec<TickReport>,
    /// Requests for `/metrics` answered, all targets.
    pub requests: u64,
    /// Samples in the bodies served (series of the body × requests).
    pub samples_served: u64,
    /// Body bytes served.
    pub bytes_served: u64,
    /// Ticks whose bodies were ready only after their start time.
    pub late_ticks: u64,
    /// The generator's own CPU time (user + system), seconds.
    pub cpu_seconds: f64,
    /// The generator's peak resident memory, bytes.
    pub peak_rss_bytes: u64,
}

/// Linux reports CPU times in `/proc` in USER_HZ ticks, fixed at 100 by
/// the kernel's user-space ABI.
const USER_HZ: f64 = 100.0;

/// This process' CPU time so far (user + system, all threads), in seconds;
/// 0 where `/proc/self/stat` is unreadable.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_seconds_from_stat(&s))
        .unwrap_or(0.0)
}

/// utime + stime from the text of a `/proc/PID/stat` file, in seconds.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields after it start with field 3 (state).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// This process' peak resident memory (`VmHWM`), bytes; 0 if unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.25));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
        assert_eq!(cpu_seconds_from_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn own_process_is_readable() {
        // Any running test process has used some memory; CPU may still be 0.
        assert!(peak_rss_bytes() > 0);
        assert!(process_cpu_seconds() >= 0.0);
    }
}
