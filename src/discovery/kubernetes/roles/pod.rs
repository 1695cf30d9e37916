//! Role `pod`: one target per declared port of every container (init
//! containers too), one port-less target (the pod IP) per container that
//! declares none, nothing for a pod without an IP.

use super::{NAMESPACE, attach_node, join_host_port, set_map};
use crate::discovery::TargetGroup;
use crate::discovery::kubernetes::objects::{Container, ContainerStatus, Node, Pod};
use crate::labels::LabelsBuilder;

/// The source of the group of pod `namespace/name`: `pod/<ns>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The group of `pod`. `node` is the pod's node (`spec.nodeName`) when
/// `attach_metadata: {node: true}` is set and the node is known: its name
/// and labels are added to the group's labels.
pub fn group(pod: &Pod, node: Option<&Node>) -> TargetGroup {
    let source = source(&pod.metadata.namespace, &pod.metadata.name);
    let ip = &pod.status.pod_ip;
    if ip.is_empty() {
        return super::removed(source);
    }
    let mut labels = pod_labels(pod);
    labels.set(NAMESPACE, &pod.metadata.namespace);
    if let Some(node) = node {
        attach_node(&mut labels, &pod.spec.node_name, node);
    }
    let spec = &pod.spec;
    let containers = spec.containers.iter().map(|c| (c, false));
    let inits = spec.init_containers.iter().map(|c| (c, true));
    let mut targets = Vec::new();
    for (c, init) in containers.chain(inits) {
        let statuses = if init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let mut t = LabelsBuilder::with_capacity(8);
        t.set("__meta_kubernetes_pod_container_name", &c.name);
        t.set(
            "__meta_kubernetes_pod_container_id",
            container_id(statuses, c),
        );
        t.set("__meta_kubernetes_pod_container_image", &c.image);
        t.set("__meta_kubernetes_pod_container_init", bool_str(init));
        if c.ports.is_empty() {
            // No port: the pod IP alone; relabeling adds the port.
            t.set("__address__", ip);
            targets.push(t.into_labels());
            continue;
        }
        for port in &c.ports {
            let number = port.container_port.to_string();
            t.set("__address__", &join_host_port(ip, &number));
            t.set("__meta_kubernetes_pod_container_port_name", &port.name);
            t.set("__meta_kubernetes_pod_container_port_number", &number);
            t.set(
                "__meta_kubernetes_pod_container_port_protocol",
                &port.protocol,
            );
            targets.push(t.labels());
        }
    }
    TargetGroup {
        source,
        targets,
        labels: labels.into_labels(),
    }
}

/// The labels of `pod` every role that shows pods adds: name, IP, ready,
/// phase, node, host IP, UID, controller, labels and annotations (not the
/// namespace, which each role sets on its own).
pub(super) fn pod_labels(pod: &Pod) -> LabelsBuilder {
    let m = &pod.metadata;
    let s = &pod.status;
    let mut b = LabelsBuilder::with_capacity(16 + 2 * (m.labels.len() + m.annotations.len()));
    b.set("__meta_kubernetes_pod_name", &m.name);
    b.set("__meta_kubernetes_pod_ip", &s.pod_ip);
    // A pod without a Ready condition is "unknown", lower-cased as the rest.
    let ready = s.ready.as_deref().unwrap_or("Unknown").to_lowercase();
    b.set("__meta_kubernetes_pod_ready", &ready);
    b.set("__meta_kubernetes_pod_phase", &s.phase);
    b.set("__meta_kubernetes_pod_node_name", &pod.spec.node_name);
    b.set("__meta_kubernetes_pod_host_ip", &s.host_ip);
    b.set("__meta_kubernetes_pod_uid", &m.uid);
    // The controlling owner: the first reference with `controller: true`.
    if let Some(owner) = m
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        b.set("__meta_kubernetes_pod_controller_kind", &owner.kind);
        b.set("__meta_kubernetes_pod_controller_name", &owner.name);
    }
    set_map(&mut b, "pod", "label", &m.labels);
    set_map(&mut b, "pod", "annotation", &m.annotations);
    b
}

/// The ID of container `c` from the statuses of its kind (empty when the
/// status does not list it yet).
fn container_id<'a>(statuses: &'a [ContainerStatus], c: &Container) -> &'a str {
    statuses
        .iter()
        .find(|s| s.name == c.name)
        .map_or("", |s| s.container_id.as_str())
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}
