//! Self-metrics of the remote-write sender, one set per endpoint, all
//! labelled with `remote_name` and `url`.

use crate::selfmon::{Counter, Family, Gauge, Registry};
use std::sync::Arc;

/// Why samples were dropped (`reason` label of
/// `levee_remote_write_samples_dropped_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The receiver rejected the batch with a non-retryable status.
    Rejected(u16),
    /// The batch could not be encoded.
    Encode,
    /// The shard task holding the batch was gone (a bug; never expected).
    ShardFailed,
    /// WAL segments were deleted before this endpoint sent them (the WAL
    /// cap); the count is estimated from the bytes skipped.
    WalCap,
    /// A WAL samples record named a series ref never declared to this
    /// endpoint (its series record was in a deleted segment and not in the
    /// checkpoint).
    UnknownSeries,
    /// A damaged WAL record or segment was skipped; the count is estimated
    /// from the bytes skipped.
    WalCorrupt,
}

impl DropReason {
    /// The `reason` label value.
    pub fn label(self) -> String {
        match self {
            DropReason::Rejected(code) => format!("http_{code}"),
            DropReason::Encode => "encode".into(),
            DropReason::ShardFailed => "shard_failed".into(),
            DropReason::WalCap => "wal_cap".into(),
            DropReason::UnknownSeries => "unknown_series".into(),
            DropReason::WalCorrupt => "wal_corrupt".into(),
        }
    }
}

/// The metric families, registered once per [`RemoteWriter`](super::RemoteWriter)
/// start and shared by its endpoints.
#[derive(Clone)]
pub(crate) struct Families {
    samples: Arc<Family<Counter>>,
    failed: Arc<Family<Counter>>,
    retried: Arc<Family<Counter>>,
    dropped: Arc<Family<Counter>>,
    queue: Arc<Family<Gauge>>,
    shards: Arc<Family<Gauge>>,
    bytes: Arc<Family<Counter>>,
    requests: Arc<Family<Counter>>,
    highest: Arc<Family<Gauge>>,
    highest_read: Arc<Family<Gauge>>,
    lag_seconds: Arc<Family<Gauge>>,
    lag_bytes: Arc<Family<Gauge>>,
    bytes_per_sample: Arc<Family<Gauge>>,
    wal_read: Arc<Family<Counter>>,
    position_segment: Arc<Family<Gauge>>,
    metadata_sent: Arc<Family<Counter>>,
    metadata_failed: Arc<Family<Counter>>,
    protocol: Arc<Family<Gauge>>,
    written_reported: Arc<Family<Counter>>,
}

const EP: &[&str] = &["remote_name", "url"];

impl Families {
    pub fn register(r: &Registry) -> Self {
        Families {
            samples: r.counter_vec(
                "levee_remote_write_samples_total",
                "Samples the receiver acknowledged (2xx).",
                EP,
            ),
            failed: r.counter_vec(
                "levee_remote_write_samples_failed_total",
                "Samples in batches the receiver rejected with a non-retryable status (also counted in samples_dropped_total by http_<code> reason).",
                EP,
            ),
            retried: r.counter_vec(
                "levee_remote_write_samples_retried_total",
                "Samples sent again after a retryable failure (network error, 5xx, 429 when enabled).",
                EP,
            ),
            dropped: r.counter_vec(
                "levee_remote_write_samples_dropped_total",
                "Samples levee gave up on, by reason.",
                &["remote_name", "url", "reason"],
            ),
            queue: r.gauge_vec(
                "levee_remote_write_queue_samples",
                "Samples held for the endpoint: waiting, batched or in flight.",
                EP,
            ),
            shards: r.gauge_vec(
                "levee_remote_write_shards",
                "Concurrent senders currently running.",
                EP,
            ),
            bytes: r.counter_vec(
                "levee_remote_write_bytes_sent_total",
                "Compressed request bytes the receiver acknowledged.",
                EP,
            ),
            requests: r.counter_vec(
                "levee_remote_write_requests_total",
                "Requests by HTTP status code (`error` when no response).",
                &["remote_name", "url", "code"],
            ),
            highest: r.gauge_vec(
                "levee_remote_write_highest_sent_timestamp_seconds",
                "Timestamp of the newest sample the receiver acknowledged.",
                EP,
            ),
            highest_read: r.gauge_vec(
                "levee_remote_write_highest_read_timestamp_seconds",
                "Timestamp of the newest sample read from the WAL for this endpoint (WAL mode).",
                EP,
            ),
            lag_seconds: r.gauge_vec(
                "levee_remote_write_lag_seconds",
                "While samples are unsent (WAL mode): wall-clock time since the newest acknowledged sample was taken; 0 when caught up.",
                EP,
            ),
            lag_bytes: r.gauge_vec(
                "levee_remote_write_lag_bytes",
                "WAL bytes after the endpoint's acknowledged position (WAL mode).",
                EP,
            ),
            bytes_per_sample: r.gauge_vec(
                "levee_remote_write_bytes_per_sample",
                "Compressed request bytes per acknowledged sample since start (bytes_sent_total / samples_total).",
                EP,
            ),
            wal_read: r.counter_vec(
                "levee_remote_write_wal_samples_read_total",
                "Samples read from the WAL for this endpoint, after write_relabel_configs (WAL mode).",
                EP,
            ),
            metadata_sent: r.counter_vec(
                "levee_remote_write_metadata_total",
                "Metric metadata entries the receiver acknowledged.",
                EP,
            ),
            metadata_failed: r.counter_vec(
                "levee_remote_write_metadata_failed_total",
                "Metric metadata entries not sent in their round (rejected, or still failing when the round ended; the next round sends them again).",
                EP,
            ),
            protocol: r.gauge_vec(
                "levee_remote_write_protocol",
                "1 for the remote-write protocol version the endpoint sends now, 0 for the other (2.0 falls back to 1.0 after a 415).",
                &["remote_name", "url", "version"],
            ),
            written_reported: r.counter_vec(
                "levee_remote_write_samples_written_reported_total",
                "Samples the receiver reported written in X-Prometheus-Remote-Write-Samples-Written (remote write 2.0; counted when the header is present).",
                EP,
            ),
            position_segment: r.gauge_vec(
                "levee_remote_write_position_segment",
                "WAL segment of the endpoint's durable position (its position file; WAL mode).",
                EP,
            ),
        }
    }
}

