//! A real Prometheus (Debian's 2.42) as a remote-write receiver or a
//! scraper of a given config, with helpers for its HTTP query API.

use super::process::{Child, Listening, require_binary, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = "/usr/bin/prometheus";

/// A Prometheus with `--web.enable-remote-write-receiver`, an empty
/// config and its TSDB in a temp dir; killed on drop.
pub struct Prometheus {
    child: Child,
    port: u16,
    scheme: &'static str,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus as a receiver and waits for `/-/ready`.
    pub async fn start_receiver() -> Prometheus {
        Self::start(None).await
    }

    /// Starts Prometheus as a receiver serving HTTPS (and, when
    /// `client_ca` is set, requiring a client certificate signed by it).
    /// The handle's own queries use `tls.client` to get in.
    pub async fn start_receiver_tls(tls: PrometheusTls) -> Prometheus {
        Self::start(Some(tls)).await
    }

    async fn start(tls: Option<PrometheusTls>) -> Prometheus {
        let dir = temp_dir("levee-prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").expect("write prometheus.yml");
        let receiver = vec!["--web.enable-remote-write-receiver".to_string()];
        Self::launch(dir, &config, receiver, tls).await
    }

    /// Starts Prometheus on `config` (its scrape jobs) and waits for
    /// `/-/ready`.
    pub async fn start_scraping(config: &Path) -> Prometheus {
        Self::launch(temp_dir("levee-prometheus"), config, Vec::new(), None).await
    }

    /// Starts Prometheus with its TSDB in `dir`, on `config`, with `flags`.
    async fn launch(
        dir: tempfile::TempDir,
        config: &Path,
        flags: Vec<String>,
        tls: Option<PrometheusTls>,
    ) -> Prometheus {
        require_binary(BIN, "prometheus");
        let mut args = flags;
        args.extend([
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--config.file={}", config.display()),
        ]);
        let (scheme, http) = match tls {
            None => ("http", reqwest::Client::new()),
            Some(tls) => {
                let web = dir.path().join("web.yml");
                let mut yaml = format!(
                    "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                    tls.cert_file.display(),
                    tls.key_file.display()
                );
                if let Some(ca) = &tls.client_ca {
                    yaml.push_str(&format!(
                        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
                        ca.display()
                    ));
                }
                std::fs::write(&web, yaml).expect("write web.yml");
                args.push(format!("--web.config.file={}", web.display()));
                ("https", tls.client)
            }
        };
        let listening = Listening {
            name: "prometheus",
            program: BIN,
            log_dir: dir.path(),
            client: &http,
            timeout: Duration::from_secs(60),
        };
        let with_port = |port| {
            let mut all = args.clone();
            all.push(format!("--web.listen-address=127.0.0.1:{port}"));
            all
        };
        let (child, port) = listening
            .spawn(with_port, |port| {
                format!("{scheme}://127.0.0.1:{port}/-/ready")
            })
            .await;
        Prometheus {
            child,
            port,
            scheme,
            http,
            _dir: dir,
        }
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Base URL, `http://127.0.0.1:<port>` (`https` when started with TLS).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The remote-write receiver URL.
    pub fn url_write(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// The process (to kill it early or read its log).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url()), params)
            .expect("query URL");
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {url}: bad JSON ({e}): {text}"));
        assert!(
            status.is_success() && body["status"] == "success",
            "GET {url} {params:?}: {status} {body}"
        );
        body["data"].clone()
    }

    /// An instant query at time `time` (seconds; `None` = now); returns
    /// `data` of the response (`resultType`, `result`).
    pub async fn query_at(&self, promql: &str, time: Option<f64>) -> Value {
        let mut params = vec![("query", promql.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        self.api("/api/v1/query", &params).await
    }

    /// An instant query now.
    pub async fn query(&self, promql: &str) -> Value {
        self.query_at(promql, None).await
    }

    /// A range query; returns `data`.
    pub async fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Value {
        let params = [
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{step}")),
        ];
        self.api("/api/v1/query_range", &params).await
    }

    /// `/api/v1/series?match[]=…` over all time: the label sets.
    pub async fn series(&self, matcher: &str) -> Vec<Value> {
        let params = [("match[]", matcher.to_string()), ("start", "0".to_string())];
        match self.api("/api/v1/series", &params).await {
            Value::Array(v) => v,
            other => panic!("series: expected an array, got {other}"),
        }
    }

    /// The raw samples of every series matching `selector` within the
    /// `window` before `at` (seconds), via a range-vector query:
    /// (labels, [(timestamp ms, value)]).
    pub async fn raw_samples(
        &self,
        selector: &str,
        window: &str,
        at: f64,
    ) -> Vec<(serde_json::Map<String, Value>, Vec<(i64, f64)>)> {
        let data = self
            .query_at(&format!("{selector}[{window}]"), Some(at))
            .await;
        let Value::Array(result) = &data["result"] else {
            panic!("expected a matrix, got {data}");
        };
        result
            .iter()
            .map(|s| {
                let labels = s["metric"].as_object().cloned().unwrap_or_default();
                let values = s["values"]
                    .as_array()
                    .map(|vs| vs.iter().map(parse_point).collect())
                    .unwrap_or_default();
                (labels, values)
            })
            .collect()
    }
}

/// TLS for a Prometheus receiver (see [`Prometheus::start_receiver_tls`]).
pub struct PrometheusTls {
    /// Server certificate (PEM).
    pub cert_file: PathBuf,
    /// Server key (PEM).
    pub key_file: PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
    /// The client the handle uses for readiness and queries.
    pub client: reqwest::Client,
}

/// `[1700000000.123, "1.5"]` -> (ms, value); `+Inf`, `-Inf`, `NaN` accepted.
pub fn parse_point(p: &Value) -> (i64, f64) {
    let t = p[0].as_f64().unwrap_or_else(|| panic!("bad point {p}"));
    let v = p[1].as_str().unwrap_or_else(|| panic!("bad point {p}"));
    (
        (t * 1000.0).round() as i64,
        parse_value(v).unwrap_or_else(|| panic!("bad value in {p}")),
    )
}

/// Prometheus' text forms of a float.
pub fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}
