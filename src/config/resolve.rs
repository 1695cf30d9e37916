//! From the config as written to the config as used: Prometheus 2.42's
//! defaults applied (job intervals from `global`, timeouts capped by the
//! interval, queue defaults), and every value checked, collecting every
//! problem with its key path and line.

use std::collections::HashMap;
use std::path::Path;

use md5::{Digest, Md5};

use super::duration::Duration;
use super::error::{ConfigPath, Problem, ProblemKind};
use super::http::resolve_http;
use super::raw::{
    RawConfig, RawGlobal, RawMetadataConfig, RawQueueConfig, RawRemoteWrite, RawScrapeConfig,
    RawStaticConfig, RawStorage,
};
use super::types::{
    Config, GlobalConfig, MetadataConfig, QueueConfig, RemoteWriteConfig, Scheme, ScrapeConfig,
    StaticConfig, StorageConfig, WalSync,
};
use super::yaml::{Node, Value};
use crate::labels::Labels;

/// Headers remote write sets itself; Prometheus refuses them in `headers`.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
];

/// What resolution needs: the tree (to locate problems), the directory
/// relative file names are taken from, and the problems found so far.
pub struct Ctx<'a> {
    root: &'a Node,
    /// Directory of the config file, for relative file names.
    pub base_dir: Option<&'a Path>,
    problems: Vec<Problem>,
    notes: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// A context for the document `root`.
    pub fn new(root: &'a Node, base_dir: Option<&'a Path>) -> Ctx<'a> {
        Ctx {
            root,
            base_dir,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records a problem at `path`.
    pub fn problem(&mut self, kind: ProblemKind, path: &ConfigPath, message: impl Into<String>) {
        self.problems
            .push(Problem::at(kind, path, self.root, message));
    }

    fn note(&mut self, path: &ConfigPath, message: &str) {
        let at = path
            .locate(self.root)
            .and_then(|o| o.at)
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        self.notes.push(format!("{path}: {message}{at}"));
    }
}

/// Resolves a decoded config. Returns the config and the problems found;
/// the config is only meaningful when there are none.
pub fn resolve(raw: RawConfig, cx: &mut Ctx<'_>) -> (Config, Vec<Problem>) {
    let root = ConfigPath::root();
    let global = global(raw.global.unwrap_or_default(), &root.key("global"), cx);
    let guard = super::guard::resolve_guard(raw.guard, &root.key("guard"), cx);

    let base = root.key("scrape_configs");
    let scrape_configs = raw
        .scrape_configs
        .into_iter()
        .map(|(i, raw_job)| scrape_config(raw_job, &global, &guard, &base.index(i), cx))
        .collect();
    duplicate_job_names(&base, cx);

    let mut remote_write = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let base = root.key("remote_write");
    for (i, raw_rw) in raw.remote_write {
        let path = base.index(i);
        let named = raw_rw.name.as_deref().is_some_and(|n| !n.is_empty());
        let rw = remote_write_config(raw_rw, &path, cx);
        if let Some(first) = names.get(&rw.name) {
            let message = if named {
                format!(
                    "name {:?} is already used by remote_write[{first}]",
                    rw.name
                )
            } else {
                format!("same URL as remote_write[{first}]: give each endpoint a distinct `name`")
            };
            let at = if named {
                path.key("name")
            } else {
                path.key("url")
            };
            cx.problem(ProblemKind::Invalid, &at, message);
        } else {
            names.insert(rw.name.clone(), i);
        }
        remote_write.push(rw);
    }

    let storage = storage(raw.storage.unwrap_or_default(), &root.key("storage"), cx);

    let config = Config {
        global,
        scrape_configs,
        remote_write,
        guard,
        storage,
        notes: std::mem::take(&mut cx.notes),
    };
    (config, std::mem::take(&mut cx.problems))
}

