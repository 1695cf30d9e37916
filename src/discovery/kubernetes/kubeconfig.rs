//! `kubeconfig_file`: the parts of a kubeconfig (kubectl's YAML) that say
//! how to reach the current context's cluster: the cluster's `server`,
//! `certificate-authority(-data)`, `insecure-skip-tls-verify`, and the
//! user's `token`/`tokenFile`, `client-certificate(-data)`/`client-key(-data)`
//! or `username`/`password`. Relative file names are taken from the
//! kubeconfig's directory, as kubectl does. Credential plugins (`exec`,
//! `auth-provider`) are refused by name rather than ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::client::relative_to;
use crate::config::Secret;
use crate::http_client::{Auth, HttpSettings, InlineIdentity, InlinePem, TlsSettings};

/// A kubeconfig that cannot be used, naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("kubeconfig_file {}: {kind}", path.display())]
pub struct KubeconfigError {
    /// The kubeconfig.
    pub path: PathBuf,
    /// What is wrong.
    #[source]
    pub kind: KubeconfigProblem,
}

/// What is wrong with a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigProblem {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// Not YAML of the kubeconfig's shape.
    #[error("cannot parse: {0}")]
    Parse(#[source] Box<serde_saphyr::Error>),
    /// No `current-context`.
    #[error("current-context is not set")]
    NoCurrentContext,
    /// A name that no entry of `contexts`, `clusters` or `users` has.
    #[error("{list}: no entry named {name:?}")]
    Missing {
        /// `contexts`, `clusters` or `users`.
        list: &'static str,
        /// The name looked for.
        name: String,
    },
    /// The cluster has no `server`.
    #[error("clusters[{cluster:?}].cluster.server is not set")]
    NoServer {
        /// The cluster's name.
        cluster: String,
    },
    /// A `*-data` value is not base64.
    #[error("{key}: not valid base64: {source}")]
    Base64 {
        /// The key.
        key: &'static str,
        /// Why.
        source: base64::DecodeError,
    },
    /// A file named in it cannot be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    File {
        /// The key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key levee does not implement.
    #[error("users[{user:?}].user.{key}: not supported")]
    Unsupported {
        /// The user's name.
        user: String,
        /// `exec` or `auth-provider`.
        key: &'static str,
    },
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct RawKubeconfig {
    current_context: String,
    contexts: Vec<Named<RawContext>>,
    clusters: Vec<Named<RawCluster>>,
    users: Vec<Named<RawUser>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Named<T: Default> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawContext {
    cluster: String,
    user: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct RawCluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct RawUser {
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    username: String,
    password: String,
    exec: Option<serde::de::IgnoredAny>,
    auth_provider: Option<serde::de::IgnoredAny>,
}

/// How to reach the current context's cluster.
#[derive(Debug)]
pub struct Kubeconfig {
    /// The cluster's `server` URL.
    pub server: String,
    tls: TlsSettings,
    auth: Option<Auth>,
}

impl Kubeconfig {
    /// Reads and checks the kubeconfig at `path`.
    pub fn load(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let err = |kind| KubeconfigError {
            path: path.to_owned(),
            kind,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(KubeconfigProblem::Read(e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Kubeconfig::parse(&text, dir).map_err(err)
    }

    /// The client settings, with `timeout`.
    pub fn settings(&self, timeout: Duration) -> HttpSettings {
        HttpSettings {
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            headers: Vec::new(),
            follow_redirects: true,
            timeout,
        }
    }

    /// Reads kubeconfig `text`; relative file names are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Kubeconfig, KubeconfigProblem> {
        let raw: RawKubeconfig =
            serde_saphyr::from_str(text).map_err(|e| KubeconfigProblem::Parse(Box::new(e)))?;
        if raw.current_context.is_empty() {
            return Err(KubeconfigProblem::NoCurrentContext);
        }
        let find = |list: &'static str, name: &str| KubeconfigProblem::Missing {
            list,
            name: name.to_owned(),
        };
        let context = raw
            .contexts
            .iter()
            .find(|c| c.name == raw.current_context)
            .ok_or_else(|| find("contexts", &raw.current_context))?;
        let cluster = raw
            .clusters
            .iter()
            .find(|c| c.name == context.value.cluster)
            .ok_or_else(|| find("clusters", &context.value.cluster))?;
        let user = match context.value.user.as_str() {
            "" => None,
            name => Some(
                raw.users
                    .iter()
                    .find(|u| u.name == name)
                    .ok_or_else(|| find("users", name))?,
            ),
        };
        if cluster.value.server.is_empty() {
            return Err(KubeconfigProblem::NoServer {
                cluster: cluster.name.clone(),
            });
        }
        let c = &cluster.value;
        let file = |name: &str| (!name.is_empty()).then(|| relative_to(dir, name));
        let data = |key: &'static str, value: &str| {
            if value.is_empty() {
                return Ok(None);
            }
            base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map(Some)
                .map_err(|source| KubeconfigProblem::Base64 { key, source })
        };
        let mut tls = TlsSettings {
            ca_file: file(&c.certificate_authority),
            insecure_skip_verify: c.insecure_skip_tls_verify,
            ..TlsSettings::default()
        };
        let ca_data = data("certificate-authority-data", &c.certificate_authority_data)?;
        tls.inline = InlinePem {
            ca: ca_data.map(|b| ("certificate-authority-data", b)),
            identity: None,
        };
        let mut auth = None;
        if let Some(user) = user {
            let u = &user.value;
            for (key, set) in [
                ("exec", u.exec.is_some()),
                ("auth-provider", u.auth_provider.is_some()),
            ] {
                if set {
                    return Err(KubeconfigProblem::Unsupported {
                        user: user.name.clone(),
                        key,
                    });
                }
            }
            tls.cert_file = file(&u.client_certificate);
            tls.key_file = file(&u.client_key);
            let cert = data("client-certificate-data", &u.client_certificate_data)?;
            let key = data("client-key-data", &u.client_key_data)?;
            if let (Some(cert), Some(key)) = (cert, key) {
                tls.inline.identity = Some(InlineIdentity {
                    field: "client-certificate-data",
                    cert,
                    key,
                });
            }
            auth = if !u.token.is_empty() {
                Some(bearer(Secret::inline(u.token.clone())))
            } else if !u.token_file.is_empty() {
                let path = relative_to(dir, &u.token_file);
                let token =
                    std::fs::read_to_string(&path).map_err(|source| KubeconfigProblem::File {
                        key: "tokenFile",
                        path: path.clone(),
                        source,
                    })?;
                Some(bearer(Secret::from_file(token.trim(), path)))
            } else if !u.username.is_empty() {
                Some(Auth::Basic {
                    username: u.username.clone(),
                    password: Secret::inline(u.password.clone()),
                })
            } else {
                None
            };
        }
        Ok(Kubeconfig {
            server: c.server.clone(),
            tls,
            auth,
        })
    }
}

fn bearer(credentials: Secret) -> Auth {
    Auth::Authorization {
        kind: "Bearer".into(),
        credentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: v1
kind: Config
current-context: dev
contexts:
  - name: other
    context: {cluster: nowhere, user: nobody}
  - name: dev
    context: {cluster: local, user: admin, namespace: default}
clusters:
  - name: local
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority: ca.crt
      extensions: []
users:
  - name: admin
    user:
      tokenFile: token
";

    #[test]
    fn the_current_context_gives_server_ca_and_token_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "abc\n").unwrap();
        let k = Kubeconfig::parse(CONFIG, dir.path()).unwrap();
        assert_eq!(k.server, "https://127.0.0.1:6443");
        assert_eq!(k.tls.ca_file, Some(dir.path().join("ca.crt")));
        match &k.auth {
            Some(Auth::Authorization { kind, credentials }) => {
                assert_eq!(kind, "Bearer");
                assert_eq!(credentials.expose(), "abc");
                assert_eq!(credentials.file(), Some(dir.path().join("token").as_path()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inline_data_is_decoded() {
        let ca = std::fs::read("tests/data/remote/tls/ca.pem").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&ca);
        let text = format!(
            "current-context: c\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\n\
             clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: {b64}}}}}]\n\
             users: [{{name: u, user: {{username: me, password: pw}}}}]\n"
        );
        let k = Kubeconfig::parse(&text, Path::new("/")).unwrap();
        assert_eq!(k.tls.inline.ca, Some(("certificate-authority-data", ca)));
        assert!(matches!(&k.auth, Some(Auth::Basic { username, .. }) if username == "me"));
        let owner = crate::http_client::Owner::Discovery("test".into());
        crate::http_client::build(&owner, true, &k.settings(Duration::from_secs(1))).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let cases = [
            ("clusters: {not: a list}\n", "cannot parse"),
            ("clusters: []\n", "current-context is not set"),
            ("current-context: x\n", "contexts: no entry named \"x\""),
            (
                "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: [{name: k, cluster: {}}]\n",
                "clusters[\"k\"].cluster.server is not set",
            ),
            (
                "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n\
                 clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: '!!'}}]\n\
                 users: [{name: u, user: {}}]\n",
                "certificate-authority-data: not valid base64",
            ),
            (
                "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n\
                 clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n\
                 users: [{name: u, user: {exec: {command: x}}}]\n",
                "users[\"u\"].user.exec: not supported",
            ),
            (
                "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n\
                 clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n\
                 users: [{name: u, user: {tokenFile: missing}}]\n",
                "tokenFile: cannot read",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, text).unwrap();
            let msg = Kubeconfig::load(&path).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!("kubeconfig_file {}: ", path.display())),
                "{msg}"
            );
            assert!(msg.contains(want), "{text}: {msg}");
        }
        let msg = Kubeconfig::load(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope: cannot read"), "{msg}");
    }
}
