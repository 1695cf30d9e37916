//! The connection to the Kubernetes API server: where it is and how levee
//! authenticates, from `api_server` and the HTTP client keys, a
//! `kubeconfig_file`, or the pod's service account (in-cluster). The client
//! is built by [`crate::http_client`]; credentials read from a file (the
//! service-account token, `bearer_token_file`, a kubeconfig's `tokenFile`)
//! are re-read when the file changes, so a rotated token is used without a
//! restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::config::{ApiAccess, Secret};
use crate::http_client::{
    self, Auth, HttpClient, HttpClientError, HttpSettings, Owner, TlsSettings,
};

/// Where the service account's token, CA and namespace are mounted in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Longest any request may take; each request sets its own, shorter
/// deadline (a watch: its `timeoutSeconds` and a margin).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// In-cluster config without the service's environment variables.
    #[error(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set \
         (outside a cluster, give api_server or kubeconfig_file)"
    )]
    NotInCluster,
    /// A service-account file cannot be read.
    #[error("in-cluster config: cannot read {}: {source}", path.display())]
    ServiceAccount {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The kubeconfig file cannot be used.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The API server's address is not a URL.
    #[error("invalid API server URL {url:?}: {source}")]
    Url {
        /// The address.
        url: String,
        /// Why.
        source: url::ParseError,
    },
    /// The HTTP client could not be built (a CA or certificate file).
    #[error(transparent)]
    Http(#[from] HttpClientError),
}

/// The in-cluster environment: the service's address and the mounted
/// service-account directory.
#[derive(Debug, Clone)]
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: Option<String>,
    /// The service-account directory ([`SERVICE_ACCOUNT_DIR`] in a pod).
    pub dir: PathBuf,
}

impl InCluster {
    /// This process's environment and the standard mount.
    pub fn from_process() -> InCluster {
        InCluster {
            host: std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            port: std::env::var("KUBERNETES_SERVICE_PORT").ok(),
            dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }
}

/// A client of one API server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: reqwest::Url,
    http: HttpClient,
    own_namespace: Option<String>,
}

impl ApiClient {
    /// The client `access` describes; `in_cluster` is used only when it says
    /// in-cluster.
    pub fn new(access: &ApiAccess, in_cluster: &InCluster) -> Result<ApiClient, ClientError> {
        match access {
            ApiAccess::InCluster => ApiClient::in_cluster(in_cluster),
            ApiAccess::Server { url, http } => {
                let owner = Owner::Discovery(format!("kubernetes_sd_configs api_server {url:?}"));
                let settings = HttpSettings::from_config(http, CLIENT_TIMEOUT);
                ApiClient::build(url, &owner, &settings, None)
            }
            ApiAccess::Kubeconfig { path } => {
                let kubeconfig = Kubeconfig::load(path)?;
                let owner = Owner::Discovery(format!(
                    "kubernetes_sd_configs kubeconfig_file {}",
                    path.display()
                ));
                let settings = kubeconfig.settings(CLIENT_TIMEOUT);
                ApiClient::build(&kubeconfig.server, &owner, &settings, None)
            }
        }
    }

