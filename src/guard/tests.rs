//! Behaviour of [`TargetGuard`] scrape by scrape: passthrough, folding,
//! merge arithmetic, transitions, actions, rules, keep_top, lifting and
//! window expiry.

use super::*;
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::value::is_stale_nan;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Label sets are shared between scrapes as the scrape cache shares them.
#[derive(Default)]
struct Feed {
    interned: BTreeMap<String, Arc<Labels>>,
}

impl Feed {
    fn labels(&mut self, series: &str) -> Arc<Labels> {
        self.interned
            .entry(series.to_string())
            .or_insert_with(|| Arc::new(parse(series)))
            .clone()
    }

    fn scrape(
        &mut self,
        ts: i64,
        items: &[(&str, MetricType, f64)],
    ) -> (Vec<Sample>, Vec<MetricType>) {
        let samples = items
            .iter()
            .map(|(s, _, v)| Sample {
                labels: self.labels(s),
                timestamp_ms: ts,
                value: *v,
            })
            .collect();
        (samples, items.iter().map(|(_, k, _)| *k).collect())
    }
}

/// `name{a="1",b="2"}` (no escapes) into labels.
fn parse(series: &str) -> Labels {
    let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    for kv in rest
        .trim_end_matches('}')
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv.split_once('=').expect("k=v");
        pairs.push((k.to_string(), v.trim_matches('"').to_string()));
    }
    Labels::from_pairs(pairs)
}

/// Output as `series -> value` (stale markers as "stale").
fn run(
    g: &mut TargetGuard,
    feed: &mut Feed,
    ts: i64,
    items: &[(&str, MetricType, f64)],
) -> (BTreeMap<String, String>, ScrapeReport) {
    let (samples, kinds) = feed.scrape(ts, items);
    let mut out = Vec::new();
    let report = g
        .apply(ts, &samples, &kinds, &mut out)
        .expect("scrape accepted");
    (render(&out), report)
}

fn render(out: &[Sample]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in out {
        let v = if is_stale_nan(s.value) {
            "stale".to_string()
        } else {
            s.value.to_string()
        };
        assert!(
            m.insert(s.labels.to_string(), v).is_none(),
            "twice: {}",
            s.labels
        );
    }
    m
}

fn budget(n: u64) -> GuardSettings {
    GuardSettings {
        series_budget: n,
        ..GuardSettings::default()
    }
}

use MetricType::{Counter, Gauge, Histogram, Summary};

#[test]
fn under_budget_everything_passes_and_vanished_series_go_stale() {
    let mut g = TargetGuard::new(budget(10));
    let mut f = Feed::default();
    let (out, r) = run(
        &mut g,
        &mut f,
        1000,
        &[("a{x=\"1\"}", Counter, 1.0), ("b", Gauge, 2.0)],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out["{__name__=\"a\", x=\"1\"}"], "1");
    assert_eq!(r.active_series, 2);
    assert!(r.offenders.is_empty());
    let (out, r) = run(&mut g, &mut f, 2000, &[("a{x=\"1\"}", Counter, 3.0)]);
    assert_eq!(out["{__name__=\"a\", x=\"1\"}"], "3");
    assert_eq!(out["{__name__=\"b\"}"], "stale");
    assert_eq!(r.stale_markers, 1);
    // Still active within the window.
    assert_eq!(r.active_series, 2);
}

fn hosts(n: usize, value: impl Fn(usize) -> f64) -> Vec<(String, f64)> {
    (0..n)
        .map(|h| (format!("req_total{{code=\"200\",host=\"h{h}\"}}"), value(h)))
        .collect()
}

fn items(v: &[(String, f64)], kind: MetricType) -> Vec<(&str, MetricType, f64)> {
    v.iter().map(|(s, x)| (s.as_str(), kind, *x)).collect()
}

