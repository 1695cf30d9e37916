//! What the endpoints and endpointslice roles share: an endpoint whose
//! target is a pod gets the pod's labels and those of the container port it
//! hits, and each such pod's other declared ports become targets of their
//! own.

use super::{join_host_port, pod::pod_labels};
use crate::discovery::kubernetes::objects::Pod;
use crate::labels::{Labels, LabelsBuilder};

/// Where the protocol label of a matched container port comes from: the
/// endpoints role takes the endpoint port's, the endpointslice role the
/// container port's.
pub(super) enum Protocol<'a> {
    Endpoint(&'a str),
    Container,
}

/// The pods endpoints pointed at, in the order first seen, with the ports
/// they were targeted on.
#[derive(Default)]
pub(super) struct SeenPods<'a>(Vec<(&'a Pod, Vec<i32>)>);

impl<'a> SeenPods<'a> {
    /// Adds `pod`'s labels to `t`, and the labels of a container port that
    /// is `port` (the last container declaring it wins), and notes that
    /// `pod` was targeted on `port`.
    pub(super) fn join(
        &mut self,
        t: &mut LabelsBuilder,
        pod: &'a Pod,
        port: Option<i32>,
        protocol: Protocol<'_>,
    ) {
        let i = match self.0.iter().position(|(p, _)| same_pod(p, pod)) {
            Some(i) => i,
            None => {
                self.0.push((pod, Vec::new()));
                self.0.len() - 1
            }
        };
        for l in pod_labels(pod).iter() {
            t.set(&l.name, &l.value);
        }
        if let Some(port) = port {
            for c in &pod.spec.containers {
                if let Some(cport) = c.ports.iter().find(|cp| cp.container_port == port) {
                    t.set("__meta_kubernetes_pod_container_name", &c.name);
                    t.set("__meta_kubernetes_pod_container_image", &c.image);
                    t.set("__meta_kubernetes_pod_container_port_name", &cport.name);
                    t.set(
                        "__meta_kubernetes_pod_container_port_number",
                        &port.to_string(),
                    );
                    let protocol = match protocol {
                        Protocol::Endpoint(p) => p,
                        Protocol::Container => &cport.protocol,
                    };
                    t.set("__meta_kubernetes_pod_container_port_protocol", protocol);
                }
            }
            self.0[i].1.push(port);
        }
    }

    /// One target per declared container port of each seen pod that no
    /// endpoint targeted, at the pod's IP.
    pub(super) fn other_ports(&self) -> Vec<Labels> {
        let mut out = Vec::new();
        for (pod, seen) in &self.0 {
            let labels = pod_labels(pod);
            for c in &pod.spec.containers {
                for cport in &c.ports {
                    if seen.contains(&cport.container_port) {
                        continue;
                    }
                    let number = cport.container_port.to_string();
                    let mut t = LabelsBuilder::with_capacity(6 + labels.len());
                    t.set("__address__", &join_host_port(&pod.status.pod_ip, &number));
                    t.set("__meta_kubernetes_pod_container_name", &c.name);
                    t.set("__meta_kubernetes_pod_container_image", &c.image);
                    t.set("__meta_kubernetes_pod_container_port_name", &cport.name);
                    t.set("__meta_kubernetes_pod_container_port_number", &number);
                    t.set(
                        "__meta_kubernetes_pod_container_port_protocol",
                        &cport.protocol,
                    );
                    for l in labels.iter() {
                        t.set(&l.name, &l.value);
                    }
                    out.push(t.into_labels());
                }
            }
        }
        out
    }
}

fn same_pod(a: &Pod, b: &Pod) -> bool {
    a.metadata.namespace == b.metadata.namespace && a.metadata.name == b.metadata.name
}
