//! Recorded objects (tests/data/kubernetes/*.json, every address on
//! loopback) against the target groups Prometheus 2.42 builds for them,
//! written out label by label.

use super::*;
use crate::discovery::kubernetes::objects::{EndpointSlice, Endpoints, List};
use crate::labels::Labels;
use std::collections::HashMap;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/kubernetes/",
            $name
        ))
    };
}

fn items<T: serde::de::DeserializeOwned>(json: &str) -> Vec<T> {
    serde_json::from_str::<List<T>>(json).unwrap().items
}

fn pods() -> Vec<Pod> {
    items(fixture!("pods.json"))
}
fn nodes() -> Vec<Node> {
    items(fixture!("nodes.json"))
}
fn services() -> Vec<Service> {
    items(fixture!("services.json"))
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// `base` with `extra` added.
fn plus(base: &[(&str, &str)], extra: &[(&str, &str)]) -> Labels {
    l(&[base, extra].concat())
}

fn assert_group(got: &TargetGroup, source: &str, labels: Labels, targets: Vec<Labels>) {
    assert_eq!(got.source, source);
    assert_eq!(got.labels, labels, "group labels of {source}");
    assert_eq!(
        got.targets.len(),
        targets.len(),
        "targets of {source}: {:#?}",
        got.targets
    );
    for (i, (g, w)) in got.targets.iter().zip(&targets).enumerate() {
        assert_eq!(g, w, "target {i} of {source}");
    }
}

const WEB_0: &[(&str, &str)] = &[
    ("__meta_kubernetes_pod_name", "web-0"),
    ("__meta_kubernetes_pod_ip", "127.0.0.11"),
    ("__meta_kubernetes_pod_ready", "true"),
    ("__meta_kubernetes_pod_phase", "Running"),
    ("__meta_kubernetes_pod_node_name", "node-a"),
    ("__meta_kubernetes_pod_host_ip", "127.0.0.2"),
    (
        "__meta_kubernetes_pod_uid",
        "6f1c2e0a-0000-4000-8000-000000000001",
    ),
    ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
    ("__meta_kubernetes_pod_controller_name", "web-5d8f6c7b9"),
    ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
    (
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name",
        "true",
    ),
    ("__meta_kubernetes_pod_label_pod_template_hash", "5d8f6c7b9"),
    (
        "__meta_kubernetes_pod_labelpresent_pod_template_hash",
        "true",
    ),
    (
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
        "true",
    ),
    (
        "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape",
        "true",
    ),
    (
        "__meta_kubernetes_pod_annotation_prometheus_io_port",
        "9090",
    ),
    (
        "__meta_kubernetes_pod_annotationpresent_prometheus_io_port",
        "true",
    ),
];

const NODE_A_ATTACHED: &[(&str, &str)] = &[
    ("__meta_kubernetes_node_name", "node-a"),
    (
        "__meta_kubernetes_node_label_kubernetes_io_hostname",
        "node-a",
    ),
    (
        "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname",
        "true",
    ),
    (
        "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
        "zone-1",
    ),
    (
        "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
        "true",
    ),
];

const WEB_SERVICE: &[(&str, &str)] = &[
    ("__meta_kubernetes_namespace", "default"),
    ("__meta_kubernetes_service_name", "web"),
    (
        "__meta_kubernetes_service_label_app_kubernetes_io_name",
        "web",
    ),
    (
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name",
        "true",
    ),
    (
        "__meta_kubernetes_service_annotation_prometheus_io_probe",
        "true",
    ),
    (
        "__meta_kubernetes_service_annotationpresent_prometheus_io_probe",
        "true",
    ),
];

/// The pod web-0's container `web`, targeted on `port` (`name`, `number`).
fn web_container(name: &str, number: &str) -> Vec<(String, String)> {
    [
        ("__meta_kubernetes_pod_container_name", "web"),
        (
            "__meta_kubernetes_pod_container_image",
            "registry.local/web:1.2",
        ),
        ("__meta_kubernetes_pod_container_port_name", name),
        ("__meta_kubernetes_pod_container_port_number", number),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The target the endpoints roles add for web-0's port 9090, which no
/// endpoint covers.
fn web_0_metrics_port() -> Labels {
    let mut pairs: Vec<(String, String)> = WEB_0
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.extend(web_container("metrics", "9090"));
    pairs.push(("__address__".into(), "127.0.0.11:9090".into()));
    Labels::from_pairs(pairs)
}

fn with_web_0(target: &[(&str, &str)], port: (&str, &str)) -> Labels {
    let mut pairs: Vec<(String, String)> = [target, WEB_0]
        .concat()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.extend(web_container(port.0, port.1));
    Labels::from_pairs(pairs)
}

#[test]
fn pod_targets_per_container_port_with_init_containers_and_port_less_ones() {
    let pods = pods();
    let web = pod::group(&pods[0], None);
    let group_labels = plus(WEB_0, &[("__meta_kubernetes_namespace", "default")]);
    let web_target = |addr, port: &str, number: &str| {
        l(&[
            ("__address__", addr),
            ("__meta_kubernetes_pod_container_name", "web"),
            ("__meta_kubernetes_pod_container_id", "containerd://aaaa"),
            (
                "__meta_kubernetes_pod_container_image",
                "registry.local/web:1.2",
            ),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_port_name", port),
            ("__meta_kubernetes_pod_container_port_number", number),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ])
    };
    assert_group(
        &web,
        "pod/default/web-0",
        group_labels.clone(),
        vec![
            web_target("127.0.0.11:8080", "http", "8080"),
            web_target("127.0.0.11:9090", "metrics", "9090"),
            l(&[
                ("__address__", "127.0.0.11"),
                ("__meta_kubernetes_pod_container_name", "sidecar"),
                ("__meta_kubernetes_pod_container_id", "containerd://bbbb"),
                (
                    "__meta_kubernetes_pod_container_image",
                    "registry.local/sidecar:0.9",
                ),
                ("__meta_kubernetes_pod_container_init", "false"),
            ]),
        ],
    );

    // Init containers come after the others; a port without a name, a
    // status without a container ID: those labels are absent.
    assert_group(
        &pod::group(&pods[1], None),
        "pod/jobs/setup-0",
        l(&[
            ("__meta_kubernetes_namespace", "jobs"),
            ("__meta_kubernetes_pod_name", "setup-0"),
            ("__meta_kubernetes_pod_ip", "127.0.0.12"),
            ("__meta_kubernetes_pod_ready", "false"),
            ("__meta_kubernetes_pod_phase", "Pending"),
            ("__meta_kubernetes_pod_node_name", "node-a"),
            ("__meta_kubernetes_pod_host_ip", "127.0.0.2"),
            ("__meta_kubernetes_pod_uid", "uid-setup-0"),
        ]),
        vec![
            l(&[
                ("__address__", "127.0.0.12:9000"),
                ("__meta_kubernetes_pod_container_name", "main"),
                (
                    "__meta_kubernetes_pod_container_image",
                    "registry.local/main:3",
                ),
                ("__meta_kubernetes_pod_container_init", "false"),
                ("__meta_kubernetes_pod_container_port_number", "9000"),
                ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
            ]),
            l(&[
                ("__address__", "127.0.0.12"),
                ("__meta_kubernetes_pod_container_name", "migrate"),
                ("__meta_kubernetes_pod_container_id", "containerd://cccc"),
                (
                    "__meta_kubernetes_pod_container_image",
                    "registry.local/migrate:3",
                ),
                ("__meta_kubernetes_pod_container_init", "true"),
            ]),
        ],
    );

    // No IP yet: the group is empty (it removes the pod's targets).
    assert_eq!(
        pod::group(&pods[2], None),
        removed("pod/default/pending-0".into())
    );

    // IPv6 in brackets; no Ready condition reads "unknown".
    assert_group(
        &pod::group(&pods[3], None),
        "pod/default/v6-0",
        l(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_pod_name", "v6-0"),
            ("__meta_kubernetes_pod_ip", "::1"),
            ("__meta_kubernetes_pod_ready", "unknown"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_node_name", "node-b"),
            ("__meta_kubernetes_pod_host_ip", "::1"),
            ("__meta_kubernetes_pod_uid", "uid-v6-0"),
            ("__meta_kubernetes_pod_label_app", "v6"),
            ("__meta_kubernetes_pod_labelpresent_app", "true"),
        ]),
        vec![l(&[
            ("__address__", "[::1]:9100"),
            ("__meta_kubernetes_pod_container_name", "exporter"),
            (
                "__meta_kubernetes_pod_container_image",
                "registry.local/exporter:1",
            ),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ("__meta_kubernetes_pod_container_port_number", "9100"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ])],
    );
}

#[test]
fn attach_metadata_node_adds_the_node_name_and_labels_to_the_group() {
    let pods = pods();
    let nodes = nodes();
    let plain = pod::group(&pods[0], None);
    let attached = pod::group(&pods[0], Some(&nodes[0]));
    assert_eq!(attached.targets, plain.targets);
    let want = l(&[
        WEB_0,
        NODE_A_ATTACHED,
        &[("__meta_kubernetes_namespace", "default")],
    ]
    .concat());
    assert_eq!(attached.labels, want);
}

#[test]
fn node_address_by_type_preference_and_the_kubelet_port() {
    let nodes = nodes();
    assert_group(
        &node::group(&nodes[0]).unwrap(),
        "node/node-a",
        l(&[
            ("__meta_kubernetes_node_name", "node-a"),
            (
                "__meta_kubernetes_node_provider_id",
                "kind://docker/kind/node-a",
            ),
            (
                "__meta_kubernetes_node_label_kubernetes_io_hostname",
                "node-a",
            ),
            (
                "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname",
                "true",
            ),
            (
                "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
                "zone-1",
            ),
            (
                "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
                "true",
            ),
            (
                "__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl",
                "0",
            ),
            (
                "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl",
                "true",
            ),
        ]),
        // InternalIP before Hostname although listed after it; the first
        // address of each type.
        vec![l(&[
            ("__address__", "127.0.0.2:10250"),
            ("instance", "node-a"),
            ("__meta_kubernetes_node_address_Hostname", "node-a"),
            ("__meta_kubernetes_node_address_InternalIP", "127.0.0.2"),
        ])],
    );
    assert_group(
        &node::group(&nodes[1]).unwrap(),
        "node/node-b",
        l(&[("__meta_kubernetes_node_name", "node-b")]),
        // InternalDNS before ExternalIP.
        vec![l(&[
            ("__address__", "node-b.internal:10250"),
            ("instance", "node-b"),
            ("__meta_kubernetes_node_address_Hostname", "node-b"),
            ("__meta_kubernetes_node_address_ExternalIP", "127.0.0.3"),
            (
                "__meta_kubernetes_node_address_InternalDNS",
                "node-b.internal",
            ),
        ])],
    );
    // No address: nothing to send.
    assert_eq!(node::group(&nodes[2]), None);
    assert_group(
        &node::group(&nodes[3]).unwrap(),
        "node/node-v6",
        l(&[("__meta_kubernetes_node_name", "node-v6")]),
        vec![l(&[
            ("__address__", "[::1]:10255"),
            ("instance", "node-v6"),
            ("__meta_kubernetes_node_address_InternalIP", "::1"),
        ])],
    );
}

#[test]
fn service_targets_per_port_by_type() {
    let svcs = services();
    let port = |addr, name: &str, number, ip_label: (&str, &str)| {
        l(&[
            ("__address__", addr),
            ("__meta_kubernetes_service_port_name", name),
            ("__meta_kubernetes_service_port_number", number),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ClusterIP"),
            ip_label,
        ])
    };
    let cluster_ip = ("__meta_kubernetes_service_cluster_ip", "127.0.0.20");
    assert_group(
        &service::group(&svcs[0]),
        "svc/default/web",
        l(WEB_SERVICE),
        vec![
            port("web.default.svc:80", "http", "80", cluster_ip),
            port("web.default.svc:9090", "metrics", "9090", cluster_ip),
        ],
    );
    assert_group(
        &service::group(&svcs[1]),
        "svc/default/alias",
        l(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_name", "alias"),
        ]),
        vec![l(&[
            ("__address__", "alias.default.svc:8080"),
            ("__meta_kubernetes_service_port_number", "8080"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ExternalName"),
            ("__meta_kubernetes_service_external_name", "localhost"),
        ])],
    );
    assert_group(
        &service::group(&svcs[2]),
        "svc/ingress/edge",
        l(&[
            ("__meta_kubernetes_namespace", "ingress"),
            ("__meta_kubernetes_service_name", "edge"),
        ]),
        vec![l(&[
            ("__address__", "edge.ingress.svc:443"),
            ("__meta_kubernetes_service_port_name", "https"),
            ("__meta_kubernetes_service_port_number", "443"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "LoadBalancer"),
            ("__meta_kubernetes_service_cluster_ip", "127.0.0.21"),
            ("__meta_kubernetes_service_loadbalancer_ip", "127.0.0.22"),
        ])],
    );
}

/// The caches the endpoints roles join with, from the fixtures.
#[derive(Default)]
struct Caches {
    services: HashMap<(String, String), Service>,
    pods: HashMap<(String, String), Pod>,
    nodes: HashMap<String, Node>,
}

impl Caches {
    fn load(attach_nodes: bool) -> Caches {
        let key = |m: &crate::discovery::kubernetes::objects::ObjectMeta| {
            (m.namespace.clone(), m.name.clone())
        };
        Caches {
            services: services()
                .into_iter()
                .map(|s| (key(&s.metadata), s))
                .collect(),
            pods: pods().into_iter().map(|p| (key(&p.metadata), p)).collect(),
            nodes: if attach_nodes {
                nodes()
                    .into_iter()
                    .map(|n| (n.metadata.name.clone(), n))
                    .collect()
            } else {
                HashMap::new()
            },
        }
    }
}

impl Related for Caches {
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.get(&(namespace.into(), name.into()))
    }
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.get(&(namespace.into(), name.into()))
    }
    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }
}

#[test]
fn endpoints_join_service_pods_and_nodes() {
    let eps: Vec<Endpoints> = items(fixture!("endpoints.json"));
    let ready_web_0: &[(&str, &str)] = &[
        ("__address__", "127.0.0.11:8080"),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "web-0"),
        ("__meta_kubernetes_endpoint_node_name", "node-a"),
    ];
    let not_ready_unknown_pod: &[(&str, &str)] = &[
        ("__address__", "127.0.0.13:8080"),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "false"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "web-1"),
        ("__meta_kubernetes_endpoint_node_name", "node-b"),
        ("__meta_kubernetes_endpoint_hostname", "web-1"),
    ];
    let no_ref = l(&[
        ("__address__", "127.0.0.14:7000"),
        ("__meta_kubernetes_endpoint_port_protocol", "UDP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
    ]);
    let group_labels = plus(
        WEB_SERVICE,
        &[
            ("__meta_kubernetes_endpoints_name", "web"),
            (
                "__meta_kubernetes_endpoints_label_app_kubernetes_io_name",
                "web",
            ),
            (
                "__meta_kubernetes_endpoints_labelpresent_app_kubernetes_io_name",
                "true",
            ),
        ],
    );

    let plain = Caches::load(false);
    assert_group(
        &endpoints::group(&eps[0], &plain),
        "endpoints/default/web",
        group_labels.clone(),
        vec![
            with_web_0(ready_web_0, ("http", "8080")),
            l(not_ready_unknown_pod),
            no_ref.clone(),
            web_0_metrics_port(),
        ],
    );
    assert_group(
        &endpoints::group(&eps[1], &plain),
        "endpoints/default/idle",
        l(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpoints_name", "idle"),
        ]),
        vec![],
    );

    let attached = Caches::load(true);
    assert_group(
        &endpoints::group(&eps[0], &attached),
        "endpoints/default/web",
        group_labels,
        vec![
            with_web_0(&[ready_web_0, NODE_A_ATTACHED].concat(), ("http", "8080")),
            plus(
                not_ready_unknown_pod,
                &[("__meta_kubernetes_node_name", "node-b")],
            ),
            no_ref,
            web_0_metrics_port(),
        ],
    );
}

