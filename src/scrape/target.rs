//! Targets: turning a discovered target's labels, merged over its group's,
//! into the final target labels and scrape URL, the way Prometheus does it
//! (defaults, `relabel_configs`, default port, `instance`).

use super::job::Job;
use crate::labels::{Labels, LabelsBuilder};
use std::sync::Arc;
use std::time::Duration;

pub use crate::discovery::ADDRESS_LABEL;
/// Label carrying the scheme (`http`/`https`).
pub const SCHEME_LABEL: &str = "__scheme__";
/// Label carrying the metrics path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// Label carrying the interval of this target.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// Label carrying the timeout of this target.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Label overriding the job's `series_budget` for one target (as vmagent's
/// `__series_limit__`).
pub const SERIES_BUDGET_LABEL: &str = "__series_budget__";
/// Prefix of labels that become URL query parameters.
pub const PARAM_PREFIX: &str = "__param_";

/// Why a discovered target could not become a scrape target.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    /// Relabeling left no `__address__`.
    #[error("target has no __address__ label after relabeling (labels {0})")]
    NoAddress(Labels),
    /// `__address__` is not host:port.
    #[error("invalid __address__ {0:?}: {1}")]
    BadAddress(String, &'static str),
    /// `__scrape_interval__` / `__scrape_timeout__` could not be parsed.
    #[error("invalid {label} {value:?}: {reason}")]
    BadDuration {
        /// The label.
        label: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `__series_budget__` is not a non-negative integer.
    #[error("invalid {SERIES_BUDGET_LABEL} {0:?}: expected a non-negative integer")]
    BadSeriesBudget(String),
    /// A final label value is not valid UTF-8 or a name is invalid.
    #[error("invalid label name {0:?} after relabeling")]
    BadLabelName(String),
}

/// A target ready to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    /// The job it belongs to.
    pub job: Arc<Job>,
    /// Labels before relabeling.
    pub discovered: Labels,
    /// Final labels attached to every series (no `__` labels).
    pub labels: Labels,
    /// The URL scraped.
    pub url: String,
    /// Scrape interval for this target.
    pub interval: Duration,
    /// Scrape timeout for this target.
    pub timeout: Duration,
    /// The target's `__series_budget__`, overriding the job's budget.
    pub series_budget: Option<u64>,
}

impl Target {
    /// A key identifying the target across reloads (job, labels, URL).
    pub fn identity(&self) -> (String, Labels, String) {
        (self.job.name.clone(), self.labels.clone(), self.url.clone())
    }
}

/// What [`populate`] made of a discovered target.
#[derive(Debug)]
pub enum Populated {
    /// A target to scrape.
    Active(Target),
    /// Relabeling dropped it; its labels before relabeling.
    Dropped(Labels),
}

impl Populated {
    /// The target, unless relabeling dropped it.
    pub fn into_active(self) -> Option<Target> {
        match self {
            Populated::Active(t) => Some(t),
            Populated::Dropped(_) => None,
        }
    }
}

/// Builds a target from the labels of one target of a group (at least
/// `__address__`) over the group's labels: the target's own win.
pub fn populate(
    job: &Arc<Job>,
    group_labels: &Labels,
    target_labels: &Labels,
) -> Result<Populated, TargetError> {
    let mut b = LabelsBuilder::with_capacity(group_labels.len() + target_labels.len() + 6);
    for l in group_labels {
        b.set(l.name, l.value);
    }
    for l in target_labels {
        b.set(l.name, l.value);
    }
    let defaults: [(&str, String); 5] = [
        ("job", job.name.clone()),
        (SCRAPE_INTERVAL_LABEL, job.interval_text.clone()),
        (SCRAPE_TIMEOUT_LABEL, job.timeout_text.clone()),
        (METRICS_PATH_LABEL, job.metrics_path.clone()),
        (SCHEME_LABEL, job.scheme.clone()),
    ];
    for (name, value) in defaults {
        if !b.has(name) {
            b.set(name, &value);
        }
    }
    for (name, values) in &job.params {
        let key = format!("{PARAM_PREFIX}{name}");
        if !b.has(&key)
            && let Some(first) = values.first()
        {
            b.set(&key, first);
        }
    }
    let discovered = b.labels();
    if !job.target_relabel.process(&mut b) {
        return Ok(Populated::Dropped(discovered));
    }
    let address = b.get(ADDRESS_LABEL).to_string();
    if address.is_empty() {
        return Err(TargetError::NoAddress(b.labels()));
    }
    let address = with_default_port(&address, b.get(SCHEME_LABEL))?;
    b.set(ADDRESS_LABEL, &address);

    let interval = parse_duration_label(&b, SCRAPE_INTERVAL_LABEL)?;
    let timeout = parse_duration_label(&b, SCRAPE_TIMEOUT_LABEL)?;
    if timeout > interval {
        return Err(TargetError::BadDuration {
            label: SCRAPE_TIMEOUT_LABEL,
            value: b.get(SCRAPE_TIMEOUT_LABEL).to_string(),
            reason: format!(
                "greater than {SCRAPE_INTERVAL_LABEL} {:?}",
                b.get(SCRAPE_INTERVAL_LABEL)
            ),
        });
    }
    let url = build_url(&b);
    let series_budget = match b.get(SERIES_BUDGET_LABEL) {
        "" => None,
        v => Some(
            v.parse::<u64>()
                .map_err(|_| TargetError::BadSeriesBudget(v.to_string()))?,
        ),
    };

    let mut fin = LabelsBuilder::with_capacity(b.len());
    for l in b.iter() {
        if l.name.starts_with("__") {
            continue;
        }
        if !crate::relabel::is_valid_label_name(&l.name) {
            return Err(TargetError::BadLabelName(l.name.clone()));
        }
        fin.set(&l.name, &l.value);
    }
    if !fin.has("instance") {
        fin.set("instance", &address);
    }
    Ok(Populated::Active(Target {
        job: job.clone(),
        discovered,
        labels: fin.into_labels(),
        url,
        interval,
        timeout,
        series_budget,
    }))
}

