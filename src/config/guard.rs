//! levee's series-budget keys: the top-level `guard:` section (whole-agent
//! ceiling, staleness window, cool-down, defaults for every job) and the
//! per-job keys (`series_budget`, `budget_action`, `keep_top`,
//! `overflow_value`, `gauge_fold`, `fold_labels`), as written and resolved.
//! Semantics: `docs/guard.md`.

use serde::Deserialize;

use super::duration::Duration;
use super::error::{ConfigPath, ProblemKind};
use super::raw::RawScrapeConfig;
use super::resolve::{Ctx, valid_label_name};
use crate::guard::{
    BudgetAction, DEFAULT_COOLDOWN_MS, DEFAULT_OVERFLOW_VALUE, DEFAULT_STALENESS_WINDOW_MS,
    FoldRule, GaugeFold, GuardSettings,
};

/// `guard:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub max_series: Option<u64>,
    pub staleness_window: Option<Duration>,
    pub cooldown: Option<Duration>,
    pub state_save_interval: Option<Duration>,
    pub series_budget: Option<u64>,
    pub budget_action: Option<String>,
    pub keep_top: Option<u64>,
    pub overflow_value: Option<String>,
    pub gauge_fold: Option<String>,
}

/// One entry of a job's `fold_labels:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFoldLabels {
    pub labels: Option<Vec<String>>,
    pub metric: Option<String>,
}

/// A job's budget keys as written (moved out of [`RawScrapeConfig`]).
#[derive(Debug, Default)]
pub struct RawJobGuard {
    pub series_budget: Option<u64>,
    pub budget_action: Option<String>,
    pub keep_top: Option<u64>,
    pub overflow_value: Option<String>,
    pub gauge_fold: Option<String>,
    pub fold_labels: Option<Vec<RawFoldLabels>>,
}

impl RawScrapeConfig {
    /// Moves the budget keys out.
    pub fn take_guard(&mut self) -> RawJobGuard {
        RawJobGuard {
            series_budget: self.series_budget.take(),
            budget_action: self.budget_action.take(),
            keep_top: self.keep_top.take(),
            overflow_value: self.overflow_value.take(),
            gauge_fold: self.gauge_fold.take(),
            fold_labels: self.fold_labels.take(),
        }
    }
}

/// `guard:` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Most active series over all targets; 0 means no ceiling. Near it,
    /// targets above their fair share are held to it.
    pub max_series: u64,
    /// A series not seen for this long leaves its target's active set (5m).
    pub staleness_window: Duration,
    /// An automatic fold is lifted after its label stayed under half the
    /// budget this long (15m).
    pub cooldown: Duration,
    /// How often the guard state is saved while running (10s): the most a
    /// `kill -9` loses. Read at start.
    pub state_save_interval: Duration,
    /// Defaults of the per-job keys.
    pub defaults: JobGuardConfig,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_series: 0,
            staleness_window: Duration::from_millis(DEFAULT_STALENESS_WINDOW_MS as u64),
            cooldown: Duration::from_millis(DEFAULT_COOLDOWN_MS as u64),
            state_save_interval: Duration::from_millis(10_000),
            defaults: JobGuardConfig::default(),
        }
    }
}

/// A job's budget settings resolved (defaults from `guard:`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobGuardConfig {
    /// Most active series per target; 0 means no budget. A target's
    /// `__series_budget__` label overrides it.
    pub series_budget: u64,
    /// `fold` (default), `drop` or `fail`.
    pub budget_action: BudgetAction,
    /// Values of a folded label kept as they are (default 0).
    pub keep_top: u64,
    /// The value folded labels take (default `__overflow__`).
    pub overflow_value: String,
    /// How folded gauges combine (default `sum`).
    pub gauge_fold: GaugeFold,
    /// Explicit folds.
    pub fold_labels: Vec<FoldRule>,
    /// From `guard.staleness_window`.
    pub staleness_window: Duration,
    /// From `guard.cooldown`.
    pub cooldown: Duration,
    /// From `guard.max_series`.
    pub max_series: u64,
}

impl Default for JobGuardConfig {
    fn default() -> Self {
        JobGuardConfig {
            series_budget: 0,
            budget_action: BudgetAction::Fold,
            keep_top: 0,
            overflow_value: DEFAULT_OVERFLOW_VALUE.into(),
            gauge_fold: GaugeFold::Sum,
            fold_labels: Vec::new(),
            staleness_window: Duration::from_millis(DEFAULT_STALENESS_WINDOW_MS as u64),
            cooldown: Duration::from_millis(DEFAULT_COOLDOWN_MS as u64),
            max_series: 0,
        }
    }
}

impl JobGuardConfig {
    /// The guard settings of a target of this job, with its
    /// `__series_budget__` override if any.
    pub fn settings(&self, budget_override: Option<u64>) -> GuardSettings {
        GuardSettings {
            series_budget: budget_override.unwrap_or(self.series_budget),
            action: self.budget_action,
            keep_top: self.keep_top as usize,
            overflow_value: self.overflow_value.clone(),
            gauge_fold: self.gauge_fold,
            fold_rules: self.fold_labels.clone(),
            staleness_window_ms: self.staleness_window.as_std().as_millis() as i64,
            cooldown_ms: self.cooldown.as_std().as_millis() as i64,
        }
    }

    /// True when targets of this job need a guard at all.
    pub fn is_active(&self) -> bool {
        self.series_budget > 0 || !self.fold_labels.is_empty() || self.max_series > 0
    }
}

