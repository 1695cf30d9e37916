//! The poller against a small kubelet on 127.0.0.1 serving a recorded
//! PodList (every pod IP on loopback).

use super::*;
use crate::config::{Config, SdConfig};
use crate::discovery::group_channel;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use parking_lot::Mutex;

const PODS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/kubernetes/pods.json"
));

/// What the fake kubelet answers, and the `Authorization` headers it saw.
#[derive(Default)]
struct Kubelet {
    answer: Mutex<(u16, String)>,
    auth: Mutex<Vec<String>>,
}

impl Kubelet {
    fn answer(&self, status: u16, body: impl Into<String>) {
        *self.answer.lock() = (status, body.into());
    }
}

async fn pods_handler(State(k): State<Arc<Kubelet>>, headers: HeaderMap) -> (StatusCode, String) {
    if let Some(v) = headers.get("authorization") {
        k.auth.lock().push(v.to_str().unwrap_or("").to_owned());
    }
    let (status, body) = k.answer.lock().clone();
    (StatusCode::from_u16(status).unwrap(), body)
}

/// Serves `/pods` on 127.0.0.1; returns the URL.
async fn start(k: &Arc<Kubelet>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/pods", axum::routing::get(pods_handler))
        .with_state(Arc::clone(k));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/pods"), server)
}

/// A config polling `url` with the token in `token_file`.
fn config(url: &str, token_file: &std::path::Path, interval: &str) -> KubeletSdConfig {
    let yaml = format!(
        "scrape_configs:\n  - job_name: pods\n    kubelet_sd_configs:\n      - url: {url}\n        \
         bearer_token_file: {}\n        refresh_interval: {interval}\n",
        token_file.display()
    );
    let config = Config::from_yaml(&yaml).unwrap();
    match &config.scrape_configs[0].sd_configs[..] {
        [SdConfig::Kubelet(c)] => c.clone(),
        other => panic!("{other:?}"),
    }
}

/// The pod list of the fixture without pod `name`.
fn pods_without(name: &str) -> String {
    let mut list: serde_json::Value = serde_json::from_str(PODS).unwrap();
    let items = list["items"].as_array_mut().unwrap();
    items.retain(|p| p["metadata"]["name"] != name);
    list.to_string()
}

fn sorted(mut groups: Vec<TargetGroup>) -> Vec<TargetGroup> {
    groups.sort_by(|a, b| a.source.cmp(&b.source));
    groups
}

#[tokio::test]
async fn polls_report_changes_only_and_a_failure_keeps_the_last_targets() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-1\n").unwrap();
    let k = Arc::new(Kubelet::default());
    let (url, server) = start(&k).await;
    let mut poller = Poller::new(config(&url, &token, "5s"));
    let fixture: Vec<Pod> = serde_json::from_str::<List<Pod>>(PODS).unwrap().items;

    k.answer(200, PODS);
    let pods = poller.poll().await.unwrap();
    let first = sorted(poller.changes(&pods));
    // Every pod with an IP, as role pod builds it; none for the pod
    // without one.
    let want: Vec<TargetGroup> = sorted(
        [&fixture[0], &fixture[1], &fixture[3]]
            .into_iter()
            .map(|p| pod::group(p, None))
            .collect(),
    );
    assert_eq!(first, want);
    assert_eq!(k.auth.lock().as_slice(), ["Bearer tok-1"]);

    // The same list again: nothing to report.
    let pods = poller.poll().await.unwrap();
    assert!(poller.changes(&pods).is_empty());

    // Errors: nothing reported, the last targets stand.
    k.answer(500, "boom");
    let e = poller.poll().await.unwrap_err();
    assert!(matches!(e, KubeletError::Status { .. }), "{e}");
    k.answer(200, "{\"items\": [{\"metadata\": {\"name\": 7}}]}");
    let e = poller.poll().await.unwrap_err();
    assert!(matches!(e, KubeletError::Decode { .. }), "{e}");
    assert!(error_chain(&e).contains("line 1"), "{}", error_chain(&e));
    // A pod gone: its group is emptied; the rotated token is sent.
    std::fs::write(&token, "tok-22\n").unwrap();
    k.answer(200, pods_without("web-0"));
    let pods = poller.poll().await.unwrap();
    assert_eq!(
        poller.changes(&pods),
        vec![roles::removed("pod/default/web-0".into())]
    );
    assert_eq!(
        k.auth.lock().last().map(String::as_str),
        Some("Bearer tok-22")
    );

    // A nameless pod cannot be told from another: skipped.
    let mut list: serde_json::Value = serde_json::from_str(PODS).unwrap();
    list["items"][0]["metadata"]["name"] = "".into();
    k.answer(200, list.to_string());
    let pods = poller.poll().await.unwrap();
    assert_eq!(pods.len(), 4);
    assert!(poller.changes(&pods).is_empty());
    server.abort();
}

#[tokio::test]
async fn the_provider_reports_groups_and_counts_failures() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let k = Arc::new(Kubelet::default());
    k.answer(503, "not yet");
    let (url, server) = start(&k).await;
    let registry = Registry::new();
    let (tx, mut rx) = group_channel();
    let provider = crate::discovery::spawn(
        &SdConfig::Kubelet(config(&url, &token, "50ms")),
        tx,
        &registry,
    );
    let failures = || {
        registry
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("levee_sd_kubelet_failures_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for _ in 0..500 {
        if failures() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(failures() >= 2, "{}", registry.render());
    assert!(rx.try_take().is_empty());

    k.answer(200, PODS);
    let got = tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .unwrap();
    let sources: Vec<&str> = got.iter().map(|g| g.source.as_str()).collect();
    assert_eq!(
        sources,
        ["pod/default/v6-0", "pod/default/web-0", "pod/jobs/setup-0"]
    );
    provider.abort();
    server.abort();
}
