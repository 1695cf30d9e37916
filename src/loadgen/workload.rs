//! The three benchmark workloads and the bodies of one tick: which jobs and
//! targets each serves, and every target's exposition body at tick `k`,
//! built once per tick and shared by every request of that tick.

use super::fleet::FleetTarget;
use crate::synth::{IstioTotals, IstioWorkload};
use bytes::Bytes;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

/// Which workload to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A fleet of ordinary targets of equal size.
    Steady,
    /// One Istio-style target that leaks new series every tick, beside a
    /// few ordinary targets.
    Storm,
    /// One very large target.
    Big,
}

impl WorkloadKind {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Steady => "steady",
            WorkloadKind::Storm => "storm",
            WorkloadKind::Big => "big",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkloadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "steady" => Ok(WorkloadKind::Steady),
            "storm" => Ok(WorkloadKind::Storm),
            "big" => Ok(WorkloadKind::Big),
            _ => Err(format!(
                "unknown workload {s:?}: expected steady, storm or big"
            )),
        }
    }
}

/// What one target serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// An ordinary target.
    Fleet(FleetTarget),
    /// The leaking Istio sidecar: at tick `k` it serves destination hosts
    /// `0..hosts_per_tick * (k + 1)` (compact labels, values of scrape `k`)
    /// followed by the gauge `loadgen_tick k`, so a receiver can tell which
    /// tick each scrape saw. With a `host_lifetime` of `L` ticks a host
    /// leaves the body after `L` ticks (as a sidecar with a metric expiry
    /// drops idle series): tick `k` serves only the hosts added in the last
    /// `L` ticks.
    Storm {
        /// New destination hosts per tick.
        hosts_per_tick: u64,
        /// Ticks a host stays in the body; 0: for ever.
        host_lifetime: u64,
    },
}

impl TargetSpec {
    /// Series in the body of tick `tick`.
    pub fn series(&self, tick: u64) -> u64 {
        match self {
            TargetSpec::Fleet(t) => t.series,
            TargetSpec::Storm { .. } => self.storm(tick).series() + 1,
        }
    }

    /// The body of tick `tick`.
    pub fn body(&self, tick: u64) -> Vec<u8> {
        match self {
            TargetSpec::Fleet(t) => t.body(tick),
            TargetSpec::Storm { .. } => {
                let mut out = self.storm(tick).body(tick);
                // Writing into a Vec cannot fail.
                let _ = write!(
                    out,
                    "# HELP loadgen_tick The load generator's tick this body belongs to.\n\
                     # TYPE loadgen_tick gauge\nloadgen_tick {tick}\n"
                );
                out
            }
        }
    }

    /// The storm target's hosts at tick `tick` (none for a fleet target).
    fn storm(&self, tick: u64) -> IstioWorkload {
        let TargetSpec::Storm {
            hosts_per_tick,
            host_lifetime,
        } = *self
        else {
            return IstioWorkload::new(0);
        };
        let end = hosts_per_tick.saturating_mul(tick.saturating_add(1));
        let first = match host_lifetime {
            0 => 0,
            l => end.saturating_sub(hosts_per_tick.saturating_mul(l)),
        };
        IstioWorkload::new(end - first).with_first_host(first)
    }

    /// The storm target's ground truth at tick `tick`: the totals of its
    /// body, and the totals where every host that left the body counts
    /// with its values of its last tick (what an exact fold of
    /// `destination_service` shows: a member that leaves keeps what it
    /// added). The two are equal while no host has left.
    fn storm_truth(&self, tick: u64) -> Option<(IstioTotals, IstioTotals)> {
        let TargetSpec::Storm {
            hosts_per_tick,
            host_lifetime,
        } = *self
        else {
            return None;
        };
        let body = self.storm(tick);
        let served = body.totals(tick);
        let mut retained = served;
        // Hosts have left only with a lifetime and new hosts (both > 0).
        for host in 0..body.first_host {
            // Host `h` arrived at tick `h / hosts_per_tick` and was last
            // served `host_lifetime - 1` ticks later.
            retained.add_host(host, host / hosts_per_tick + host_lifetime - 1);
        }
        Some((served, retained))
    }
}

