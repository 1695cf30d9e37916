//! TLS for levee's web server: the rustls server config of a
//! `tls_server_config` (certificate chain and key, client CA and whether
//! client certificates are required, TLS versions), with rustls' aws-lc-rs
//! provider (the one reqwest already brings). HTTP/1 is served over it,
//! so the ALPN offered is `http/1.1`.

use super::web_config::{ClientAuth, TlsServerSettings, TlsVersion, WebConfigError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Reads the files of `t` (named by the web config file `path`) and builds
/// the server config.
pub(super) fn server_config(
    path: &Path,
    t: &TlsServerSettings,
) -> Result<Arc<rustls::ServerConfig>, WebConfigError> {
    let file_err = |key: &'static str, file: &Path| {
        let (path, file) = (path.to_path_buf(), file.to_path_buf());
        move |source: rustls::pki_types::pem::Error| WebConfigError::TlsFile {
            path,
            key,
            file,
            source: Box::new(source),
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert_file)
        .and_then(|it| it.collect())
        .map_err(file_err("cert_file", &t.cert_file))?;
    if certs.is_empty() {
        return Err(WebConfigError::TlsFile {
            path: path.to_path_buf(),
            key: "cert_file",
            file: t.cert_file.clone(),
            source: "no certificate in the file".into(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_file(&t.key_file).map_err(file_err("key_file", &t.key_file))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match (t.min_version, t.max_version) {
            (TlsVersion::Tls12, TlsVersion::Tls12) => &[&rustls::version::TLS12],
            (TlsVersion::Tls13, _) => &[&rustls::version::TLS13],
            (TlsVersion::Tls12, TlsVersion::Tls13) => {
                &[&rustls::version::TLS13, &rustls::version::TLS12]
            }
        };
    let tls_err = |source| WebConfigError::Tls {
        path: path.to_path_buf(),
        source,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(tls_err)?;
    let builder = match (t.client_auth, &t.client_ca_file) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca_file)) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(ca_file)
                .map_err(file_err("client_ca_file", ca_file))?
            {
                let ca = ca.map_err(file_err("client_ca_file", ca_file))?;
                roots.add(ca).map_err(tls_err)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = match auth {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| WebConfigError::TlsFile {
                path: path.to_path_buf(),
                key: "client_ca_file",
                file: ca_file.clone(),
                source: Box::new(e),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(tls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
