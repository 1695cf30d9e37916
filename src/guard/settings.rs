//! What a target's guard is asked to enforce: the budget, the action on a
//! breach, how folded gauges combine, explicit fold rules, the staleness
//! window and the cool-down before a fold is lifted.

use regex::Regex;

/// What happens when a target goes over its series budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetAction {
    /// Fold the offending label into an overflow value (the default).
    #[default]
    Fold,
    /// Drop new series past the budget; existing ones keep flowing.
    Drop,
    /// Fail the whole scrape, as Prometheus' `sample_limit` does.
    Fail,
}

impl BudgetAction {
    /// The config spelling: `fold`, `drop` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetAction::Fold => "fold",
            BudgetAction::Drop => "drop",
            BudgetAction::Fail => "fail",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<BudgetAction> {
        match s {
            "fold" => Some(BudgetAction::Fold),
            "drop" => Some(BudgetAction::Drop),
            "fail" => Some(BudgetAction::Fail),
            _ => None,
        }
    }
}

/// How the members of a folded gauge (or untyped) series combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GaugeFold {
    /// The sum of the members present in the scrape (the default).
    #[default]
    Sum,
    /// The largest member value.
    Max,
    /// The smallest member value.
    Min,
    /// The value of the member written last in the scrape.
    Last,
}

impl GaugeFold {
    /// The config spelling: `sum`, `max`, `min` or `last`.
    pub fn as_str(self) -> &'static str {
        match self {
            GaugeFold::Sum => "sum",
            GaugeFold::Max => "max",
            GaugeFold::Min => "min",
            GaugeFold::Last => "last",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<GaugeFold> {
        match s {
            "sum" => Some(GaugeFold::Sum),
            "max" => Some(GaugeFold::Max),
            "min" => Some(GaugeFold::Min),
            "last" => Some(GaugeFold::Last),
            _ => None,
        }
    }
}

/// An explicit fold: these labels are always folded, on every metric or on
/// the metrics whose name matches `metric` (fully anchored).
#[derive(Debug, Clone)]
pub struct FoldRule {
    /// Label names folded together; the first one is the one `keep_top`
    /// ranks values of.
    pub labels: Vec<String>,
    /// Metric names the rule applies to; `None` for all.
    pub metric: Option<Regex>,
}

impl PartialEq for FoldRule {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && self.metric.as_ref().map(Regex::as_str) == other.metric.as_ref().map(Regex::as_str)
    }
}

impl FoldRule {
    /// A rule folding `labels` on metrics matching `metric` (the pattern is
    /// anchored as Prometheus anchors relabel regexes).
    pub fn new(labels: Vec<String>, metric: Option<&str>) -> Result<FoldRule, regex::Error> {
        let metric = match metric {
            Some(m) => Some(Regex::new(&format!("^(?s:{m})$"))?),
            None => None,
        };
        Ok(FoldRule { labels, metric })
    }

    /// True when the rule applies to a series named `name`.
    pub fn matches_metric(&self, name: &str) -> bool {
        self.metric.as_ref().is_none_or(|r| r.is_match(name))
    }
}

/// Default staleness window: 5 minutes, as Prometheus' lookback.
pub const DEFAULT_STALENESS_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Default cool-down before an automatic fold is lifted: 15 minutes.
pub const DEFAULT_COOLDOWN_MS: i64 = 15 * 60 * 1000;
/// Default overflow value.
pub const DEFAULT_OVERFLOW_VALUE: &str = "__overflow__";

/// Everything one target's guard enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    /// Most active (downstream) series; 0 means no budget.
    pub series_budget: u64,
    /// What a breach does.
    pub action: BudgetAction,
    /// Values of a folded label kept as they are: the most active ones.
    pub keep_top: usize,
    /// The value a folded label takes.
    pub overflow_value: String,
    /// How folded gauges and untyped series combine.
    pub gauge_fold: GaugeFold,
    /// Folds that apply always, without waiting for a breach.
    pub fold_rules: Vec<FoldRule>,
    /// A series not seen for this long leaves the active set.
    pub staleness_window_ms: i64,
    /// An automatic fold is lifted once its label stayed under half the
    /// budget for this long.
    pub cooldown_ms: i64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            series_budget: 0,
            action: BudgetAction::Fold,
            keep_top: 0,
            overflow_value: DEFAULT_OVERFLOW_VALUE.into(),
            gauge_fold: GaugeFold::Sum,
            fold_rules: Vec::new(),
            staleness_window_ms: DEFAULT_STALENESS_WINDOW_MS,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
        }
    }
}

impl GuardSettings {
    /// True when the guard has anything to do (a budget or a rule).
    pub fn is_active(&self) -> bool {
        self.series_budget > 0 || !self.fold_rules.is_empty()
    }
}
