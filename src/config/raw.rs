//! The config as written: serde structs mirroring Prometheus' YAML keys,
//! every field optional, unknown keys rejected. Defaults and validation are
//! applied in `resolve`; sections levee does not support yet were already
//! removed by `unsupported`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::de::{KeyPath, closest, decode_at};
use super::duration::Duration;
use super::error::{Problem, ProblemKind};
use super::size::ByteSize;
use super::yaml::{Node, Value};
use crate::relabel::RelabelConfig;

/// The top-level keys levee knows.
const TOP_KEYS: &[&str] = &[
    "global",
    "scrape_configs",
    "remote_write",
    "storage",
    "guard",
    "receiver",
];

/// The whole file. List entries keep their index in the file, so that
/// entries that failed to decode leave no gap in the paths of the others.
#[derive(Debug, Default)]
pub struct RawConfig {
    pub global: Option<RawGlobal>,
    pub scrape_configs: Vec<(usize, RawScrapeConfig)>,
    pub remote_write: Vec<(usize, RawRemoteWrite)>,
    pub guard: Option<super::guard::RawGuard>,
    pub storage: Option<RawStorage>,
    pub receiver: Option<super::receiver::RawReceiver>,
}

/// Decodes the document section by section and list entry by list entry,
/// so that one bad entry does not hide the problems of the others.
pub fn decode_root(root: &Node) -> (RawConfig, Vec<Problem>) {
    let mut raw = RawConfig::default();
    let mut problems = Vec::new();
    let top = KeyPath::Root;
    let entries = match &root.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[],
        _ => {
            if let Err(e) = decode_at::<BTreeMap<String, IgnoredAny>>(root, &top) {
                problems.push(e.into());
            }
            return (raw, problems);
        }
    };
    for (key, node) in entries {
        let path = KeyPath::Key(&top, &key.name);
        match key.name.as_str() {
            "global" => match decode_at::<Option<RawGlobal>>(node, &path) {
                Ok(global) => raw.global = global,
                Err(e) => problems.push(e.into()),
            },
            "scrape_configs" => entries_of(node, &path, &mut raw.scrape_configs, &mut problems),
            "remote_write" => entries_of(node, &path, &mut raw.remote_write, &mut problems),
            "storage" => match decode_at::<Option<RawStorage>>(node, &path) {
                Ok(storage) => raw.storage = storage,
                Err(e) => problems.push(e.into()),
            },
            "guard" => match decode_at::<Option<super::guard::RawGuard>>(node, &path) {
                Ok(guard) => raw.guard = guard,
                Err(e) => problems.push(e.into()),
            },
            "receiver" => match decode_at::<Option<super::receiver::RawReceiver>>(node, &path) {
                // A bare `receiver:` turns the receiver on with the defaults.
                Ok(receiver) => raw.receiver = Some(receiver.unwrap_or_default()),
                Err(e) => problems.push(e.into()),
            },
            other => problems.push(Problem {
                kind: ProblemKind::UnknownKey,
                path: other.to_owned(),
                origin: Some(key.origin),
                message: "unknown key".into(),
                hint: closest(other, TOP_KEYS).map(|k| format!("did you mean `{k}`?")),
            }),
        }
    }
    (raw, problems)
}

fn entries_of<T: DeserializeOwned>(
    node: &Node,
    path: &KeyPath<'_>,
    out: &mut Vec<(usize, T)>,
    problems: &mut Vec<Problem>,
) {
    let Value::Seq(items) = &node.value else {
        if let Err(e) = decode_at::<Vec<IgnoredAny>>(node, path) {
            problems.push(e.into());
        }
        return;
    };
    for (i, item) in items.iter().enumerate() {
        match decode_at::<T>(item, &KeyPath::Index(path, i)) {
            Ok(entry) => out.push((i, entry)),
            Err(e) => problems.push(e.into()),
        }
    }
}

/// `global:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub scrape_interval: Option<Duration>,
    pub scrape_timeout: Option<Duration>,
    pub evaluation_interval: Option<Duration>,
    pub external_labels: Option<BTreeMap<String, String>>,
}

