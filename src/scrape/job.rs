//! A scrape job compiled from its `scrape_configs` entry: relabel rules
//! compiled, limits resolved, the HTTP client built once for all targets,
//! its static targets as target groups and its discovery configs.

use super::fetch::HttpFetcher;
use crate::config::{GlobalConfig, Scheme, ScrapeConfig, SdConfig};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};
use crate::http_client::{self, HttpClientError, HttpSettings, Owner};
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
    /// The HTTP client could not be built (TLS files, credentials, …); the
    /// error names the job.
    #[error(transparent)]
    Client(#[from] HttpClientError),
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
    /// Its `static_configs`, as target groups (source: the entry's index,
    /// as Prometheus names them).
    pub groups: Vec<TargetGroup>,
    /// Its `*_sd_configs`: discovery finds the rest of its targets.
    pub sd_configs: Vec<SdConfig>,
    /// The HTTP fetcher shared by the job's targets.
    pub fetcher: HttpFetcher,
    /// Series budget settings of its targets.
    pub guard: crate::config::JobGuardConfig,
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
        let settings = HttpSettings::from_config(&cfg.http, cfg.scrape_timeout.as_std());
        let owner = Owner::ScrapeJob(cfg.job_name.clone());
        let http = http_client::build(&owner, cfg.scheme == Scheme::Https, &settings)?;
        let params = cfg
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let groups = cfg
            .static_configs
            .iter()
            .enumerate()
            .map(|(i, g)| TargetGroup {
                source: i.to_string(),
                targets: g
                    .targets
                    .iter()
                    .map(|t| Labels::from_pairs([(ADDRESS_LABEL, t.as_str())]))
                    .collect(),
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
            sd_configs: cfg.sd_configs.clone(),
            fetcher: HttpFetcher::new(http.client, http.auth),
            guard: cfg.guard.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_names_the_scrape_job() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let yaml = format!(
            "scrape_configs:\n  - job_name: node\n    scheme: https\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n",
            ca.display()
        );
        let config = crate::config::Config::from_yaml(&yaml).unwrap();
        let err = Job::compile(&config.scrape_configs[0], &config.global).unwrap_err();
        let JobError::Client(e) = &err else {
            panic!("expected a client error, got {err}");
        };
        assert_eq!(e.owner, Owner::ScrapeJob("node".into()));
        assert_eq!(e.field, "tls_config.ca_file");
        assert!(
            err.to_string()
                .starts_with(r#"scrape_configs job "node": tls_config.ca_file: "#),
            "{err}"
        );
    }
}
