//! `kubernetes_sd_configs`: Prometheus 2.42's keys, defaults and validation
//! rules, plus levee's `${VAR}` expansion in selector strings (see
//! `config::env`).
//!
//! Validation follows Prometheus: `role` is required; `api_server` and
//! `kubeconfig_file` exclude each other; the HTTP client keys need
//! `api_server` (they make no sense for in-cluster or kubeconfig access);
//! `namespaces.own_namespace` needs in-cluster access; each selector role at
//! most once, and only the roles the discovery role watches (endpoints and
//! endpointslice also watch pods and services). The selector strings are
//! handed to the API server as written (after `${VAR}` expansion); it is the
//! judge of their syntax.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigPath, ProblemKind};
use super::http::resolve_http;
use super::raw::{RawAuthorization, RawBasicAuth, RawHttp, RawTlsConfig};
use super::resolve::{Ctx, check_http_url};
use super::types::HttpClientConfig;

/// One entry of `kubernetes_sd_configs:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSdConfig {
    role: Option<String>,
    api_server: Option<String>,
    kubeconfig_file: Option<String>,
    namespaces: Option<RawNamespaces>,
    selectors: Option<Vec<RawSelector>>,
    attach_metadata: Option<RawAttachMetadata>,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    bearer_token: Option<String>,
    bearer_token_file: Option<String>,
    tls_config: Option<RawTlsConfig>,
    follow_redirects: Option<bool>,
    enable_http2: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespaces {
    names: Option<Vec<String>>,
    own_namespace: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    role: Option<String>,
    label: Option<String>,
    field: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttachMetadata {
    node: Option<bool>,
}

/// What a `kubernetes_sd_configs` entry discovers (`role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KubernetesRole {
    /// `pod`: one target per declared container port.
    Pod,
    /// `node`: one target per node (the kubelet).
    Node,
    /// `service`: one target per service port.
    Service,
    /// `endpoints`: one target per endpoint address and port.
    Endpoints,
    /// `endpointslice`: one target per endpoint of an EndpointSlice.
    EndpointSlice,
}

impl KubernetesRole {
    /// Every role, in the order the error messages list them.
    pub const ALL: [KubernetesRole; 5] = [
        KubernetesRole::Pod,
        KubernetesRole::Service,
        KubernetesRole::Endpoints,
        KubernetesRole::EndpointSlice,
        KubernetesRole::Node,
    ];

    /// The name in the config (`pod`, `endpointslice`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KubernetesRole::Pod => "pod",
            KubernetesRole::Node => "node",
            KubernetesRole::Service => "service",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
        }
    }

    fn parse(name: &str) -> Option<KubernetesRole> {
        KubernetesRole::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The roles whose objects this role watches, hence the selector roles
    /// it accepts (Prometheus' rule).
    pub fn watched(self) -> &'static [KubernetesRole] {
        use KubernetesRole::*;
        match self {
            Pod => &[Pod],
            Node => &[Node],
            Service => &[Service],
            Endpoints => &[Pod, Service, Endpoints],
            EndpointSlice => &[Pod, Service, EndpointSlice],
        }
    }
}

impl std::fmt::Display for KubernetesRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the API server is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApiAccess {
    /// Neither `api_server` nor `kubeconfig_file`: the pod's service
    /// account (`KUBERNETES_SERVICE_HOST`/`_PORT`, token and CA under
    /// `/var/run/secrets/kubernetes.io/serviceaccount/`).
    InCluster,
    /// `api_server` with the HTTP client keys.
    Server {
        /// The API server's URL.
        url: String,
        /// `basic_auth`, `authorization`, `bearer_token_file`, `tls_config`, ….
        http: Box<HttpClientConfig>,
    },
    /// `kubeconfig_file`, read when discovery starts.
    Kubeconfig {
        /// The file (relative names taken from the config file's directory).
        path: PathBuf,
    },
}

/// `namespaces:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NamespaceDiscovery {
    /// `names`: the namespaces to watch (none: all namespaces).
    pub names: Vec<String>,
    /// `own_namespace`: also watch the namespace levee runs in.
    pub own_namespace: bool,
}

/// One entry of `selectors:`, with `${VAR}` expanded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleSelector {
    /// The objects it selects.
    pub role: KubernetesRole,
    /// `label`: passed as `labelSelector` (may be empty).
    pub label: String,
    /// `field`: passed as `fieldSelector` (may be empty).
    pub field: String,
}

