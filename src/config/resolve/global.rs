//! `global:`: the default scrape interval and timeout, external labels.

use super::{Ctx, labels, nonzero};
use crate::config::error::{ConfigPath, ProblemKind};
use crate::config::raw::RawGlobal;
use crate::config::types::GlobalConfig;

pub(super) fn global(raw: RawGlobal, path: &ConfigPath, cx: &mut Ctx<'_>) -> GlobalConfig {
    let defaults = GlobalConfig::default();
    let scrape_interval = raw
        .scrape_interval
        .filter(nonzero)
        .unwrap_or(defaults.scrape_interval);
    let scrape_timeout = match raw.scrape_timeout.filter(nonzero) {
        Some(timeout) => {
            if timeout > scrape_interval {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("scrape_timeout"),
                    format!(
                        "scrape_timeout ({timeout}) is greater than scrape_interval ({scrape_interval})"
                    ),
                );
            }
            timeout
        }
        None => defaults.scrape_timeout.min(scrape_interval),
    };
    if raw.evaluation_interval.is_some() {
        cx.note(
            &path.key("evaluation_interval"),
            "accepted and unused (levee evaluates no rules)",
        );
    }
    let external_labels = labels(
        raw.external_labels.unwrap_or_default(),
        &path.key("external_labels"),
        cx,
    );
    GlobalConfig {
        scrape_interval,
        scrape_timeout,
        evaluation_interval: raw
            .evaluation_interval
            .filter(nonzero)
            .unwrap_or(defaults.evaluation_interval),
        external_labels,
    }
}
