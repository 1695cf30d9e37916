//! What the guard tells its caller: per-scrape counts and events (new
//! offenders, lifted folds) for self-metrics and logs, and a snapshot of a
//! target's cardinality for the API.

use super::settings::BudgetAction;
use super::stats::LabelSummary;

/// A label found to take a target over its budget (one log line each).
#[derive(Debug, Clone, PartialEq)]
pub struct Offender {
    /// The label folded (or the most distinct one, for `drop`).
    pub label: String,
    /// Labels carrying the same information, folded with it.
    pub with: Vec<String>,
    /// Families in which it has more than one value.
    pub families: Vec<String>,
    /// Its distinct values among the target's active series.
    pub distinct: usize,
    /// New distinct values per minute, recently.
    pub growth_per_min: f64,
    /// The action taken.
    pub action: BudgetAction,
    /// Active series before the action.
    pub active_before: usize,
    /// Active series after it.
    pub active_after: usize,
}

/// Counts of one scrape through the guard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeReport {
    /// Active series after the scrape (as forwarded: a folded series counts
    /// once).
    pub active_series: usize,
    /// The budget in force (0: none).
    pub budget: u64,
    /// Scraped series currently merged into folded series.
    pub folded_series: usize,
    /// Samples forwarded (folded series once each).
    pub samples_out: u64,
    /// Staleness markers written.
    pub stale_markers: u64,
    /// Series newly dropped for the budget.
    pub dropped_series: u64,
    /// Samples dropped for the budget.
    pub dropped_budget_samples: u64,
    /// Summary quantile samples dropped because their summary is folded.
    pub dropped_quantile_samples: u64,
    /// Samples of a series seen twice in one scrape (the first is kept).
    pub duplicate_samples: u64,
    /// New offenders (folds started or drops begun).
    pub offenders: Vec<Offender>,
    /// Automatic folds lifted, by their label.
    pub lifted: Vec<String>,
}

/// One fold as shown by the cardinality API.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldInfo {
    /// The folded labels (first: the ranked one).
    pub labels: Vec<String>,
    /// The metric-name regex of a rule, if any.
    pub metric: Option<String>,
    /// `rule` or `auto`.
    pub origin: &'static str,
    /// Values kept as they are (`keep_top`).
    pub kept_values: Vec<String>,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
}

/// One target's cardinality, for `/api/v1/status/cardinality`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCardinality {
    /// Active series as forwarded.
    pub active_series: usize,
    /// Scraped series within the staleness window.
    pub scraped_series: usize,
    /// Budget in force (0: none).
    pub budget: u64,
    /// Action on a breach.
    pub action: BudgetAction,
    /// Scraped series merged into folded series.
    pub folded_series: usize,
    /// The (family, label) pairs with the most distinct values.
    pub top_labels: Vec<LabelSummary>,
    /// Current folds.
    pub folds: Vec<FoldInfo>,
}
