//! Cross-check of the test vectors against a real Prometheus (the Debian
//! 2.42 package at /usr/bin/prometheus): every vector is served over HTTP
//! with its format's Content-Type, Prometheus scrapes all of them, and for
//! each the scrape must succeed (`up` 1, same sample count) exactly when
//! levee's parser accepts the document.
//!
//! The divergences levee chooses are listed in `DIVERGENT` and documented
//! in docs/exposition.md.

use crate::common::{Vector, vectors};
use crate::support;
use levee::exposition::Format;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Vectors where levee deliberately differs from Prometheus 2.42.
const DIVERGENT: &[&str] = &[
    // A NUL at the start of a line ends Prometheus' text lexer silently
    // (the rest of the body is dropped, up 1); levee reports an error.
    "text_nul_line",
];

/// Serves `GET /<vector name>` with the vector's body until the test ends.
fn serve(bodies: BTreeMap<String, (Format, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(bodies);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let bodies = Arc::clone(&bodies);
            std::thread::spawn(move || answer(conn, &bodies));
        }
    });
    port
}

fn answer(mut conn: TcpStream, bodies: &BTreeMap<String, (Format, Vec<u8>)>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let name = path.trim_start_matches('/').split('?').next().unwrap_or("");
    let response = match bodies.get(name) {
        Some((format, body)) => {
            let ct = match format {
                Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            };
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = conn.write_all(&response);
}

/// GET against Prometheus' API, returning the JSON body.
fn api(port: u16, query: &str) -> Option<serde_json::Value> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET /api/v1/query?query={query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .ok()?;
    let mut resp = Vec::new();
    conn.read_to_end(&mut resp).ok()?;
    let at = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    serde_json::from_slice(&resp[at + 4..]).ok()
}

/// `metric` by job, from an instant query.
fn by_job(port: u16, metric: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Some(v) = api(port, metric) else {
        return out;
    };
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let job = r["metric"]["job"].as_str().unwrap_or_default().to_string();
        let value = r["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN);
        out.insert(job, value);
    }
    out
}

#[test]
fn prometheus_accepts_exactly_the_valid_vectors() {
    let all: Vec<(Vector, bool)> = vectors("valid")
        .into_iter()
        .map(|v| (v, true))
        .chain(vectors("invalid").into_iter().map(|v| (v, false)))
        .collect();
    let name = |v: &Vector| {
        v.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let bodies = all
        .iter()
        .map(|(v, _)| (name(v), (v.format, v.input.clone())))
        .collect();
    let target_port = serve(bodies);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n");
    for (v, _) in &all {
        let n = name(v);
        config.push_str(&format!(
            "  - job_name: {n}\n    metrics_path: /{n}\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ));
    }
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write config");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let prometheus = runtime.block_on(support::Prometheus::start_scraping(&config_path));
    let prom_port = prometheus.port();

    // Wait until every job has been scraped at least once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let up = loop {
        let up = by_job(prom_port, "up");
        if up.len() == all.len() {
            break up;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus scraped only {} of {} vectors within 60 s",
            up.len(),
            all.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let scraped = by_job(prom_port, "scrape_samples_scraped");

    let mut mismatches = Vec::new();
    for (v, valid) in &all {
        let n = name(v);
        if DIVERGENT.contains(&n.as_str()) {
            continue;
        }
        let prom_up = up.get(&n).copied() == Some(1.0);
        if prom_up != *valid {
            mismatches.push(format!("{n}: levee valid={valid}, Prometheus up={prom_up}"));
            continue;
        }
        if *valid {
            let samples = v
                .expected
                .iter()
                .filter(|e| e.starts_with("[\"sample\""))
                .count();
            if scraped.get(&n).copied() != Some(samples as f64) {
                mismatches.push(format!(
                    "{n}: levee {samples} samples, Prometheus {:?}",
                    scraped.get(&n)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
