//! TLS client settings (Prometheus `tls_config`) and how they configure a
//! client: CA bundle, client certificate and key, verification.

use super::error::ErrorKind;
use std::path::{Path, PathBuf};

/// TLS client settings (Prometheus `tls_config`), files by path; they are
/// read when a client is built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of CA certificates; when set it replaces the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), used together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Server name to verify instead of the URL's host. Not supported yet:
    /// setting it is a start error rather than silently ignored.
    pub server_name: Option<String>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
    /// PEM given inline rather than by file (a kubeconfig's
    /// `certificate-authority-data`, `client-certificate-data`,
    /// `client-key-data`); a file of the same kind wins.
    pub inline: InlinePem,
}

/// PEM bytes given inline, each with the setting it came from (for errors).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InlinePem {
    /// CA certificates.
    pub ca: Option<(&'static str, Vec<u8>)>,
    /// Client certificate (chain) and key.
    pub identity: Option<InlineIdentity>,
}

/// A client certificate and key given inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineIdentity {
    /// The setting the certificate came from (for errors).
    pub field: &'static str,
    /// PEM certificate (chain).
    pub cert: Vec<u8>,
    /// PEM private key.
    pub key: Vec<u8>,
}

impl TlsSettings {
    /// The TLS settings of a config's `tls_config` (files by path).
    pub fn from_config(t: &crate::config::TlsConfig) -> Self {
        TlsSettings {
            ca_file: t.ca.as_ref().map(|f| f.path.clone()),
            cert_file: t.cert.as_ref().map(|f| f.path.clone()),
            key_file: t.key.as_ref().map(|f| f.path.clone()),
            server_name: t.server_name.clone(),
            insecure_skip_verify: t.insecure_skip_verify,
            inline: InlinePem::default(),
        }
    }

    /// Configures `b` with these settings, reading the files now. An error
    /// names the setting at fault.
    pub(super) fn apply(
        &self,
        mut b: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, (&'static str, ErrorKind)> {
        const CA: &str = "tls_config.ca_file";
        const CERT: &str = "tls_config.cert_file";
        const KEY: &str = "tls_config.key_file";
        let read = |field: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| {
                let path = path.to_path_buf();
                (field, ErrorKind::ReadFile { path, source })
            })
        };
        let pem = |field: &'static str, path: &Path, source| {
            let path = path.to_path_buf();
            (field, ErrorKind::Pem { path, source })
        };
        if self.server_name.is_some() {
            return Err(("tls_config.server_name", ErrorKind::Unsupported));
        }
        if let Some(path) = &self.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(CA, path)?)
                .map_err(|e| pem(CA, path, e))?;
            if certs.is_empty() {
                let path = path.clone();
                return Err((CA, ErrorKind::NoCertificate { path }));
            }
            b = b.tls_certs_only(certs);
        } else if let Some((field, bytes)) = &self.inline.ca {
            let certs = reqwest::Certificate::from_pem_bundle(bytes)
                .map_err(|source| (*field, ErrorKind::InlinePem { source }))?;
            if certs.is_empty() {
                return Err((*field, ErrorKind::InlineNoCertificate));
            }
            b = b.tls_certs_only(certs);
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let mut identity = read(CERT, cert)?;
                identity.push(b'\n');
                identity.extend(read(KEY, key)?);
                let id = reqwest::Identity::from_pem(&identity).map_err(|e| pem(CERT, cert, e))?;
                b = b.identity(id);
            }
            (None, None) => {
                if let Some(inline) = &self.inline.identity {
                    let mut identity = inline.cert.clone();
                    identity.push(b'\n');
                    identity.extend_from_slice(&inline.key);
                    let id = reqwest::Identity::from_pem(&identity)
                        .map_err(|source| (inline.field, ErrorKind::InlinePem { source }))?;
                    b = b.identity(id);
                }
            }
            (Some(p), None) | (None, Some(p)) => {
                let path = p.clone();
                return Err(("tls_config", ErrorKind::CertWithoutKey { path }));
            }
        }
        if self.insecure_skip_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        Ok(b)
    }
}