/// Reports every job name used twice. Read from the tree rather than the
/// decoded jobs, so that a job that failed to decode still counts.
fn duplicate_job_names(base: &ConfigPath, cx: &mut Ctx<'_>) {
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

fn storage(raw: RawStorage, path: &ConfigPath, cx: &mut Ctx<'_>) -> StorageConfig {
    let defaults = StorageConfig::default();
    let wal_sync = match raw.wal_sync.as_deref() {
        None => defaults.wal_sync,
        Some("always") => WalSync::Always,
        Some("never") => WalSync::Never,
        Some(text) => match Duration::parse(text) {
            Ok(d) if !d.is_zero() => WalSync::Interval(d),
            Ok(_) => WalSync::Always,
            Err(e) => {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("wal_sync"),
                    format!(
                        "{text:?}: expected `always`, `never` or a duration such as `1s` ({e})"
                    ),
                );
                defaults.wal_sync
            }
        },
    };
    let block_range = raw.block_range.unwrap_or(defaults.block_range);
    if block_range.as_std() < std::time::Duration::from_secs(1) {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("block_range"),
            format!("{block_range} is too short: at least 1s"),
        );
    }
    let wal_segment_size = raw.wal_segment_size.unwrap_or(defaults.wal_segment_size);
    if wal_segment_size.0 < 64 << 10 {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("wal_segment_size"),
            "must be at least 64KiB",
        );
    }
    if raw.path.as_deref() == Some("") {
        cx.problem(ProblemKind::Invalid, &path.key("path"), "must not be empty");
    }
    StorageConfig {
        path: raw.path.filter(|p| !p.is_empty()).map(Into::into),
        retention: raw.retention.unwrap_or(defaults.retention),
        retention_size: raw.retention_size.filter(|s| s.0 > 0),
        wal_sync,
        wal_segment_size,
        block_range,
        wal_max_size: raw.wal_max_size.filter(|s| s.0 > 0),
        wal_max_lag: raw.wal_max_lag.filter(|d| !d.is_zero()),
    }
}

fn nonzero(d: &Duration) -> bool {
    !d.is_zero()
}

fn global(raw: RawGlobal, path: &ConfigPath, cx: &mut Ctx<'_>) -> GlobalConfig {
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

/// True for a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn labels(
    raw: impl IntoIterator<Item = (String, String)>,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Labels {
    let mut pairs = Vec::new();
    for (name, value) in raw {
        if valid_label_name(&name) {
            pairs.push((name, value));
        } else {
            cx.problem(
                ProblemKind::Invalid,
                &path.key(&name),
                format!("{name:?} is not a valid label name"),
            );
        }
    }
    Labels::from_pairs(pairs)
}

fn scrape_config(
    mut raw: RawScrapeConfig,
    global: &GlobalConfig,
    guard: &super::GuardConfig,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> ScrapeConfig {
    let http = resolve_http(raw.take_http(), path, cx);
    let guard = super::guard::resolve_job_guard(raw.take_guard(), guard, path, cx);
    let job_name = raw.job_name.unwrap_or_default();
    if job_name.is_empty() {
        cx.problem(
            ProblemKind::Invalid,
            path,
            "missing required key `job_name`",
        );
    }
    let scrape_interval = raw
        .scrape_interval
        .filter(nonzero)
        .unwrap_or(global.scrape_interval);
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
        None => global.scrape_timeout.min(scrape_interval),
    };
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

/// The default name of a remote-write endpoint: the first 6 hex digits of
/// the MD5 of its URL (Prometheus hashes its whole JSON-encoded config).
pub fn derived_name(url: &str) -> String {
    let digest = Md5::digest(url.as_bytes());
    digest.iter().take(3).map(|b| format!("{b:02x}")).collect()
}

fn remote_write_config(
    mut raw: RawRemoteWrite,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> RemoteWriteConfig {
    let http = resolve_http(raw.take_http(), path, cx);
    let url = raw.url.unwrap_or_default();
    if url.is_empty() {
        cx.problem(ProblemKind::Invalid, path, "missing required key `url`");
    } else {
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            Ok(_) => cx.problem(
                ProblemKind::Invalid,
                &path.key("url"),
                format!("{url:?} is not an http or https URL"),
            ),
            Err(e) => cx.problem(
                ProblemKind::Invalid,
                &path.key("url"),
                format!("{url:?} is not a valid URL: {e}"),
            ),
        }
    }
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| derived_name(&url));
    let remote_timeout = raw.remote_timeout.unwrap_or(Duration::from_secs(30));
    if remote_timeout.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("remote_timeout"),
            "must be greater than 0s",
        );
    }
    let headers = raw.headers.unwrap_or_default();
    for (name, value) in &headers {
        let at = path.key("headers").key(name);
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            cx.problem(
                ProblemKind::Invalid,
                &at,
                format!("{name:?} is a reserved header and cannot be set"),
            );
        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            cx.problem(
                ProblemKind::Invalid,
                &at,
                format!("{name:?} is not a valid header name"),
            );
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            cx.problem(ProblemKind::Invalid, &at, "not a valid header value");
        }
    }
    let queue_config = queue_config(
        raw.queue_config.unwrap_or_default(),
        &path.key("queue_config"),
        cx,
    );
    RemoteWriteConfig {
        url,
        name,
        remote_timeout,
        headers,
        write_relabel_configs: raw.write_relabel_configs.unwrap_or_default(),
        queue_config,
        metadata_config: metadata_config(raw.metadata_config.unwrap_or_default()),
        http,
    }
}