#[test]
fn breach_folds_the_offending_label_and_keeps_the_sum() {
    let mut g = TargetGuard::new(budget(5));
    let mut f = Feed::default();
    let first = hosts(4, |h| h as f64 + 1.0);
    let (out, _) = run(&mut g, &mut f, 1000, &items(&first, Counter));
    assert_eq!(out.len(), 4);
    let second = hosts(8, |h| 2.0 * (h as f64 + 1.0));
    let (out, r) = run(&mut g, &mut f, 2000, &items(&second, Counter));
    assert_eq!(r.offenders.len(), 1, "{r:?}");
    let o = &r.offenders[0];
    assert_eq!(o.label, "host");
    assert_eq!(o.families, ["req_total"]);
    assert_eq!(o.distinct, 8);
    assert_eq!(o.active_before, 8);
    assert_eq!(o.active_after, 1);
    // The four raw series forwarded before get staleness markers; the
    // folded series starts at the full sum of its members.
    let folded = "{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}";
    assert_eq!(out[folded], (2..=16).step_by(2).sum::<i32>().to_string());
    assert_eq!(out.values().filter(|v| *v == "stale").count(), 4);
    assert_eq!(out.len(), 5);
    assert_eq!(r.active_series, 1);
    assert_eq!(r.folded_series, 8);
    // Next scrape: increases are added; a reset member adds its new value;
    // a new member adds its full value.
    let mut third = hosts(8, |h| 3.0 * (h as f64 + 1.0));
    third[0].1 = 1.0; // host 0 reset: 2 -> 1
    third.push(("req_total{code=\"200\",host=\"new\"}".into(), 100.0));
    let (out, r) = run(&mut g, &mut f, 3000, &items(&third, Counter));
    let inc: f64 = (1..8).map(|h| (h + 1) as f64).sum::<f64>() + 1.0 + 100.0;
    assert_eq!(out[folded], (72.0 + inc).to_string());
    assert_eq!(out.len(), 1);
    assert!(r.offenders.is_empty());
}

#[test]
fn a_member_absent_when_the_fold_starts_is_counted_once() {
    let mut g = TargetGuard::new(budget(2));
    let mut f = Feed::default();
    let folded = "{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}";
    run(
        &mut g,
        &mut f,
        1000,
        &items(&hosts(2, |h| 10.0 * (h + 1) as f64), Counter),
    );
    // h1 (20) is absent when h2 and h3 take the target over budget.
    let v = [
        ("req_total{code=\"200\",host=\"h0\"}", Counter, 11.0),
        ("req_total{code=\"200\",host=\"h2\"}", Counter, 5.0),
        ("req_total{code=\"200\",host=\"h3\"}", Counter, 7.0),
    ];
    let (out, r) = run(&mut g, &mut f, 2000, &v);
    assert_eq!(r.offenders.len(), 1);
    // Every member's last value is in: 11 + 20 (h1, last seen) + 5 + 7.
    assert_eq!(out[folded], "43");
    // h1 returns having grown by 3: the folded counter grows by exactly that.
    let (out, _) = run(
        &mut g,
        &mut f,
        3000,
        &[("req_total{code=\"200\",host=\"h1\"}", Counter, 23.0)],
    );
    assert_eq!(out[folded], "46");
}

#[test]
fn a_member_absent_for_a_scrape_continues_from_its_last_value() {
    let mut g = TargetGuard::new(GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["host".into()], None).unwrap()],
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let folded = "{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}";
    let (out, _) = run(&mut g, &mut f, 1000, &items(&hosts(2, |_| 10.0), Counter));
    assert_eq!(out[folded], "20");
    let (out, _) = run(&mut g, &mut f, 2000, &items(&hosts(1, |_| 11.0), Counter));
    assert_eq!(out[folded], "21");
    let (out, _) = run(&mut g, &mut f, 3000, &items(&hosts(2, |_| 15.0), Counter));
    assert_eq!(out[folded], "30");
    // The folded series vanishes with its last member, and comes back.
    let (out, _) = run(&mut g, &mut f, 4000, &[("other", Gauge, 1.0)]);
    assert_eq!(out[folded], "stale");
    let (out, _) = run(&mut g, &mut f, 5000, &items(&hosts(2, |_| 16.0), Counter));
    assert_eq!(out[folded], "32");
}