/// The self-metrics of one endpoint.
#[derive(Clone)]
pub(crate) struct EndpointMetrics {
    families: Families,
    name: String,
    url: String,
    pub samples_sent: Arc<Counter>,
    pub samples_failed: Arc<Counter>,
    pub samples_retried: Arc<Counter>,
    pub queue: Arc<Gauge>,
    pub shards: Arc<Gauge>,
    pub bytes_sent: Arc<Counter>,
    pub highest_sent: Arc<Gauge>,
    pub highest_read: Arc<Gauge>,
    pub lag_seconds: Arc<Gauge>,
    pub lag_bytes: Arc<Gauge>,
    pub bytes_per_sample: Arc<Gauge>,
    pub wal_read: Arc<Counter>,
    pub position_segment: Arc<Gauge>,
    pub metadata_sent: Arc<Counter>,
    pub metadata_failed: Arc<Counter>,
    /// `levee_remote_write_protocol` for versions 1.0 and 2.0.
    pub protocol: [Arc<Gauge>; 2],
    pub samples_written_reported: Arc<Counter>,
}

impl EndpointMetrics {
    pub fn new(families: &Families, name: &str, url: &str) -> Self {
        let families = families.clone();
        let ep = [name, url];
        EndpointMetrics {
            samples_sent: families.samples.with(&ep),
            samples_failed: families.failed.with(&ep),
            samples_retried: families.retried.with(&ep),
            queue: families.queue.with(&ep),
            shards: families.shards.with(&ep),
            bytes_sent: families.bytes.with(&ep),
            highest_sent: families.highest.with(&ep),
            highest_read: families.highest_read.with(&ep),
            lag_seconds: families.lag_seconds.with(&ep),
            lag_bytes: families.lag_bytes.with(&ep),
            bytes_per_sample: families.bytes_per_sample.with(&ep),
            wal_read: families.wal_read.with(&ep),
            position_segment: families.position_segment.with(&ep),
            metadata_sent: families.metadata_sent.with(&ep),
            metadata_failed: families.metadata_failed.with(&ep),
            protocol: ["1.0", "2.0"].map(|v| families.protocol.with(&[name, url, v])),
            samples_written_reported: families.written_reported.with(&ep),
            name: name.to_string(),
            url: url.to_string(),
            families,
        }
    }

    /// Removes every series of this endpoint from the families (a reload
    /// removed the endpoint, or moved its name to another URL).
    pub fn unregister(&self) {
        let ep = [self.name.as_str(), self.url.as_str()];
        let f = &self.families;
        for c in [
            &f.samples,
            &f.failed,
            &f.retried,
            &f.bytes,
            &f.wal_read,
            &f.metadata_sent,
            &f.metadata_failed,
            &f.written_reported,
        ] {
            c.remove(&ep);
        }
        for g in [
            &f.queue,
            &f.shards,
            &f.highest,
            &f.highest_read,
            &f.lag_seconds,
            &f.lag_bytes,
            &f.bytes_per_sample,
            &f.position_segment,
        ] {
            g.remove(&ep);
        }
        f.dropped.remove_prefix(&ep);
        f.requests.remove_prefix(&ep);
        f.protocol.remove_prefix(&ep);
    }

    /// Counts `n` dropped samples.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.families
            .dropped
            .with(&[&self.name, &self.url, &reason.label()])
            .add(n);
    }

    /// Counts one request answered with `code` (or `error`).
    pub fn request(&self, code: &str) {
        self.families
            .requests
            .with(&[&self.name, &self.url, code])
            .inc();
    }
}
