//! Kubernetes discovery: `kubernetes_sd_configs` (watching the API server)
//! and levee's `kubelet_sd_configs` (polling the own node's kubelet), both
//! turning Kubernetes objects into target groups with Prometheus'
//! `__meta_kubernetes_*` labels.

pub mod kubelet;
pub mod objects;
pub mod roles;