/// One `kubernetes_sd_configs` entry, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubernetesSdConfig {
    /// `role`.
    pub role: KubernetesRole,
    /// `api_server` / `kubeconfig_file` / in-cluster.
    pub api: ApiAccess,
    /// `namespaces`.
    pub namespaces: NamespaceDiscovery,
    /// `selectors`, at most one per role.
    pub selectors: Vec<RoleSelector>,
    /// `attach_metadata.node`: add the node's labels to pod targets.
    pub attach_node_metadata: bool,
}

impl KubernetesSdConfig {
    /// The selector for objects of `role`, if one is configured.
    pub fn selector(&self, role: KubernetesRole) -> Option<&RoleSelector> {
        self.selectors.iter().find(|s| s.role == role)
    }
}

/// Resolves the entry at `path`.
pub fn resolve(
    raw: RawKubernetesSdConfig,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> KubernetesSdConfig {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    // Credentials count as custom even when their file cannot be read.
    let credentials = raw.basic_auth.is_some()
        || raw.authorization.is_some()
        || set(&raw.bearer_token)
        || set(&raw.bearer_token_file);
    let http = resolve_http(
        RawHttp {
            basic_auth: raw.basic_auth,
            authorization: raw.authorization,
            bearer_token: raw.bearer_token,
            bearer_token_file: raw.bearer_token_file,
            tls_config: raw.tls_config,
            follow_redirects: raw.follow_redirects,
            enable_http2: raw.enable_http2,
        },
        path,
        cx,
    );
    let role = match raw.role.as_deref() {
        None | Some("") => {
            cx.problem(
                ProblemKind::Invalid,
                path,
                "missing required key `role` (one of: pod, service, endpoints, endpointslice, node)",
            );
            KubernetesRole::Pod
        }
        Some(name) => parse_role(name, &path.key("role"), cx).unwrap_or(KubernetesRole::Pod),
    };
    let namespaces = raw.namespaces.unwrap_or_default();
    let namespaces = NamespaceDiscovery {
        names: namespaces.names.unwrap_or_default(),
        own_namespace: namespaces.own_namespace.unwrap_or(false),
    };
    let api_server = raw.api_server.filter(|s| !s.is_empty());
    let kubeconfig = raw.kubeconfig_file.filter(|s| !s.is_empty());
    let custom_http = credentials || http != HttpClientConfig::default();
    let api = match (api_server, kubeconfig) {
        (Some(_), Some(_)) => {
            cx.problem(
                ProblemKind::Invalid,
                &path.key("kubeconfig_file"),
                "cannot use `kubeconfig_file` and `api_server` simultaneously",
            );
            ApiAccess::InCluster
        }
        (Some(url), None) => {
            check_http_url(&url, &path.key("api_server"), cx);
            if namespaces.own_namespace {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("namespaces").key("own_namespace"),
                    "cannot use `api_server` and `namespaces.own_namespace` simultaneously",
                );
            }
            ApiAccess::Server {
                url,
                http: Box::new(http),
            }
        }
        (None, Some(file)) => {
            if custom_http {
                cx.problem(
                    ProblemKind::Invalid,
                    path,
                    "cannot use a custom HTTP client configuration together with `kubeconfig_file`",
                );
            }
            if namespaces.own_namespace {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("namespaces").key("own_namespace"),
                    "cannot use `kubeconfig_file` and `namespaces.own_namespace` simultaneously",
                );
            }
            let path = match cx.base_dir {
                Some(dir) if Path::new(&file).is_relative() => dir.join(&file),
                _ => PathBuf::from(file),
            };
            ApiAccess::Kubeconfig { path }
        }
        (None, None) => {
            if custom_http {
                cx.problem(
                    ProblemKind::Invalid,
                    path,
                    "to use a custom HTTP client configuration, give the `api_server` URL explicitly",
                );
            }
            ApiAccess::InCluster
        }
    };
    let base = path.key("selectors");
    let mut selectors: Vec<RoleSelector> = Vec::new();
    for (i, s) in raw.selectors.unwrap_or_default().into_iter().enumerate() {
        let at = base.index(i);
        if let Some(s) = selector(s, role, &at, cx) {
            if selectors.iter().any(|prev| prev.role == s.role) {
                cx.problem(
                    ProblemKind::Invalid,
                    &at.key("role"),
                    format!("duplicated selector role: {}", s.role),
                );
            } else {
                selectors.push(s);
            }
        }
    }
    KubernetesSdConfig {
        role,
        api,
        namespaces,
        selectors,
        attach_node_metadata: raw.attach_metadata.and_then(|a| a.node).unwrap_or(false),
    }
}

