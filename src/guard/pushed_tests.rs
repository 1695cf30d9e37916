//! Budgets for pushed data: an Istio-style explosion pushed in batches
//! under one source (many series and several timestamps per series per
//! request) folds with exact totals once the last interval is written,
//! another source passes untouched; resets, members first seen after the
//! fold, `drop`, `fail`, per-source overrides and a save/restore.

use super::persist::{self, Encoder};
use super::*;
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Sample;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const STEP: i64 = 15_000;
const T0: i64 = 1_800_000_000_000;
const OVERFLOW: &str = "__overflow__";

fn labels(pairs: &[(&str, String)]) -> Arc<Labels> {
    Arc::new(Labels::from_pairs(pairs.iter().cloned()))
}

/// The series of host `h` at scrape `s`: a request counter per response
/// code and a latency histogram, as an Istio sidecar has them. Hosts
/// with `h % 7 == 3` restart (their counters reset) at scrape 12.
fn host_samples(h: u64, s: u64, ts: i64) -> Vec<(Sample, MetricType)> {
    let host = format!("svc-{h}.default.svc.cluster.local");
    let s = if h % 7 == 3 && s >= 12 { s - 11 } else { s + 1 };
    let mut v = Vec::new();
    for code in ["200", "503"] {
        let l = labels(&[
            ("__name__", "istio_requests_total".into()),
            ("destination_service", host.clone()),
            ("response_code", code.into()),
        ]);
        let value = (s * (h % 5 + 1) * if code == "200" { 10 } else { 1 }) as f64;
        v.push((
            Sample {
                labels: l,
                timestamp_ms: ts,
                value,
            },
            MetricType::Unknown,
        ));
    }
    let name = "istio_request_duration_milliseconds";
    for (i, le) in ["10", "100", "+Inf"].iter().enumerate() {
        let l = labels(&[
            ("__name__", format!("{name}_bucket")),
            ("destination_service", host.clone()),
            ("le", le.to_string()),
        ]);
        v.push((
            Sample {
                labels: l,
                timestamp_ms: ts,
                value: (s * (i as u64 + 1) * 2) as f64,
            },
            MetricType::Histogram,
        ));
    }
    for (suffix, value) in [("_count", s * 6), ("_sum", s * 170)] {
        let l = labels(&[
            ("__name__", format!("{name}{suffix}")),
            ("destination_service", host.clone()),
        ]);
        v.push((
            Sample {
                labels: l,
                timestamp_ms: ts,
                value: value as f64,
            },
            MetricType::Histogram,
        ));
    }
    v
}

/// The ground truth of the folded series: per member label set, its
/// reset-aware increases summed (its whole value when nothing reset).
#[derive(Default)]
struct Truth {
    last: HashMap<Arc<Labels>, f64>,
    total: BTreeMap<Labels, f64>,
}

impl Truth {
    fn see(&mut self, s: &Sample) {
        let prev = self.last.insert(s.labels.clone(), s.value);
        let inc = member_increase(prev, s.value);
        let mut b = s.labels.to_builder();
        b.set("destination_service", OVERFLOW);
        *self.total.entry(b.into_labels()).or_default() += inc;
    }
}

fn storm_settings(budget: u64) -> GuardSettings {
    GuardSettings {
        series_budget: budget,
        ..Default::default()
    }
}

/// The last value written per label set.
fn last_written(out: &[Sample]) -> BTreeMap<Labels, (i64, f64)> {
    let mut m: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
    for s in out {
        let e = m.entry((*s.labels).clone()).or_insert((i64::MIN, 0.0));
        if s.timestamp_ms >= e.0 {
            *e = (s.timestamp_ms, s.value);
        }
    }
    m
}

