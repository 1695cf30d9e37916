//! The parts of Kubernetes API objects that discovery reads, as the API
//! server (and the kubelet's `/pods`) serves them in JSON. Only the fields
//! the labels need are kept: everything else in an object (managedFields,
//! the pod spec beyond its containers, status beyond what the labels show)
//! is skipped while it is parsed, so the watch cache holds a few hundred
//! bytes per object, not the object.
//!
//! Every field may be missing or `null`: it reads as empty, as the Go
//! client reads it. That includes `metadata.name`, because a watch's
//! BOOKMARK event carries an object of the watched type with only a
//! `resourceVersion`; a consumer of listed or watched objects ignores
//! nameless ones (they cannot be told apart). A field of the wrong type
//! fails the object.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// `metadata` of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name` (empty only in a BOOKMARK event's object).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `metadata.namespace` (empty for cluster-scoped objects).
    #[serde(default, deserialize_with = "null_as_default")]
    pub namespace: String,
    /// `metadata.uid`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub uid: String,
    /// `metadata.resourceVersion`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_version: String,
    /// `metadata.labels`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    /// `kind` (`ReplicaSet`, `DaemonSet`, …).
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `controller`: whether this owner is the managing controller.
    pub controller: Option<bool>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListMeta {
    /// The list's `resourceVersion`: a watch starts from here.
    #[serde(deserialize_with = "null_as_default")]
    pub resource_version: String,
    /// The continue token of a paged list (empty on the last page).
    #[serde(rename = "continue", deserialize_with = "null_as_default")]
    pub continue_token: String,
}

/// A list response (`PodList`, `NodeList`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    /// The list's metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: ListMeta,
    /// The objects (`null` is read as none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

/// Reads `null` as the type's default, as Go reads it into a zero value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An object discovery watches: it has `metadata`.
pub trait Resource: for<'de> Deserialize<'de> + Clone + Send + Sync + 'static {
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
}

macro_rules! resource {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    )*};
}
resource!(Pod, Node, Service, Endpoints, EndpointSlice);

/// A core/v1 `Pod`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pod {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: PodSpec,
    /// `status`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: PodStatus,
}

/// `spec` of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// `spec.nodeName`: the node it is scheduled on.
    #[serde(deserialize_with = "null_as_default")]
    pub node_name: String,
    /// `spec.containers`.
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    /// `spec.initContainers`.
    #[serde(deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container>,
}

/// One container of a pod spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Container {
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `image`.
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    /// `ports`.
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<ContainerPort>,
}

/// One declared port of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `containerPort`.
    #[serde(deserialize_with = "null_as_default")]
    pub container_port: i32,
    /// `protocol` (`TCP`, `UDP`, `SCTP`).
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
}

/// `status` of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    /// `status.podIP`: empty while the pod starts or after it was evicted.
    #[serde(rename = "podIP", deserialize_with = "null_as_default")]
    pub pod_ip: String,
    /// `status.hostIP`.
    #[serde(rename = "hostIP", deserialize_with = "null_as_default")]
    pub host_ip: String,
    /// `status.phase`.
    #[serde(deserialize_with = "null_as_default")]
    pub phase: String,
    /// The `status` of the `Ready` entry of `status.conditions` (the other
    /// conditions are skipped).
    #[serde(rename = "conditions", deserialize_with = "ready_condition")]
    pub ready: Option<String>,
    /// `status.containerStatuses`.
    #[serde(deserialize_with = "null_as_default")]
    pub container_statuses: Vec<ContainerStatus>,
    /// `status.initContainerStatuses`.
    #[serde(deserialize_with = "null_as_default")]
    pub init_container_statuses: Vec<ContainerStatus>,
}

/// What discovery reads of one container's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    /// `name`: the container it describes.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `containerID` (`containerd://…`).
    #[serde(rename = "containerID", deserialize_with = "null_as_default")]
    pub container_id: String,
}

/// Keeps only the status of the first `Ready` condition.
fn ready_condition<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Condition {
        #[serde(rename = "type", deserialize_with = "null_as_default")]
        kind: String,
        #[serde(deserialize_with = "null_as_default")]
        status: String,
    }
    let conditions: Vec<Condition> = null_as_default(d)?;
    Ok(conditions
        .into_iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status))
}

