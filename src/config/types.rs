//! The loaded configuration: every default resolved, every secret read,
//! every value validated. This is what the rest of levee consumes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::duration::Duration;
use super::size::ByteSize;
use crate::labels::Labels;
use crate::relabel::RelabelConfig;

/// A loaded levee configuration (Prometheus' `prometheus.yml` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `global:`.
    pub global: GlobalConfig,
    /// `scrape_configs:`, in file order.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `remote_write:`, in file order.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// `guard:` (series budgets).
    pub guard: super::GuardConfig,
    /// `storage:` with defaults applied.
    pub storage: StorageConfig,
    /// `receiver:`, if present (the remote-write receiver is on).
    pub receiver: Option<super::ReceiverConfig>,
    /// Things accepted but without effect in levee (e.g.
    /// `global.evaluation_interval`), one line each, for `levee check`.
    pub notes: Vec<String>,
}

/// When the WAL is fsynced (`storage.wal_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalSync {
    /// After every commit (`always`).
    Always,
    /// At most this long after a commit (a duration such as `1s`, the
    /// default).
    Interval(Duration),
    /// Only when a segment is completed and at shutdown (`never`).
    Never,
}

/// `storage:` with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// The data directory (`--data-dir` wins when given; default `data`).
    pub path: Option<PathBuf>,
    /// Delete blocks older than this (default 15d; `0s` keeps by age
    /// forever).
    pub retention: Duration,
    /// Delete the oldest blocks while the TSDB takes more than this.
    pub retention_size: Option<ByteSize>,
    /// WAL fsync policy.
    pub wal_sync: WalSync,
    /// WAL segment size (default 128MiB).
    pub wal_segment_size: ByteSize,
    /// Block range (default 2h; at least 1s).
    pub block_range: Duration,
    /// Most bytes of WAL kept for remote-write endpoints that are behind;
    /// past it the oldest unsent segments are deleted (and the samples
    /// counted as dropped). `None`: no cap.
    pub wal_max_size: Option<ByteSize>,
    /// An endpoint lagging more than this no longer holds WAL segments.
    pub wal_max_lag: Option<Duration>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: None,
            retention: Duration::from_secs(15 * 24 * 3600),
            retention_size: None,
            wal_sync: WalSync::Interval(Duration::from_secs(1)),
            wal_segment_size: ByteSize(128 << 20),
            block_range: Duration::from_secs(2 * 3600),
            wal_max_size: None,
            wal_max_lag: None,
        }
    }
}

/// `global:` with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// Default scrape interval (1m).
    pub scrape_interval: Duration,
    /// Default scrape timeout (10s, or the interval when that is shorter).
    pub scrape_timeout: Duration,
    /// Accepted for compatibility (1m); levee evaluates no rules.
    pub evaluation_interval: Duration,
    /// Labels added to every series sent by remote write.
    pub external_labels: Labels,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(60),
            external_labels: Labels::empty(),
        }
    }
}

/// URL scheme used to scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// `http` (the default).
    #[default]
    Http,
    /// `https`.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scrape job with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The `job` label of every target; unique in the file.
    pub job_name: String,
    /// From the job or `global.scrape_interval`.
    pub scrape_interval: Duration,
    /// From the job or `global.scrape_timeout`, never more than the interval.
    pub scrape_timeout: Duration,
    /// Path to scrape, always starting with `/` (default `/metrics`).
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: Scheme,
    /// URL query parameters, each possibly repeated.
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the target's own label values on conflict (default false).
    pub honor_labels: bool,
    /// Keep timestamps the target exposes (default true).
    pub honor_timestamps: bool,
    /// Targets and their labels.
    pub static_configs: Vec<StaticConfig>,
    /// Service-discovery configs (`*_sd_configs`), in the file's order.
    pub sd_configs: Vec<super::SdConfig>,
    /// Applied to target labels before scraping. Raw rules: compile them
    /// with `crate::relabel` before use.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to every scraped series. Raw rules, as above.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples per scrape after metric relabeling; 0 means no limit.
    pub sample_limit: u64,
    /// Most labels per series; 0 means no limit.
    pub label_limit: u64,
    /// Longest label name; 0 means no limit.
    pub label_name_length_limit: u64,
    /// Longest label value; 0 means no limit.
    pub label_value_length_limit: u64,
    /// Largest uncompressed body; 0 means no limit.
    pub body_size_limit: ByteSize,
    /// Authentication, TLS and redirects.
    pub http: HttpClientConfig,
    /// Series budget settings (defaults from `guard:`).
    pub guard: super::JobGuardConfig,
}

/// One entry of `static_configs`.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticConfig {
    /// `host:port` of each target.
    pub targets: Vec<String>,
    /// Labels given to every target of this group.
    pub labels: Labels,
}

