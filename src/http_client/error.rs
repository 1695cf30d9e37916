//! Why a client could not be built, naming its owner and the setting, and
//! [`error_chain`], the one way levee renders an error with its causes.

use super::Owner;
use crate::config::HeaderError;
use std::path::PathBuf;

/// A client that could not be built. Displays as
/// `remote_write "x": tls_config.ca_file: cannot read /etc/ca.pem: …`.
#[derive(Debug, thiserror::Error)]
#[error("{owner}: {}{kind}", field_prefix(field))]
pub struct HttpClientError {
    /// Whom the client is for.
    pub owner: Owner,
    /// The setting at fault, as in prometheus.yml (`tls_config.ca_file`,
    /// `headers.X-Foo`, `authorization`, …); empty when no single one is.
    pub field: String,
    /// What is wrong.
    #[source]
    pub kind: ErrorKind,
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// What is wrong with one setting.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// A file named by the setting cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A certificate or key file is not valid PEM.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the TLS library reported.
        source: reqwest::Error,
    },
    /// PEM given inline is not valid.
    #[error("invalid PEM: {source}")]
    InlinePem {
        /// What the TLS library reported.
        source: reqwest::Error,
    },
    /// Inline CA PEM holds no certificate.
    #[error("no PEM certificate found")]
    InlineNoCertificate,
    /// A CA file holds no certificate.
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// Only one of `cert_file` and `key_file` is set.
    #[error("{}: cert_file and key_file must be given together", path.display())]
    CertWithoutKey {
        /// The one that is set.
        path: PathBuf,
    },
    /// A setting levee does not implement yet.
    #[error("not supported yet")]
    Unsupported,
    /// A header that cannot be sent.
    #[error("{0}")]
    Header(#[source] HeaderError),
    /// Both `basic_auth` and `authorization` are set.
    #[error("basic_auth and authorization are mutually exclusive")]
    TwoAuthorizations,
    /// The credentials do not make a valid header value.
    #[error("invalid credentials: {0}")]
    Credentials(#[source] reqwest::header::InvalidHeaderValue),
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client: {}", error_chain(.0))]
    Build(#[source] reqwest::Error),
}

/// The error and its causes in one line, the way an operator wants it:
/// `error sending request: connection refused`. A cause whose text the
/// message already holds is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_joins_causes_without_repeating_them() {
        let inner = std::io::Error::other("refused");
        assert_eq!(error_chain(&Outer(inner)), "outer: refused");
        let e = HttpClientError {
            owner: Owner::RemoteWrite("x".into()),
            field: "tls_config.ca_file".into(),
            kind: ErrorKind::ReadFile {
                path: "/nope/ca.pem".into(),
                source: std::io::Error::other("gone"),
            },
        };
        assert_eq!(
            error_chain(&e),
            r#"remote_write "x": tls_config.ca_file: cannot read /nope/ca.pem: gone"#
        );
    }
}