#[test]
fn histograms_fold_per_bucket_and_summary_quantiles_are_dropped() {
    let mut g = TargetGuard::new(GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["host".into()], None).unwrap()],
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let (out, r) = run(
        &mut g,
        &mut f,
        1000,
        &[
            ("lat_bucket{host=\"a\",le=\"1\"}", Histogram, 1.0),
            ("lat_bucket{host=\"a\",le=\"+Inf\"}", Histogram, 2.0),
            ("lat_sum{host=\"a\"}", Histogram, 0.5),
            ("lat_count{host=\"a\"}", Histogram, 2.0),
            ("lat_bucket{host=\"b\",le=\"1\"}", Histogram, 3.0),
            ("lat_bucket{host=\"b\",le=\"+Inf\"}", Histogram, 5.0),
            ("lat_sum{host=\"b\"}", Histogram, 1.5),
            ("lat_count{host=\"b\"}", Histogram, 5.0),
            ("rpc{host=\"a\",quantile=\"0.5\"}", Summary, 0.2),
            ("rpc_count{host=\"a\"}", Summary, 4.0),
            ("rpc{host=\"b\",quantile=\"0.5\"}", Summary, 0.3),
            ("rpc_count{host=\"b\"}", Summary, 6.0),
        ],
    );
    let o = |s: &str| out[s].clone();
    assert_eq!(
        o("{__name__=\"lat_bucket\", host=\"__overflow__\", le=\"1\"}"),
        "4"
    );
    assert_eq!(
        o("{__name__=\"lat_bucket\", host=\"__overflow__\", le=\"+Inf\"}"),
        "7"
    );
    assert_eq!(o("{__name__=\"lat_sum\", host=\"__overflow__\"}"), "2");
    assert_eq!(o("{__name__=\"lat_count\", host=\"__overflow__\"}"), "7");
    assert_eq!(o("{__name__=\"rpc_count\", host=\"__overflow__\"}"), "10");
    assert_eq!(out.len(), 5);
    assert_eq!(r.dropped_quantile_samples, 2);
}

#[test]
fn gauges_fold_by_the_configured_function() {
    for (fold, want) in [
        (GaugeFold::Sum, "9"),
        (GaugeFold::Max, "5"),
        (GaugeFold::Min, "-1"),
        (GaugeFold::Last, "5"),
    ] {
        let mut g = TargetGuard::new(GuardSettings {
            gauge_fold: fold,
            fold_rules: vec![FoldRule::new(vec!["pod".into()], Some("mem.*")).unwrap()],
            ..GuardSettings::default()
        });
        let mut f = Feed::default();
        let (out, _) = run(
            &mut g,
            &mut f,
            1000,
            &[
                ("mem{pod=\"a\"}", Gauge, 5.0),
                ("mem{pod=\"b\"}", MetricType::Unknown, -1.0),
                ("mem{pod=\"c\"}", Gauge, 5.0),
                ("cpu{pod=\"a\"}", Gauge, 7.0),
            ],
        );
        assert_eq!(
            out["{__name__=\"mem\", pod=\"__overflow__\"}"], want,
            "{fold:?}"
        );
        // The rule's metric regex leaves cpu alone.
        assert_eq!(out["{__name__=\"cpu\", pod=\"a\"}"], "7");
    }
}

#[test]
fn correlated_labels_are_folded_together() {
    let mut g = TargetGuard::new(budget(3));
    let mut f = Feed::default();
    let series: Vec<(String, f64)> = (0..6)
        .map(|h| {
            (
                format!(
                    "req_total{{svc=\"s{h}\",workload=\"w{h}\",code=\"{}\"}}",
                    200 + h % 2
                ),
                1.0,
            )
        })
        .collect();
    let (out, r) = run(&mut g, &mut f, 1000, &items(&series, Counter));
    let o = &r.offenders[0];
    assert_eq!(
        (o.label.as_str(), o.with.as_slice()),
        ("svc", &["workload".to_string()][..])
    );
    assert_eq!(r.active_series, 2);
    assert_eq!(
        out["{__name__=\"req_total\", code=\"201\", svc=\"__overflow__\", workload=\"__overflow__\"}"],
        "3"
    );
}