fn parse_role(name: &str, path: &ConfigPath, cx: &mut Ctx<'_>) -> Option<KubernetesRole> {
    let role = KubernetesRole::parse(name);
    if role.is_none() {
        let message = if name == "ingress" {
            "role \"ingress\" is not supported yet".to_owned()
        } else {
            format!(
                "unknown Kubernetes SD role {name:?}, expected one of: pod, service, endpoints, endpointslice, node"
            )
        };
        cx.problem(ProblemKind::Invalid, path, message);
    }
    role
}

fn selector(
    raw: RawSelector,
    role: KubernetesRole,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Option<RoleSelector> {
    let allowed = role.watched();
    let list = || {
        allowed
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = raw.role.filter(|r| !r.is_empty()) else {
        cx.problem(
            ProblemKind::Invalid,
            path,
            format!(
                "missing required key `role` ({role} role supports {} selectors)",
                list()
            ),
        );
        return None;
    };
    let selected = parse_role(&name, &path.key("role"), cx)?;
    if !allowed.contains(&selected) {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("role"),
            format!("{role} role supports only {} selectors", list()),
        );
        return None;
    }
    let mut expand = |text: Option<String>, key: &str| {
        let text = text.unwrap_or_default();
        match super::env::expand_env(&text) {
            Ok(expanded) => expanded,
            Err(e) => {
                cx.problem(ProblemKind::Invalid, &path.key(key), e.to_string());
                text
            }
        }
    };
    let label = expand(raw.label, "label");
    let field = expand(raw.field, "field");
    Some(RoleSelector {
        role: selected,
        label,
        field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SdConfig};

    fn sd(text: &str) -> Vec<KubernetesSdConfig> {
        let config = Config::from_yaml(text).unwrap();
        config.scrape_configs[0]
            .sd_configs
            .iter()
            .filter_map(|s| match s {
                SdConfig::Kubernetes(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_daemonset_config_resolves_with_its_node_from_the_environment() {
        // cargo sets CARGO_PKG_NAME in the environment of every test run.
        let got = sd("scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        attach_metadata: {node: true}
        selectors:
          - role: pod
            field: spec.nodeName=${CARGO_PKG_NAME}
            label: app in (a, b)
      - role: endpointslice
        api_server: https://127.0.0.1:6443
        bearer_token: t
        tls_config: {insecure_skip_verify: true}
        namespaces: {names: [default, kube-system]}
        selectors: [{role: service, label: x=y}, {role: endpointslice}]
      - role: node
        kubeconfig_file: /etc/kube/config
");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].role, KubernetesRole::Pod);
        assert_eq!(got[0].api, ApiAccess::InCluster);
        assert!(got[0].attach_node_metadata);
        let pods = got[0].selector(KubernetesRole::Pod).unwrap();
        assert_eq!(pods.field, "spec.nodeName=levee");
        assert_eq!(pods.label, "app in (a, b)");
        assert_eq!(got[0].selector(KubernetesRole::Node), None);

        assert_eq!(got[1].role, KubernetesRole::EndpointSlice);
        let ApiAccess::Server { url, http } = &got[1].api else {
            panic!("{:?}", got[1].api)
        };
        assert_eq!(url, "https://127.0.0.1:6443");
        assert!(http.tls_config.insecure_skip_verify);
        assert_eq!(
            http.authorization.as_ref().unwrap().credentials.expose(),
            "t"
        );
        assert_eq!(got[1].namespaces.names, ["default", "kube-system"]);
        assert_eq!(got[1].selectors.len(), 2);
        assert!(!got[1].attach_node_metadata);

        assert_eq!(
            got[2].api,
            ApiAccess::Kubeconfig {
                path: "/etc/kube/config".into()
            }
        );
    }

    #[test]
    fn equal_entries_are_one_sd_config() {
        let text = "scrape_configs:
  - job_name: a
    kubernetes_sd_configs: [{role: node}, {role: node}, {role: pod}]
";
        let got = sd(text);
        let distinct: std::collections::HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), 2);
    }
}
