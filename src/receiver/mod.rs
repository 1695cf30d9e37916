//! The remote-write receiver: `POST /api/v1/write` (routed here by `web`),
//! taking remote write 1.0 and 2.0 from Prometheus servers, agents and
//! vmagents, storing the samples in levee's TSDB (remote write forwards
//! them from its WAL) and the metadata with remote write.
//!
//! A request goes through, in order: a concurrency permit (none free: 503
//! with `Retry-After`), protocol and encoding negotiation (`negotiate.rs`,
//! 415), the body within its size and time limits (`body.rs`, 413, 408),
//! then, on the blocking pool, snappy decompression (its declared length
//! checked first), decoding and label checks (`decode.rs`) and one commit
//! of every valid series to the sample sink. The answer is given after the
//! commit, so a 2xx means the samples are in the WAL. A [`Received`]
//! request carries its source (`source.rs`) beside its series, so that a
//! per-source guard can stand between decoding and the sink.
//!
//! What is accepted and how each case is answered: `docs/receiver.md`.

mod body;
mod decode;
mod error;
mod metrics;
mod negotiate;
mod source;

pub use decode::{Decoded, Invalid, ReceivedSeries, Refusal, decode};
pub use error::RequestError;
pub use negotiate::{Protocol, negotiate};
pub use source::{DEFAULT_SOURCE, source_of};

use crate::config::ReceiverConfig;
use crate::guard::{PushReport, SourceGuards, kinds_from_metadata};
use crate::pipeline::{Appended, Sample, Sinks};
use crate::selfmon::Registry;
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::Metrics;
use std::fmt::Write;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The 2.0 answer headers: samples, native histograms and exemplars written.
const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";
/// Seconds a saturated receiver asks senders to wait.
const RETRY_AFTER_SECONDS: &str = "1";
/// Refused series named in one answer; the rest are counted.
const MAX_NAMED_REFUSALS: usize = 10;

/// Why a receiver cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// `receiver.source_header` is not an HTTP header name.
    #[error("receiver.source_header {name:?} is not an HTTP header name: {source}")]
    SourceHeader {
        /// The name configured.
        name: String,
        /// What the header parser said.
        source: axum::http::header::InvalidHeaderName,
    },
}

/// A decoded request and where it came from: what a per-source stage
/// between decoding and storage sees.
#[derive(Debug)]
pub struct Received {
    /// The source (tenant) the request names.
    pub source: String,
    /// Its content.
    pub decoded: Decoded,
}

/// What became of a stored request.
#[derive(Debug)]
struct Stored {
    /// What the source's series budget did with it.
    budget: PushReport,
    decoded_samples: u64,
    histograms: u64,
    exemplars: u64,
    refused: Vec<Refusal>,
    appended: Appended,
}

/// The receiver: its limits, its sinks and its metrics.
pub struct Receiver {
    config: ReceiverConfig,
    source_header: HeaderName,
    sinks: Sinks,
    /// Every source's series budget (`docs/guard.md`, "Pushed data").
    sources: Arc<SourceGuards>,
    permits: Semaphore,
    metrics: Metrics,
}

impl Receiver {
    /// A receiver storing into `sinks`, limited as `config` says, its
    /// metrics in `registry`, holding its sources to their budgets with
    /// `sources` (built from `config.guard`).
    pub fn new(
        config: ReceiverConfig,
        sinks: Sinks,
        registry: &Registry,
        sources: Arc<SourceGuards>,
    ) -> Result<Receiver, ReceiverError> {
        let source_header =
            HeaderName::from_bytes(config.source_header.as_bytes()).map_err(|source| {
                ReceiverError::SourceHeader {
                    name: config.source_header.clone(),
                    source,
                }
            })?;
        Ok(Receiver {
            permits: Semaphore::new(config.max_concurrent_requests),
            source_header,
            sinks,
            sources,
            metrics: Metrics::new(registry),
            config,
        })
    }

    /// The sources' series budgets (for the cardinality API and the guard
    /// state saves).
    pub fn sources(&self) -> &Arc<SourceGuards> {
        &self.sources
    }

