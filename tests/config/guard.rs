//! The series-budget keys: `guard:` defaults inherited by jobs, per-job
//! overrides, fold rules compiled (anchored), and the settings a target's
//! guard gets (with a `__series_budget__` override).

use levee::config::Config;
use levee::guard::{BudgetAction, GaugeFold};

const YAML: &str = r#"
guard:
  max_series: 200000
  staleness_window: 2m
  cooldown: 30m
  state_save_interval: 30s
  series_budget: 5000
  keep_top: 3
scrape_configs:
  - job_name: istio
    series_budget: 1000
    budget_action: fold
    overflow_value: __other__
    gauge_fold: max
    fold_labels:
      - labels: [destination_service, destination_workload]
        metric: istio_.*
      - labels: [pod]
    static_configs: [{targets: ['127.0.0.1:15090']}]
  - job_name: node
    budget_action: drop
    static_configs: [{targets: ['127.0.0.1:9100']}]
"#;

#[test]
fn guard_defaults_and_job_keys_resolve() {
    let c = Config::from_yaml(YAML).expect("valid config");
    assert_eq!(c.guard.max_series, 200_000);
    assert_eq!(c.guard.staleness_window.to_string(), "2m");
    assert_eq!(c.guard.cooldown.to_string(), "30m");
    assert_eq!(c.guard.state_save_interval.to_string(), "30s");

    let istio = &c.scrape_configs[0].guard;
    assert_eq!(istio.series_budget, 1000);
    assert_eq!(istio.keep_top, 3, "inherited from guard:");
    assert_eq!(istio.overflow_value, "__other__");
    assert_eq!(istio.gauge_fold, GaugeFold::Max);
    assert_eq!(istio.fold_labels.len(), 2);
    let rule = &istio.fold_labels[0];
    assert_eq!(rule.labels, ["destination_service", "destination_workload"]);
    assert!(rule.matches_metric("istio_requests_total"));
    assert!(!rule.matches_metric("x_istio_requests_total"), "anchored");
    assert!(istio.fold_labels[1].matches_metric("anything"));

    let node = &c.scrape_configs[1].guard;
    assert_eq!(node.series_budget, 5000, "inherited from guard:");
    assert_eq!(node.budget_action, BudgetAction::Drop);
    assert_eq!(node.overflow_value, "__overflow__");
    assert_eq!(node.gauge_fold, GaugeFold::Sum);

    let s = istio.settings(Some(42));
    assert_eq!(s.series_budget, 42);
    assert_eq!(s.staleness_window_ms, 120_000);
    assert_eq!(s.cooldown_ms, 1_800_000);
    assert_eq!(s.keep_top, 3);
    assert_eq!(istio.settings(None).series_budget, 1000);
}

#[test]
fn without_guard_keys_nothing_is_guarded() {
    let c = Config::from_yaml("scrape_configs:\n  - job_name: a\n").expect("valid");
    let g = &c.scrape_configs[0].guard;
    assert!(!g.is_active());
    assert_eq!(g.settings(None).staleness_window_ms, 300_000);
    assert_eq!(c.guard.cooldown.to_string(), "15m");
    assert_eq!(c.guard.state_save_interval.to_string(), "10s");
}

#[test]
fn a_zero_save_interval_is_refused() {
    let err = Config::from_yaml(
        "guard:
  state_save_interval: 0s
",
    )
    .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("guard.state_save_interval") && text.contains("greater than 0s"),
        "{text}"
    );
}

const RECEIVER: &str = r#"
global:
  scrape_interval: 30s
guard:
  max_series: 100000
  keep_top: 2
receiver:
  series_budget: 2000
  budget_action: fold
  gauge_fold: max
  fold_labels:
    - labels: [request_id]
  sources:
    tenant-a:
      series_budget: 50000
    tenant-b:
      budget_action: fail
      fold_labels: []
"#;

#[test]
fn receiver_budgets_resolve_over_guard_with_per_source_overrides() {
    let c = Config::from_yaml(RECEIVER).expect("valid config");
    let r = c.receiver.expect("receiver on");
    let g = &r.guard;
    assert_eq!(g.fold_interval.to_string(), "30s", "global.scrape_interval");
    assert_eq!(g.defaults.series_budget, 2000);
    assert_eq!(g.defaults.keep_top, 2, "from guard:");
    assert_eq!(g.defaults.gauge_fold, GaugeFold::Max);
    assert_eq!(g.defaults.fold_labels.len(), 1);
    let a = &g.sources["tenant-a"];
    assert_eq!(a.series_budget, 50000);
    assert_eq!(a.gauge_fold, GaugeFold::Max, "from receiver:");
    assert_eq!(a.fold_labels.len(), 1, "the receiver's rules");
    let b = &g.sources["tenant-b"];
    assert_eq!(
        (b.series_budget, b.budget_action),
        (2000, BudgetAction::Fail)
    );
    assert!(b.fold_labels.is_empty(), "its own (none)");
    let p = g.policy();
    assert!(p.ceiling);
    assert_eq!(p.fold_interval_ms, 30_000);
    assert_eq!(p.settings("tenant-a").series_budget, 50000);
    assert_eq!(p.settings("other").series_budget, 2000);
}

#[test]
fn receiver_budget_keys_are_checked_where_they_are() {
    for (yaml, want) in [
        (
            "receiver:\n  budget_action: explode\n",
            "receiver.budget_action",
        ),
        ("receiver:\n  fold_interval: 0s\n", "receiver.fold_interval"),
        (
            "receiver:\n  sources:\n    t:\n      gauge_fold: avg\n",
            "receiver.sources.t.gauge_fold",
        ),
        (
            "receiver:\n  sources:\n    t:\n      budget: 5\n",
            "receiver.sources.t",
        ),
    ] {
        let err = Config::from_yaml(yaml).expect_err(yaml);
        let text = err.to_string();
        assert!(text.contains(want), "{yaml}: {text}");
    }
    let c = Config::from_yaml("receiver: {}\n").expect("valid");
    let g = c.receiver.expect("on").guard;
    assert_eq!(g.fold_interval.to_string(), "1m");
    assert_eq!(g.policy().max_sources, 1000, "the default");
    assert!(
        !g.policy().guards("anyone"),
        "no budget, no rules: no guard"
    );
    let c = Config::from_yaml("receiver: {max_sources: 0}\n").expect("valid");
    assert_eq!(
        c.receiver.expect("on").guard.policy().max_sources,
        0,
        "no limit"
    );
}