#[test]
fn drop_keeps_existing_series_and_drops_new_ones() {
    let mut g = TargetGuard::new(GuardSettings {
        series_budget: 3,
        action: BudgetAction::Drop,
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let (out, _) = run(&mut g, &mut f, 1000, &items(&hosts(2, |_| 1.0), Counter));
    assert_eq!(out.len(), 2);
    let (out, r) = run(&mut g, &mut f, 2000, &items(&hosts(5, |_| 2.0), Counter));
    assert_eq!(out.len(), 3);
    assert_eq!(r.dropped_series, 2);
    assert_eq!(r.dropped_budget_samples, 2);
    assert_eq!(r.offenders.len(), 1);
    assert_eq!(r.offenders[0].action, BudgetAction::Drop);
    let (_, r) = run(&mut g, &mut f, 3000, &items(&hosts(5, |_| 3.0), Counter));
    assert_eq!((r.dropped_series, r.dropped_budget_samples), (0, 2));
    assert!(r.offenders.is_empty());
    // Room again once the others leave the window: a dropped series gets in.
    let later = 3000 + DEFAULT_STALENESS_WINDOW_MS + 1;
    let only: Vec<(String, f64)> = hosts(5, |_| 4.0).into_iter().skip(4).collect();
    let (out, r) = run(&mut g, &mut f, later, &items(&only, Counter));
    assert_eq!(
        out["{__name__=\"req_total\", code=\"200\", host=\"h4\"}"],
        "4"
    );
    assert_eq!(r.dropped_budget_samples, 0);
}

#[test]
fn fail_refuses_the_scrape_and_abort_marks_everything_stale() {
    let mut g = TargetGuard::new(GuardSettings {
        series_budget: 3,
        action: BudgetAction::Fail,
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let (out, _) = run(&mut g, &mut f, 1000, &items(&hosts(3, |_| 1.0), Counter));
    assert_eq!(out.len(), 3);
    let (samples, kinds) = f.scrape(2000, &items(&hosts(4, |_| 1.0), Counter));
    let mut out = Vec::new();
    let err = g.apply(2000, &samples, &kinds, &mut out).unwrap_err();
    assert_eq!(
        err,
        GuardError::BudgetExceeded {
            budget: 3,
            series: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "series budget exceeded: 4 series in the scrape, budget 3"
    );
    assert!(out.is_empty());
    assert_eq!(g.abort(2000, &mut out), 3);
    assert!(out.iter().all(|s| is_stale_nan(s.value)));
    // Nothing left to mark.
    assert_eq!(g.abort(3000, &mut Vec::new()), 0);
}

#[test]
fn keep_top_keeps_the_busiest_values_with_hysteresis() {
    let mut g = TargetGuard::new(GuardSettings {
        series_budget: 3,
        keep_top: 1,
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    // Six hosts' request counters; one host is hot (+100 a scrape), the
    // others get +1.
    let mut counts = [0.0f64; 6];
    let mut step = |g: &mut TargetGuard, f: &mut Feed, k: i64, hot: usize| {
        for (h, c) in counts.iter_mut().enumerate() {
            *c += if h == hot { 100.0 } else { 1.0 };
        }
        let v = hosts(6, |h| counts[h]);
        let (out, r) = run(g, f, 1000 * k, &items(&v, Counter));
        let forwarded: f64 = out.values().filter_map(|v| v.parse::<f64>().ok()).sum();
        assert_eq!(forwarded, counts.iter().sum::<f64>(), "scrape {k}: {out:?}");
        (out, r)
    };
    let (out, r) = step(&mut g, &mut f, 1, 0);
    assert_eq!(r.offenders[0].label, "host");
    // h0 has the most events: kept as it is, continuing its raw series.
    assert_eq!(
        out["{__name__=\"req_total\", code=\"200\", host=\"h0\"}"],
        "100"
    );
    assert_eq!(
        out["{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}"],
        "5"
    );
    assert_eq!(r.active_series, 2);
    assert_eq!(g.snapshot(1000, 5).folds[0].kept_values, ["h0"]);
    // h5 becomes the hot one: a few scrapes later it takes h0's place; the
    // forwarded total stays exact through every switch (checked in step).
    let mut switched_at = None;
    for k in 2..20 {
        let (out, _) = step(&mut g, &mut f, k, if k < 4 { 0 } else { 5 });
        if switched_at.is_none() && g.snapshot(0, 0).folds[0].kept_values == ["h5"] {
            switched_at = Some(k);
        }
        if let Some(at) = switched_at
            && k > at
        {
            assert!(out.contains_key("{__name__=\"req_total\", code=\"200\", host=\"h5\"}"));
            let h0 = out.get("{__name__=\"req_total\", code=\"200\", host=\"h0\"}");
            assert!(
                h0.is_none_or(|v| v == "stale" && k == at + 1),
                "{k}: {h0:?}"
            );
        }
    }
    let at = switched_at.expect("h5 promoted");
    assert!(at > 4, "promoted at once, without hysteresis: {at}");
}

#[test]
fn automatic_folds_are_lifted_after_the_cooldown() {
    let mut g = TargetGuard::new(GuardSettings {
        series_budget: 8,
        staleness_window_ms: 10_000,
        cooldown_ms: 20_000,
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let (_, r) = run(&mut g, &mut f, 1000, &items(&hosts(10, |_| 1.0), Counter));
    assert_eq!(r.active_series, 1);
    // The storm ends: two hosts remain. Their old companions leave the
    // window, the label stays quiet for the cool-down, the fold is lifted.
    let mut lifted_at = None;
    for i in 1..60 {
        let ts = 1000 + i * 1000;
        let (out, r) = run(
            &mut g,
            &mut f,
            ts,
            &items(&hosts(2, |_| 1.0 + i as f64), Counter),
        );
        if let Some(at) = lifted_at {
            // The scrape after the lift: raw series again.
            assert_eq!(
                out["{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}"],
                "stale"
            );
            assert_eq!(
                out["{__name__=\"req_total\", code=\"200\", host=\"h1\"}"],
                (1 + i).to_string()
            );
            assert_eq!(out.len(), 3);
            assert!(at >= 1000 + 10_000 + 20_000, "lifted at {at}");
            break;
        }
        if !r.lifted.is_empty() {
            assert_eq!(r.lifted, ["host"]);
            lifted_at = Some(ts);
        }
    }
    assert!(lifted_at.is_some(), "fold lifted");
    assert_eq!(g.active_series(), 2);
}

#[test]
fn series_leave_the_window_and_their_memory_goes() {
    let mut g = TargetGuard::new(budget(1000));
    let mut f = Feed::default();
    run(&mut g, &mut f, 0, &items(&hosts(50, |_| 1.0), Counter));
    assert_eq!(g.scraped_series(), 50);
    run(&mut g, &mut f, 60_000, &[("up2", Gauge, 1.0)]);
    assert_eq!(g.active_series(), 51);
    run(
        &mut g,
        &mut f,
        DEFAULT_STALENESS_WINDOW_MS + 60_000,
        &[("up2", Gauge, 1.0)],
    );
    assert_eq!(g.scraped_series(), 1);
    assert_eq!(g.active_series(), 1);
    assert!(
        g.snapshot(0, 10)
            .top_labels
            .iter()
            .all(|l| l.label != "host")
    );
}

#[test]
fn a_series_under_a_new_arc_is_the_same_series() {
    let mut g = TargetGuard::new(GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["host".into()], None).unwrap()],
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let (out, _) = run(&mut g, &mut f, 1000, &items(&hosts(2, |_| 5.0), Counter));
    assert_eq!(out.values().next().map(String::as_str), Some("10"));
    // The scrape cache lost the series and built its labels again.
    let mut f2 = Feed::default();
    let (out, _) = run(&mut g, &mut f2, 2000, &items(&hosts(2, |_| 6.0), Counter));
    assert_eq!(out.values().next().map(String::as_str), Some("12"));
    assert_eq!(g.scraped_series(), 2);
}

#[test]
fn reload_replaces_rules_and_lifts_folds() {
    let rule = FoldRule::new(vec!["host".into()], None).unwrap();
    let mut g = TargetGuard::new(GuardSettings {
        fold_rules: vec![rule],
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    run(&mut g, &mut f, 1000, &items(&hosts(3, |_| 5.0), Counter));
    g.reconfigure(GuardSettings::default());
    let (out, _) = run(&mut g, &mut f, 2000, &items(&hosts(3, |_| 6.0), Counter));
    assert_eq!(
        out["{__name__=\"req_total\", code=\"200\", host=\"__overflow__\"}"],
        "stale"
    );
    assert_eq!(
        out["{__name__=\"req_total\", code=\"200\", host=\"h2\"}"],
        "6"
    );
    assert_eq!(out.len(), 4);
}

#[test]
fn duplicates_in_one_scrape_count_once() {
    let mut g = TargetGuard::new(budget(10));
    let mut f = Feed::default();
    let (out, r) = run(
        &mut g,
        &mut f,
        1000,
        &[("a", Gauge, 1.0), ("a", Gauge, 2.0)],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(r.duplicate_samples, 1);
}

#[test]
fn apply_gives_what_the_scrape_loops_way_gives_in_the_same_order() {
    let rule = || GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["host".into()], Some("req_total")).unwrap()],
        ..GuardSettings::default()
    };
    let (mut a, mut b) = (TargetGuard::new(rule()), TargetGuard::new(rule()));
    let mut f = Feed::default();
    for (ts, n) in [(1000, 3), (2000, 2)] {
        let hs = hosts(n, |h| h as f64);
        let mut v = items(&hs, Counter);
        v.insert(1, ("x{k=\"1\"}", Gauge, 1.0));
        v.push(("y", Gauge, 2.0));
        let (samples, kinds) = f.scrape(ts, &v);
        let mut out = Vec::new();
        a.apply(ts, &samples, &kinds, &mut out).unwrap();
        // The scrape loop's way: members merged by key as the samples
        // come, the rest finished in place with their keys.
        let keyer = b.keyer();
        b.begin(ts);
        let (mut batch, mut batch_kinds, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for (s, kind) in samples.iter().zip(&kinds) {
            let key = keyer.key_labels(&s.labels);
            if b.merge_member(key, s.value, false) == MemberHit::NotMember {
                batch.push(s.clone());
                batch_kinds.push(*kind);
                keys.push(key);
            }
        }
        b.finish(ts, &mut batch, &batch_kinds, &keys, &[], |_, _| {})
            .unwrap();
        let show = |v: &[Sample]| -> Vec<String> {
            v.iter()
                .map(|s| format!("{} {}", s.labels, s.value))
                .collect()
        };
        assert_eq!(show(&out), show(&batch));
        // Raw samples first, in scrape order, then the folded series.
        assert!(show(&batch)[0].starts_with("{__name__=\"x\""));
        assert!(show(&batch)[1].starts_with("{__name__=\"y\""));
    }
}

#[test]
fn a_breach_no_fold_can_resolve_drops_new_series_and_says_so_once() {
    let mut g = TargetGuard::new(budget(3));
    let mut f = Feed::default();
    // Ten metric names without labels: nothing to fold.
    let names: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let v: Vec<(&str, MetricType, f64)> = names.iter().map(|n| (n.as_str(), Gauge, 1.0)).collect();
    let (out, r) = run(&mut g, &mut f, 1000, &v);
    assert_eq!(out.len(), 3);
    assert_eq!(r.active_series, 3);
    assert_eq!((r.dropped_series, r.dropped_budget_samples), (7, 7));
    assert_eq!(r.offenders.len(), 1);
    assert_eq!(r.offenders[0].action, BudgetAction::Drop);
    assert_eq!(r.offenders[0].label, "");
    // The next scrape: the same three pass, the rest stay dropped, no new
    // offender line.
    let (out, r) = run(&mut g, &mut f, 2000, &v);
    assert_eq!(out.len(), 3);
    assert_eq!((r.dropped_series, r.dropped_budget_samples), (0, 7));
    assert!(r.offenders.is_empty());
}

#[test]
fn summaries_fold_count_and_sum_and_created_takes_the_earliest() {
    let mut g = TargetGuard::new(GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["pod".into()], None).unwrap()],
        ..GuardSettings::default()
    });
    let mut f = Feed::default();
    let v = [
        ("rpc{pod=\"a\",quantile=\"0.9\"}", Summary, 0.4),
        ("rpc_sum{pod=\"a\"}", Summary, 2.0),
        ("rpc_count{pod=\"a\"}", Summary, 4.0),
        ("rpc_created{pod=\"a\"}", Summary, 1700.0),
        ("rpc{pod=\"b\",quantile=\"0.9\"}", Summary, 0.6),
        ("rpc_sum{pod=\"b\"}", Summary, 3.0),
        ("rpc_count{pod=\"b\"}", Summary, 5.0),
        ("rpc_created{pod=\"b\"}", Summary, 1600.0),
    ];
    let (out, r) = run(&mut g, &mut f, 1000, &v);
    assert_eq!(out["{__name__=\"rpc_sum\", pod=\"__overflow__\"}"], "5");
    assert_eq!(out["{__name__=\"rpc_count\", pod=\"__overflow__\"}"], "9");
    assert_eq!(
        out["{__name__=\"rpc_created\", pod=\"__overflow__\"}"],
        "1600"
    );
    assert_eq!(out.len(), 3);
    assert_eq!(r.dropped_quantile_samples, 2);
}

#[test]
fn a_series_replaced_by_another_still_goes_stale() {
    let mut g = TargetGuard::new(budget(10));
    let mut f = Feed::default();
    run(
        &mut g,
        &mut f,
        1000,
        &[("a", Gauge, 1.0), ("b", Gauge, 1.0)],
    );
    let (out, r) = run(
        &mut g,
        &mut f,
        2000,
        &[("a", Gauge, 1.0), ("c", Gauge, 1.0)],
    );
    assert_eq!(out["{__name__=\"b\"}"], "stale");
    assert_eq!(r.stale_markers, 1);
    // Nothing vanished: no markers (and no pass over the previous scrape).
    let (out, r) = run(
        &mut g,
        &mut f,
        3000,
        &[("a", Gauge, 1.0), ("c", Gauge, 1.0)],
    );
    assert_eq!((out.len(), r.stale_markers), (2, 0));
    // After a failed scrape everything is marked once, then the next
    // scrape starts afresh.
    assert_eq!(g.abort(4000, &mut Vec::new()), 2);
    let (out, r) = run(&mut g, &mut f, 5000, &[("a", Gauge, 1.0)]);
    assert_eq!((out.len(), r.stale_markers), (1, 0));
}

#[test]
fn a_scrape_failing_after_members_merged_leaves_no_trace_in_the_next_one() {
    let rule = GuardSettings {
        fold_rules: vec![FoldRule::new(vec!["host".into()], Some("req_total")).unwrap()],
        ..GuardSettings::default()
    };
    let mut g = TargetGuard::new(rule);
    let mut f = Feed::default();
    // Two scrapes: the folded series' members exist after them.
    for (ts, step) in [(1000, 1.0), (2000, 2.0)] {
        let (samples, kinds) =
            f.scrape(ts, &items(&hosts(3, |h| step * (h as f64 + 1.0)), Counter));
        g.apply(ts, &samples, &kinds, &mut Vec::new()).unwrap();
    }
    // The third scrape merges one member (h0 from 2 to 5), then its body
    // fails.
    let keyer = g.keyer();
    g.begin(3000);
    let (samples, _) = f.scrape(3000, &items(&hosts(1, |_| 5.0), Counter));
    assert_eq!(
        g.merge_member(keyer.key_labels(&samples[0].labels), 5.0, false),
        MemberHit::Merged
    );
    g.abort(3000, &mut Vec::new());
    // The next scrape: one folded sample, exactly the members' total.
    let now = hosts(3, |h| [6.0, 7.0, 9.0][h]);
    let (samples, kinds) = f.scrape(4000, &items(&now, Counter));
    let mut out = Vec::new();
    g.apply(4000, &samples, &kinds, &mut out).unwrap();
    let folded: Vec<&Sample> = out
        .iter()
        .filter(|s| s.labels.get("host") == Some("__overflow__"))
        .collect();
    assert_eq!(folded.len(), 1, "{out:?}");
    // Members went 1,2,3 → 2,4,6 → (h0: 5) → 6,7,9: increases sum to
    // 6 + 7 + 9 = 22 from a start of 0 (first seen folded as a whole).
    assert_eq!(folded[0].value, 22.0);
}
