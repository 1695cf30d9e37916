//! A remote-write 1.0 sender for tests: series built from label pairs,
//! encoded as `prometheus.WriteRequest`, snappy-compressed and posted to a
//! receiver with an optional `X-Scope-OrgID`.

use levee::proto;
use prost::Message;

/// A 1.0 series.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| proto::Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
    }
}

/// A 1.0 request, encoded but not compressed.
pub fn encode_v1(timeseries: Vec<proto::TimeSeries>) -> Vec<u8> {
    proto::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
    .encode_to_vec()
}

/// Posts `timeseries` as one remote-write 1.0 request to `url`, naming
/// `source` in `X-Scope-OrgID` if given; returns the status and the body.
pub async fn push_v1(
    client: &reqwest::Client,
    url: &str,
    source: Option<&str>,
    timeseries: Vec<proto::TimeSeries>,
) -> (u16, String) {
    let raw = encode_v1(timeseries);
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses");
    let mut req = client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    if let Some(s) = source {
        req = req.header("X-Scope-OrgID", s);
    }
    let resp = req.send().await.expect("POST /api/v1/write");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