fn queue_config(raw: RawQueueConfig, path: &ConfigPath, cx: &mut Ctx<'_>) -> QueueConfig {
    let d = QueueConfig::default();
    let q = QueueConfig {
        capacity: raw.capacity.unwrap_or(d.capacity),
        max_shards: raw.max_shards.unwrap_or(d.max_shards),
        min_shards: raw.min_shards.unwrap_or(d.min_shards),
        max_samples_per_send: raw.max_samples_per_send.unwrap_or(d.max_samples_per_send),
        batch_send_deadline: raw.batch_send_deadline.unwrap_or(d.batch_send_deadline),
        min_backoff: raw.min_backoff.unwrap_or(d.min_backoff),
        max_backoff: raw.max_backoff.unwrap_or(d.max_backoff),
        retry_on_http_429: raw.retry_on_http_429.unwrap_or(d.retry_on_http_429),
    };
    for (key, value) in [
        ("capacity", q.capacity),
        ("max_shards", q.max_shards),
        ("min_shards", q.min_shards),
        ("max_samples_per_send", q.max_samples_per_send),
    ] {
        if value == 0 {
            cx.problem(
                ProblemKind::Invalid,
                &path.key(key),
                "must be greater than 0",
            );
        }
    }
    if q.min_shards > q.max_shards {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("min_shards"),
            format!(
                "min_shards ({}) is greater than max_shards ({})",
                q.min_shards, q.max_shards
            ),
        );
    }
    if q.min_backoff > q.max_backoff {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("min_backoff"),
            format!(
                "min_backoff ({}) is greater than max_backoff ({})",
                q.min_backoff, q.max_backoff
            ),
        );
    }
    if q.batch_send_deadline.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("batch_send_deadline"),
            "must be greater than 0s",
        );
    }
    q
}

fn metadata_config(raw: RawMetadataConfig) -> MetadataConfig {
    let d = MetadataConfig::default();
    MetadataConfig {
        send: raw.send.unwrap_or(d.send),
        send_interval: raw.send_interval.unwrap_or(d.send_interval),
        max_samples_per_send: raw.max_samples_per_send.unwrap_or(d.max_samples_per_send),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "A_1", "__name__"] {
            assert!(valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "ä"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn derived_names_are_stable_hex() {
        let name = derived_name("http://127.0.0.1:9090/api/v1/write");
        assert_eq!(name.len(), 6);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(name, derived_name("http://127.0.0.1:9090/api/v1/write"));
        assert_ne!(name, derived_name("http://127.0.0.1:8428/api/v1/write"));
    }
}
