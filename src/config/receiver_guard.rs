//! The series-budget keys of the `receiver:` section: a source's budget
//! (`series_budget`, `budget_action`, `keep_top`, `overflow_value`,
//! `gauge_fold`, `fold_labels`, the same keys and parsing as a scrape
//! job's, over the `guard:` defaults), how often folded series are written
//! (`fold_interval`, default `global.scrape_interval`), and per-source
//! overrides (`sources: {<name>: {series_budget: …}}`, over the receiver's
//! keys). Semantics: `docs/guard.md` ("Pushed data").

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::duration::Duration;
use super::error::{ConfigPath, ProblemKind};
use super::guard::{GuardConfig, JobGuardConfig, RawFoldLabels, RawJobGuard, resolve_job_guard};
use super::receiver::RawReceiver;
use super::resolve::Ctx;
use crate::guard::SourcePolicy;

/// One source's overrides as written (`receiver.sources.<name>`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSourceGuard {
    pub series_budget: Option<u64>,
    pub budget_action: Option<String>,
    pub keep_top: Option<u64>,
    pub overflow_value: Option<String>,
    pub gauge_fold: Option<String>,
    pub fold_labels: Option<Vec<RawFoldLabels>>,
}

impl From<RawSourceGuard> for RawJobGuard {
    fn from(r: RawSourceGuard) -> RawJobGuard {
        RawJobGuard {
            series_budget: r.series_budget,
            budget_action: r.budget_action,
            keep_top: r.keep_top,
            overflow_value: r.overflow_value,
            gauge_fold: r.gauge_fold,
            fold_labels: r.fold_labels,
        }
    }
}

/// The receiver's budget keys as written (moved out of [`RawReceiver`]).
#[derive(Debug, Default)]
pub struct RawReceiverGuard {
    pub keys: RawSourceGuard,
    pub fold_interval: Option<Duration>,
    pub max_sources: Option<u64>,
    pub sources: Option<BTreeMap<String, RawSourceGuard>>,
}

impl RawReceiver {
    /// Moves the budget keys out.
    pub fn take_guard(&mut self) -> RawReceiverGuard {
        RawReceiverGuard {
            keys: RawSourceGuard {
                series_budget: self.series_budget.take(),
                budget_action: self.budget_action.take(),
                keep_top: self.keep_top.take(),
                overflow_value: self.overflow_value.take(),
                gauge_fold: self.gauge_fold.take(),
                fold_labels: self.fold_labels.take(),
            },
            fold_interval: self.fold_interval.take(),
            max_sources: self.max_sources.take(),
            sources: self.sources.take(),
        }
    }
}

/// The receiver's budgets resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverGuardConfig {
    /// Every source's settings (the receiver's keys over `guard:`).
    pub defaults: JobGuardConfig,
    /// Sources with settings of their own (their keys over the
    /// receiver's; `fold_labels` the receiver's unless given).
    pub sources: BTreeMap<String, JobGuardConfig>,
    /// How often folded series are written (default
    /// `global.scrape_interval`).
    pub fold_interval: Duration,
    /// Most sources held to a budget at once (`0`: no limit); a request
    /// of one more is refused until a source goes idle.
    pub max_sources: u64,
}

/// The default of `receiver.max_sources`.
pub const DEFAULT_MAX_SOURCES: u64 = 1000;

impl Default for ReceiverGuardConfig {
    fn default() -> Self {
        ReceiverGuardConfig {
            defaults: JobGuardConfig::default(),
            sources: BTreeMap::new(),
            fold_interval: Duration::from_secs(60),
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

impl ReceiverGuardConfig {
    /// What [`crate::guard::SourceGuards`] enforces.
    pub fn policy(&self) -> SourcePolicy {
        SourcePolicy {
            default: self.defaults.settings(None),
            sources: self
                .sources
                .iter()
                .map(|(n, c)| (n.clone(), c.settings(None)))
                .collect::<HashMap<_, _>>(),
            fold_interval_ms: self.fold_interval.as_millis() as i64,
            ceiling: self.defaults.max_series > 0,
            max_sources: self.max_sources as usize,
        }
    }
}

/// Resolves the receiver's budget keys over `guard:`; `scrape_interval`
/// is `global.scrape_interval`, the default fold interval.
pub fn resolve_receiver_guard(
    raw: RawReceiverGuard,
    guard: &GuardConfig,
    scrape_interval: Duration,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> ReceiverGuardConfig {
    let defaults = resolve_job_guard(raw.keys.into(), guard, path, cx);
    let over = GuardConfig {
        defaults: defaults.clone(),
        ..guard.clone()
    };
    let mut sources = BTreeMap::new();
    let base = path.key("sources");
    for (name, keys) in raw.sources.unwrap_or_default() {
        let at = base.key(&name);
        if name.is_empty() {
            cx.problem(ProblemKind::Invalid, &at, "a source name must not be empty");
            continue;
        }
        let inherit = keys.fold_labels.is_none();
        let mut c = resolve_job_guard(keys.into(), &over, &at, cx);
        if inherit {
            c.fold_labels = defaults.fold_labels.clone();
        }
        sources.insert(name, c);
    }
    let fold_interval = raw.fold_interval.unwrap_or(scrape_interval);
    if fold_interval.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("fold_interval"),
            "must be greater than 0s",
        );
    }
    ReceiverGuardConfig {
        defaults,
        sources,
        fold_interval,
        max_sources: raw.max_sources.unwrap_or(DEFAULT_MAX_SOURCES),
    }
}