    fn in_cluster(env: &InCluster) -> Result<ApiClient, ClientError> {
        let (Some(host), Some(port)) = (&env.host, &env.port) else {
            return Err(ClientError::NotInCluster);
        };
        let (host, port) = (host.trim(), port.trim());
        if host.is_empty() || port.is_empty() {
            return Err(ClientError::NotInCluster);
        }
        let read = |name: &str| {
            let path = env.dir.join(name);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|source| ClientError::ServiceAccount { path, source })
        };
        let token_path = env.dir.join("token");
        let token = read("token")?;
        let ca = env.dir.join("ca.crt");
        if let Err(source) = std::fs::metadata(&ca) {
            return Err(ClientError::ServiceAccount { path: ca, source });
        }
        // The namespace file is optional: only `own_namespace` needs it.
        let own_namespace = read("namespace").ok().filter(|n| !n.is_empty());
        let url = if host.contains(':') {
            format!("https://[{host}]:{port}")
        } else {
            format!("https://{host}:{port}")
        };
        let settings = HttpSettings {
            tls: TlsSettings {
                ca_file: Some(ca),
                ..TlsSettings::default()
            },
            auth: Some(Auth::Authorization {
                kind: "Bearer".into(),
                credentials: Secret::from_file(token, token_path),
            }),
            headers: Vec::new(),
            follow_redirects: true,
            timeout: CLIENT_TIMEOUT,
        };
        let owner = Owner::Discovery("kubernetes_sd_configs (in-cluster)".into());
        ApiClient::build(&url, &owner, &settings, own_namespace)
    }

    fn build(
        url: &str,
        owner: &Owner,
        settings: &HttpSettings,
        own_namespace: Option<String>,
    ) -> Result<ApiClient, ClientError> {
        let base = reqwest::Url::parse(url).map_err(|source| ClientError::Url {
            url: url.to_owned(),
            source,
        })?;
        let http = http_client::build(owner, base.scheme() == "https", settings)?;
        Ok(ApiClient {
            base,
            http,
            own_namespace,
        })
    }

    /// The namespace levee runs in (in-cluster only: the service account's
    /// `namespace` file).
    pub fn own_namespace(&self) -> Option<&str> {
        self.own_namespace.as_deref()
    }

    /// The URL of `path` (e.g. `/api/v1/pods`) with `query`, below the
    /// server's base URL (which may have a path prefix of its own).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(None);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// Sends a GET of `url` that must complete (headers and body) within
    /// `timeout`.
    pub async fn get(
        &self,
        url: reqwest::Url,
        timeout: Duration,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .http
            .client
            .get(url)
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(auth) = &self.http.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.value());
        }
        request.send().await
    }
}

/// `path` below `dir` unless it is absolute.
pub(super) fn relative_to(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_relative() {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> InCluster {
        InCluster {
            host: Some("127.0.0.1".into()),
            port: Some("6443".into()),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn in_cluster_reads_the_service_account_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ca = std::fs::read("tests/data/remote/tls/ca.pem").unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca).unwrap();
        std::fs::write(dir.path().join("token"), "tok-1\n").unwrap();
        std::fs::write(dir.path().join("namespace"), "monitoring").unwrap();
        let c = ApiClient::new(&ApiAccess::InCluster, &env(dir.path())).unwrap();
        assert_eq!(c.own_namespace(), Some("monitoring"));
        assert_eq!(
            c.url("/api/v1/pods", &[("limit", "500")]).as_str(),
            "https://127.0.0.1:6443/api/v1/pods?limit=500"
        );
        let auth = c.http.auth.as_ref().unwrap();
        assert_eq!(auth.value(), "Bearer tok-1");
        // A rotated token is used from the next request on.
        std::fs::write(dir.path().join("token"), "tok-2-longer\n").unwrap();
        assert_eq!(auth.value(), "Bearer tok-2-longer");
    }

    #[test]
    fn in_cluster_errors_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = env(dir.path());
        e.port = None;
        let err = ApiClient::new(&ApiAccess::InCluster, &e).unwrap_err();
        assert!(matches!(err, ClientError::NotInCluster), "{err}");
        let err = ApiClient::new(&ApiAccess::InCluster, &env(dir.path())).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ClientError::ServiceAccount { .. }), "{msg}");
        assert!(msg.contains("/token"), "{msg}");
        std::fs::write(dir.path().join("token"), "t").unwrap();
        let msg = ApiClient::new(&ApiAccess::InCluster, &env(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/ca.crt"), "{msg}");
        std::fs::write(dir.path().join("ca.crt"), "not a certificate").unwrap();
        let err = ApiClient::new(&ApiAccess::InCluster, &env(dir.path())).unwrap_err();
        assert!(matches!(err, ClientError::Http(_)), "{err}");
    }

    #[test]
    fn api_server_urls_keep_their_path_prefix() {
        let access = ApiAccess::Server {
            url: "http://127.0.0.1:8001/proxy/".into(),
            http: Box::default(),
        };
        let c = ApiClient::new(&access, &InCluster::from_process()).unwrap();
        assert_eq!(
            c.url("/api/v1/nodes", &[("labelSelector", "a in (b,c)")])
                .as_str(),
            "http://127.0.0.1:8001/proxy/api/v1/nodes?labelSelector=a+in+%28b%2Cc%29"
        );
        assert_eq!(c.own_namespace(), None);
    }
}