#[test]
fn endpointslices_join_service_pods_and_nodes_v1_and_v1beta1() {
    let slices: Vec<EndpointSlice> = items(fixture!("endpointslices.json"));
    let web_0: &[(&str, &str)] = &[
        ("__address__", "127.0.0.11:8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
            "false",
        ),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        (
            "__meta_kubernetes_endpointslice_address_target_name",
            "web-0",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_topology_kubernetes_io_hostname",
            "node-a",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_topology_present_kubernetes_io_hostname",
            "true",
        ),
    ];
    let no_ref = l(&[
        ("__address__", "127.0.0.15:8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "false",
        ),
        ("__meta_kubernetes_endpointslice_endpoint_hostname", "web-2"),
    ]);
    let group_labels = plus(
        WEB_SERVICE,
        &[
            ("__meta_kubernetes_endpointslice_name", "web-x7k2p"),
            ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        ],
    );
    let plain = Caches::load(false);
    assert_group(
        &endpointslice::group(&slices[0], &plain),
        "endpointslice/default/web-x7k2p",
        group_labels.clone(),
        vec![
            with_web_0(web_0, ("http", "8080")),
            no_ref.clone(),
            web_0_metrics_port(),
        ],
    );
    let attached = Caches::load(true);
    assert_group(
        &endpointslice::group(&slices[0], &attached),
        "endpointslice/default/web-x7k2p",
        group_labels,
        vec![
            with_web_0(&[web_0, NODE_A_ATTACHED].concat(), ("http", "8080")),
            no_ref,
            web_0_metrics_port(),
        ],
    );
    // v1beta1's `topology`; a port without a number leaves the address
    // bare (no brackets for IPv6 then); the service is unknown.
    assert_group(
        &endpointslice::group(&slices[1], &plain),
        "endpointslice/default/legacy-q9",
        l(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpointslice_name", "legacy-q9"),
            ("__meta_kubernetes_endpointslice_address_type", "IPv6"),
        ]),
        vec![l(&[
            ("__address__", "::1"),
            ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                "true",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_topology_topology_kubernetes_io_zone",
                "zone-2",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_topology_present_topology_kubernetes_io_zone",
                "true",
            ),
        ])],
    );
}

