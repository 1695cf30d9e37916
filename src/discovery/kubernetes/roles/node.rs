//! Role `node`: one target per node, at its preferred address and the
//! kubelet's port.

use super::{join_host_port, sanitize_label_name, set_map};
use crate::discovery::TargetGroup;
use crate::discovery::kubernetes::objects::Node;
use crate::labels::LabelsBuilder;

/// The address types in the order an address is chosen (as Kubernetes'
/// node utilities and Prometheus choose it).
const PREFERENCE: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The source of the group of node `name`: `node/<name>`.
pub fn source(name: &str) -> String {
    format!("node/{name}")
}

/// The group of `node`, or `None` when it has no address of a known type:
/// as Prometheus, nothing is sent then, and the node's earlier group (if
/// any) stands.
pub fn group(node: &Node) -> Option<TargetGroup> {
    let addresses = &node.status.addresses;
    let first_of = |kind: &str| addresses.iter().find(|a| a.kind == kind);
    let chosen = PREFERENCE.iter().find_map(|kind| first_of(kind))?;
    let m = &node.metadata;
    let mut labels = LabelsBuilder::with_capacity(2 + 2 * (m.labels.len() + m.annotations.len()));
    labels.set("__meta_kubernetes_node_name", &m.name);
    labels.set("__meta_kubernetes_node_provider_id", &node.spec.provider_id);
    set_map(&mut labels, "node", "label", &m.labels);
    set_map(&mut labels, "node", "annotation", &m.annotations);

    let mut t = LabelsBuilder::with_capacity(2 + addresses.len());
    t.set(
        "__address__",
        &join_host_port(&chosen.address, node.status.kubelet_port),
    );
    t.set("instance", &m.name);
    // One label per address type present: its first address.
    for (i, a) in addresses.iter().enumerate() {
        if addresses[..i].iter().all(|earlier| earlier.kind != a.kind) {
            let name = format!("__meta_kubernetes_node_address_{}", a.kind);
            t.set(&sanitize_label_name(&name), &a.address);
        }
    }
    Some(TargetGroup {
        source: source(&m.name),
        targets: vec![t.into_labels()],
        labels: labels.into_labels(),
    })
}
