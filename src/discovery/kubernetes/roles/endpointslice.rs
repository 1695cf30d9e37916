//! Role `endpointslice`: one target per endpoint address and slice port,
//! joined with the slice's service (its `kubernetes.io/service-name`
//! label), the pod behind each endpoint and, with node metadata attached,
//! the endpoint's node; plus a target for each declared port of those pods
//! that no endpoint covers.

use super::joined::{Protocol, SeenPods};
use super::service::service_labels;
use super::{NAMESPACE, Related, attach_node, join_host_port, sanitize_label_name};
use crate::discovery::TargetGroup;
use crate::discovery::kubernetes::objects::{EndpointSlice, SliceEndpoint, SlicePort};
use crate::labels::LabelsBuilder;

/// The label naming the service a slice belongs to.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The source of the group of endpoint slice `namespace/name`:
/// `endpointslice/<ns>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The group of `slice`, joined with what `related` knows.
pub fn group(slice: &EndpointSlice, related: &dyn Related) -> TargetGroup {
    let m = &slice.metadata;
    let mut labels = LabelsBuilder::with_capacity(8);
    labels.set(NAMESPACE, &m.namespace);
    labels.set("__meta_kubernetes_endpointslice_name", &m.name);
    labels.set(
        "__meta_kubernetes_endpointslice_address_type",
        &slice.address_type,
    );
    let svc = m
        .labels
        .get(SERVICE_NAME)
        .and_then(|name| related.service(&m.namespace, name));
    if let Some(svc) = svc {
        for l in service_labels(svc).iter() {
            labels.set(&l.name, &l.value);
        }
    }

    let mut seen = SeenPods::default();
    let mut targets = Vec::new();
    for ep in &slice.endpoints {
        for port in &slice.ports {
            for addr in &ep.addresses {
                let t = target(addr, ep, port, related, &mut seen);
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
    addr: &str,
    ep: &SliceEndpoint,
    port: &SlicePort,
    related: &'a dyn Related,
    seen: &mut SeenPods<'a>,
) -> LabelsBuilder {
    const P: &str = "__meta_kubernetes_endpointslice_";
    let mut t = LabelsBuilder::with_capacity(24);
    match port.port {
        Some(p) => t.set("__address__", &join_host_port(addr, p)),
        None => t.set("__address__", addr),
    }
    let mut opt = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            t.set(&format!("{P}{name}"), v);
        }
    };
    let bool_str = |b: Option<bool>| b.map(|b| if b { "true" } else { "false" });
    let number = port.port.map(|p| p.to_string());
    opt("port_name", port.name.as_deref());
    opt("port_protocol", port.protocol.as_deref());
    opt("port", number.as_deref());
    opt("port_app_protocol", port.app_protocol.as_deref());
    opt("endpoint_conditions_ready", bool_str(ep.conditions.ready));
    opt(
        "endpoint_conditions_serving",
        bool_str(ep.conditions.serving),
    );
    opt(
        "endpoint_conditions_terminating",
        bool_str(ep.conditions.terminating),
    );
    opt("endpoint_hostname", ep.hostname.as_deref());
    if let Some(r) = &ep.target_ref {
        opt("address_target_kind", Some(&r.kind));
        opt("address_target_name", Some(&r.name));
    }
    for (k, v) in &ep.deprecated_topology {
        let name = sanitize_label_name(k);
        t.set(&format!("{P}endpoint_topology_{name}"), v);
        t.set(&format!("{P}endpoint_topology_present_{name}"), "true");
    }
    if let Some(node) = &ep.node_name
        && let Some(n) = related.node(node)
    {
        attach_node(&mut t, node, n);
    }
    let pod = ep
        .target_ref
        .as_ref()
        .filter(|r| r.kind == "Pod")
        .and_then(|r| related.pod(&r.namespace, &r.name));
    if let Some(pod) = pod {
        seen.join(&mut t, pod, port.port, Protocol::Container);
    }
    t
}
