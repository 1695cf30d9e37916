//! Relabeling cost per label set.
//!
//! - `kubernetes_pods`: the target relabel rules of
//!   `tests/data/relabel/bench/kubernetes_pods.yml` (keep on annotation,
//!   keepequal on node, address rewrite, two labelmaps, labeldrop) on a
//!   pod target with ~40 `__meta_kubernetes_*` labels.
//! - `istio_metrics`: the metric relabel rules of
//!   `tests/data/relabel/bench/istio_metrics.yml` (drop by name regex,
//!   drop by name+reporter, labeldrop, one replace) over 1000
//!   Istio-style series (~25 labels each; about a third dropped).
//!
//! Each group has `build` (copy the label set into a builder) and
//! `build+relabel`; relabeling costs the difference. Criterion's `thrpt`
//! is label sets per second (elements = label sets).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench relabel -- --quick`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::labels::{Labels, LabelsBuilder};
use levee::relabel::{RelabelConfig, Rules};

fn rules(file: &str) -> Rules {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/relabel/bench")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("bench rules file");
    let configs: Vec<RelabelConfig> = serde_saphyr::from_str(&text).expect("bench rules parse");
    Rules::compile(&configs).expect("bench rules compile")
}

fn pod_target(i: usize) -> Labels {
    let pod = format!("checkout-7d9f8b6c5-{i:05}");
    let mut pairs: Vec<(String, String)> = vec![
        (
            "__address__".into(),
            format!("10.244.{}.{}:8080", i / 250, i % 250),
        ),
        ("__scheme__".into(), "http".into()),
        ("__metrics_path__".into(), "/metrics".into()),
        ("__scrape_interval__".into(), "15s".into()),
        ("__scrape_timeout__".into(), "10s".into()),
        ("job".into(), "kubernetes-pods".into()),
        ("__tmp_self_node".into(), "node-3".into()),
    ];
    let meta = [
        ("namespace", "shop"),
        ("pod_name", pod.as_str()),
        ("pod_ip", "10.244.1.7"),
        ("pod_uid", "5b3c6c1e-8f5e-4f0e-9d55-2d4b1f7c9a10"),
        ("pod_node_name", "node-3"),
        ("pod_host_ip", "192.168.1.13"),
        ("pod_ready", "true"),
        ("pod_phase", "Running"),
        ("pod_controller_kind", "ReplicaSet"),
        ("pod_controller_name", "checkout-7d9f8b6c5"),
        ("pod_container_name", "checkout"),
        (
            "pod_container_image",
            "registry.example.com/shop/checkout:1.42.0",
        ),
        ("pod_container_init", "false"),
        ("pod_container_port_name", "http-metrics"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_label_app", "checkout"),
        ("pod_label_app_kubernetes_io_name", "checkout"),
        ("pod_label_app_kubernetes_io_version", "1.42.0"),
        ("pod_label_pod_template_hash", "7d9f8b6c5"),
        ("pod_label_security_istio_io_tlsMode", "istio"),
        ("pod_label_service_istio_io_canonical_name", "checkout"),
        ("pod_label_service_istio_io_canonical_revision", "v1"),
        ("pod_label_team", "payments"),
        ("pod_label_version", "v1"),
        ("pod_labelpresent_app", "true"),
        ("pod_labelpresent_team", "true"),
        ("pod_labelpresent_version", "true"),
        ("pod_annotation_prometheus_io_scrape", "true"),
        ("pod_annotation_prometheus_io_port", "15020"),
        ("pod_annotation_prometheus_io_path", "/stats/prometheus"),
        (
            "pod_annotation_kubectl_kubernetes_io_default_container",
            "checkout",
        ),
        (
            "pod_annotation_sidecar_istio_io_status",
            "{\"initContainers\":[\"istio-init\"]}",
        ),
        ("pod_annotationpresent_prometheus_io_scrape", "true"),
        ("pod_annotationpresent_prometheus_io_port", "true"),
        ("pod_annotationpresent_prometheus_io_path", "true"),
    ];
    for (k, v) in meta {
        pairs.push((format!("__meta_kubernetes_{k}"), v.to_string()));
    }
    Labels::from_pairs(pairs)
}

fn istio_series(i: usize) -> Labels {
    const NAMES: [&str; 6] = [
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
        "istio_request_bytes_bucket",
        "istio_response_bytes_bucket",
        "istio_tcp_connections_opened_total",
        "envoy_cluster_upstream_rq_total",
    ];
    let services = [
        "reviews",
        "ratings",
        "details",
        "productpage",
        "cart",
        "checkout",
    ];
    let dst = services[i % services.len()];
    let src = services[(i / 7) % services.len()];
    let code = ["200", "404", "503"][i % 3];
    let reporter = if i.is_multiple_of(5) {
        "source"
    } else {
        "destination"
    };
    let le = ["1", "5", "10", "25", "50", "100", "+Inf"][i % 7];
    Labels::from_pairs([
        ("__name__", NAMES[(i / 3) % NAMES.len()]),
        ("connection_security_policy", "mutual_tls"),
        ("destination_app", dst),
        ("destination_canonical_revision", "v1"),
        ("destination_canonical_service", dst),
        ("destination_cluster", "Kubernetes"),
        (
            "destination_principal",
            &format!("spiffe://cluster.local/ns/default/sa/{dst}"),
        ),
        (
            "destination_service",
            &format!("{dst}-{i}.default.svc.cluster.local"),
        ),
        ("destination_service_name", dst),
        ("destination_service_namespace", "default"),
        ("destination_version", "v1"),
        ("destination_workload", &format!("{dst}-v1")),
        ("destination_workload_namespace", "default"),
        ("le", le),
        ("reporter", reporter),
        ("request_protocol", "http"),
        ("response_code", code),
        ("response_flags", "-"),
        ("source_app", src),
        ("source_canonical_revision", "v1"),
        ("source_canonical_service", src),
        ("source_cluster", "Kubernetes"),
        (
            "source_principal",
            &format!("spiffe://cluster.local/ns/default/sa/{src}"),
        ),
        ("source_version", "v1"),
        ("source_workload", &format!("{src}-v1")),
        ("source_workload_namespace", "default"),
    ])
}

/// Two measurements per rule set, per label set: `build` makes a builder
/// from the label set (what the scrape path does before relabeling), and
/// `build+relabel` also runs the rules. Relabel cost = difference. Each
/// set is processed right after it is built, as on the scrape path (hot in
/// cache).
fn bench_sets(c: &mut Criterion, name: &str, rules: &Rules, sets: &[Labels]) {
    let mut group = c.benchmark_group(format!("relabel/{name}"));
    group.throughput(Throughput::Elements(sets.len() as u64));
    group.bench_function("build", |b| {
        b.iter(|| {
            for set in sets {
                black_box(set.to_builder());
            }
        })
    });
    group.bench_function("build+relabel", |b| {
        b.iter(|| {
            let mut kept = 0usize;
            for set in sets {
                let mut lb: LabelsBuilder = set.to_builder();
                kept += usize::from(rules.process(black_box(&mut lb)));
                black_box(&lb);
            }
            kept
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let pods = rules("kubernetes_pods.yml");
    let targets: Vec<Labels> = (0..100).map(pod_target).collect();
    assert!(pods.apply(&targets[0]).is_some(), "the pod target is kept");
    bench_sets(c, "kubernetes_pods", &pods, &targets);

    let istio = rules("istio_metrics.yml");
    let series: Vec<Labels> = (0..1000).map(istio_series).collect();
    let kept = series.iter().filter(|s| istio.apply(s).is_some()).count();
    assert!(kept > 0 && kept < series.len(), "a mix is kept and dropped");
    bench_sets(c, "istio_metrics", &istio, &series);
}

criterion_group!(benches, bench);
criterion_main!(benches);