    /// Writes the folded series of every source whose fold interval ended,
    /// checking a tenth of `receiver.fold_interval` (100 ms to 5 s) apart,
    /// until `stop` fires.
    pub async fn run_folds(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = (self.config.guard.fold_interval.as_std() / 10).clamp(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(5),
        );
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.changed() => return,
            }
            let me = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || me.write_folds(now_ms())).await;
        }
    }

    /// The folded series of the intervals ended by `now_ms`, to the sink.
    fn write_folds(&self, now_ms: i64) {
        let mut out = Vec::new();
        self.sources.tick(now_ms, &mut out);
        if !out.is_empty() && self.sinks.samples.append(&out).failed {
            tracing::error!(
                samples = out.len(),
                "storing pushed sources' folded series failed"
            );
        }
    }

    /// Serves one `POST /api/v1/write`.
    pub async fn serve(self: Arc<Self>, req: Request<Body>) -> Response {
        let Ok(_permit) = self.permits.try_acquire() else {
            let e = RequestError::Saturated {
                limit: self.config.max_concurrent_requests,
            };
            let mut resp = self.refuse(None, e);
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            return resp;
        };
        self.metrics.in_flight.add(1.0);
        let resp = Arc::clone(&self).receive(req).await;
        self.metrics.in_flight.add(-1.0);
        resp
    }

    async fn receive(self: Arc<Self>, req: Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let protocol = match negotiate(&parts.headers) {
            Ok(p) => p,
            Err(e) => return self.refuse(None, e),
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let limit = self.config.max_request_bytes.0;
        let bytes = match body::read(body, declared, limit, self.config.read_timeout.as_std()).await
        {
            Ok(b) => b,
            Err(e) => return self.refuse(Some(protocol), e),
        };
        self.metrics.request_bytes.add(bytes.len() as u64);
        let source = source_of(&parts.headers, &self.source_header);
        let me = Arc::clone(&self);
        let work = tokio::task::spawn_blocking(move || {
            let (decoded, inflated) = decode_body(protocol, &bytes, limit)?;
            drop(bytes);
            me.metrics.decompressed_bytes.add(inflated as u64);
            me.store(Received { source, decoded })
        });
        match work.await {
            Ok(Ok(stored)) => self.answer(protocol, stored),
            Ok(Err(e)) => self.refuse(Some(protocol), e),
            Err(source) => self.refuse(Some(protocol), RequestError::Panicked { source }),
        }
    }

    /// Stores a decoded request (blocking: one commit to the sample sink).
    fn store(&self, received: Received) -> Result<Stored, RequestError> {
        let Received { source, decoded } = received;
        let Decoded {
            series,
            metadata,
            refused,
            samples: decoded_samples,
            histograms,
            exemplars,
        } = decoded;
        let mut batch = Vec::with_capacity(series.iter().map(|s| s.samples.len()).sum());
        for s in series {
            let labels = Arc::new(s.labels);
            batch.extend(s.samples.into_iter().map(|(timestamp_ms, value)| Sample {
                labels: Arc::clone(&labels),
                timestamp_ms,
                value,
            }));
        }
        // The source's series budget stands between decoding and the sink.
        let kinds = kinds_from_metadata(&batch, &metadata);
        let mut kept = Vec::with_capacity(batch.len());
        let budget = self
            .sources
            .push(&source, now_ms(), batch, &kinds, &mut kept)?;
        log_budget(&source, &budget);
        let batch = kept;
        let appended = self.sinks.samples.append(&batch);
        if appended.failed {
            self.metrics
                .samples_rejected
                .with(&["storage"])
                .add(batch.len() as u64);
            return Err(RequestError::Storage);
        }
        self.metrics.metadata_received.add(metadata.len() as u64);
        if let Some(sink) = &self.sinks.metadata
            && !metadata.is_empty()
        {
            sink.update(&metadata);
        }
        if !refused.is_empty() {
            tracing::warn!(
                source = %source,
                refused = refused.len(),
                first = %refused[0].series,
                reason = %refused[0].reason,
                "remote-write series refused"
            );
        }
        Ok(Stored {
            budget,
            decoded_samples,
            histograms,
            exemplars,
            refused,
            appended,
        })
    }

    /// The answer to a stored request: 204, or 400 naming the refused
    /// series (what was valid is stored either way).
    fn answer(&self, protocol: Protocol, stored: Stored) -> Response {
        let m = &self.metrics;
        let a = &stored.appended;
        m.samples_received
            .with(&[protocol.label()])
            .add(stored.decoded_samples);
        m.samples_written.with(&[protocol.label()]).add(a.stored);
        m.histograms_received.add(stored.histograms);
        m.exemplars_received.add(stored.exemplars);
        for (reason, n) in [
            ("out_of_order", a.out_of_order),
            ("out_of_bounds", a.out_of_bounds),
            ("duplicate", a.duplicates),
            ("invalid_label_name", a.invalid),
        ] {
            if n > 0 {
                m.samples_rejected.with(&[reason]).add(n);
            }
        }
        if stored.budget.out_of_order > 0 {
            m.samples_rejected
                .with(&["out_of_order"])
                .add(stored.budget.out_of_order);
        }
        for r in &stored.refused {
            m.samples_rejected
                .with(&[r.reason.reason()])
                .add(r.samples + r.histograms);
        }
        let mut resp = if stored.refused.is_empty() {
            StatusCode::NO_CONTENT.into_response()
        } else {
            text(StatusCode::BAD_REQUEST, refusal_body(&stored))
        };
        if protocol == Protocol::V2 {
            written_headers(&mut resp, accepted(&stored));
        }
        m.requests
            .with(&[protocol.label(), resp.status().as_str()])
            .inc();
        resp
    }

    /// The answer to a request refused as a whole.
    fn refuse(&self, protocol: Option<Protocol>, e: RequestError) -> Response {
        let status = e.status();
        self.metrics.refused_requests.with(&[e.reason()]).inc();
        if status.is_server_error() {
            tracing::error!(error = %e, "remote-write request failed");
        } else {
            tracing::debug!(error = %e, "remote-write request refused");
        }
        let mut resp = text(status, format!("{e}\n"));
        if protocol == Some(Protocol::V2) {
            written_headers(&mut resp, 0);
        }
        let label = protocol.map_or("unknown", Protocol::label);
        self.metrics.requests.with(&[label, status.as_str()]).inc();
        resp
    }
}