#[test]
fn sources_as_prometheus_names_them() {
    assert_eq!(pod::source("ns", "p"), "pod/ns/p");
    assert_eq!(node::source("n"), "node/n");
    assert_eq!(service::source("ns", "s"), "svc/ns/s");
    assert_eq!(endpoints::source("ns", "e"), "endpoints/ns/e");
    assert_eq!(endpointslice::source("ns", "e"), "endpointslice/ns/e");
}

#[test]
fn label_names_are_sanitized_per_character() {
    assert_eq!(
        sanitize_label_name("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(sanitize_label_name("ok_Name9"), "ok_Name9");
    // One `_` per character, not per byte.
    assert_eq!(sanitize_label_name("zöne-ü"), "z_ne__");
}

#[test]
fn missing_and_null_fields_read_as_empty_and_wrong_types_are_refused() {
    let pod: Pod = serde_json::from_str(
        r#"{"metadata":{"name":"p","labels":null},"spec":null,"status":{"podIP":"127.0.0.1","conditions":null}}"#,
    )
    .unwrap();
    assert_group(
        &pod::group(&pod, None),
        "pod//p",
        l(&[
            ("__meta_kubernetes_pod_name", "p"),
            ("__meta_kubernetes_pod_ip", "127.0.0.1"),
            ("__meta_kubernetes_pod_ready", "unknown"),
        ]),
        vec![],
    );
    let node: Node = serde_json::from_str(r#"{"metadata":{"name":"n"}}"#).unwrap();
    assert_eq!(node::group(&node), None);
    // A BOOKMARK event's object: only a resource version.
    let bookmark: Pod =
        serde_json::from_str(r#"{"kind":"Pod","metadata":{"resourceVersion":"12746"}}"#).unwrap();
    assert_eq!(bookmark.metadata.name, "");
    assert_eq!(bookmark.metadata.resource_version, "12746");
    // No metadata at all, or a field of the wrong type: refused.
    for bad in [
        r#"{"spec":{}}"#,
        r#"{"metadata":{"name":7}}"#,
        r#"{"metadata":{"name":"p"},"spec":{"containers":[{"ports":[{"containerPort":"80"}]}]}}"#,
    ] {
        assert!(serde_json::from_str::<Pod>(bad).is_err(), "{bad}");
    }
    let list: List<Pod> = serde_json::from_str(r#"{"items":null}"#).unwrap();
    assert!(list.items.is_empty());
}
