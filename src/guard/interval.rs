//! Folded series written once per interval, for pushed data: a guard in
//! this mode ([`TargetGuard::defer_folded`]) forwards the samples that pass
//! as they come, but keeps the folded series each pass touched
//! ([`DeferredFolds`]) until its caller ends the interval
//! ([`TargetGuard::flush_folded`]). Its only staleness markers are for
//! series that stop being written as they are because they became folded
//! (at the end of the pass that folded them, so that a sum over what is
//! written stays exact); absence from a request means nothing (a pushed
//! sample carries its own timestamp, and a sender marks its own series
//! stale).
//!
//! Invariant: the pending map holds, for each folded series merged into
//! since the last flush, its labels and its value at the end of the last
//! pass that merged into it (the running total for counter parts, the
//! pass' `gauge_fold` for the others). A folded series removed meanwhile
//! keeps its entry: its last value is still written. `ended` holds the
//! series the pass in progress moved from written-as-they-are into a
//! folded series, emptied at the pass' end.

use super::emit::stale;
use super::engine::TargetGuard;
use super::report::ScrapeReport;
use super::role::Role;
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::series_key::SeriesKey;
use std::collections::HashMap;
use std::sync::Arc;

/// The folded series waiting for the end of the interval. See the module
/// docs.
#[derive(Debug, Default)]
pub(super) struct DeferredFolds {
    pending: HashMap<Arc<Labels>, f64>,
    ended: Vec<Arc<Labels>>,
}

impl DeferredFolds {
    /// The series with these labels became folded in this pass.
    pub fn ended(&mut self, labels: Arc<Labels>) {
        self.ended.push(labels);
    }
}

impl TargetGuard {
    /// Puts the guard in interval mode (pushed data): folded series are
    /// written by [`TargetGuard::flush_folded`] only, and no staleness
    /// markers are written. Each pass (a [`TargetGuard::begin`] …
    /// [`TargetGuard::finish`]) then forwards its passing samples at once.
    pub fn defer_folded(&mut self) {
        if self.deferred.is_none() {
            self.deferred = Some(DeferredFolds::default());
        }
    }

    /// True in interval mode.
    pub fn is_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// The end of a pass in interval mode: the folded series it touched
    /// wait, with their values now; series it folded get a staleness
    /// marker at `ts_ms` in `out`; the forwarded lists turn over.
    pub(super) fn defer_groups(
        &mut self,
        ts_ms: i64,
        out: &mut Vec<Sample>,
        report: &mut ScrapeReport,
    ) {
        let touched = std::mem::take(&mut self.touched);
        if let Some(d) = self.deferred.as_mut() {
            for labels in d.ended.drain(..) {
                out.push(stale(labels, ts_ms));
                report.stale_markers += 1;
            }
            for &g in &touched {
                if let Some(group) = self.groups.get(g) {
                    let value = if group.role == Role::Cumulative {
                        group.value
                    } else {
                        group.acc.value
                    };
                    d.pending.insert(group.labels.clone(), value);
                }
            }
        }
        self.touched = touched;
        self.touched.clear();
        let previous = self.forwarded.take_maybe_stale();
        self.forwarded.end(previous);
    }

    /// Ends a fold interval: every folded series merged into since the last
    /// flush is appended to `out` once, stamped `ts_ms` (the interval's
    /// end), in label order. Returns how many.
    pub fn flush_folded(&mut self, ts_ms: i64, out: &mut Vec<Sample>) -> usize {
        let Some(d) = self.deferred.as_mut() else {
            return 0;
        };
        let mut pending: Vec<(Arc<Labels>, f64)> = d.pending.drain().collect();
        d.pending.shrink_to(64);
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let n = pending.len();
        out.extend(pending.into_iter().map(|(labels, value)| Sample {
            labels,
            timestamp_ms: ts_ms,
            value,
        }));
        n
    }

    /// Folded series waiting for the end of the interval.
    pub fn pending_folded(&self) -> usize {
        self.deferred.as_ref().map_or(0, |d| d.pending.len())
    }

    /// Marks every folded series to be written at the end of the interval
    /// (after a restore: what was merged before the crash and not yet
    /// written goes out with the next flush).
    pub fn defer_all_folded(&mut self) {
        if let Some(d) = self.deferred.as_mut() {
            for (_, group) in self.groups.iter() {
                if group.role == Role::Cumulative {
                    d.pending.insert(group.labels.clone(), group.value);
                }
            }
        }
    }

    /// True when the guard keeps a series with this key (labeled or a
    /// folded member) within the window.
    pub fn knows(&self, key: &SeriesKey) -> bool {
        self.series.find_key(key).is_some() || self.members.get(key).is_some()
    }
}
