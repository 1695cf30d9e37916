//! The target group Prometheus 2.42 builds for one Kubernetes object of each
//! role (`pod`, `node`, `service`, `endpoints`, `endpointslice`): pure
//! functions from objects to [`TargetGroup`]s, shared by the API-server
//! watcher and the kubelet poller. Targets, `__meta_kubernetes_*` labels
//! and group sources are Prometheus' own, fact for fact (see
//! docs/discovery.md for the tables). A label Prometheus sets to an empty
//! value is left out: levee's label sets hold no empty values, and an
//! empty label and a missing one relabel alike.
//!
//! The endpoints roles join an object with the services, pods and nodes it
//! names; the caller lends its caches through [`Related`].

pub mod endpoints;
pub mod endpointslice;
mod joined;
pub mod node;
pub mod pod;
pub mod service;

use super::objects::{Node, Pod, Service};
use crate::discovery::TargetGroup;
use crate::labels::LabelsBuilder;
use std::collections::BTreeMap;

/// The prefix of every label of Kubernetes discovery.
const META: &str = "__meta_kubernetes_";

/// `__meta_kubernetes_namespace`.
const NAMESPACE: &str = "__meta_kubernetes_namespace";

/// The objects the endpoints roles join with, looked up in the caller's
/// caches. A role that does not attach node metadata answers `None` for
/// every node.
pub trait Related {
    /// The service `namespace/name`, if known.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
    /// The pod `namespace/name`, if known.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// The node `name`, if known and node metadata is attached
    /// (`attach_metadata: {node: true}`).
    fn node(&self, name: &str) -> Option<&Node>;
}

/// The group that removes every target of `source` (its object was
/// deleted).
pub fn removed(source: String) -> TargetGroup {
    TargetGroup {
        source,
        ..TargetGroup::default()
    }
}

/// A label name made valid as Prometheus' `strutil.SanitizeLabelName`
/// makes it: every character outside `[a-zA-Z0-9_]` becomes one `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `host:port`, with an IPv6 host in brackets (as Go's `net.JoinHostPort`:
/// any host with a colon is bracketed).
fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sets `<META><prefix>_<name>` to each value of `map` and
/// `<META><prefix>present_<name>` to `true`, names sanitized (Kubernetes
/// labels and annotations). Two keys that sanitize alike: the later in byte
/// order wins (Prometheus: whichever its map yields last).
fn set_map(b: &mut LabelsBuilder, prefix: &str, kind: &str, map: &BTreeMap<String, String>) {
    for (k, v) in map {
        let name = sanitize_label_name(k);
        b.set(&format!("{META}{prefix}_{kind}_{name}"), v);
        b.set(&format!("{META}{prefix}_{kind}present_{name}"), "true");
    }
}

/// The labels `attach_metadata: {node: true}` adds for `node`: its name and
/// labels (not its annotations).
fn attach_node(b: &mut LabelsBuilder, node_name: &str, node: &Node) {
    b.set("__meta_kubernetes_node_name", node_name);
    set_map(b, "node", "label", &node.metadata.labels);
}

#[cfg(test)]
mod tests;
