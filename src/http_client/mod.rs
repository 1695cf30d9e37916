//! Building every outgoing HTTP client: scrape jobs, remote-write endpoints
//! and, later, service discovery all get their `reqwest::Client` here, from
//! the config-level HTTP settings (`tls_config`, `basic_auth`,
//! `authorization` / `bearer_token[_file]`, extra headers, redirects).
//!
//! [`build`] turns [`HttpSettings`] into an [`HttpClient`]: a ready
//! `reqwest::Client` (TLS files read and checked, extra headers checked
//! against the one [reserved-header list](crate::config::RESERVED_HEADERS) and sent on every
//! request) and an [`AuthHeader`], the per-request source of the
//! `Authorization` value. Credentials read from a file (`password_file`,
//! `credentials_file`, `bearer_token_file`) are re-read when the file
//! changes, so rotated tokens (Kubernetes service-account tokens) are picked
//! up without a reload.
//!
//! Every [`HttpClientError`] names whom the client is for ([`Owner`]) and the
//! setting at fault, as written in prometheus.yml. `proxy_url` and
//! `tls_config.min_version` are not in levee's config yet, so there is
//! nothing to build for them; `tls_config.server_name` is refused (not
//! supported yet) rather than ignored.
//!
//! Files: `tls` (TLS settings and the client builder), `auth` (credentials
//! and their files), `headers` (the reserved list), `error` (errors and
//! [`error_chain`]).

mod auth;
mod error;
mod tls;

pub use auth::{Auth, AuthHeader};
pub use error::{ErrorKind, HttpClientError, error_chain};
pub use tls::{InlineIdentity, InlinePem, TlsSettings};

use crate::config::check_header;
use reqwest::header::HeaderMap;
use std::fmt;
use std::time::Duration;

/// Whom a client is for; errors start with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A scrape job, by `job_name`.
    ScrapeJob(String),
    /// A remote-write endpoint, by its name.
    RemoteWrite(String),
    /// A service-discovery provider, by its config key and what tells it
    /// apart (e.g. `kubelet_sd_configs url "https://…"`).
    Discovery(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::ScrapeJob(job) => write!(f, "scrape_configs job {job:?}"),
            Owner::RemoteWrite(name) => write!(f, "remote_write {name:?}"),
            Owner::Discovery(what) => f.write_str(what),
        }
    }
}

/// What one client is built from.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// TLS client settings, used for `https://` URLs.
    pub tls: TlsSettings,
    /// Credentials sent as the `Authorization` header.
    pub auth: Option<Auth>,
    /// Extra headers sent with every request; none may be reserved.
    pub headers: Vec<(String, String)>,
    /// Follow up to 10 redirects (Prometheus `follow_redirects`).
    pub follow_redirects: bool,
    /// Timeout of one whole request.
    pub timeout: Duration,
}

impl HttpSettings {
    /// The settings of a config's HTTP client keys, with `timeout` and no
    /// extra headers.
    pub fn from_config(c: &crate::config::HttpClientConfig, timeout: Duration) -> Self {
        HttpSettings {
            tls: TlsSettings::from_config(&c.tls_config),
            auth: Auth::from_config(c),
            headers: Vec::new(),
            follow_redirects: c.follow_redirects,
            timeout,
        }
    }
}

/// A built client: the `reqwest::Client` and where each request's
/// `Authorization` value comes from.
#[derive(Clone, Debug)]
pub struct HttpClient {
    /// Sends the requests; the extra headers are its default headers.
    pub client: reqwest::Client,
    /// Add `auth.value()` as the `Authorization` header of each request.
    pub auth: Option<AuthHeader>,
}

/// Builds the client `s` describes for `owner`. TLS settings are applied
/// only when `https` is true; a plain-HTTP client trusts no roots, so a host
/// without CA certificates still builds it.
pub fn build(owner: &Owner, https: bool, s: &HttpSettings) -> Result<HttpClient, HttpClientError> {
    let err = |field: String, kind: ErrorKind| HttpClientError {
        owner: owner.clone(),
        field,
        kind,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &s.headers {
        let (n, v) = check_header(name, value)
            .map_err(|e| err(format!("headers.{name}"), ErrorKind::Header(e)))?;
        headers.append(n, v);
    }
    let auth = s
        .auth
        .as_ref()
        .map(|a| AuthHeader::new(owner, a))
        .transpose()?;
    let redirect = if s.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let builder = reqwest::Client::builder()
        .timeout(s.timeout)
        .redirect(redirect)
        .default_headers(headers);
    let builder = if https {
        s.tls
            .apply(builder)
            .map_err(|(field, kind)| err(field.into(), kind))?
    } else {
        builder.tls_certs_only([])
    };
    let client = builder
        .build()
        .map_err(|e| err(String::new(), ErrorKind::Build(e)))?;
    Ok(HttpClient { client, auth })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderError;

    #[test]
    fn a_bad_ca_file_names_the_scrape_job() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let mut s = HttpSettings::from_config(
            &crate::config::HttpClientConfig::default(),
            Duration::from_secs(10),
        );
        s.tls.ca_file = Some(ca.clone());
        let owner = Owner::ScrapeJob("node".into());
        let e = build(&owner, true, &s).unwrap_err();
        assert_eq!(e.owner, owner);
        assert_eq!(e.field, "tls_config.ca_file");
        assert!(matches!(&e.kind, ErrorKind::NoCertificate { path } if *path == ca));
        let msg = e.to_string();
        assert!(
            msg.starts_with(r#"scrape_configs job "node": tls_config.ca_file: "#),
            "{msg}"
        );
        assert!(!msg.contains("remote_write"), "{msg}");

        s.tls.ca_file = Some(dir.path().join("missing.pem"));
        let e = build(&owner, true, &s).unwrap_err();
        assert!(matches!(&e.kind, ErrorKind::ReadFile { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        // Plain HTTP does not read the TLS files.
        assert!(build(&owner, false, &s).is_ok());
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let owner = Owner::RemoteWrite("rw".into());
        let mut s = HttpSettings::from_config(
            &crate::config::HttpClientConfig::default(),
            Duration::from_secs(1),
        );
        for name in ["Content-Type", "authorization", "Accept-Encoding", "HOST"] {
            s.headers = vec![(name.into(), "x".into())];
            let e = build(&owner, false, &s).unwrap_err();
            assert_eq!(e.field, format!("headers.{name}"));
            assert!(
                matches!(e.kind, ErrorKind::Header(HeaderError::Reserved)),
                "{e}"
            );
            assert_eq!(
                e.to_string(),
                format!(
                    r#"remote_write "rw": headers.{name}: is a reserved header and cannot be set"#
                )
            );
        }
        s.headers = vec![("bad name".into(), "x".into())];
        assert!(matches!(
            build(&owner, false, &s).unwrap_err().kind,
            ErrorKind::Header(HeaderError::Name(_))
        ));
        s.headers = vec![("X-Ok".into(), "line\nbreak".into())];
        assert!(matches!(
            build(&owner, false, &s).unwrap_err().kind,
            ErrorKind::Header(HeaderError::Value(_))
        ));
        s.headers = vec![("X-Scope-OrgID".into(), "tenant-1".into())];
        assert!(build(&owner, false, &s).is_ok());
    }
}
