//! Role `service`: one target per service port, at the service's DNS name
//! (`<name>.<namespace>.svc:<port>`).

use super::{NAMESPACE, join_host_port, set_map};
use crate::discovery::TargetGroup;
use crate::discovery::kubernetes::objects::Service;
use crate::labels::LabelsBuilder;

/// The source of the group of service `namespace/name`: `svc/<ns>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// The group of `svc`.
pub fn group(svc: &Service) -> TargetGroup {
    let m = &svc.metadata;
    let spec = &svc.spec;
    let host = format!("{}.{}.svc", m.name, m.namespace);
    let targets = spec
        .ports
        .iter()
        .map(|port| {
            let number = port.port.to_string();
            let mut t = LabelsBuilder::with_capacity(7);
            t.set("__address__", &join_host_port(&host, &number));
            t.set("__meta_kubernetes_service_port_name", &port.name);
            t.set("__meta_kubernetes_service_port_number", &number);
            t.set("__meta_kubernetes_service_port_protocol", &port.protocol);
            t.set("__meta_kubernetes_service_type", &spec.kind);
            if spec.kind == "ExternalName" {
                t.set(
                    "__meta_kubernetes_service_external_name",
                    &spec.external_name,
                );
            } else {
                t.set("__meta_kubernetes_service_cluster_ip", &spec.cluster_ip);
            }
            if spec.kind == "LoadBalancer" {
                t.set(
                    "__meta_kubernetes_service_loadbalancer_ip",
                    &spec.load_balancer_ip,
                );
            }
            t.into_labels()
        })
        .collect();
    TargetGroup {
        source: source(&m.namespace, &m.name),
        targets,
        labels: service_labels(svc).into_labels(),
    }
}

/// The labels of `svc` its group carries and the endpoints roles add to
/// theirs: name, namespace, labels and annotations.
pub(super) fn service_labels(svc: &Service) -> LabelsBuilder {
    let m = &svc.metadata;
    let mut b = LabelsBuilder::with_capacity(2 + 2 * (m.labels.len() + m.annotations.len()));
    b.set("__meta_kubernetes_service_name", &m.name);
    b.set(NAMESPACE, &m.namespace);
    set_map(&mut b, "service", "label", &m.labels);
    set_map(&mut b, "service", "annotation", &m.annotations);
    b
}
