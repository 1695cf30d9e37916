//! The web config file against the real peer that reads the same format:
//! Prometheus 2.42 scrapes levee's `/metrics` over TLS with a client
//! certificate and basic auth (a bcrypt hash in levee's
//! `--web.config.file`); a job with the wrong password is refused (401,
//! `up` 0), and one without a client certificate never gets through the
//! handshake.

use crate::support;

use levee::agent::{Agent, AgentOptions};
use std::path::PathBuf;
use std::time::Duration;
use support::{Prometheus, temp_dir, wait_until};

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/remote/tls")
        .join(name)
}

fn job(name: &str, port: u16, password: &str, client_cert: bool) -> String {
    let cert = match client_cert {
        true => format!(
            "\n      cert_file: {}\n      key_file: {}",
            tls_file("client.pem").display(),
            tls_file("client.key").display()
        ),
        false => String::new(),
    };
    format!(
        r#"
  - job_name: {name}
    scheme: https
    scrape_interval: 1s
    scrape_timeout: 900ms
    tls_config:
      ca_file: {ca}{cert}
    basic_auth:
      username: alice
      password: {password}
    static_configs:
      - targets: ['127.0.0.1:{port}']"#,
        ca = tls_file("ca.pem").display()
    )
}

/// `up` of Prometheus' job `job`, once it has scraped.
async fn up(prom: &Prometheus, job: &str) -> Option<f64> {
    let data = prom.query(&format!("up{{job=\"{job}\"}}")).await;
    let v = data["result"].as_array()?.first()?["value"][1].as_str()?;
    support::parse_value(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_levee_over_tls_with_basic_auth() {
    let dir = temp_dir("levee-web-tls");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  alice: '{hash}'\n",
            tls_file("server.pem").display(),
            tls_file("server.key").display(),
            tls_file("ca.pem").display()
        ),
    )
    .expect("write web.yml");
    let config_path = dir.path().join("levee.yml");
    std::fs::write(&config_path, "scrape_configs: []\n").expect("write config");
    let agent = Agent::start(AgentOptions {
        config_path,
        data_dir: Some(dir.path().join("data")),
        listen: "127.0.0.1:0".into(),
        enable_lifecycle: false,
        web_config: Some(web),
        enable_remote_write_receiver: false,
    })
    .await
    .expect("levee starts with the web config");
    let port = agent.web_addr().port();

    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "scrape_configs:{}{}{}\n",
            job("levee", port, "s3cret", true),
            job("wrong_password", port, "guess", true),
            job("no_client_cert", port, "s3cret", false)
        ),
    )
    .expect("write prometheus.yml");
    let prom = Prometheus::start_scraping(&prom_config).await;
    wait_until(
        "Prometheus scraped every job",
        Duration::from_secs(60),
        Duration::from_millis(250),
        async || {
            up(&prom, "levee").await.is_some()
                && up(&prom, "wrong_password").await.is_some()
                && up(&prom, "no_client_cert").await.is_some()
        },
    )
    .await;
    wait_until(
        "levee up in Prometheus",
        Duration::from_secs(60),
        Duration::from_millis(250),
        async || up(&prom, "levee").await == Some(1.0),
    )
    .await;
    assert_eq!(up(&prom, "wrong_password").await, Some(0.0));
    assert_eq!(up(&prom, "no_client_cert").await, Some(0.0));
    let build = prom.query("levee_build_info{job=\"levee\"}").await;
    assert_eq!(
        build["result"].as_array().map(Vec::len),
        Some(1),
        "levee's own metrics in Prometheus: {build}"
    );
    agent.shutdown().await;
}