fn action(
    raw: Option<String>,
    default: BudgetAction,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> BudgetAction {
    match raw.as_deref() {
        None => default,
        Some(s) => BudgetAction::parse(s).unwrap_or_else(|| {
            cx.problem(
                ProblemKind::Invalid,
                path,
                format!("invalid value {s:?}, expected one of: fold, drop, fail"),
            );
            default
        }),
    }
}

fn gauge_fold(
    raw: Option<String>,
    default: GaugeFold,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> GaugeFold {
    match raw.as_deref() {
        None => default,
        Some(s) => GaugeFold::parse(s).unwrap_or_else(|| {
            cx.problem(
                ProblemKind::Invalid,
                path,
                format!("invalid value {s:?}, expected one of: sum, max, min, last"),
            );
            default
        }),
    }
}

fn overflow(raw: Option<String>, default: &str, path: &ConfigPath, cx: &mut Ctx<'_>) -> String {
    match raw {
        None => default.to_string(),
        Some(s) if s.is_empty() => {
            cx.problem(ProblemKind::Invalid, path, "must not be empty");
            default.to_string()
        }
        Some(s) => s,
    }
}

/// Resolves `guard:`.
pub fn resolve_guard(raw: Option<RawGuard>, path: &ConfigPath, cx: &mut Ctx<'_>) -> GuardConfig {
    let raw = raw.unwrap_or_default();
    let d = GuardConfig::default();
    let staleness_window = raw.staleness_window.unwrap_or(d.staleness_window);
    if staleness_window.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("staleness_window"),
            "must be greater than 0s",
        );
    }
    let cooldown = raw.cooldown.unwrap_or(d.cooldown);
    let state_save_interval = raw.state_save_interval.unwrap_or(d.state_save_interval);
    if state_save_interval.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("state_save_interval"),
            "must be greater than 0s",
        );
    }
    let max_series = raw.max_series.unwrap_or(0);
    let jd = JobGuardConfig::default();
    let defaults = JobGuardConfig {
        series_budget: raw.series_budget.unwrap_or(0),
        budget_action: action(
            raw.budget_action,
            jd.budget_action,
            &path.key("budget_action"),
            cx,
        ),
        keep_top: raw.keep_top.unwrap_or(0),
        overflow_value: overflow(
            raw.overflow_value,
            &jd.overflow_value,
            &path.key("overflow_value"),
            cx,
        ),
        gauge_fold: gauge_fold(raw.gauge_fold, jd.gauge_fold, &path.key("gauge_fold"), cx),
        fold_labels: Vec::new(),
        staleness_window,
        cooldown,
        max_series,
    };
    GuardConfig {
        max_series,
        staleness_window,
        cooldown,
        state_save_interval,
        defaults,
    }
}

/// Resolves a job's budget keys over the `guard:` defaults.
pub fn resolve_job_guard(
    raw: RawJobGuard,
    guard: &GuardConfig,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> JobGuardConfig {
    let d = &guard.defaults;
    let base = path.key("fold_labels");
    let mut fold_labels = Vec::new();
    for (i, rule) in raw.fold_labels.unwrap_or_default().into_iter().enumerate() {
        if let Some(r) = fold_rule(rule, &base.index(i), cx) {
            fold_labels.push(r);
        }
    }
    JobGuardConfig {
        series_budget: raw.series_budget.unwrap_or(d.series_budget),
        budget_action: action(
            raw.budget_action,
            d.budget_action,
            &path.key("budget_action"),
            cx,
        ),
        keep_top: raw.keep_top.unwrap_or(d.keep_top),
        overflow_value: overflow(
            raw.overflow_value,
            &d.overflow_value,
            &path.key("overflow_value"),
            cx,
        ),
        gauge_fold: gauge_fold(raw.gauge_fold, d.gauge_fold, &path.key("gauge_fold"), cx),
        fold_labels,
        staleness_window: guard.staleness_window,
        cooldown: guard.cooldown,
        max_series: guard.max_series,
    }
}

/// Label names a rule may not fold: the metric name, and the labels that
/// give histogram buckets and summary quantiles their meaning.
const UNFOLDABLE: &[&str] = &["__name__", "le", "quantile"];

fn fold_rule(raw: RawFoldLabels, path: &ConfigPath, cx: &mut Ctx<'_>) -> Option<FoldRule> {
    let labels = raw.labels.unwrap_or_default();
    let mut ok = true;
    if labels.is_empty() {
        cx.problem(
            ProblemKind::Invalid,
            path,
            "missing required key `labels` (a non-empty list of label names)",
        );
        ok = false;
    }
    for (i, l) in labels.iter().enumerate() {
        let at = path.key("labels").index(i);
        if !valid_label_name(l) {
            cx.problem(
                ProblemKind::Invalid,
                &at,
                format!("{l:?} is not a valid label name"),
            );
            ok = false;
        } else if UNFOLDABLE.contains(&l.as_str()) {
            cx.problem(ProblemKind::Invalid, &at, format!("{l:?} cannot be folded"));
            ok = false;
        }
    }
    let metric = raw.metric;
    match FoldRule::new(labels, metric.as_deref()) {
        Ok(rule) if ok => Some(rule),
        Ok(_) => None,
        Err(e) => {
            // The regex crate's message spans lines; keep its last one.
            let text = e.to_string();
            let why = text.lines().last().unwrap_or_default();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            let regex = metric.as_deref().unwrap_or_default();
            cx.problem(
                ProblemKind::Invalid,
                &path.key("metric"),
                format!("invalid regex {regex:?}: {why}"),
            );
            None
        }
    }
}