/// A job: its name and its targets, in port order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// The `job_name` the scrape config should use.
    pub job: &'static str,
    /// One entry per target (one listening port each).
    pub targets: Vec<TargetSpec>,
}

/// A workload: its kind and its jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Which workload this is.
    pub kind: WorkloadKind,
    /// The jobs served, each with its targets.
    pub jobs: Vec<JobSpec>,
}

impl Workload {
    /// `targets` fleet targets of `series` series each, job `steady`.
    pub fn steady(targets: u64, series: u64) -> Workload {
        Workload {
            kind: WorkloadKind::Steady,
            jobs: vec![fleet_job("steady", targets, series)],
        }
    }

    /// The storm target (job `istio`, `hosts_per_tick` new hosts of 25
    /// series per tick, each staying `host_lifetime` ticks, 0 for ever)
    /// plus `innocents` fleet targets of `innocent_series` series (job
    /// `innocent`).
    pub fn storm(
        hosts_per_tick: u64,
        host_lifetime: u64,
        innocents: u64,
        innocent_series: u64,
    ) -> Workload {
        Workload {
            kind: WorkloadKind::Storm,
            jobs: vec![
                JobSpec {
                    job: "istio",
                    targets: vec![TargetSpec::Storm {
                        hosts_per_tick,
                        host_lifetime,
                    }],
                },
                fleet_job("innocent", innocents, innocent_series),
            ],
        }
    }

    /// One fleet target of `series` series, job `big`.
    pub fn big(series: u64) -> Workload {
        Workload {
            kind: WorkloadKind::Big,
            jobs: vec![fleet_job("big", 1, series)],
        }
    }

    /// Every target in port order, with its job.
    pub fn targets(&self) -> impl Iterator<Item = (&'static str, &TargetSpec)> {
        self.jobs
            .iter()
            .flat_map(|j| j.targets.iter().map(move |t| (j.job, t)))
    }

    /// Builds every target's body for tick `tick`.
    pub fn build(&self, tick: u64) -> TickBodies {
        let mut bodies = Vec::new();
        let mut series = Vec::new();
        let (mut istio, mut istio_retained) = (None, None);
        for (_, target) in self.targets() {
            bodies.push(Bytes::from(target.body(tick)));
            series.push(target.series(tick));
            if let Some((served, retained)) = target.storm_truth(tick) {
                istio = Some(served);
                istio_retained = Some(retained);
            }
        }
        TickBodies {
            tick,
            bodies,
            series,
            istio,
            istio_retained,
        }
    }
}

fn fleet_job(job: &'static str, targets: u64, series: u64) -> JobSpec {
    JobSpec {
        job,
        targets: (0..targets)
            .map(|seed| TargetSpec::Fleet(FleetTarget::new(series, seed)))
            .collect(),
    }
}

/// Every target's body for one tick, in port order.
#[derive(Clone, Debug)]
pub struct TickBodies {
    /// The tick (0 is served from the start).
    pub tick: u64,
    /// Body per target.
    pub bodies: Vec<Bytes>,
    /// Series per target's body.
    pub series: Vec<u64>,
    /// Ground truth of the storm target, if the workload has one: the
    /// totals of its body.
    pub istio: Option<IstioTotals>,
    /// The same with every host that left the body counted at its last
    /// values (see [`TargetSpec::Storm`]); equal to `istio` while no host
    /// has left.
    pub istio_retained: Option<IstioTotals>,
}

impl TickBodies {
    /// Series over all targets.
    pub fn total_series(&self) -> u64 {
        self.series.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, ParserLimits, StreamParser};
    use crate::synth::SERIES_PER_HOST;