fn parse_duration_label(b: &LabelsBuilder, label: &'static str) -> Result<Duration, TargetError> {
    let value = b.get(label);
    let bad = |reason: String| TargetError::BadDuration {
        label,
        value: value.to_string(),
        reason,
    };
    let d: crate::config::Duration = value.parse().map_err(|e| bad(format!("{e}")))?;
    let d = d.as_std();
    if d.is_zero() {
        return Err(bad("must be greater than zero".into()));
    }
    Ok(d)
}

/// Adds `:80` / `:443` when the address has no port, as Prometheus 2.42 does.
fn with_default_port(address: &str, scheme: &str) -> Result<String, TargetError> {
    if address.contains('/') {
        return Err(TargetError::BadAddress(
            address.to_string(),
            "contains a '/'",
        ));
    }
    let has_port = if let Some(rest) = address.strip_prefix('[') {
        // [v6]:port or [v6]
        match rest.split_once(']') {
            Some((_, after)) => after.starts_with(':'),
            None => return Err(TargetError::BadAddress(address.to_string(), "unclosed '['")),
        }
    } else {
        address.matches(':').count() == 1
    };
    if has_port {
        return Ok(address.to_string());
    }
    if address.matches(':').count() > 1 && !address.starts_with('[') {
        return Err(TargetError::BadAddress(
            address.to_string(),
            "IPv6 addresses must be written in brackets",
        ));
    }
    let port = if scheme == "https" { 443 } else { 80 };
    Ok(format!("{address}:{port}"))
}

fn build_url(b: &LabelsBuilder) -> String {
    let mut url = format!("{}://{}", b.get(SCHEME_LABEL), b.get(ADDRESS_LABEL));
    let path = b.get(METRICS_PATH_LABEL);
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path);
    let mut first = !path.contains('?');
    for l in b.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            url.push(if first { '?' } else { '&' });
            first = false;
            url_encode_into(&mut url, name);
            url.push('=');
            url_encode_into(&mut url, &l.value);
        }
    }
    url
}

fn url_encode_into(out: &mut String, s: &str) {
    for &byte in s.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port_by_scheme() {
        assert_eq!(with_default_port("host", "http").unwrap(), "host:80");
        assert_eq!(with_default_port("host", "https").unwrap(), "host:443");
        assert_eq!(with_default_port("host:9100", "http").unwrap(), "host:9100");
        assert_eq!(with_default_port("[::1]", "http").unwrap(), "[::1]:80");
        assert_eq!(with_default_port("[::1]:9", "http").unwrap(), "[::1]:9");
        assert!(with_default_port("a/b", "http").is_err());
    }

    #[test]
    fn url_with_params() {
        let mut b = LabelsBuilder::new();
        b.set(SCHEME_LABEL, "http");
        b.set(ADDRESS_LABEL, "h:1");
        b.set(METRICS_PATH_LABEL, "/probe");
        b.set("__param_target", "a b&c");
        b.set("__param_module", "http_2xx");
        assert_eq!(
            build_url(&b),
            "http://h:1/probe?module=http_2xx&target=a+b%26c"
        );
    }
}
