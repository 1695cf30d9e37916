//! Kubernetes discovery through the `levee` binary, against a fake API
//! server on 127.0.0.1 serving recorded responses (tests/data/kubernetes/;
//! every address in them is a loopback address): a pod added by a watch
//! event is scraped, and levee finds exactly the targets and labels vmagent
//! 1.79 (the peer here with Kubernetes discovery) finds from the same
//! server and the same config.

use crate::support::kube_api::{FakeApi, Reply};
use crate::support::levee::run_child;
use crate::support::targets::{Behaviour, TestTarget};
use crate::support::{ClosedPort, Listening, require_binary, temp_dir, wait_until};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

const VMAGENT: &str = "/usr/bin/vmagent";

fn fixture(name: &str) -> String {
    let path = format!("tests/data/kubernetes/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn targets(base: &str) -> Value {
    reqwest::get(format!("{base}/api/v1/targets"))
        .await
        .expect("GET /api/v1/targets")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("targets JSON"))
        .expect("read /api/v1/targets")
}

fn active(targets: &Value) -> &[Value] {
    targets
        .pointer("/data/activeTargets")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_added_by_a_watch_event_is_scraped() {
    let hits = Arc::new(AtomicU64::new(0));
    let target = TestTarget::start(Behaviour::Counting("app_requests_total".into(), hits)).await;
    let port: u16 = target
        .address()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let api = FakeApi::start().await;
    api.script(
        "LIST /api/v1/pods",
        [Reply::Body(
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[]}"#
                .into(),
        )],
    );
    let pod = serde_json::json!({
        "type": "ADDED",
        "object": {
            "metadata": {"name": "app-0", "namespace": "shop", "uid": "u-app-0", "resourceVersion": "11",
                         "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"nodeName": "node-a", "containers": [
                {"name": "app", "image": "registry.local/app:1", "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}
            ]},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }
    });
    api.script("WATCH /api/v1/pods", [Reply::Hang(format!("{pod}\n"))]);

    let dir = temp_dir("levee-k8s-scrape");
    let config = dir.path().join("levee.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: pods\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: {}\n        selectors:\n          - role: pod\n            field: spec.nodeName=node-a\n    \
             relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n        regex: 'true'\n        action: keep\n      \
             - source_labels: [__meta_kubernetes_namespace]\n        target_label: namespace\n      \
             - source_labels: [__meta_kubernetes_pod_name]\n        target_label: pod\n",
            api.url
        ),
    )
    .expect("write the config");
    let (mut child, addr) =
        run_child("levee-k8s", &config, &dir.path().join("data"), dir.path()).await;
    let base = format!("http://{addr}");
    wait_until(
        "the watched pod to be scraped",
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            let t = targets(&base).await;
            active(&t)
                .iter()
                .any(|t| t["health"] == "up" && t["labels"]["pod"] == "app-0")
        },
    )
    .await;
    let t = targets(&base).await;
    let up = &active(&t)[0];
    assert_eq!(up["labels"]["namespace"], "shop");
    assert_eq!(up["scrapeUrl"], format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(
        up["discoveredLabels"]["__meta_kubernetes_pod_container_port_name"],
        "metrics"
    );
    // The selector reached the API server on the LIST and on the WATCH.
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.verb == "LIST"), "{seen:?}");
    for s in &seen {
        assert_eq!(
            s.query.get("fieldSelector").map(String::as_str),
            Some("spec.nodeName=node-a"),
            "{s:?}"
        );
    }
    child.terminate(Duration::from_secs(30));
}

/// The labels a target was discovered with, as both agents can be
/// compared: `__address__` and `__meta_*` only (the `__scrape_*` labels are
/// formatted differently by vmagent), no empty values (levee's label sets
/// hold none; relabeling reads an absent label as empty, as Prometheus
/// does), and without the labels vmagent 1.79 does not produce
/// (docs/discovery.md, "Against vmagent 1.79").
fn comparable(labels: &Value, rename: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    const VMAGENT_LACKS: &[&str] = &[
        "pod_container_image",
        "pod_container_id",
        "service_port_number",
        "service_loadbalancer_ip",
    ];
    labels
        .as_object()
        .expect("a label object")
        .iter()
        .filter_map(|(k, v)| Some((rename(k)?, v.as_str()?.to_string())))
        .filter(|(k, v)| !v.is_empty() && !VMAGENT_LACKS.iter().any(|l| k.ends_with(l)))
        .collect()
}

