//! The parts of Kubernetes API objects that discovery reads, as the API
//! server serves them in JSON. Only the fields the labels need are kept:
//! everything else in an object (managedFields, the pod spec beyond its
//! containers, status beyond what the labels show) is skipped while it is
//! parsed, so the watch cache holds a few hundred bytes per object, not the
//! object.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `metadata` of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (empty for cluster-scoped objects).
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    pub owner_references: Vec<OwnerReference>,
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    /// `kind` (`ReplicaSet`, `DaemonSet`, …).
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `controller`: whether this owner is the managing controller.
    pub controller: Option<bool>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListMeta {
    /// The list's `resourceVersion`: a watch starts from here.
    pub resource_version: String,
    /// The continue token of a paged list (empty on the last page).
    #[serde(rename = "continue")]
    pub continue_token: String,
}

/// A list response (`PodList`, `NodeList`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    /// The list's metadata.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects (`null` is read as none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An object discovery watches: it has `metadata`.
pub trait Resource: for<'de> Deserialize<'de> + Clone + Send + Sync + 'static {
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
}