    /// Parses a body; returns its sample count and the value of
    /// `loadgen_tick` and the sum of `istio_requests_total`.
    fn parse(body: &[u8]) -> (u64, Option<f64>, f64) {
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        let (mut n, mut tick, mut requests) = (0, None, 0.0);
        p.push(body).expect("push");
        p.finish();
        while let Some(e) = p.next() {
            if let Entry::Sample(s) = e.expect("valid body") {
                n += 1;
                match s.name {
                    "loadgen_tick" => tick = Some(s.value),
                    "istio_requests_total" => requests += s.value,
                    _ => {}
                }
            }
        }
        (n, tick, requests)
    }

    #[test]
    fn steady_has_the_requested_fleet() {
        let w = Workload::steady(3, 2000);
        let t = w.build(2);
        assert_eq!(t.bodies.len(), 3);
        for body in &t.bodies {
            assert_eq!(parse(body).0, 2000);
        }
        assert_eq!(t.total_series(), 6000);
        assert!(t.istio.is_none());
        assert_ne!(t.bodies[0], t.bodies[1]);
    }

    #[test]
    fn storm_grows_by_hosts_per_tick_and_carries_its_tick() {
        let w = Workload::storm(4, 0, 2, 100);
        for tick in [0, 1, 5] {
            let t = w.build(tick);
            assert_eq!(t.bodies.len(), 3);
            let (n, seen_tick, requests) = parse(&t.bodies[0]);
            let hosts = 4 * (tick + 1);
            assert_eq!(n, hosts * SERIES_PER_HOST as u64 + 1);
            assert_eq!(t.series[0], n);
            assert_eq!(seen_tick, Some(tick as f64));
            let truth = t.istio.expect("storm ground truth");
            assert_eq!(requests, truth.requests_total);
            assert_eq!(t.istio_retained, t.istio, "no host has left");
            assert_eq!(parse(&t.bodies[1]).0, 100);
            assert_eq!(parse(&t.bodies[2]).0, 100);
        }
        assert!(
            w.build(3).istio.unwrap().requests_total > w.build(2).istio.unwrap().requests_total
        );
    }

    #[test]
    fn hosts_leave_after_their_lifetime_and_the_retained_truth_keeps_them() {
        // 4 new hosts a tick, each served for 3 ticks.
        let w = Workload::storm(4, 3, 1, 10);
        for tick in 0..9u64 {
            let t = w.build(tick);
            let (n, seen_tick, requests) = parse(&t.bodies[0]);
            let live = 4 * (tick + 1).min(3);
            assert_eq!(n, live * SERIES_PER_HOST as u64 + 1, "tick {tick}");
            assert_eq!(t.series[0], n);
            assert_eq!(seen_tick, Some(tick as f64));
            assert_eq!(requests, t.istio.unwrap().requests_total);
            // Every host ever served, at the values of the last tick it
            // was served.
            let mut retained = 0;
            for host in 0..4 * (tick + 1) {
                let last = tick.min(host / 4 + 2);
                retained += IstioWorkload::requests(host, last);
            }
            let got = t.istio_retained.unwrap();
            assert_eq!(got.requests_total, retained as f64, "tick {tick}");
            assert!(got.response_bytes_sum >= t.istio.unwrap().response_bytes_sum);
            assert_eq!(got == t.istio.unwrap(), tick < 3, "tick {tick}");
        }
    }

    #[test]
    fn big_is_one_target() {
        let w = Workload::big(10_000);
        let t = w.build(0);
        assert_eq!(t.bodies.len(), 1);
        assert_eq!(parse(&t.bodies[0]).0, 10_000);
        assert_eq!(w.targets().next().map(|(job, _)| job), Some("big"));
    }

    #[test]
    fn kinds_parse_and_print() {
        for k in [WorkloadKind::Steady, WorkloadKind::Storm, WorkloadKind::Big] {
            assert_eq!(k.as_str().parse::<WorkloadKind>(), Ok(k));
        }
        let err = "calm".parse::<WorkloadKind>().unwrap_err();
        assert!(err.contains("calm") && err.contains("storm"), "{err}");
    }
}
