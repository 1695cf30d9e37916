//! Property tests for the guard's merge arithmetic: random members folded
//! into one counter, with random increases, resets, absences, returns, new
//! members and random order within a scrape. Between any two scrapes the
//! folded counter's increase equals the sum of its members' increases
//! (a drop is a reset: the new value is the increase; a new member counts
//! its full value), and it never decreases. A budget breach instead of a
//! rule gives the same numbers from the first scrape after the fold.

use levee::exposition::MetricType;
use levee::guard::{FoldRule, GuardSettings, TargetGuard};
use levee::labels::Labels;
use levee::pipeline::Sample;
use levee::value::is_stale_nan;
use proptest::prelude::*;
use std::sync::Arc;

/// What one member does in one scrape.
#[derive(Debug, Clone, Copy)]
enum Step {
    Absent,
    Grow(u32),
    Reset(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Absent),
        6 => (0u32..1000).prop_map(Step::Grow),
        1 => (0u32..50).prop_map(Step::Reset),
    ]
}

/// Per scrape: for each of up to 12 members a step, plus a shuffle seed.
fn scenario() -> impl Strategy<Value = Vec<(Vec<Step>, u64)>> {
    prop::collection::vec((prop::collection::vec(step(), 12), any::<u64>()), 1..30)
}

struct Member {
    labels: Arc<Labels>,
    value: Option<f64>,
    /// Last value seen by the fold (None: never seen).
    seen: Option<f64>,
}

/// Runs the scenario; returns the folded counter after each scrape in
/// which it was written and the expected total increase up to then.
fn play(settings: GuardSettings, scrapes: &[(Vec<Step>, u64)]) -> Vec<(f64, f64)> {
    let mut guard = TargetGuard::new(settings);
    let mut members: Vec<Member> = (0..12)
        .map(|i| Member {
            labels: Arc::new(Labels::from_pairs([
                ("__name__", "requests_total".to_string()),
                ("code", "200".to_string()),
                ("host", format!("h{i}")),
            ])),
            value: None,
            seen: None,
        })
        .collect();
    let mut expected = 0.0;
    let mut points = Vec::new();
    for (k, (steps, seed)) in scrapes.iter().enumerate() {
        let ts = 1000 * (k as i64 + 1);
        let mut samples = Vec::new();
        for (m, s) in members.iter_mut().zip(steps) {
            match s {
                Step::Absent => continue,
                Step::Grow(d) => m.value = Some(m.value.unwrap_or(0.0) + f64::from(*d)),
                Step::Reset(v) => m.value = Some(f64::from(*v)),
            }
            let v = m.value.unwrap_or(0.0);
            expected += match m.seen {
                Some(prev) if v >= prev => v - prev,
                _ => v,
            };
            m.seen = Some(v);
            samples.push(Sample {
                labels: m.labels.clone(),
                timestamp_ms: ts,
                value: v,
            });
        }
        // Out-of-order arrival: a seeded rotation and reversal.
        if !samples.is_empty() {
            let r = (*seed as usize) % samples.len();
            samples.rotate_left(r);
            if seed & 1 == 1 {
                samples.reverse();
            }
        }
        let kinds = vec![MetricType::Counter; samples.len()];
        let mut out = Vec::new();
        guard
            .apply(ts, &samples, &kinds, &mut out)
            .expect("fold never refuses a scrape");
        for s in out.iter().filter(|s| !is_stale_nan(s.value)) {
            if s.labels.get("host") == Some("__overflow__") {
                points.push((s.value, expected));
            }
        }
    }
    points
}

fn check(points: &[(f64, f64)]) -> Result<(), TestCaseError> {
    for w in points.windows(2) {
        let ((a, ea), (b, eb)) = (w[0], w[1]);
        prop_assert!(b >= a, "folded counter went back: {a} -> {b}");
        prop_assert_eq!(b - a, eb - ea, "increase {} -> {}", a, b);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rule_fold_increase_is_the_sum_of_member_increases(scrapes in scenario()) {
        let settings = GuardSettings {
            fold_rules: vec![FoldRule::new(vec!["host".into()], Some("requests_.*")).unwrap()],
            ..GuardSettings::default()
        };
        let points = play(settings, &scrapes);
        // With a rule the fold starts at once: the folded value is the whole
        // expected total.
        for (v, e) in &points {
            prop_assert_eq!(v, e);
        }
        check(&points)?;
    }

    #[test]
    fn budget_fold_increase_is_the_sum_of_member_increases(
        scrapes in scenario(),
        budget in 2u64..12,
        quiet in 0usize..4,
    ) {
        // The first `quiet` scrapes have few members, so the fold starts
        // with members that were forwarded raw and are absent.
        let mut scrapes = scrapes;
        for (steps, _) in scrapes.iter_mut().take(quiet) {
            for s in steps.iter_mut().skip(3) {
                *s = Step::Absent;
            }
        }
        let settings = GuardSettings { series_budget: budget, ..GuardSettings::default() };
        let points = play(settings, &scrapes);
        check(&points)?;
    }
}