/// `storage:` (levee's own: where and how long the TSDB keeps data).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub path: Option<String>,
    pub retention: Option<Duration>,
    pub retention_size: Option<ByteSize>,
    pub wal_sync: Option<String>,
    pub wal_segment_size: Option<ByteSize>,
    pub block_range: Option<Duration>,
    pub wal_max_size: Option<ByteSize>,
    pub wal_max_lag: Option<Duration>,
}

/// One entry of `scrape_configs:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeConfig {
    pub job_name: Option<String>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub params: Option<BTreeMap<String, Vec<String>>>,
    pub scrape_interval: Option<Duration>,
    pub scrape_timeout: Option<Duration>,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub static_configs: Option<Vec<RawStaticConfig>>,
    pub file_sd_configs: Option<Vec<super::sd_file::RawFileSdConfig>>,
    pub kubelet_sd_configs: Option<Vec<super::sd_kubelet::RawKubeletSdConfig>>,
    pub kubernetes_sd_configs: Option<Vec<super::sd_kubernetes::RawKubernetesSdConfig>>,
    pub relabel_configs: Option<Vec<RelabelConfig>>,
    pub metric_relabel_configs: Option<Vec<RelabelConfig>>,
    // HTTP client keys (Prometheus inlines them into the scrape config).
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    // Series budgets (levee's own; see `guard`).
    pub series_budget: Option<u64>,
    pub budget_action: Option<String>,
    pub keep_top: Option<u64>,
    pub overflow_value: Option<String>,
    pub gauge_fold: Option<String>,
    pub fold_labels: Option<Vec<super::guard::RawFoldLabels>>,
}

/// One entry of `static_configs:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticConfig {
    pub targets: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// One entry of `remote_write:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteWrite {
    pub url: Option<String>,
    pub name: Option<String>,
    pub remote_timeout: Option<Duration>,
    pub headers: Option<BTreeMap<String, String>>,
    pub write_relabel_configs: Option<Vec<RelabelConfig>>,
    pub queue_config: Option<RawQueueConfig>,
    pub metadata_config: Option<RawMetadataConfig>,
    pub protobuf_message: Option<String>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

/// `queue_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueConfig {
    pub capacity: Option<u64>,
    pub max_shards: Option<u64>,
    pub min_shards: Option<u64>,
    pub max_samples_per_send: Option<u64>,
    pub batch_send_deadline: Option<Duration>,
    pub min_backoff: Option<Duration>,
    pub max_backoff: Option<Duration>,
    pub retry_on_http_429: Option<bool>,
}

/// `metadata_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadataConfig {
    pub send: Option<bool>,
    pub send_interval: Option<Duration>,
    pub max_samples_per_send: Option<u64>,
}

/// `basic_auth:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

/// `authorization:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

/// `tls_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
}

/// The HTTP client keys shared by scrape configs and remote write, gathered.
#[derive(Debug, Default)]
pub struct RawHttp {
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

impl RawScrapeConfig {
    /// Moves the HTTP client keys out.
    pub fn take_http(&mut self) -> RawHttp {
        RawHttp {
            basic_auth: self.basic_auth.take(),
            authorization: self.authorization.take(),
            bearer_token: self.bearer_token.take(),
            bearer_token_file: self.bearer_token_file.take(),
            tls_config: self.tls_config.take(),
            follow_redirects: self.follow_redirects.take(),
            enable_http2: self.enable_http2.take(),
        }
    }
}

impl RawRemoteWrite {
    /// Moves the HTTP client keys out.
    pub fn take_http(&mut self) -> RawHttp {
        RawHttp {
            basic_auth: self.basic_auth.take(),
            authorization: self.authorization.take(),
            bearer_token: self.bearer_token.take(),
            bearer_token_file: self.bearer_token_file.take(),
            tls_config: self.tls_config.take(),
            follow_redirects: self.follow_redirects.take(),
            enable_http2: self.enable_http2.take(),
        }
    }
}
