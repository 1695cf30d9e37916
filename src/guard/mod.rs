//! Series budgets: the guard between relabeling and the sink that holds
//! every target to a budget of active series, finds the label that breaks
//! it, folds that label into an overflow value (or drops new series, or
//! fails the scrape), keeps folded totals exact, and reports what it did.
//!
//! A pure library: no I/O, no clock, no logging. The caller feeds a
//! [`TargetGuard`] one scrape at a time and gets back the samples to
//! forward (with staleness markers) and a [`ScrapeReport`] of counts and
//! events to log and export.
//!
//! ```
//! use levee::exposition::MetricType;
//! use levee::guard::{GuardSettings, TargetGuard};
//! use levee::labels::Labels;
//! use levee::pipeline::Sample;
//! use std::sync::Arc;
//!
//! let mut guard = TargetGuard::new(GuardSettings { series_budget: 4, ..Default::default() });
//! let scrape = |n: u64| -> Vec<Sample> {
//!     (0..n).map(|host| Sample {
//!         labels: Arc::new(Labels::from_pairs([
//!             ("__name__", "requests_total".to_string()),
//!             ("host", format!("h{host}")),
//!         ])),
//!         timestamp_ms: 1000,
//!         value: 10.0,
//!     }).collect()
//! };
//! let samples = scrape(10);
//! let kinds = vec![MetricType::Counter; samples.len()];
//! let mut out = Vec::new();
//! let report = guard.apply(1000, &samples, &kinds, &mut out).unwrap();
//! assert_eq!(report.offenders[0].label, "host");
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].labels.get("host"), Some("__overflow__"));
//! assert_eq!(out[0].value, 100.0);
//! ```
//!
//! Semantics, choices and costs: `docs/guard.md`.

mod admit;
mod ceiling;
mod compact;
mod decide;
mod emit;
mod engine;
mod epoch;
mod fold;
mod fold_decisions;
mod folded_members;
mod forwarded;
mod hash;
mod interval;
mod members;
mod merge;
mod occupancy;
pub mod persist;
mod pushed;
mod pushed_metrics;
mod report;
mod role;
mod route;
mod settings;
mod so_far;
mod state;
mod stats;
mod table;
mod tuples;
mod value_counts;

pub use ceiling::{Ceiling, CeilingShare};
pub use engine::{MemberHit, NO_SLOT, TargetGuard};
pub use fold::{FoldOrigin, HYSTERESIS, MAX_FOLDS};
pub use merge::{Accumulator, member_increase};
pub use pushed::{
    PushError, PushReport, SOURCE_JOB, SOURCE_LABEL, SOURCE_URL, SourceGuard, SourceGuards,
    SourcePolicy, infer_kind, kinds_from_metadata, source_labels, source_name,
};
pub use pushed_metrics::SourceMetrics;
pub use report::{FoldInfo, Offender, ScrapeReport, TargetCardinality};
pub use role::{Role, classify};
pub use settings::{
    BudgetAction, DEFAULT_COOLDOWN_MS, DEFAULT_OVERFLOW_VALUE, DEFAULT_STALENESS_WINDOW_MS,
    FoldRule, GaugeFold, GuardSettings,
};
pub use state::{
    Emitted, FoldState, GroupState, GrowthState, GuardState, MAX_SLOT, MemberState, RestoreError,
    RouteState, SeriesState,
};
pub use stats::LabelSummary;
pub use table::DropReason;

/// Why the guard refused a scrape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// `budget_action: fail` and the scrape has more series than the budget.
    #[error("series budget exceeded: {series} series in the scrape, budget {budget}")]
    BudgetExceeded {
        /// The budget in force.
        budget: u64,
        /// Series in the scrape.
        series: u64,
    },
}

#[cfg(test)]
mod epoch_tests;
#[cfg(test)]
mod persist_tests;
#[cfg(test)]
mod pushed_tests;
#[cfg(test)]
mod slot_tests;
#[cfg(test)]
mod tests;
