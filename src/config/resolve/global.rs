//! `global:`: the default scrape interval and timeout, external labels.

use super::{Ctx, interval_and_timeout, labels, nonzero};
use crate::config::error::ConfigPath;
use crate::config::raw::RawGlobal;
use crate::config::types::GlobalConfig;

pub(super) fn global(raw: RawGlobal, path: &ConfigPath, cx: &mut Ctx<'_>) -> GlobalConfig {
    let defaults = GlobalConfig::default();
    let (scrape_interval, scrape_timeout) = interval_and_timeout(
        raw.scrape_interval,
        raw.scrape_timeout,
        (defaults.scrape_interval, defaults.scrape_timeout),
        path,
        cx,
    );
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