/// The request's samples accounted for: stored as they are (the guard's
/// own samples, folded series of an ended interval, not counted), merged
/// into folded series, dropped for the budget, or already had.
fn accepted(stored: &Stored) -> u64 {
    let b = &stored.budget;
    stored.appended.stored.saturating_sub(b.written)
        + b.folded
        + b.dropped_budget
        + b.dropped_quantile
        + b.out_of_order
}

/// Logs what a source's budget did: one WARN per new offender, one INFO
/// per lifted fold.
fn log_budget(source: &str, r: &PushReport) {
    for o in &r.offenders {
        let label = if o.label.is_empty() { "-" } else { &o.label };
        tracing::warn!(
            source,
            families = %o.families.join(","),
            label = %label,
            with = %o.with.join(","),
            distinct_values = o.distinct,
            growth_per_min = format!("{:.1}", o.growth_per_min),
            action = o.action.as_str(),
            active_before = o.active_before,
            active_after = o.active_after,
            "series budget exceeded: new offender"
        );
    }
    for label in &r.lifted {
        tracing::info!(source, label = %label, "series budget: fold lifted");
    }
}

/// Milliseconds since the epoch, the receiver's clock (arrival times).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Decodes a request body of `protocol` as sent (snappy around the
/// protobuf), inflating at most `limit` bytes; also returns how many bytes
/// it inflated to.
pub fn decode_body(
    protocol: Protocol,
    body: &[u8],
    limit: u64,
) -> Result<(Decoded, usize), RequestError> {
    let raw = body::decompress(body, limit)?;
    let decoded = decode(protocol, &raw).map_err(|source| RequestError::Protobuf {
        message: decode::message_name(protocol),
        source,
    })?;
    Ok((decoded, raw.len()))
}

/// The 2.0 written counts: `samples` floats; no native histograms or
/// exemplars are ever written.
fn written_headers(resp: &mut Response, samples: u64) {
    let h = resp.headers_mut();
    h.insert(SAMPLES_WRITTEN, HeaderValue::from(samples));
    h.insert(HISTOGRAMS_WRITTEN, HeaderValue::from(0u64));
    h.insert(EXEMPLARS_WRITTEN, HeaderValue::from(0u64));
}

/// What a partly stored request's 400 says.
fn refusal_body(stored: &Stored) -> String {
    let refused_samples: u64 = stored.refused.iter().map(|r| r.samples).sum();
    let refused_histograms: u64 = stored.refused.iter().map(|r| r.histograms).sum();
    let mut s = format!(
        "stored {} of {} samples; refused {} series ({} samples, {} native histogram samples); the rest of the request was stored:\n",
        stored.appended.stored,
        stored.decoded_samples,
        stored.refused.len(),
        refused_samples,
        refused_histograms,
    );
    for r in stored.refused.iter().take(MAX_NAMED_REFUSALS) {
        let _ = writeln!(s, "{}: {}", r.series, r.reason);
    }
    if stored.refused.len() > MAX_NAMED_REFUSALS {
        let _ = writeln!(
            s,
            "… and {} more series",
            stored.refused.len() - MAX_NAMED_REFUSALS
        );
    }
    s
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
