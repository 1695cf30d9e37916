//! Role `endpoints`: one target per address and port of every subset
//! (ready addresses, then not-ready ones), joined with the service of the
//! same name, the pod behind each address and, with node metadata
//! attached, the address's node; plus a target for each declared port of
//! those pods that no endpoint covers.

use super::joined::{Protocol, SeenPods};
use super::service::service_labels;
use super::{NAMESPACE, Related, attach_node, join_host_port, set_map};
use crate::discovery::TargetGroup;
use crate::discovery::kubernetes::objects::{EndpointAddress, EndpointPort, Endpoints};
use crate::labels::LabelsBuilder;

/// The source of the group of endpoints `namespace/name`:
/// `endpoints/<ns>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The group of `eps`, joined with what `related` knows.
pub fn group(eps: &Endpoints, related: &dyn Related) -> TargetGroup {
    let m = &eps.metadata;
    let mut labels = LabelsBuilder::with_capacity(8 + 2 * m.labels.len());
    labels.set(NAMESPACE, &m.namespace);
    labels.set("__meta_kubernetes_endpoints_name", &m.name);
    if let Some(svc) = related.service(&m.namespace, &m.name) {
        for l in service_labels(svc).iter() {
            labels.set(&l.name, &l.value);
        }
    }
    set_map(&mut labels, "endpoints", "label", &m.labels);

    let mut seen = SeenPods::default();
    let mut targets = Vec::new();
    for subset in &eps.subsets {
        for port in &subset.ports {
            // A not-ready address listed as ready too gets a second target.
            let ready = subset.addresses.iter().map(|a| (a, "true"));
            let not_ready = subset.not_ready_addresses.iter().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let t = target(addr, port, ready, related, &mut seen);
                targets.push(t.into_labels());
            }
        }
    }
    targets.extend(seen.other_ports());
    TargetGroup {
        source: source(&m.namespace, &m.name),
        targets,
        labels: labels.into_labels(),
    }
}

fn target<'a>(
    addr: &EndpointAddress,
    port: &EndpointPort,
    ready: &str,
    related: &'a dyn Related,
    seen: &mut SeenPods<'a>,
) -> LabelsBuilder {
    let mut t = LabelsBuilder::with_capacity(24);
    t.set("__address__", &join_host_port(&addr.ip, port.port));
    t.set("__meta_kubernetes_endpoint_port_name", &port.name);
    t.set("__meta_kubernetes_endpoint_port_protocol", &port.protocol);
    t.set("__meta_kubernetes_endpoint_ready", ready);
    if let Some(r) = &addr.target_ref {
        t.set("__meta_kubernetes_endpoint_address_target_kind", &r.kind);
        t.set("__meta_kubernetes_endpoint_address_target_name", &r.name);
    }
    if let Some(node) = &addr.node_name {
        t.set("__meta_kubernetes_endpoint_node_name", node);
        if let Some(n) = related.node(node) {
            attach_node(&mut t, node, n);
        }
    }
    t.set("__meta_kubernetes_endpoint_hostname", &addr.hostname);
    let pod = addr
        .target_ref
        .as_ref()
        .filter(|r| r.kind == "Pod")
        .and_then(|r| related.pod(&r.namespace, &r.name));
    if let Some(pod) = pod {
        seen.join(
            &mut t,
            pod,
            Some(port.port),
            Protocol::Endpoint(&port.protocol),
        );
    }
    t
}
