//! Remote write over TLS into a real Prometheus 2.42 serving HTTPS (with
//! `--web.config.file`), including client certificates, plus the start
//! errors of bad TLS settings. Samples go through a real TSDB's WAL
//! (`support::remote_db`). Certificates: `tests/data/remote/tls/`.

use crate::support;

use levee::http_client::{ErrorKind, HttpClientError, Owner};
use levee::labels::Labels;
use levee::pipeline::Sample;
use levee::remote::{EndpointSettings, RemoteError};
use levee::selfmon::Registry;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::remote_db::RemoteDb;
use support::{Prometheus, PrometheusTls};

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/remote/tls")
        .join(name)
}

/// A client trusting the test CA and presenting the test client cert.
fn test_client() -> reqwest::Client {
    let ca = std::fs::read(tls_file("ca.pem")).expect("ca.pem");
    let mut id = std::fs::read(tls_file("client.pem")).expect("client.pem");
    id.extend(std::fs::read(tls_file("client.key")).expect("client.key"));
    reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).expect("parse ca"))
        .identity(reqwest::Identity::from_pem(&id).expect("parse identity"))
        .build()
        .expect("client")
}

async fn tls_prometheus(require_client_cert: bool) -> Prometheus {
    Prometheus::start_receiver_tls(PrometheusTls {
        cert_file: tls_file("server.pem"),
        key_file: tls_file("server.key"),
        client_ca: require_client_cert.then(|| tls_file("ca.pem")),
        client: test_client(),
    })
    .await
}

fn settings(name: &str, url: &str) -> EndpointSettings {
    let mut s = EndpointSettings::new(name, url);
    s.batch_send_deadline = Duration::from_millis(50);
    s.min_backoff = Duration::from_millis(10);
    s.max_backoff = Duration::from_millis(100);
    s.timeout = Duration::from_secs(10);
    s
}

fn samples(name: &str, n: usize) -> Vec<Sample> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    (0..n)
        .map(|i| Sample {
            labels: Arc::new(Labels::from_pairs([
                ("__name__", name.to_string()),
                ("i", i.to_string()),
            ])),
            timestamp_ms: now - 30_000,
            value: i as f64,
        })
        .collect()
}

fn metric(reg: &Registry, line_prefix: &str) -> f64 {
    reg.render()
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(f64::NAN))
}

async fn series_count(prom: &Prometheus, name: &str) -> usize {
    prom.series(name).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_and_ca_file_reach_an_mtls_receiver() {
    let prom = tls_prometheus(true).await;
    let url = prom.url_write().replace("127.0.0.1", "localhost");
    let reg = Registry::new();
    let mut s = settings("mtls", &url);
    s.tls.ca_file = Some(tls_file("ca.pem"));
    s.tls.cert_file = Some(tls_file("client.pem"));
    s.tls.key_file = Some(tls_file("client.key"));
    let (db, writer) = RemoteDb::start(vec![s], Labels::empty(), &reg).expect("start");
    db.append(&samples("levee_tls_mtls", 25));
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(
        metric(
            &reg,
            &format!("levee_remote_write_samples_total{{remote_name=\"mtls\",url=\"{url}\"}} ")
        ),
        25.0
    );
    assert_eq!(series_count(&prom, "levee_tls_mtls").await, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_client_certificate_fails_and_is_counted_not_lost() {
    let prom = tls_prometheus(true).await;
    let url = prom.url_write();
    let reg = Registry::new();
    let mut s = settings("nocert", &url);
    s.tls.ca_file = Some(tls_file("ca.pem"));
    let (db, writer) = RemoteDb::start(vec![s.clone()], Labels::empty(), &reg).expect("start");
    db.append(&samples("levee_tls_nocert", 10));
    let start = std::time::Instant::now();
    while metric(
        &reg,
        &format!(
            "levee_remote_write_requests_total{{remote_name=\"nocert\",url=\"{url}\",code=\"error\"}} "
        ),
    ) < 2.0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no failed attempts seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(writer.pending(), [("nocert".to_string(), 10)]);
    db.stop(writer, Duration::from_millis(200)).await;
    assert_eq!(series_count(&prom, "levee_tls_nocert").await, 0);
    // Not lost: the WAL kept the samples; with the certificate the next
    // start delivers exactly them.
    assert!(db.position("nocert").expect("position") < db.wal_end());
    s.tls.cert_file = Some(tls_file("client.pem"));
    s.tls.key_file = Some(tls_file("client.key"));
    let reg = Registry::new();
    let writer = db
        .start_writer(vec![s], Labels::empty(), &reg)
        .expect("restart");
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(
        metric(
            &reg,
            &format!("levee_remote_write_samples_total{{remote_name=\"nocert\",url=\"{url}\"}} ")
        ),
        10.0
    );
    assert_eq!(series_count(&prom, "levee_tls_nocert").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_accepts_an_unknown_ca() {
    let prom = tls_prometheus(false).await;
    let reg = Registry::new();
    let mut s = settings("insecure", &prom.url_write());
    s.tls.insecure_skip_verify = true;
    let (db, writer) = RemoteDb::start(vec![s], Labels::empty(), &reg).expect("start");
    db.append(&samples("levee_tls_insecure", 5));
    db.stop(writer, Duration::from_secs(30)).await;
    assert_eq!(series_count(&prom, "levee_tls_insecure").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_settings_are_start_errors_naming_the_field() {
    let reg = Registry::new();
    let url = "https://localhost:1/api/v1/write";
    let db = RemoteDb::open();
    let start = |s: EndpointSettings| db.start_writer(vec![s], Labels::empty(), &reg).err();

    let mut s = settings("a", url);
    s.tls.ca_file = Some(tls_file("missing.pem"));
    match start(s) {
        Some(RemoteError::Http(HttpClientError {
            owner,
            field,
            kind: ErrorKind::ReadFile { path, .. },
        })) => {
            assert_eq!(owner, Owner::RemoteWrite("a".into()));
            assert_eq!(field, "tls_config.ca_file");
            assert_eq!(path, tls_file("missing.pem"));
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }

    let mut s = settings("a", url);
    s.tls.cert_file = Some(tls_file("client.pem"));
    assert!(matches!(
        start(s),
        Some(RemoteError::Http(HttpClientError { field, kind: ErrorKind::CertWithoutKey { .. }, .. }))
            if field == "tls_config"
    ));

    let mut s = settings("a", url);
    s.tls.ca_file = Some(tls_file("README.md"));
    assert!(matches!(
        start(s),
        Some(RemoteError::Http(HttpClientError {
            field,
            kind: ErrorKind::NoCertificate { .. } | ErrorKind::Pem { .. },
            ..
        })) if field == "tls_config.ca_file"
    ));

    let mut s = settings("a", url);
    s.tls.server_name = Some("other".into());
    assert!(matches!(
        start(s),
        Some(RemoteError::Http(HttpClientError { field, kind: ErrorKind::Unsupported, .. }))
            if field == "tls_config.server_name"
    ));

    let dup = vec![settings("same", url), settings("same", url)];
    assert!(matches!(
        db.start_writer(dup, Labels::empty(), &reg).err(),
        Some(RemoteError::Settings { field, .. }) if field == "name"
    ));
}