type TargetSet = BTreeSet<(String, BTreeMap<String, String>, BTreeMap<String, String>)>;

/// Every active target as (pool, comparable discovered labels, comparable
/// final labels).
fn target_set(targets: &Value) -> TargetSet {
    active(targets)
        .iter()
        .map(|t| {
            let discovered = comparable(&t["discoveredLabels"], |k| {
                (k == "__address__" || k.starts_with("__meta_")).then(|| k.to_string())
            });
            let labels = comparable(&t["labels"], |k| Some(k.to_string()));
            (
                t["scrapePool"].as_str().unwrap_or("").to_string(),
                discovered,
                labels,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levee_finds_the_targets_and_labels_vmagent_finds() {
    require_binary(VMAGENT, "vmagent");
    let api = FakeApi::start().await;
    for (path, file) in [
        ("/api/v1/pods", "pods.json"),
        ("/api/v1/nodes", "nodes.json"),
        ("/api/v1/services", "services.json"),
    ] {
        api.script(&format!("LIST {path}"), [Reply::Body(fixture(file))]);
        api.script(&format!("WATCH {path}"), [Reply::Hang(String::new())]);
    }
    // One job per role. The labelmap gives the final labels every
    // discovered label (and avoids vmagent's stale discovered labels for a
    // modified object whose final labels do not change). Scrapes go to
    // loopback addresses nothing listens on, once an hour.
    let mut config =
        String::from("global: {scrape_interval: 1h, scrape_timeout: 10s}\nscrape_configs:\n");
    for role in ["pod", "node", "service"] {
        config.push_str(&format!(
            "  - job_name: {role}s\n    kubernetes_sd_configs:\n      - role: {role}\n        api_server: {}\n    \
             relabel_configs:\n      - action: labelmap\n        regex: __meta_kubernetes_(.+)\n",
            api.url
        ));
    }
    let dir = temp_dir("levee-k8s-vmagent");
    let path = dir.path().join("scrape.yml");
    std::fs::write(&path, &config).expect("write the config");

    let (mut levee, addr) = run_child("levee", &path, &dir.path().join("data"), dir.path()).await;
    let closed = ClosedPort::new();
    let args = |port| {
        vec![
            format!("-promscrape.config={}", path.display()),
            format!(
                "-remoteWrite.url=http://127.0.0.1:{}/api/v1/write",
                closed.port()
            ),
            format!(
                "-remoteWrite.tmpDataPath={}",
                dir.path().join("vmagent").display()
            ),
            format!("-httpListenAddr=127.0.0.1:{port}"),
        ]
    };
    let (mut vmagent, vm_port) = Listening {
        name: "vmagent",
        program: VMAGENT,
        log_dir: dir.path(),
        client: &reqwest::Client::new(),
        timeout: Duration::from_secs(60),
    }
    .spawn(args, |port| format!("http://127.0.0.1:{port}/health"))
    .await;

    let (levee_url, vm_url) = (
        format!("http://{addr}"),
        format!("http://127.0.0.1:{vm_port}"),
    );
    // Both have found every object's targets: the same count, stable over
    // two reads a second apart (levee publishes after a 5 s debounce).
    let mut last = (0, 0);
    wait_until(
        "both agents to discover the same number of targets",
        Duration::from_secs(90),
        Duration::from_secs(1),
        async || {
            let now = (
                active(&targets(&levee_url).await).len(),
                active(&targets(&vm_url).await).len(),
            );
            let settled = now.0 > 0 && now.0 == now.1 && now == last;
            last = now;
            settled
        },
    )
    .await;
    let (ours, theirs) = (
        target_set(&targets(&levee_url).await),
        target_set(&targets(&vm_url).await),
    );
    let pools: BTreeSet<&str> = ours.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(pools, BTreeSet::from(["nodes", "pods", "services"]));
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "levee only: {only_ours:#?}\nvmagent only: {only_theirs:#?}"
    );
    levee.terminate(Duration::from_secs(30));
    vmagent.terminate(Duration::from_secs(10));
}
