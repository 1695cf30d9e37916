//! Service-discovery configs of a scrape job (`file_sd_configs`,
//! `kubernetes_sd_configs`, levee's `kubelet_sd_configs`), resolved. Each
//! kind adds a variant; the discovery module runs one provider per distinct
//! config, so two jobs with equal configs share one provider.

pub use super::sd_kubelet::KubeletSdConfig;

/// One service-discovery config of a scrape job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful of configs, built once per load; boxing buys nothing"
)]
pub enum SdConfig {
    /// `file_sd_configs`.
    File(super::sd_file::FileSdConfig),
    /// One `kubernetes_sd_configs` entry.
    Kubernetes(super::sd_kubernetes::KubernetesSdConfig),
    /// `kubelet_sd_configs` (levee's own): the own node's pods from the
    /// kubelet.
    Kubelet(KubeletSdConfig),
}
