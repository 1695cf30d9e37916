//! Kubernetes discovery: `kubernetes_sd_configs` (watching the API server)
//! and levee's `kubelet_sd_configs` (polling the own node's kubelet), both
//! turning Kubernetes objects into target groups with Prometheus'
//! `__meta_kubernetes_*` labels.
//!
//! Files: `objects` (the typed, trimmed objects), `roles` (objects to
//! target groups), `client` (reaching the API
//! server: `api_server`, in-cluster, `kubeconfig` files), `watch` (the
//! informer: LIST then WATCH, relists and backoff), `provider` (a role's
//! informers turned into target groups).

pub mod client;
pub mod kubeconfig;
pub mod kubelet;
pub mod objects;
pub mod provider;
pub mod roles;
pub mod watch;

pub use provider::spawn;

#[cfg(test)]
#[path = "../../../tests/support/kube_api.rs"]
mod fake_api;
