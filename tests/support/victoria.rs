//! A real single-node VictoriaMetrics (Debian's 1.79) as a remote-write
//! receiver, read back exactly through `/api/v1/export`.

use super::process::{Child, Listening, require_binary, temp_dir, wait_http_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const BIN: &str = "/usr/bin/victoria-metrics";

/// One exported series: its labels and its (timestamp ms, value) points in
/// time order.
pub type ExportedSeries = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// A VictoriaMetrics with its storage in a temp dir; killed on drop.
pub struct VictoriaMetrics {
    child: Child,
    args: Vec<String>,
    port: u16,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Starts VictoriaMetrics and waits until `/health` answers. Query
    /// latency offset and caches are off so freshly written data is
    /// visible after [`flush`](Self::flush).
    pub async fn start() -> VictoriaMetrics {
        require_binary(BIN, "victoria-metrics");
        let dir = temp_dir("levee-victoria");
        let args = |port| {
            vec![
                format!("-storageDataPath={}", dir.path().join("data").display()),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-search.latencyOffset=0s".to_string(),
                "-search.disableCache".to_string(),
                "-retentionPeriod=100y".to_string(),
            ]
        };
        let http = reqwest::Client::new();
        let listening = Listening {
            name: "victoria-metrics",
            program: BIN,
            log_dir: dir.path(),
            client: &http,
            timeout: Duration::from_secs(60),
        };
        let (child, port) = listening
            .spawn(args, |port| format!("http://127.0.0.1:{port}/health"))
            .await;
        VictoriaMetrics {
            child,
            args: args(port),
            port,
            http,
            _dir: dir,
        }
    }

    /// Base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Prometheus remote-write receiver URL.
    pub fn url_write(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The process (to kill it early or read its log).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the process cleanly (SIGTERM, so what it acknowledged is on
    /// disk): the receiver is down until [`restart`](Self::restart).
    pub fn stop(&mut self) {
        self.child.terminate(Duration::from_secs(30));
    }

    /// Starts the process again on the same port and storage, and waits
    /// until it answers.
    pub async fn restart(&mut self) {
        self.child.kill();
        let dir = self._dir.path().to_path_buf();
        self.child = Child::spawn("victoria-metrics", BIN, &self.args, &dir);
        let health = format!("{}/health", self.url());
        wait_http_ok(&health, &mut self.child, Duration::from_secs(60)).await;
    }

    /// Makes everything received so far searchable.
    pub async fn flush(&self) {
        let url = format!("{}/internal/force_flush", self.url());
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
    }

    /// Every raw sample of the series matching `matcher` over all time,
    /// sorted by label set.
    pub async fn export(&self, matcher: &str) -> Vec<ExportedSeries> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/export", self.url()),
            [("match[]", matcher), ("start", "0")],
        )
        .expect("export URL");
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url} {matcher}: {status} {text}");
        let mut out: Vec<ExportedSeries> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_export_line)
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// An instant query; returns `data` of the response.
    pub async fn query(&self, promql: &str) -> Value {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url()),
            [("query", promql)],
        )
        .expect("query URL");
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {url}: bad JSON ({e}): {text}"));
        assert_eq!(body["status"], "success", "query {promql}: {body}");
        body["data"].clone()
    }
}

/// One line of `/api/v1/export`:
/// `{"metric":{..},"values":[..],"timestamps":[..]}`; a `null` value is a
/// staleness marker. VictoriaMetrics writes
/// infinities as bare `Inf`/`-Inf` and NaN as `NaN`, which JSON has no
/// words for, so those tokens are quoted before parsing.
fn parse_export_line(line: &str) -> ExportedSeries {
    let (head, rest) = line
        .split_once("\"values\":")
        .unwrap_or_else(|| panic!("export line without values: {line}"));
    let (values, tail) = rest
        .split_once("],")
        .unwrap_or_else(|| panic!("export line: unterminated values: {line}"));
    let quoted: Vec<String> = values
        .trim_start_matches('[')
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| format!("\"{}\"", v.trim()))
        .collect();
    let fixed = format!("{head}\"values\":[{}],{tail}", quoted.join(","));
    let v: Value =
        serde_json::from_str(&fixed).unwrap_or_else(|e| panic!("export line {line}: {e}"));
    let labels = v["metric"]
        .as_object()
        .unwrap_or_else(|| panic!("export line without metric: {line}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let values = v["values"].as_array().cloned().unwrap_or_default();
    let stamps = v["timestamps"].as_array().cloned().unwrap_or_default();
    assert_eq!(values.len(), stamps.len(), "export line: {line}");
    let points = stamps
        .iter()
        .zip(&values)
        .map(|(t, v)| {
            let t = t
                .as_i64()
                .unwrap_or_else(|| panic!("bad timestamp in {line}"));
            let s = v.as_str().unwrap_or_default();
            // A staleness marker is exported as `null`.
            let v = if s == "null" {
                levee::value::stale_nan()
            } else {
                super::prometheus::parse_value(s)
                    .unwrap_or_else(|| panic!("bad value {s:?} in {line}"))
            };
            (t, v)
        })
        .collect();
    (labels, points)
}