#[test]
fn a_pushed_storm_folds_exactly_and_the_other_source_is_untouched() {
    let policy = SourcePolicy {
        default: storm_settings(40),
        sources: HashMap::new(),
        fold_interval_ms: STEP,
        ceiling: false,
        max_sources: 0,
    };
    let guards = SourceGuards::new(policy, None);
    let mut truth = Truth::default();
    let (mut storm_out, mut calm_out, mut calm_in) = (Vec::new(), Vec::new(), Vec::new());
    let mut folded_at = None;
    const ROUNDS: u64 = 10;
    for r in 0..ROUNDS {
        // Every 30 s a request with the last two scrapes of every host;
        // hosts arrive all along (most after the fold).
        let now = T0 + (2 * r as i64 + 2) * STEP;
        let (mut samples, mut kinds) = (Vec::new(), Vec::new());
        for k in 0..2 {
            let s = 2 * r + k;
            let ts = T0 + (s as i64 + 1) * STEP;
            for h in 0..(4 + 6 * r) {
                for (sample, kind) in host_samples(h, s, ts) {
                    truth.see(&sample);
                    samples.push(sample);
                    kinds.push(kind);
                }
            }
        }
        // Interleave the series as a sender's shards would.
        samples.reverse();
        kinds.reverse();
        let n = samples.len() as u64;
        let rep = guards
            .push("storm", now, samples, &kinds, &mut storm_out)
            .expect("fold never refuses");
        assert_eq!(
            rep.forwarded + rep.folded + rep.dropped_budget + rep.dropped_quantile,
            n,
            "every sample accounted for"
        );
        assert_eq!(rep.dropped_budget, 0);
        if !rep.offenders.is_empty() {
            assert_eq!(rep.offenders[0].label, "destination_service");
            folded_at.get_or_insert(r);
        }
        assert!(
            rep.active_series <= 40,
            "round {r}: {} active",
            rep.active_series
        );
        // An ordinary source, two scrapes a request.
        let calm: Vec<Sample> = (0..2)
            .flat_map(|k| {
                (0..5).map(move |i| Sample {
                    labels: labels(&[
                        ("__name__", "node_cpu_seconds_total".into()),
                        ("cpu", i.to_string()),
                    ]),
                    timestamp_ms: now - STEP + k * STEP,
                    value: (r * 10 + i) as f64 + k as f64,
                })
            })
            .collect();
        calm_in.extend(calm.iter().cloned());
        let rep = guards
            .push("calm", now, calm, &[], &mut calm_out)
            .expect("calm");
        assert_eq!((rep.forwarded, rep.folded), (10, 0));
        assert!(
            guards.tick(now + STEP / 2, &mut storm_out).is_empty(),
            "no interval ends half a step after a push"
        );
    }
    assert!(folded_at.is_some_and(|r| r < 3), "folded at {folded_at:?}");
    // One interval after the last push, the folded series are written.
    let end = T0 + (2 * ROUNDS as i64 + 3) * STEP;
    let mut flushed = Vec::new();
    let written = guards.tick(end, &mut flushed);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].0, "storm");
    assert!(
        flushed
            .iter()
            .all(|s| s.timestamp_ms % STEP == 0 && s.timestamp_ms <= end)
    );
    storm_out.extend(flushed);

    let last = last_written(&storm_out);
    let folded: BTreeMap<&Labels, f64> = last
        .iter()
        .filter(|(l, _)| l.get("destination_service") == Some(OVERFLOW))
        .map(|(l, &(_, v))| (l, v))
        .collect();
    assert_eq!(folded.len(), truth.total.len(), "{:?}", folded.keys());
    for (l, want) in &truth.total {
        assert_eq!(folded.get(l), Some(want), "{l:?}");
    }
    // Histogram buckets monotone, +Inf = _count.
    let get = |name: &str, le: Option<&str>| {
        folded
            .iter()
            .find(|(l, _)| l.metric_name() == Some(name) && l.get("le") == le)
            .map(|(_, &v)| v)
            .expect(name)
    };
    let b = "istio_request_duration_milliseconds_bucket";
    assert!(get(b, Some("10")) <= get(b, Some("100")));
    assert!(get(b, Some("100")) <= get(b, Some("+Inf")));
    assert_eq!(
        get(b, Some("+Inf")),
        get("istio_request_duration_milliseconds_count", None)
    );
    // Series the storm source has downstream now: the folded ones and
    // the few hosts of the first round.
    let after_fold: std::collections::BTreeSet<&Labels> = last
        .iter()
        .filter(|(_, (ts, _))| *ts > T0 + 6 * STEP)
        .map(|(l, _)| l)
        .collect();
    assert!(after_fold.len() <= 40, "{} series", after_fold.len());
    // Series written as they were before the fold end with a staleness
    // marker (a sum over what is written stays exact).
    let raw: Vec<_> = last
        .iter()
        .filter(|(l, _)| l.get("destination_service") != Some(OVERFLOW))
        .collect();
    // Only the first round's hosts were written as they are (the rest
    // came in the pass that folded them, or later): 4 hosts, 7 series.
    assert_eq!(raw.len(), 28, "{raw:?}");
    for (l, (_, v)) in &raw {
        assert!(crate::value::is_stale_nan(*v), "{l:?} not marked stale");
    }
    // Pushed samples keep their own timestamps.
    assert!(
        storm_out
            .iter()
            .filter(|s| s.labels.get("destination_service") != Some(OVERFLOW))
            .all(|s| (s.timestamp_ms - T0) % STEP == 0)
    );
    // The calm source: exactly what it pushed.
    // (in pass order: each series' samples by timestamp)
    let bits = |v: &[Sample]| -> Vec<(Labels, i64, u64)> {
        let mut v: Vec<_> = v
            .iter()
            .map(|s| ((*s.labels).clone(), s.timestamp_ms, s.value.to_bits()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(bits(&calm_out), bits(&calm_in));
}

#[test]
fn drop_passes_what_fits_and_counts_the_rest() {
    let mut g = SourceGuard::new(
        "s",
        GuardSettings {
            series_budget: 10,
            action: BudgetAction::Drop,
            ..Default::default()
        },
        STEP,
        None,
    );
    let samples: Vec<Sample> = (0..20)
        .map(|i| Sample {
            labels: labels(&[("__name__", format!("m{i}"))]),
            timestamp_ms: T0,
            value: 1.0,
        })
        .collect();
    let mut out = Vec::new();
    let rep = g.push(T0, &samples, &[], &mut out).expect("drop accepts");
    assert_eq!((rep.forwarded, rep.dropped_budget, rep.folded), (10, 10, 0));
    assert_eq!(rep.dropped_series, 10);
    assert_eq!(out.len(), 10);
    assert_eq!(rep.offenders.len(), 1);
}

#[test]
fn fail_refuses_the_whole_request_and_says_why() {
    let mut g = SourceGuard::new(
        "tenant-a",
        GuardSettings {
            series_budget: 10,
            action: BudgetAction::Fail,
            ..Default::default()
        },
        STEP,
        None,
    );
    let series = |n: u64, ts: i64| -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                labels: labels(&[("__name__", format!("m{i}"))]),
                timestamp_ms: ts,
                value: 1.0,
            })
            .collect()
    };
    let mut out = Vec::new();
    // Two samples per series: 8 series fit.
    let mut two = series(8, T0);
    two.extend(series(8, T0 + 1));
    let rep = g.push(T0, &two, &[], &mut out).expect("fits");
    assert_eq!(rep.forwarded, 16);
    out.clear();
    let err = g.push(T0 + STEP, &series(12, T0 + STEP), &[], &mut out);
    let Err(e) = err else {
        panic!("over budget accepted: {err:?}")
    };
    assert_eq!(
        e,
        PushError::BudgetExceeded {
            name: "tenant-a".into(),
            budget: 10,
            series: 12,
            new: 4
        }
    );
    assert!(e.to_string().contains("tenant-a"), "{e}");
    assert!(out.is_empty());
    assert_eq!(g.guard().active_series(), 8, "nothing of it was admitted");
}