/// HTTP client settings shared by scrape jobs and remote write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpClientConfig {
    /// `basic_auth:`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization:` (also set by the deprecated `bearer_token[_file]`).
    pub authorization: Option<Authorization>,
    /// `tls_config:`.
    pub tls_config: TlsConfig,
    /// Follow HTTP 3xx redirects (default true).
    pub follow_redirects: bool,
    /// Allow HTTP/2 (default true).
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// `basic_auth:` with the password read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password (from `password` or `password_file`); may be empty.
    pub password: Secret,
}

/// `authorization:` with the credentials read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// The scheme written before the credentials (default `Bearer`).
    pub kind: String,
    /// The credentials (from `credentials` or `credentials_file`).
    pub credentials: Secret,
}

/// A secret value, redacted in `Debug` output. When it came from a file,
/// the file is remembered: HTTP clients re-read it when it changes, which
/// matters for rotated tokens (see [`crate::http_client`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret {
    value: String,
    file: Option<PathBuf>,
}

impl Secret {
    /// A secret given inline.
    pub fn inline(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            file: None,
        }
    }

    /// A secret read from `file`.
    pub fn from_file(value: impl Into<String>, file: PathBuf) -> Secret {
        Secret {
            value: value.into(),
            file: Some(file),
        }
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The file it was read from, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }
}

impl From<&str> for Secret {
    /// A secret given inline.
    fn from(value: &str) -> Secret {
        Secret::inline(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "<secret from {}>", file.display()),
            None => f.write_str("<secret>"),
        }
    }
}

/// A file read at load time (CA bundle, client certificate or key).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileContents {
    /// Where it was read from (relative paths resolved against the config
    /// file's directory).
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for FileContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} bytes from {}>",
            self.bytes.len(),
            self.path.display()
        )
    }
}

/// `tls_config:` with its files read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlsConfig {
    /// CA bundle (PEM) to verify the server with, instead of the system's.
    pub ca: Option<FileContents>,
    /// Client certificate (PEM); always given together with `key`.
    pub cert: Option<FileContents>,
    /// Client private key (PEM); always given together with `cert`.
    pub key: Option<FileContents>,
    /// Server name to verify instead of the URL's host.
    pub server_name: Option<String>,
    /// Skip server certificate verification (default false).
    pub insecure_skip_verify: bool,
}

/// One `remote_write` endpoint with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// Where to send (http or https URL).
    pub url: String,
    /// Unique name: as given, or the first 6 hex digits of the MD5 of the URL.
    pub name: String,
    /// Timeout of one request (default 30s).
    pub remote_timeout: Duration,
    /// Extra HTTP headers (reserved ones are rejected).
    pub headers: BTreeMap<String, String>,
    /// Applied to every series before sending. Raw rules: compile them with
    /// `crate::relabel` before use.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Queue and sharding.
    pub queue_config: QueueConfig,
    /// Metadata sending.
    pub metadata_config: MetadataConfig,
    /// Which remote-write protocol to send (`protobuf_message`).
    pub protobuf_message: ProtobufMessage,
    /// Authentication, TLS and redirects.
    pub http: HttpClientConfig,
}

/// The remote-write protocol of an endpoint (`protobuf_message`, named by
/// the protobuf message it sends, as Prometheus does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtobufMessage {
    /// Remote write 1.0, `prometheus.WriteRequest` (the default).
    #[default]
    V1,
    /// Remote write 2.0, `io.prometheus.write.v2.Request`.
    V2,
}

impl ProtobufMessage {
    /// Every value, by its name in the config.
    pub const ALL: [ProtobufMessage; 2] = [ProtobufMessage::V1, ProtobufMessage::V2];

    /// The message's fully qualified name, as written in the config and in
    /// the request's `Content-Type` (`proto=`).
    pub fn name(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "prometheus.WriteRequest",
            ProtobufMessage::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The protocol version (`1.0` or `2.0`), as in self-metric labels.
    pub fn version(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "1.0",
            ProtobufMessage::V2 => "2.0",
        }
    }
}

/// `queue_config:` with Prometheus 2.42's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Samples buffered per shard (2500).
    pub capacity: u64,
    /// Most shards (200).
    pub max_shards: u64,
    /// Fewest shards (1).
    pub min_shards: u64,
    /// Most samples per request (500).
    pub max_samples_per_send: u64,
    /// Longest a sample waits in a shard before its batch is sent (5s).
    pub batch_send_deadline: Duration,
    /// First retry delay (30ms), doubled per retry.
    pub min_backoff: Duration,
    /// Longest retry delay (5s).
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (false in 2.42).
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// `metadata_config:` with Prometheus 2.42's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataConfig {
    /// Send metric metadata (true).
    pub send: bool,
    /// How often (1m).
    pub send_interval: Duration,
    /// Most metadata entries per request (500).
    pub max_samples_per_send: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 500,
        }
    }
}
