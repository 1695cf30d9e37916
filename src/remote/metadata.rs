//! Metric metadata (HELP, TYPE, UNIT): the latest metadata of every family
//! the scrapes reported (the [`MetadataSink`](crate::pipeline::MetadataSink)
//! of [`RemoteWriter`](super::RemoteWriter)). Remote write 1.0 endpoints get
//! it here as `WriteRequest.metadata` (requests without samples), as
//! Prometheus' `metadata_config` does; 2.0 endpoints send it in-line with
//! each series (the shard looks it up with [`MetadataStore::families`]) and
//! skip these rounds while they speak 2.0.
//!
//! Rate-limited by design: one round per `metadata_send_interval` per
//! endpoint, whatever the scrape rate, in requests of at most
//! `metadata_max_per_send` entries. A retryable failure is retried with the
//! endpoint's backoff until the round's interval is over; what is still
//! unsent then is counted in `levee_remote_write_metadata_failed_total` and
//! sent again by the next round (metadata is a snapshot, not a stream).

use super::client::SendOutcome;
use super::shard::Shared;
use crate::config::ProtobufMessage;
use crate::exposition::MetricType;
use crate::pipeline::Metadata;
use crate::proto;
use bytes::Bytes;
use parking_lot::Mutex;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::time::Instant;

/// The latest metadata per family, shared by all endpoints.
#[derive(Debug, Default)]
pub(crate) struct MetadataStore {
    map: Mutex<BTreeMap<String, Metadata>>,
}

impl MetadataStore {
    /// Records `items`, replacing earlier metadata of the same families.
    pub fn update(&self, items: &[Metadata]) {
        let mut map = self.map.lock();
        for m in items {
            match map.get_mut(&m.family) {
                Some(old) if old == m => {}
                Some(old) => *old = m.clone(),
                None => {
                    map.insert(m.family.clone(), m.clone());
                }
            }
        }
    }

    /// The map by family name, locked (hold it only while encoding one
    /// batch).
    pub fn families(&self) -> parking_lot::MutexGuard<'_, BTreeMap<String, Metadata>> {
        self.map.lock()
    }

    /// Everything, by family name.
    pub fn snapshot(&self) -> Vec<Metadata> {
        self.map.lock().values().cloned().collect()
    }
}

fn proto_type(kind: MetricType) -> proto::metric_metadata::MetricType {
    use proto::metric_metadata::MetricType as P;
    match kind {
        MetricType::Counter => P::Counter,
        MetricType::Gauge => P::Gauge,
        MetricType::Histogram => P::Histogram,
        MetricType::GaugeHistogram => P::Gaugehistogram,
        MetricType::Summary => P::Summary,
        MetricType::Info => P::Info,
        MetricType::StateSet => P::Stateset,
        MetricType::Unknown => P::Unknown,
    }
}

/// A snappy-compressed `WriteRequest` holding only `items` as metadata.
pub(crate) fn encode(items: &[Metadata]) -> Result<Bytes, snap::Error> {
    let req = proto::WriteRequest {
        timeseries: Vec::new(),
        metadata: items
            .iter()
            .map(|m| proto::MetricMetadata {
                r#type: proto_type(m.kind) as i32,
                metric_family_name: m.family.clone(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect(),
    };
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())?;
    Ok(Bytes::from(body))
}

/// Sends the store's metadata to one endpoint every interval, until
/// aborted.
pub(crate) async fn run(shared: Arc<Shared>, store: Arc<MetadataStore>) {
    let s = &shared.settings;
    let mut tick = tokio::time::interval(s.metadata_send_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rejected_logged = false;
    loop {
        tick.tick().await;
        if shared.protocol.current() == ProtobufMessage::V2 {
            continue;
        }
        let items = store.snapshot();
        if items.is_empty() {
            continue;
        }
        let round_ends = Instant::now() + s.metadata_send_interval;
        let mut chunks = items.chunks(s.metadata_max_per_send.max(1));
        while let Some(chunk) = chunks.next() {
            let n = chunk.len() as u64;
            let body = match encode(chunk) {
                Ok(b) => b,
                Err(e) => {
                    shared.metrics.metadata_failed.add(n);
                    tracing::error!(remote_name = %s.name, url = %s.url, "remote write: cannot encode metadata: {e}");
                    continue;
                }
            };
            if !send(&shared, body, n, round_ends, &mut rejected_logged).await {
                // The round is over: what is left waits for the next one.
                let left: u64 = chunks.map(|c| c.len() as u64).sum();
                shared.metrics.metadata_failed.add(n + left);
                break;
            }
        }
    }
}

/// Sends one metadata request, retrying until `round_ends`. Returns false
/// when the round ended first.
async fn send(
    shared: &Shared,
    body: Bytes,
    n: u64,
    round_ends: Instant,
    rejected_logged: &mut bool,
) -> bool {
    let s = &shared.settings;
    let m = &shared.metrics;
    let mut backoff = s.min_backoff;
    loop {
        match shared.client.send(body.clone(), ProtobufMessage::V1).await {
            SendOutcome::Sent { code, .. } => {
                m.request(&code.to_string());
                m.metadata_sent.add(n);
                return true;
            }
            SendOutcome::Retry { code, after, .. } => {
                m.request(&code.map_or_else(|| "error".to_string(), |c| c.to_string()));
                let delay = after.filter(|d| !d.is_zero()).unwrap_or(backoff);
                backoff = (backoff * 2).min(s.max_backoff);
                if Instant::now() + delay >= round_ends {
                    return false;
                }
                tokio::time::sleep(delay).await;
            }
            SendOutcome::Reject { code, body } => {
                m.request(&code.to_string());
                m.metadata_failed.add(n);
                if !std::mem::replace(rejected_logged, true) {
                    tracing::error!(remote_name = %s.name, url = %s.url, code, "remote write: receiver rejected metadata (further rejections are only counted): {body}");
                }
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(family: &str, help: &str) -> Metadata {
        Metadata {
            family: family.into(),
            kind: MetricType::Counter,
            help: help.into(),
            unit: "seconds".into(),
        }
    }

    #[test]
    fn store_keeps_the_latest_per_family() {
        let st = MetadataStore::default();
        st.update(&[md("b", "1"), md("a", "1")]);
        st.update(&[md("b", "2")]);
        assert_eq!(st.snapshot(), vec![md("a", "1"), md("b", "2")]);
    }

    #[test]
    fn encodes_a_metadata_only_request() {
        let body = encode(&[md("node_cpu_seconds_total", "Seconds.")]).unwrap();
        let req = super::super::decode_write_request(&body, 1 << 20).unwrap();
        assert!(req.timeseries.is_empty());
        assert_eq!(req.metadata.len(), 1);
        let m = &req.metadata[0];
        assert_eq!(m.metric_family_name, "node_cpu_seconds_total");
        assert_eq!(m.r#type, proto::metric_metadata::MetricType::Counter as i32);
        assert_eq!((m.help.as_str(), m.unit.as_str()), ("Seconds.", "seconds"));
    }
}
