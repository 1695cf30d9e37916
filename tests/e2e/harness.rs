//! Checks of the peer-test harness itself (`tests/support/`), so the other
//! end-to-end tests can trust it.

use crate::support;

use support::{Fault, FaultyProxy, NodeExporter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_serves_metrics() {
    let ne = NodeExporter::start().await;
    let body = reqwest::get(ne.url())
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("\nnode_cpu_seconds_total{"),
        "{}",
        &body[..body.len().min(500)]
    );
    assert!(ne.address().starts_with("127.0.0.1:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_proxy_fails_n_times_then_forwards() {
    let upstream = FaultyProxy::start(None).await;
    let proxy = FaultyProxy::start(Some(upstream.url_write())).await;
    proxy.fail(503, Some("7"), Some(2));
    let client = reqwest::Client::new();
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = client
            .post(proxy.url_write())
            .body("not snappy")
            .send()
            .await
            .expect("POST");
        got.push((
            r.status().as_u16(),
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_string()),
        ));
    }
    assert_eq!(
        got,
        [
            (503, Some("7".to_string())),
            (503, Some("7".to_string())),
            (204, None)
        ]
    );
    assert_eq!(proxy.count(503), 2);
    assert_eq!(
        upstream.requests(),
        1,
        "only the third request was forwarded"
    );
    assert!(
        proxy.seen().iter().all(|s| s.body.is_none()),
        "bodies were not remote-write"
    );
    proxy.set(Fault::Status {
        status: 400,
        retry_after: None,
        remaining: None,
    });
    for _ in 0..3 {
        client
            .post(proxy.url_write())
            .body("x")
            .send()
            .await
            .expect("POST");
    }
    assert_eq!(proxy.count(400), 3);
    proxy.heal();
    client
        .post(proxy.url_write())
        .body("x")
        .send()
        .await
        .expect("POST");
    assert_eq!(upstream.requests(), 2);
}
