//! Per-endpoint settings of the remote-write sender: where to send, how to
//! authenticate, and how the queue behaves. The config module maps a
//! `remote_write` entry of prometheus.yml onto [`EndpointSettings`].

use std::path::PathBuf;
use std::time::Duration;

/// Everything one remote-write endpoint needs.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSettings {
    /// The endpoint's name (`remote_name` label of the self-metrics). Must be
    /// unique among endpoints.
    pub name: String,
    /// Where requests are POSTed, e.g. `http://host:9090/api/v1/write`.
    pub url: String,
    /// Timeout of one HTTP request (Prometheus `remote_timeout`).
    pub timeout: Duration,
    /// Extra request headers. The protocol headers (`Content-Encoding`,
    /// `Content-Type`, `User-Agent`, `X-Prometheus-Remote-Write-Version`)
    /// cannot be overridden; an attempt is a start error.
    pub headers: Vec<(String, String)>,
    /// HTTP basic auth: username and password.
    pub basic_auth: Option<(String, String)>,
    /// `Authorization: <type> <credentials>` (Prometheus `authorization`,
    /// type usually `Bearer`).
    pub bearer_token: Option<(String, String)>,
    /// TLS client settings for `https://` URLs.
    pub tls: TlsSettings,
    /// Most samples held in memory for this endpoint (waiting, batched or in
    /// flight). Unlike Prometheus' per-shard `capacity` this is the total;
    /// samples past it are dropped with reason `queue_full`.
    pub capacity: usize,
    /// Fewest concurrent senders.
    pub min_shards: usize,
    /// Most concurrent senders.
    pub max_shards: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits for its batch to fill before being sent anyway.
    pub batch_send_deadline: Duration,
    /// First retry delay; doubled on each further retry of the same batch.
    pub min_backoff: Duration,
    /// Upper bound of the retry delay.
    pub max_backoff: Duration,
    /// Retry on HTTP 429 (Prometheus `retry_on_http_429`); when false a 429
    /// drops the batch like any other 4xx.
    pub retry_on_429: bool,
}

impl EndpointSettings {
    /// Settings with Prometheus 2.42's `remote_write` defaults (30 s timeout,
    /// 1..200 shards, 500 samples per send, 5 s deadline, 30 ms..5 s backoff)
    /// and a capacity of 2500 samples per possible shard, the most a
    /// Prometheus queue would hold.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        EndpointSettings {
            name: name.into(),
            url: url.into(),
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            tls: TlsSettings::default(),
            capacity: 2500 * 200,
            min_shards: 1,
            max_shards: 200,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_429: false,
        }
    }
}

/// TLS client settings (Prometheus `tls_config`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of CA certificates; when set it replaces the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), used together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Server name to verify instead of the URL's host. Not supported yet:
    /// setting it is a start error rather than silently ignored.
    pub server_name: Option<String>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}
