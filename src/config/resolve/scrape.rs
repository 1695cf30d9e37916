//! `scrape_configs:`: each job with its defaults from `global` and `guard`,
//! its static targets and service-discovery configs, and job names used
//! twice.

use std::collections::HashMap;

use super::{Ctx, interval_and_timeout, labels};
use crate::config::SdConfig;
use crate::config::error::{ConfigPath, ProblemKind};
use crate::config::http::resolve_http;
use crate::config::raw::{RawScrapeConfig, RawStaticConfig};
use crate::config::sd_file::resolve_file_sd;
use crate::config::sd_kubernetes;
use crate::config::types::{GlobalConfig, Scheme, ScrapeConfig, StaticConfig};
use crate::config::yaml::Value;

/// Reports every job name used twice. Read from the tree rather than the
/// decoded jobs, so that a job that failed to decode still counts.
pub(super) fn duplicate_job_names(base: &ConfigPath, cx: &mut Ctx<'_>) {
    let Some(Value::Seq(jobs)) = cx.root.get("scrape_configs").map(|n| &n.value) else {
        return;
    };
    let mut first_use: HashMap<&str, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let name = match job.get("job_name").map(|n| &n.value) {
            Some(Value::Str(name)) => name.as_str(),
            Some(Value::Scalar { text, .. }) => text.as_str(),
            _ => continue,
        };
        if name.is_empty() {
            continue;
        }
        match first_use.get(name) {
            Some(first) => duplicates.push((i, name.to_owned(), *first)),
            None => {
                first_use.insert(name, i);
            }
        }
    }
    for (i, name, first) in duplicates {
        cx.problem(
            ProblemKind::Invalid,
            &base.index(i).key("job_name"),
            format!("job name {name:?} is already used by scrape_configs[{first}]"),
        );
    }
}

pub(super) fn scrape_config(
    mut raw: RawScrapeConfig,
    global: &GlobalConfig,
    guard: &crate::config::GuardConfig,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> ScrapeConfig {
    let http = resolve_http(raw.take_http(), path, cx);
    let guard = crate::config::guard::resolve_job_guard(raw.take_guard(), guard, path, cx);
    let job_name = raw.job_name.unwrap_or_default();
    if job_name.is_empty() {
        cx.problem(
            ProblemKind::Invalid,
            path,
            "missing required key `job_name`",
        );
    }
    let (scrape_interval, scrape_timeout) = interval_and_timeout(
        raw.scrape_interval,
        raw.scrape_timeout,
        (global.scrape_interval, global.scrape_timeout),
        path,
        cx,
    );
    let metrics_path = match raw.metrics_path.filter(|p| !p.is_empty()) {
        None => "/metrics".to_owned(),
        Some(p) if p.starts_with('/') => p,
        Some(p) => format!("/{p}"),
    };
    let scheme = match raw.scheme.as_deref() {
        None | Some("") | Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => {
            cx.problem(
                ProblemKind::Invalid,
                &path.key("scheme"),
                format!("invalid value {other:?}, expected one of: http, https"),
            );
            Scheme::Http
        }
    };
    let base = path.key("static_configs");
    let static_configs = raw
        .static_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, sc)| static_config(sc, &base.index(i), cx))
        .collect();
    let base = path.key("file_sd_configs");
    let mut sd_configs: Vec<SdConfig> = raw
        .file_sd_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, fc)| SdConfig::File(resolve_file_sd(fc, &base.index(i), cx)))
        .collect();
    sd_configs.extend(crate::config::sd_kubelet::resolve(
        raw.kubelet_sd_configs.unwrap_or_default(),
        &path.key("kubelet_sd_configs"),
        cx,
    ));
    let base = path.key("kubernetes_sd_configs");
    sd_configs.extend(
        raw.kubernetes_sd_configs
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, k)| SdConfig::Kubernetes(sd_kubernetes::resolve(k, &base.index(i), cx))),
    );
    ScrapeConfig {
        job_name,
        scrape_interval,
        scrape_timeout,
        metrics_path,
        scheme,
        params: raw.params.unwrap_or_default(),
        honor_labels: raw.honor_labels.unwrap_or(false),
        honor_timestamps: raw.honor_timestamps.unwrap_or(true),
        static_configs,
        sd_configs,
        relabel_configs: raw.relabel_configs.unwrap_or_default(),
        metric_relabel_configs: raw.metric_relabel_configs.unwrap_or_default(),
        sample_limit: raw.sample_limit.unwrap_or(0),
        label_limit: raw.label_limit.unwrap_or(0),
        label_name_length_limit: raw.label_name_length_limit.unwrap_or(0),
        label_value_length_limit: raw.label_value_length_limit.unwrap_or(0),
        body_size_limit: raw.body_size_limit.unwrap_or_default(),
        http,
        guard,
    }
}

fn static_config(raw: RawStaticConfig, path: &ConfigPath, cx: &mut Ctx<'_>) -> StaticConfig {
    let targets = raw.targets.unwrap_or_default();
    let targets_path = path.key("targets");
    for (i, target) in targets.iter().enumerate() {
        if target.is_empty() {
            cx.problem(ProblemKind::Invalid, &targets_path.index(i), "empty target");
        } else if target.contains('/') {
            cx.problem(
                ProblemKind::Invalid,
                &targets_path.index(i),
                format!("{target:?} is not a valid host:port (use metrics_path and scheme for the rest of the URL)"),
            );
        }
    }
    StaticConfig {
        targets,
        labels: labels(raw.labels.unwrap_or_default(), &path.key("labels"), cx),
    }
}