#[test]
fn per_source_overrides_and_unguarded_sources() {
    let mut sources = HashMap::new();
    sources.insert("big".to_string(), storm_settings(10_000));
    let guards = SourceGuards::new(
        SourcePolicy {
            default: storm_settings(30),
            sources,
            fold_interval_ms: STEP,
            ceiling: false,
            max_sources: 0,
        },
        None,
    );
    let storm = |now: i64| -> Vec<Sample> {
        (0..20)
            .flat_map(|h| host_samples(h, 0, now))
            .map(|(s, _)| s)
            .collect()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let ra = guards.push("big", T0, storm(T0), &[], &mut a).expect("big");
    let rb = guards
        .push("small", T0, storm(T0), &[], &mut b)
        .expect("small");
    assert_eq!((ra.forwarded, ra.folded), (140, 0));
    assert!(rb.folded > 0 && rb.active_series <= 30, "{rb:?}");

    let none = SourceGuards::new(
        SourcePolicy {
            default: GuardSettings::default(),
            sources: HashMap::new(),
            fold_interval_ms: STEP,
            ceiling: false,
            max_sources: 0,
        },
        None,
    );
    assert!(
        none.source("x").unwrap().is_none(),
        "nothing to enforce: no guard"
    );
    let mut c = Vec::new();
    let rc = none.push("x", T0, storm(T0), &[], &mut c).expect("x");
    assert_eq!((rc.forwarded, c.len()), (140, 140));
}

#[test]
fn the_ceiling_is_shared_with_scrape_targets() {
    let ceiling = Arc::new(Ceiling::default());
    ceiling.set_max(100);
    let mut target = ceiling.join();
    target.report(85);
    let guards = SourceGuards::new(
        SourcePolicy {
            default: GuardSettings::default(),
            sources: HashMap::new(),
            fold_interval_ms: STEP,
            ceiling: true,
            max_sources: 0,
        },
        Some(ceiling.clone()),
    );
    let samples: Vec<Sample> = (0..60)
        .map(|i| Sample {
            labels: labels(&[("__name__", "req_total".into()), ("host", format!("h{i}"))]),
            timestamp_ms: T0,
            value: 1.0,
        })
        .collect();
    let mut out = Vec::new();
    guards
        .push("s", T0, samples.clone(), &[], &mut out)
        .expect("first push");
    // Now the total is near the ceiling: the source, above its fair share
    // of 50, is held to it at its next push.
    let later: Vec<Sample> = samples
        .into_iter()
        .map(|s| Sample {
            timestamp_ms: T0 + STEP,
            ..s
        })
        .collect();
    let rep = guards
        .push("s", T0 + STEP, later, &[], &mut out)
        .expect("second push");
    assert_eq!(rep.budget, 50);
    assert_eq!(rep.active_series, 1, "held to 50, the source folded `host`");
    assert_eq!(ceiling.total(), 85 + rep.active_series as i64);
}

#[test]
fn a_restored_source_continues_its_folds_and_totals() {
    let settings = storm_settings(20);
    let mut a = SourceGuard::new("storm", settings.clone(), STEP, None);
    let mut truth = Truth::default();
    let mut out_a = Vec::new();
    let push = |g: &mut SourceGuard, r: u64, out: &mut Vec<Sample>, truth: Option<&mut Truth>| {
        let now = T0 + r as i64 * STEP;
        let samples: Vec<Sample> = (0..(5 + 3 * r))
            .flat_map(|h| host_samples(h, r, now - 1))
            .map(|(s, _)| s)
            .collect();
        if let Some(t) = truth {
            samples.iter().for_each(|s| t.see(s));
        }
        g.push(now, &samples, &[], out).expect("push")
    };
    for r in 0..4 {
        push(&mut a, r, &mut out_a, Some(&mut truth));
    }
    // kill -9 after the save: a restarted levee restores the source.
    let mut enc = Encoder::new();
    enc.add_guard(SOURCE_JOB, SOURCE_URL, &source_labels("storm"), a.guard());
    let bytes = enc.into_bytes();
    let saved = persist::decode("state", &bytes).expect("decodes");
    assert_eq!(saved.len(), 1);
    assert_eq!(source_name(&saved[0]), Some("storm"));
    let mut b =
        SourceGuard::restore("storm", settings, &saved[0].state, STEP, None).expect("restores");
    assert_eq!(b.snapshot(T0, 5), a.snapshot(T0, 5));
    let mut out_b = out_a.clone();
    for r in 4..8 {
        push(&mut a, r, &mut out_a, None);
        push(&mut b, r, &mut out_b, Some(&mut truth));
    }
    let end = T0 + 10 * STEP;
    a.tick(end, &mut out_a);
    b.tick(end, &mut out_b);
    let (la, lb) = (last_written(&out_a), last_written(&out_b));
    let bits = |m: &BTreeMap<Labels, (i64, f64)>| -> Vec<(Labels, i64, u64)> {
        m.iter()
            .map(|(l, (t, v))| (l.clone(), *t, v.to_bits()))
            .collect()
    };
    assert_eq!(
        bits(&la),
        bits(&lb),
        "the restored source writes what the other does"
    );
    for (l, want) in &truth.total {
        assert_eq!(lb.get(l).map(|v| v.1), Some(*want), "{l:?}");
    }
}

#[test]
fn kinds_are_inferred_from_names_when_the_sender_gave_none() {
    let l =
        |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().map(|(n, v)| (*n, v.to_string())));
    use MetricType::*;
    assert_eq!(infer_kind(None, &l(&[("__name__", "a_total")])), Counter);
    assert_eq!(
        infer_kind(None, &l(&[("__name__", "a_bucket"), ("le", "1")])),
        Histogram
    );
    assert_eq!(
        infer_kind(None, &l(&[("__name__", "a"), ("quantile", "0.5")])),
        Summary
    );
    assert_eq!(
        infer_kind(Some(Unknown), &l(&[("__name__", "a_count")])),
        Histogram
    );
    assert_eq!(infer_kind(None, &l(&[("__name__", "temp")])), Unknown);
    assert_eq!(
        infer_kind(Some(Gauge), &l(&[("__name__", "a_total")])),
        Gauge
    );
}

