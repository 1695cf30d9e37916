//! Metric metadata end to end: levee scrapes a target's HELP/TYPE lines and
//! remote-writes them as remote write 1.0 `MetricMetadata`. Prometheus 2.42
//! accepts metadata in write requests but does not store it (its
//! `/api/v1/metadata` serves scraped targets only), so the requests are read
//! on the wire by a recording proxy in front of a real Prometheus receiver:
//! the metadata must be there, exact, and accepted (2xx) by Prometheus.

use crate::support;

use std::time::Duration;

use support::levee::TestAgent;
use support::targets::{Behaviour, TestTarget};
use support::{FaultyProxy, Prometheus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_type_are_sent_as_metadata() {
    let prom = Prometheus::start_receiver().await;
    let proxy = FaultyProxy::start(Some(prom.url_write())).await;
    let body = "# HELP meta_requests_total Requests served, by path.\n\
                # TYPE meta_requests_total counter\n\
                meta_requests_total{path=\"/\"} 5\n\
                # HELP meta_temperature_celsius Room temperature.\n\
                # TYPE meta_temperature_celsius gauge\n\
                meta_temperature_celsius 21.5\n";
    let target = TestTarget::start(Behaviour::Body(body.into())).await;
    let config = format!(
        r#"
global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
scrape_configs:
  - job_name: meta
    static_configs:
      - targets: ['{}']
remote_write:
  - url: {}
    metadata_config:
      send_interval: 500ms
"#,
        target.address(),
        proxy.url_write()
    );
    let agent = TestAgent::start(&config).await;
    for _ in 0..100 {
        let sent: Vec<_> = proxy
            .seen()
            .into_iter()
            .filter(|s| (200..300).contains(&s.status))
            .filter_map(|s| s.body)
            .flat_map(|b| b.metadata)
            .collect();
        let find = |name: &str| sent.iter().find(|m| m.metric_family_name == name).cloned();
        if let (Some(req), Some(temp)) = (
            find("meta_requests_total"),
            find("meta_temperature_celsius"),
        ) {
            use levee::proto::metric_metadata::MetricType;
            assert_eq!(req.r#type, MetricType::Counter as i32);
            assert_eq!(req.help, "Requests served, by path.");
            assert_eq!(temp.r#type, MetricType::Gauge as i32);
            assert_eq!(temp.help, "Room temperature.");
            assert!(sent.iter().all(|m| !m.metric_family_name.is_empty()));
            let TestAgent { agent, dir: _dir } = agent;
            agent.shutdown().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no accepted metadata request; requests seen: {}\nlevee metrics:\n{}",
        proxy.seen().len(),
        agent.self_metrics().await
    );
}
