//! Per-endpoint settings of the remote-write sender: where to send, how to
//! authenticate, and how the queue behaves. The config module maps a
//! `remote_write` entry of prometheus.yml onto [`EndpointSettings`].

use crate::config::{ProtobufMessage, Secret};
use crate::http_client::TlsSettings;
use std::time::Duration;

/// Everything one remote-write endpoint needs.
#[derive(Clone, Debug)]
pub struct EndpointSettings {
    /// The endpoint's name (`remote_name` label of the self-metrics). Must be
    /// unique among endpoints.
    pub name: String,
    /// Where requests are POSTed, e.g. `http://host:9090/api/v1/write`.
    pub url: String,
    /// Timeout of one HTTP request (Prometheus `remote_timeout`).
    pub timeout: Duration,
    /// Extra request headers. None of
    /// [`RESERVED_HEADERS`](crate::http_client::RESERVED_HEADERS) (the
    /// protocol headers among them) may be set; an attempt is a start error.
    pub headers: Vec<(String, String)>,
    /// HTTP basic auth: username and password (re-read when it came from a
    /// file that changes).
    pub basic_auth: Option<(String, Secret)>,
    /// `Authorization: <type> <credentials>` (Prometheus `authorization`,
    /// type usually `Bearer`; credentials from a file are re-read when it
    /// changes).
    pub bearer_token: Option<(String, Secret)>,
    /// TLS client settings for `https://` URLs.
    pub tls: TlsSettings,
    /// Most samples held in memory for this endpoint (read from the WAL and
    /// waiting, batched or in flight). Unlike Prometheus' per-shard
    /// `capacity` this is the total; the tailer reads no further ahead.
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
    /// Compiled `write_relabel_configs`, applied to each series before it
    /// enters this endpoint's queue.
    pub write_relabel: crate::relabel::Rules,
    /// The protocol to send (`protobuf_message`): 1.0, or 2.0 until the
    /// receiver answers a 2.0 request with 415.
    pub protobuf_message: ProtobufMessage,
    /// Send metric metadata (`metadata_config.send`): in 1.0 as requests of
    /// their own, in 2.0 in-line with each series.
    pub send_metadata: bool,
    /// One metadata round per this interval (`metadata_config.send_interval`).
    pub metadata_send_interval: Duration,
    /// Most metadata entries per request
    /// (`metadata_config.max_samples_per_send`).
    pub metadata_max_per_send: usize,
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
            write_relabel: crate::relabel::Rules::default(),
            protobuf_message: ProtobufMessage::V1,
            send_metadata: true,
            metadata_send_interval: Duration::from_secs(60),
            metadata_max_per_send: 500,
        }
    }
}

impl EndpointSettings {
    /// The settings of one `remote_write` entry, with its
    /// `write_relabel_configs` compiled.
    pub fn from_config(c: &crate::config::RemoteWriteConfig) -> Result<Self, super::RemoteError> {
        let q = &c.queue_config;
        let write_relabel =
            crate::relabel::Rules::compile(&c.write_relabel_configs).map_err(|e| {
                super::RemoteError::Settings {
                    endpoint: c.name.clone(),
                    field: "write_relabel_configs".into(),
                    reason: e.to_string(),
                }
            })?;
        let max_shards = (q.max_shards as usize).max(1);
        Ok(EndpointSettings {
            name: c.name.clone(),
            url: c.url.clone(),
            timeout: c.remote_timeout.as_std(),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            basic_auth: c
                .http
                .basic_auth
                .as_ref()
                .map(|b| (b.username.clone(), b.password.clone())),
            bearer_token: c
                .http
                .authorization
                .as_ref()
                .map(|a| (a.kind.clone(), a.credentials.clone())),
            tls: TlsSettings::from_config(&c.http.tls_config),
            // Prometheus' capacity is per shard; levee's queue bound is the
            // endpoint total, so the most a Prometheus queue could hold.
            capacity: (q.capacity as usize).saturating_mul(max_shards),
            min_shards: (q.min_shards as usize).max(1),
            max_shards,
            max_samples_per_send: (q.max_samples_per_send as usize).max(1),
            batch_send_deadline: q.batch_send_deadline.as_std(),
            min_backoff: q.min_backoff.as_std(),
            max_backoff: q.max_backoff.as_std(),
            retry_on_429: q.retry_on_http_429,
            write_relabel,
            protobuf_message: c.protobuf_message,
            send_metadata: c.metadata_config.send,
            metadata_send_interval: c.metadata_config.send_interval.as_std(),
            metadata_max_per_send: (c.metadata_config.max_samples_per_send as usize).max(1),
        })
    }
}

/// The endpoint settings of every `remote_write` entry of `cfg`.
pub fn endpoints_from_config(
    cfg: &crate::config::Config,
) -> Result<Vec<EndpointSettings>, super::RemoteError> {
    cfg.remote_write
        .iter()
        .map(EndpointSettings::from_config)
        .collect()
}
