//! The deployment files are what levee accepts: every manifest under
//! `deploy/kubernetes/` parses and is listed by its kustomization, the
//! ConfigMap's config passes `levee check` with the DaemonSet's downward-API
//! variables set and a service-account mount in place, the container args are accepted by `levee run`, the
//! probes and the grace period fit levee, the ClusterRole grants what
//! discovery reads, and the Grafana dashboard only queries metrics a
//! running levee serves.

use crate::support::ClosedPort;
use crate::support::levee::TestAgent;
use crate::support::targets::{Behaviour, TestTarget};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const DEPLOY: &str = "deploy/kubernetes";

fn manifest(name: &str) -> Value {
    let path = Path::new(DEPLOY).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn daemonset_container() -> Value {
    let ds = manifest("daemonset.yaml");
    assert_eq!(str_at(&ds, "/kind"), "DaemonSet");
    ds.pointer("/spec/template/spec/containers/0")
        .cloned()
        .expect("a container")
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them_all() {
    let kustomization = manifest("kustomization.yaml");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(DEPLOY)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk);
    for name in &on_disk {
        let m = manifest(name);
        assert!(
            m["apiVersion"].is_string() && m["kind"].is_string(),
            "{name}: {m}"
        );
    }
}

#[test]
fn the_configmaps_config_passes_levee_check() {
    let cm = manifest("configmap.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    // The pod's service-account mount, as the kubelet provides it: a token
    // and the cluster's CA (any valid certificate will do for the check).
    let account = dir.path().join("serviceaccount");
    std::fs::create_dir(&account).expect("mkdir");
    std::fs::write(account.join("token"), "a-token\n").expect("write the token");
    std::fs::copy("tests/data/remote/tls/ca.pem", account.join("ca.crt")).expect("copy the CA");
    let config = str_at(&cm, "/data/levee.yml").replace(
        "/var/run/secrets/kubernetes.io/serviceaccount/",
        &format!("{}/", account.display()),
    );
    let path = dir.path().join("levee.yml");
    std::fs::write(&path, config).expect("write the config");
    let out = Command::new(env!("CARGO_BIN_EXE_levee"))
        .arg("check")
        .arg(&path)
        .env("NODE_NAME", "node-a")
        .env("NODE_IP", "127.0.0.1")
        .output()
        .expect("run levee check");
    assert!(
        out.status.success(),
        "levee check of the ConfigMap's config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_daemonsets_args_probes_and_grace_period_fit_levee() {
    let c = daemonset_container();
    let args: Vec<String> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string arg").to_string())
        .collect();
    // clap stops at --help after checking every argument before it.
    let out = Command::new(env!("CARGO_BIN_EXE_levee"))
        .args(&args)
        .arg("--help")
        .output()
        .expect("run levee");
    assert!(
        out.status.success(),
        "levee {args:?} --help:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The probes reach the port levee listens on.
    let listen = args
        .iter()
        .find_map(|a| a.strip_prefix("--web.listen-address="))
        .expect("a listen address");
    let port: u64 = listen.rsplit(':').next().unwrap().parse().expect("a port");
    assert_eq!(
        c.pointer("/ports/0/containerPort").and_then(Value::as_u64),
        Some(port)
    );
    assert_eq!(str_at(&c, "/livenessProbe/httpGet/path"), "/-/healthy");
    assert_eq!(str_at(&c, "/readinessProbe/httpGet/path"), "/-/ready");
    // NODE_NAME and NODE_IP from the downward API.
    let env = c["env"].as_array().expect("env");
    let field = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e.pointer("/valueFrom/fieldRef/fieldPath"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name} is not from the downward API"))
            .to_string()
    };
    assert_eq!(field("NODE_NAME"), "spec.nodeName");
    assert_eq!(field("NODE_IP"), "status.hostIP");
    // Shutdown may flush for SHUTDOWN_FLUSH_DEADLINE; the grace period
    // leaves room for that and the guard state's save.
    let grace = manifest("daemonset.yaml")
        .pointer("/spec/template/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .expect("a grace period");
    assert!(
        grace > levee::agent::SHUTDOWN_FLUSH_DEADLINE.as_secs() + 10,
        "{grace}"
    );
}

#[test]
fn the_clusterrole_grants_what_discovery_and_the_kubelet_jobs_read() {
    let role = manifest("clusterrole.yaml");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: BTreeSet<&str> = rule["verbs"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if ["get", "list", "watch"].iter().all(|v| verbs.contains(v)) {
            for r in rule["resources"].as_array().into_iter().flatten() {
                granted.insert(r.as_str().expect("a resource").to_string());
            }
        }
    }
    for needed in [
        "pods",
        "nodes",
        "nodes/proxy",
        "nodes/metrics",
        "services",
        "endpoints",
        "endpointslices",
    ] {
        assert!(
            granted.contains(needed),
            "{needed} not granted: {granted:?}"
        );
    }
}

/// Metric names in a PromQL expression: identifiers followed by `{` or
/// by the end of a selector, that levee or an exporter would serve.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            if word.starts_with("levee_") || word.starts_with("process_") {
                out.push(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_only_metrics_levee_serves() {
    let text = std::fs::read_to_string("deploy/grafana/levee.json").expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut wanted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            wanted.extend(metric_names(target["expr"].as_str().expect("an expr")));
        }
    }
    assert!(wanted.len() > 10, "{wanted:?}");
    // A levee with a guarded target that breaches its budget and a remote
    // write endpoint that is down: every family the dashboard shows exists.
    let target = TestTarget::start(Behaviour::Body(
        (0..20)
            .map(|i| format!("req_total{{host=\"h{i}\"}} {i}\n"))
            .collect(),
    ))
    .await;
    let closed = ClosedPort::new();
    let agent = TestAgent::start(&format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
         scrape_configs:\n  - job_name: storm\n    series_budget: 5\n    static_configs: [{{targets: ['{}']}}]\n\
         remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n",
        target.address(),
        closed.port()
    ))
    .await;
    let served = || async {
        agent
            .self_metrics()
            .await
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<BTreeSet<String>>()
    };
    let start = std::time::Instant::now();
    let missing = loop {
        let have = served().await;
        let missing: Vec<String> = wanted.difference(&have).cloned().collect();
        if missing.is_empty() || start.elapsed() > std::time::Duration::from_secs(30) {
            break missing;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics levee does not serve: {missing:?}"
    );
    agent.agent.shutdown().await;
}
