//! Same file, same meaning: each good config under `tests/data/config/`
//! (and `examples/levee.yml`) is loaded by a real Prometheus 2.42
//! (`/usr/bin/prometheus`, started here on a free port with a temp data
//! dir) and by levee; every resolved value Prometheus reports in
//! `/api/v1/status/config` must equal levee's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use levee::config::{Config, HttpClientConfig};
use serde_json::Value;

use crate::support;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
}

/// Prometheus' own reading of `config`, as YAML parsed into JSON values.
fn prometheus_reading(config: &Path) -> Value {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let prometheus = runtime.block_on(support::Prometheus::start_scraping(config));
    let port = prometheus.port();
    // Readiness wait (not a timing assertion): up to 60 s for the API.
    for _ in 0..600 {
        if let Some(body) = http_get(port, "/api/v1/status/config") {
            let json: Value = serde_json::from_str(&body).expect("status/config JSON");
            let yaml = json["data"]["yaml"].as_str().expect("data.yaml");
            return serde_saphyr::from_str(yaml).expect("Prometheus' YAML");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("prometheus on port {port} did not serve /api/v1/status/config");
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn flag(v: &Value, default: bool) -> bool {
    v.as_bool().unwrap_or(default)
}

fn check_http(p: &Value, ours: &HttpClientConfig, at: &str) {
    assert_eq!(
        flag(&p["follow_redirects"], true),
        ours.follow_redirects,
        "{at}"
    );
    assert_eq!(flag(&p["enable_http2"], true), ours.enable_http2, "{at}");
    assert_eq!(
        s(&p["basic_auth"]["username"]),
        ours.basic_auth
            .as_ref()
            .map(|b| b.username.clone())
            .unwrap_or_default(),
        "{at}"
    );
    assert_eq!(
        s(&p["authorization"]["type"]),
        ours.authorization
            .as_ref()
            .map(|a| a.kind.clone())
            .unwrap_or_default(),
        "{at}"
    );
    let tls = &p["tls_config"];
    assert_eq!(
        s(&tls["server_name"]),
        ours.tls_config.server_name.clone().unwrap_or_default(),
        "{at}"
    );
    assert_eq!(
        flag(&tls["insecure_skip_verify"], false),
        ours.tls_config.insecure_skip_verify,
        "{at}"
    );
    assert_eq!(
        tls["ca_file"].is_string(),
        ours.tls_config.ca.is_some(),
        "{at}"
    );
}

fn compare(file: &Path) {
    let ours = Config::load_file(file).expect("levee loads it");
    let p = prometheus_reading(file);

    let g = &p["global"];
    assert_eq!(
        s(&g["scrape_interval"]),
        ours.global.scrape_interval.to_string()
    );
    assert_eq!(
        s(&g["scrape_timeout"]),
        ours.global.scrape_timeout.to_string()
    );
    assert_eq!(
        s(&g["evaluation_interval"]),
        ours.global.evaluation_interval.to_string()
    );
    let external: Vec<(String, String)> = g["external_labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
        .unwrap_or_default();
    let ours_external: Vec<(String, String)> = ours
        .global
        .external_labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    assert_eq!(external, ours_external);

    let jobs = p["scrape_configs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), ours.scrape_configs.len());
    for (pj, oj) in jobs.iter().zip(&ours.scrape_configs) {
        let at = oj.job_name.as_str();
        assert_eq!(s(&pj["job_name"]), oj.job_name);
        assert_eq!(
            s(&pj["scrape_interval"]),
            oj.scrape_interval.to_string(),
            "{at}"
        );
        assert_eq!(
            s(&pj["scrape_timeout"]),
            oj.scrape_timeout.to_string(),
            "{at}"
        );
        let path = s(&pj["metrics_path"]);
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        assert_eq!(path, oj.metrics_path, "{at}");
        assert_eq!(s(&pj["scheme"]), oj.scheme.as_str(), "{at}");
        assert_eq!(flag(&pj["honor_labels"], false), oj.honor_labels, "{at}");
        assert_eq!(
            flag(&pj["honor_timestamps"], true),
            oj.honor_timestamps,
            "{at}"
        );
        let params: Value = serde_json::to_value(&oj.params).expect("params");
        let p_params = if pj["params"].is_null() {
            Value::Object(Default::default())
        } else {
            pj["params"].clone()
        };
        assert_eq!(p_params, params, "{at}");
        assert_eq!(u(&pj["sample_limit"]), oj.sample_limit, "{at}");
        assert_eq!(u(&pj["label_limit"]), oj.label_limit, "{at}");
        assert_eq!(
            u(&pj["label_name_length_limit"]),
            oj.label_name_length_limit,
            "{at}"
        );
        assert_eq!(
            u(&pj["label_value_length_limit"]),
            oj.label_value_length_limit,
            "{at}"
        );
        let body = s(&pj["body_size_limit"]);
        let body = if body.is_empty() {
            "0B".to_owned()
        } else {
            body
        };
        assert_eq!(body, oj.body_size_limit.to_string(), "{at}");
        check_http(pj, &oj.http, at);
        let count = |v: &Value| v.as_array().map_or(0, Vec::len);
        assert_eq!(
            count(&pj["relabel_configs"]),
            oj.relabel_configs.len(),
            "{at}"
        );
        assert_eq!(
            count(&pj["metric_relabel_configs"]),
            oj.metric_relabel_configs.len(),
            "{at}"
        );
        let statics = pj["static_configs"].as_array().cloned().unwrap_or_default();
        assert_eq!(statics.len(), oj.static_configs.len(), "{at}");
        for (ps, os) in statics.iter().zip(&oj.static_configs) {
            let targets: Vec<String> = ps["targets"]
                .as_array()
                .map(|t| t.iter().map(s).collect())
                .unwrap_or_default();
            assert_eq!(targets, os.targets, "{at}");
            let labels: Vec<(String, String)> = ps["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
                .unwrap_or_default();
            let ours_labels: Vec<(String, String)> = os
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            assert_eq!(labels, ours_labels, "{at}");
        }
    }

    let writes = p["remote_write"].as_array().cloned().unwrap_or_default();
    assert_eq!(writes.len(), ours.remote_write.len());
    for (pw, ow) in writes.iter().zip(&ours.remote_write) {
        let at = ow.url.as_str();
        assert_eq!(s(&pw["url"]), ow.url);
        if pw["name"].is_string() {
            assert_eq!(s(&pw["name"]), ow.name, "{at}");
        }
        assert_eq!(
            s(&pw["remote_timeout"]),
            ow.remote_timeout.to_string(),
            "{at}"
        );
        let headers: Value = serde_json::to_value(&ow.headers).expect("headers");
        let p_headers = if pw["headers"].is_null() {
            Value::Object(Default::default())
        } else {
            pw["headers"].clone()
        };
        assert_eq!(p_headers, headers, "{at}");
        check_http(pw, &ow.http, at);
        let q = &pw["queue_config"];
        let oq = ow.queue_config;
        assert_eq!(u(&q["capacity"]), oq.capacity, "{at}");
        assert_eq!(u(&q["max_shards"]), oq.max_shards, "{at}");
        assert_eq!(u(&q["min_shards"]), oq.min_shards, "{at}");
        assert_eq!(
            u(&q["max_samples_per_send"]),
            oq.max_samples_per_send,
            "{at}"
        );
        assert_eq!(
            s(&q["batch_send_deadline"]),
            oq.batch_send_deadline.to_string(),
            "{at}"
        );
        assert_eq!(s(&q["min_backoff"]), oq.min_backoff.to_string(), "{at}");
        assert_eq!(s(&q["max_backoff"]), oq.max_backoff.to_string(), "{at}");
        assert_eq!(
            flag(&q["retry_on_http_429"], false),
            oq.retry_on_http_429,
            "{at}"
        );
        let m = &pw["metadata_config"];
        let om = ow.metadata_config;
        assert_eq!(flag(&m["send"], false), om.send, "{at}");
        assert_eq!(s(&m["send_interval"]), om.send_interval.to_string(), "{at}");
        assert_eq!(
            u(&m["max_samples_per_send"]),
            om.max_samples_per_send,
            "{at}"
        );
    }
}

#[test]
fn realistic_config_reads_as_prometheus_reads_it() {
    compare(Path::new("tests/data/config/prometheus.yml"));
}

#[test]
fn upstream_example_reads_as_prometheus_reads_it() {
    compare(Path::new("tests/data/config/upstream-example.yml"));
}

#[test]
fn embedded_example_reads_as_prometheus_reads_it() {
    compare(Path::new("examples/levee.yml"));
}

const PROMTOOL: &str = "/usr/bin/promtool";

/// Each bad file says (`# prometheus: accepts|rejects …`) what Prometheus
/// 2.42 does with it, so levee's stricter or unsupported cases are explicit;
/// promtool must agree.
#[test]
fn promtool_agrees_with_bad_file_annotations() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's `prometheus` package (scripts/test does)"
    );
    let mut files: Vec<_> = std::fs::read_dir("tests/data/config/bad")
        .expect("bad configs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let mut disagreements = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let claim = text
            .lines()
            .find_map(|l| l.strip_prefix("# prometheus: "))
            .unwrap_or_else(|| panic!("{} has no `# prometheus:` line", file.display()));
        let accepts = Command::new(PROMTOOL)
            .args(["check", "config"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run promtool")
            .success();
        if accepts != claim.starts_with("accepts") {
            disagreements.push(format!(
                "{}: claims `{claim}`, promtool {}",
                file.display(),
                if accepts { "accepts" } else { "rejects" }
            ));
        }
    }
    assert!(disagreements.is_empty(), "\n{}", disagreements.join("\n"));
}
