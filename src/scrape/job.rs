//! A scrape job compiled from its `scrape_configs` entry: relabel rules
//! compiled, limits resolved, the HTTP client built once for all targets.

use super::fetch::{AuthHeader, HttpFetcher};
use crate::config::{GlobalConfig, ScrapeConfig};
use crate::labels::Labels;
use crate::relabel::Rules;
use std::time::Duration;

/// Per-scrape limits; 0 means no limit, as in Prometheus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most samples per scrape after metric relabeling.
    pub sample_limit: u64,
    /// Most labels per series.
    pub label_limit: u64,
    /// Longest label name.
    pub label_name_length_limit: u64,
    /// Longest label value.
    pub label_value_length_limit: u64,
    /// Largest decompressed body in bytes.
    pub body_size_limit: u64,
}

/// Targets given together with shared labels (a `static_configs` entry).
#[derive(Debug, Clone)]
pub struct TargetGroup {
    /// Addresses (`host:port`).
    pub targets: Vec<String>,
    /// Labels added to each target.
    pub labels: Labels,
}

/// Why a job could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A relabel rule is invalid.
    #[error("scrape_configs job {job:?}: {which}: {source}")]
    Relabel {
        /// The job.
        job: String,
        /// `relabel_configs` or `metric_relabel_configs`.
        which: &'static str,
        /// The rule's error.
        source: crate::relabel::RelabelError,
    },
    /// The HTTP client could not be built (TLS files, …).
    #[error("scrape_configs job {job:?}: {message}")]
    Client {
        /// The job.
        job: String,
        /// What went wrong.
        message: String,
    },
}

/// A compiled job.
#[derive(Debug)]
pub struct Job {
    /// `job_name`.
    pub name: String,
    /// Default interval of its targets.
    pub interval: Duration,
    /// Default timeout of its targets.
    pub timeout: Duration,
    /// The interval as Prometheus writes it (for `__scrape_interval__`).
    pub interval_text: String,
    /// The timeout as Prometheus writes it.
    pub timeout_text: String,
    /// `metrics_path`.
    pub metrics_path: String,
    /// `scheme`.
    pub scheme: String,
    /// `params`, in a stable order.
    pub params: Vec<(String, Vec<String>)>,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: bool,
    /// Compiled `relabel_configs`.
    pub target_relabel: Rules,
    /// Compiled `metric_relabel_configs`.
    pub metric_relabel: Rules,
    /// Per-scrape limits.
    pub limits: Limits,
    /// Static target groups.
    pub groups: Vec<TargetGroup>,
    /// The HTTP fetcher shared by the job's targets.
    pub fetcher: HttpFetcher,
    /// Series budget settings of its targets.
    pub guard: crate::config::JobGuardConfig,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpFetcher")
    }
}

impl Job {
    /// Compiles one `scrape_configs` entry.
    pub fn compile(cfg: &ScrapeConfig, _global: &GlobalConfig) -> Result<Job, JobError> {
        let relabel = |which: &'static str, rules| {
            Rules::compile(rules).map_err(|source| JobError::Relabel {
                job: cfg.job_name.clone(),
                which,
                source,
            })
        };
        let target_relabel = relabel("relabel_configs", &cfg.relabel_configs)?;
        let metric_relabel = relabel("metric_relabel_configs", &cfg.metric_relabel_configs)?;
        let client_err = |message: String| JobError::Client {
            job: cfg.job_name.clone(),
            message,
        };
        let mut builder = reqwest::Client::builder().timeout(cfg.scrape_timeout.as_std());
        builder = if cfg.http.follow_redirects {
            builder.redirect(reqwest::redirect::Policy::limited(10))
        } else {
            builder.redirect(reqwest::redirect::Policy::none())
        };
        let builder = if cfg.scheme.as_str() == "https" {
            crate::remote::tls_client_builder(
                builder,
                &crate::remote::TlsSettings::from_config(&cfg.http.tls_config),
                &cfg.job_name,
            )
            .map_err(|e| client_err(e.to_string()))?
        } else {
            builder.tls_certs_only([])
        };
        let client = builder
            .build()
            .map_err(|e| client_err(super::fetch::error_chain(&e)))?;
        let auth = match (&cfg.http.basic_auth, &cfg.http.authorization) {
            (Some(b), _) => Some(AuthHeader(basic_auth_header(
                &b.username,
                b.password.expose(),
            ))),
            (None, Some(a)) => Some(AuthHeader(a.header_value())),
            (None, None) => None,
        };
        let params = cfg
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let groups = cfg
            .static_configs
            .iter()
            .map(|g| TargetGroup {
                targets: g.targets.clone(),
                labels: g.labels.clone(),
            })
            .collect();
        Ok(Job {
            name: cfg.job_name.clone(),
            interval: cfg.scrape_interval.as_std(),
            timeout: cfg.scrape_timeout.as_std(),
            interval_text: cfg.scrape_interval.to_string(),
            timeout_text: cfg.scrape_timeout.to_string(),
            metrics_path: cfg.metrics_path.clone(),
            scheme: cfg.scheme.as_str().to_string(),
            params,
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            target_relabel,
            metric_relabel,
            limits: Limits {
                sample_limit: cfg.sample_limit,
                label_limit: cfg.label_limit,
                label_name_length_limit: cfg.label_name_length_limit,
                label_value_length_limit: cfg.label_value_length_limit,
                body_size_limit: cfg.body_size_limit.0,
            },
            groups,
            fetcher: HttpFetcher::new(client, auth),
            guard: cfg.guard.clone(),
        })
    }
}

fn basic_auth_header(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        crate::remote::base64_encode(format!("{user}:{password}").as_bytes())
    )
}
