//! Fuzzes the Kubernetes object decoder
//! (`levee::discovery::kubernetes::objects`, JSON as the API server and
//! the kubelet serve it) and the role builders
//! (`levee::discovery::kubernetes::roles`) on what decodes. The control
//! byte's low 3 bits pick the list type (PodList, NodeList, ServiceList,
//! EndpointsList, EndpointSliceList); the rest is the list's JSON.
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation":
//! - every group's source is its role's (`pod/<ns>/<name>`, …);
//! - every label name of every group and target is a valid Prometheus label
//!   name (sanitizing made it so);
//! - a pod has no targets without an IP, else one per declared port and one
//!   per container without ports, each with an `__address__`.

#![no_main]

use levee::discovery::TargetGroup;
use levee::discovery::kubernetes::objects::{
    EndpointSlice, Endpoints, List, Node, Pod, Service,
};
use levee::discovery::kubernetes::roles::{
    Related, endpoints, endpointslice, node, pod, service,
};
use libfuzzer_sys::fuzz_target;

/// Joins with the first pod, service and node of the input itself.
struct Same<'a> {
    pod: Option<&'a Pod>,
    service: Option<&'a Service>,
    node: Option<&'a Node>,
}

impl Related for Same<'_> {
    fn service(&self, _: &str, _: &str) -> Option<&Service> {
        self.service
    }
    fn pod(&self, _: &str, _: &str) -> Option<&Pod> {
        self.pod
    }
    fn node(&self, _: &str) -> Option<&Node> {
        self.node
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check(g: &TargetGroup, source: String) {
    assert_eq!(g.source, source);
    for labels in std::iter::once(&g.labels).chain(&g.targets) {
        for l in labels {
            assert!(valid_name(l.name), "label name {:?}", l.name);
        }
    }
}

fn items<T: serde::de::DeserializeOwned>(json: &[u8]) -> Vec<T> {
    serde_json::from_slice::<List<T>>(json)
        .map(|l| l.items)
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, json)) = data.split_first() else {
        return;
    };
    match control & 7 {
        0 => {
            let pods: Vec<Pod> = items(json);
            let nodes: Vec<Node> = items(json);
            for p in &pods {
                let g = pod::group(p, nodes.first());
                let m = &p.metadata;
                check(&g, pod::source(&m.namespace, &m.name));
                let want = if p.status.pod_ip.is_empty() {
                    0
                } else {
                    let all = p.spec.containers.iter().chain(&p.spec.init_containers);
                    all.map(|c| c.ports.len().max(1)).sum()
                };
                assert_eq!(g.targets.len(), want);
                assert!(g.targets.iter().all(|t| t.get("__address__").is_some()));
            }
        }
        1 => {
            for n in &items::<Node>(json) {
                if let Some(g) = node::group(n) {
                    check(&g, node::source(&n.metadata.name));
                    assert_eq!(g.targets.len(), 1);
                }
            }
        }
        2 => {
            for s in &items::<Service>(json) {
                let m = &s.metadata;
                let g = service::group(s);
                check(&g, service::source(&m.namespace, &m.name));
                assert_eq!(g.targets.len(), s.spec.ports.len());
            }
        }
        3 => {
            // The endpoints themselves, joined with a pod, service and node
            // decoded from the same bytes (most fields of each read as
            // empty, which is what a join must survive).
            let eps: Vec<Endpoints> = items(json);
            let pods: Vec<Pod> = items(json);
            let svcs: Vec<Service> = items(json);
            let nodes: Vec<Node> = items(json);
            let related = Same {
                pod: pods.first(),
                service: svcs.first(),
                node: nodes.first(),
            };
            for e in &eps {
                let m = &e.metadata;
                check(&endpoints::group(e, &related), endpoints::source(&m.namespace, &m.name));
            }
        }
        _ => {
            let slices: Vec<EndpointSlice> = items(json);
            let pods: Vec<Pod> = items(json);
            let svcs: Vec<Service> = items(json);
            let nodes: Vec<Node> = items(json);
            let related = Same {
                pod: pods.first(),
                service: svcs.first(),
                node: nodes.first(),
            };
            for s in &slices {
                let m = &s.metadata;
                let g = endpointslice::group(s, &related);
                check(&g, endpointslice::source(&m.namespace, &m.name));
            }
        }
    }
});