#[test]
fn a_resent_batch_is_not_counted_twice() {
    let mut g = SourceGuard::new("s", storm_settings(10), STEP, None);
    let batch = |r: u64| -> Vec<Sample> {
        (0..2)
            .flat_map(|k| {
                (0..30)
                    .flat_map(move |h| host_samples(h, 2 * r + k, T0 + (2 * r + k) as i64 * STEP))
            })
            .map(|(s, _)| s)
            .collect()
    };
    let mut truth = Truth::default();
    let mut out = Vec::new();
    for r in 0..3 {
        let b = batch(r);
        b.iter().for_each(|s| truth.see(s));
        let now = T0 + (2 * r as i64 + 2) * STEP;
        g.push(now, &b, &[], &mut out).expect("push");
        // The answer was lost: the sender sends the same batch again.
        let rep = g.push(now + 1, &b, &[], &mut out).expect("resend");
        assert_eq!(rep.out_of_order, b.len() as u64, "round {r}");
        assert_eq!((rep.forwarded, rep.folded), (0, 0));
    }
    g.tick(T0 + 20 * STEP, &mut out);
    let last = last_written(&out);
    for (l, want) in &truth.total {
        assert_eq!(last.get(l).map(|v| v.1), Some(*want), "{l:?}");
    }
}

#[test]
fn a_new_source_past_max_sources_is_refused_and_known_ones_push_on() {
    let guards = SourceGuards::new(
        SourcePolicy {
            default: storm_settings(30),
            sources: HashMap::new(),
            fold_interval_ms: STEP,
            ceiling: false,
            max_sources: 2,
        },
        None,
    );
    let one = |now: i64| {
        host_samples(0, 0, now)
            .into_iter()
            .map(|(s, _)| s)
            .collect::<Vec<_>>()
    };
    for name in ["a", "b"] {
        guards
            .push(name, T0, one(T0), &[], &mut Vec::new())
            .expect(name);
    }
    // A known source still pushes; a third one is refused whole.
    guards
        .push("a", T0 + 1, one(T0 + 1), &[], &mut Vec::new())
        .expect("a again");
    let mut out = Vec::new();
    let err = guards
        .push("c", T0 + 1, one(T0 + 1), &[], &mut out)
        .unwrap_err();
    assert!(
        matches!(err, PushError::TooManySources { max: 2, .. }),
        "{err}"
    );
    assert!(out.is_empty(), "nothing of the refused request is written");
    assert!(err.to_string().contains("receiver.max_sources"), "{err}");
}