/// A core/v1 `Node`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Node {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeSpec,
    /// `status`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: NodeStatus,
}

/// `spec` of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeSpec {
    /// `spec.providerID`.
    #[serde(rename = "providerID", deserialize_with = "null_as_default")]
    pub provider_id: String,
}

/// `status` of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    /// `status.addresses`, in the order the node reports them.
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<NodeAddress>,
    /// `status.daemonEndpoints.kubeletEndpoint.Port` (0 when missing).
    #[serde(rename = "daemonEndpoints", deserialize_with = "kubelet_port")]
    pub kubelet_port: i32,
}

/// One entry of `status.addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeAddress {
    /// `type` (`InternalIP`, `Hostname`, …).
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    /// `address`.
    #[serde(deserialize_with = "null_as_default")]
    pub address: String,
}

fn kubelet_port<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct DaemonEndpoints {
        #[serde(deserialize_with = "null_as_default")]
        kubelet_endpoint: Endpoint,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Endpoint {
        #[serde(rename = "Port", deserialize_with = "null_as_default")]
        port: i32,
    }
    let e: DaemonEndpoints = null_as_default(d)?;
    Ok(e.kubelet_endpoint.port)
}

/// A core/v1 `Service`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Service {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: ServiceSpec,
}

/// `spec` of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `spec.ports`.
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<ServicePort>,
    /// `spec.type` (`ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`).
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    /// `spec.clusterIP`.
    #[serde(rename = "clusterIP", deserialize_with = "null_as_default")]
    pub cluster_ip: String,
    /// `spec.externalName`.
    #[serde(deserialize_with = "null_as_default")]
    pub external_name: String,
    /// `spec.loadBalancerIP`.
    #[serde(rename = "loadBalancerIP", deserialize_with = "null_as_default")]
    pub load_balancer_ip: String,
}

/// One port of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ServicePort {
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `protocol`.
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
    /// `port`.
    #[serde(deserialize_with = "null_as_default")]
    pub port: i32,
}

/// A core/v1 `Endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoints {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `subsets`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub subsets: Vec<EndpointSubset>,
}

/// One entry of `subsets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSubset {
    /// `addresses`: the ready ones.
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<EndpointAddress>,
    /// `notReadyAddresses`.
    #[serde(deserialize_with = "null_as_default")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// `ports`.
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<EndpointPort>,
}

/// One address of an endpoints subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointAddress {
    /// `ip`.
    #[serde(deserialize_with = "null_as_default")]
    pub ip: String,
    /// `hostname`.
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `targetRef`.
    pub target_ref: Option<ObjectReference>,
}

/// One port of an endpoints subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EndpointPort {
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `port`.
    #[serde(deserialize_with = "null_as_default")]
    pub port: i32,
    /// `protocol`.
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
}

/// A `targetRef`: the object behind an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ObjectReference {
    /// `kind` (`Pod` for the endpoints discovery joins with pods).
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    /// `namespace`.
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    /// `name`.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
}

/// A discovery.k8s.io `EndpointSlice` (v1; a v1beta1 object reads the same,
/// its `topology` taking the place of v1's `deprecatedTopology`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlice {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `addressType` (`IPv4`, `IPv6`, `FQDN`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub address_type: String,
    /// `endpoints`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: Vec<SlicePort>,
}

/// One entry of an endpoint slice's `endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceEndpoint {
    /// `addresses`.
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<String>,
    /// `conditions`.
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: SliceConditions,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `targetRef`.
    pub target_ref: Option<ObjectReference>,
    /// `deprecatedTopology` (v1) or `topology` (v1beta1).
    #[serde(alias = "topology", deserialize_with = "null_as_default")]
    pub deprecated_topology: BTreeMap<String, String>,
}

/// `conditions` of a slice endpoint; each may be unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SliceConditions {
    /// `ready`.
    pub ready: Option<bool>,
    /// `serving`.
    pub serving: Option<bool>,
    /// `terminating`.
    pub terminating: Option<bool>,
}

/// One entry of an endpoint slice's `ports`; each field may be unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlicePort {
    /// `name`.
    pub name: Option<String>,
    /// `protocol`.
    pub protocol: Option<String>,
    /// `port`.
    pub port: Option<i32>,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}
