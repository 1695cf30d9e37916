//! The receiver's self-metrics (`levee_receiver_*`).

use crate::selfmon::{Counter, Family, Gauge, Registry};
use std::sync::Arc;

/// Every `levee_receiver_*` metric.
pub struct Metrics {
    /// Requests answered, by protocol and status code.
    pub requests: Arc<Family<Counter>>,
    /// Requests refused as a whole, by reason.
    pub refused_requests: Arc<Family<Counter>>,
    /// Float samples received, by protocol.
    pub samples_received: Arc<Family<Counter>>,
    /// Float samples stored, by protocol.
    pub samples_written: Arc<Family<Counter>>,
    /// Samples (and native histograms) not stored, by reason.
    pub samples_rejected: Arc<Family<Counter>>,
    /// Native histogram samples received.
    pub histograms_received: Arc<Counter>,
    /// Exemplars received (and skipped).
    pub exemplars_received: Arc<Counter>,
    /// Metadata entries received.
    pub metadata_received: Arc<Counter>,
    /// Request body bytes read.
    pub request_bytes: Arc<Counter>,
    /// Bytes the bodies decompressed to.
    pub decompressed_bytes: Arc<Counter>,
    /// Requests being served.
    pub in_flight: Arc<Gauge>,
}

impl Metrics {
    /// Registers the metrics in `reg`.
    pub fn new(reg: &Registry) -> Metrics {
        Metrics {
            requests: reg.counter_vec(
                "levee_receiver_requests_total",
                "Remote-write requests answered, by protocol (1.0, 2.0, unknown) and HTTP status code.",
                &["protocol", "code"],
            ),
            refused_requests: reg.counter_vec(
                "levee_receiver_requests_refused_total",
                "Remote-write requests refused as a whole (nothing stored), by reason.",
                &["reason"],
            ),
            samples_received: reg.counter_vec(
                "levee_receiver_samples_received_total",
                "Float samples in decoded remote-write requests, by protocol.",
                &["protocol"],
            ),
            samples_written: reg.counter_vec(
                "levee_receiver_samples_written_total",
                "Received float samples stored in the WAL, by protocol.",
                &["protocol"],
            ),
            samples_rejected: reg.counter_vec(
                "levee_receiver_samples_rejected_total",
                "Received samples not stored, by reason (out_of_order, out_of_bounds, duplicate, invalid_label_name, invalid_metric_name, invalid_symbol_ref, native_histogram, storage).",
                &["reason"],
            ),
            histograms_received: reg.counter(
                "levee_receiver_histograms_received_total",
                "Native histogram samples received (levee stores none: each is also counted as rejected).",
            ),
            exemplars_received: reg.counter(
                "levee_receiver_exemplars_received_total",
                "Exemplars received (levee stores none: they are skipped).",
            ),
            metadata_received: reg.counter(
                "levee_receiver_metadata_received_total",
                "Metadata entries received (passed on to remote write).",
            ),
            request_bytes: reg.counter(
                "levee_receiver_request_bytes_total",
                "Bytes of remote-write request bodies read (compressed).",
            ),
            decompressed_bytes: reg.counter(
                "levee_receiver_decompressed_bytes_total",
                "Bytes remote-write request bodies decompressed to.",
            ),
            in_flight: reg.gauge(
                "levee_receiver_requests_in_flight",
                "Remote-write requests being read, decoded or stored.",
            ),
        }
    }
}
