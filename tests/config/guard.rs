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
