//! Credentials and the `Authorization` header made from them. A secret read
//! from a file is re-read when the file changes (its modification time or
//! length differ from the last read; one `stat` per request), the way
//! Prometheus re-reads credential files, so rotated tokens are used without
//! a reload. When a changed file cannot be read, the previous credentials are
//! kept and a warning is logged once.

use super::Owner;
use super::error::{ErrorKind, HttpClientError};
use crate::config::{HttpClientConfig, Secret};
use parking_lot::Mutex;
use reqwest::header::HeaderValue;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Credentials sent as the `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `basic_auth`: `Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password (inline or from `password_file`).
        password: Secret,
    },
    /// `authorization` (or `bearer_token[_file]`): `<kind> <credentials>`.
    Authorization {
        /// The scheme, e.g. `Bearer`.
        kind: String,
        /// The credentials (inline or from `credentials_file`).
        credentials: Secret,
    },
}

impl Auth {
    /// The credentials of a config's HTTP client keys (the config allows at
    /// most one kind).
    pub fn from_config(c: &HttpClientConfig) -> Option<Auth> {
        match (&c.basic_auth, &c.authorization) {
            (Some(b), _) => Some(Auth::Basic {
                username: b.username.clone(),
                password: b.password.clone(),
            }),
            (None, Some(a)) => Some(Auth::Authorization {
                kind: a.kind.clone(),
                credentials: a.credentials.clone(),
            }),
            (None, None) => None,
        }
    }

    fn secret(&self) -> &Secret {
        match self {
            Auth::Basic { password, .. } => password,
            Auth::Authorization { credentials, .. } => credentials,
        }
    }

    /// The header value with `secret` as the password or credentials.
    fn header(&self, secret: &str) -> Result<HeaderValue, reqwest::header::InvalidHeaderValue> {
        let text = match self {
            Auth::Basic { username, .. } => {
                format!(
                    "Basic {}",
                    base64_encode(format!("{username}:{secret}").as_bytes())
                )
            }
            Auth::Authorization { kind, .. } => format!("{kind} {secret}"),
        };
        let mut value = HeaderValue::from_str(&text)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Where each request's `Authorization` value comes from. Cheap to clone;
/// clones share the cached value.
#[derive(Clone)]
pub struct AuthHeader(Arc<Inner>);

struct Inner {
    owner: Owner,
    auth: Auth,
    current: Mutex<Current>,
}

struct Current {
    value: HeaderValue,
    /// The file as last read; `None` until the first check, so that a file
    /// changed between config load and the first request is read again.
    read: Option<Stamp>,
    /// The last check failed (logged once, until a read succeeds).
    failing: bool,
}

/// What tells a changed file from an unchanged one.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl AuthHeader {
    /// The header source of `auth`, starting from the secret as loaded.
    pub(super) fn new(owner: &Owner, auth: &Auth) -> Result<AuthHeader, HttpClientError> {
        let value = auth
            .header(auth.secret().expose())
            .map_err(|e| HttpClientError {
                owner: owner.clone(),
                field: match auth {
                    Auth::Basic { .. } => "basic_auth",
                    Auth::Authorization { .. } => "authorization",
                }
                .into(),
                kind: ErrorKind::Credentials(e),
            })?;
        Ok(AuthHeader(Arc::new(Inner {
            owner: owner.clone(),
            auth: auth.clone(),
            current: Mutex::new(Current {
                value,
                read: None,
                failing: false,
            }),
        })))
    }

    /// The value for the next request, re-read first when it came from a
    /// file that changed.
    pub fn value(&self) -> HeaderValue {
        let mut current = self.0.current.lock();
        if let Some(path) = self.0.auth.secret().file() {
            self.refresh(&mut current, path);
        }
        current.value.clone()
    }

    fn refresh(&self, current: &mut Current, path: &Path) {
        let stamp = match std::fs::metadata(path) {
            Ok(m) => Stamp {
                modified: m.modified().ok(),
                len: m.len(),
            },
            Err(e) => return self.failed(current, path, &e),
        };
        if current.read == Some(stamp) {
            return;
        }
        current.read = Some(stamp);
        match std::fs::read(path) {
            Ok(bytes) => {
                // Trimmed, as when the config was loaded.
                let secret = String::from_utf8_lossy(&bytes);
                match self.0.auth.header(secret.trim()) {
                    Ok(value) => {
                        current.value = value;
                        current.failing = false;
                    }
                    Err(e) => self.failed(current, path, &e),
                }
            }
            Err(e) => self.failed(current, path, &e),
        }
    }

    fn failed(&self, current: &mut Current, path: &Path, e: &dyn std::error::Error) {
        if !current.failing {
            current.failing = true;
            tracing::warn!(
                client = %self.0.owner,
                file = %path.display(),
                error = %super::error_chain(e),
                "cannot re-read the credentials file; the previous credentials stay in use"
            );
        }
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthHeader")
            .field("auth", &self.0.auth)
            .finish_non_exhaustive()
    }
}

/// Standard base64 with padding (RFC 4648), for basic auth.
fn base64_encode(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::ScrapeJob("node".into())
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(i.as_bytes()), o);
        }
    }

    #[test]
    fn basic_auth_header_value() {
        let auth = Auth::Basic {
            username: "Aladdin".into(),
            password: Secret::inline("open sesame"),
        };
        let h = AuthHeader::new(&owner(), &auth).unwrap();
        // RFC 7617's example.
        assert_eq!(h.value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(h.value().is_sensitive());
        let auth = Auth::Authorization {
            kind: "Bearer".into(),
            credentials: Secret::inline("tok3n"),
        };
        assert_eq!(
            AuthHeader::new(&owner(), &auth).unwrap().value(),
            "Bearer tok3n"
        );
        let bad = Auth::Authorization {
            kind: "Bearer".into(),
            credentials: Secret::inline("a\nb"),
        };
        let e = AuthHeader::new(&owner(), &bad).unwrap_err();
        assert_eq!(e.field, "authorization");
        assert!(matches!(e.kind, ErrorKind::Credentials(_)));
    }

    #[test]
    fn a_rotated_token_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let auth = Auth::Authorization {
            kind: "Bearer".into(),
            credentials: Secret::from_file("first", path.clone()),
        };
        let h = AuthHeader::new(&owner(), &auth).unwrap();
        let clone = h.clone();
        assert_eq!(h.value(), "Bearer first");
        // Rotated, as the kubelet does: a new file put in place.
        let next = dir.path().join("token.new");
        std::fs::write(&next, "second-token\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(h.value(), "Bearer second-token");
        assert_eq!(clone.value(), "Bearer second-token");
        // Rewritten in place.
        std::fs::write(&path, "third-token-x").unwrap();
        assert_eq!(h.value(), "Bearer third-token-x");
        // Gone, or unusable: the last good value stays.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(h.value(), "Bearer third-token-x");
        std::fs::write(&path, "bad\nvalue\n").unwrap();
        assert_eq!(h.value(), "Bearer third-token-x");
        std::fs::write(&path, "fourth").unwrap();
        assert_eq!(h.value(), "Bearer fourth");
    }

    #[test]
    fn a_changed_password_file_changes_the_basic_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "pw1").unwrap();
        let auth = Auth::Basic {
            username: "u".into(),
            password: Secret::from_file("pw1", path.clone()),
        };
        let h = AuthHeader::new(&owner(), &auth).unwrap();
        assert_eq!(h.value(), format!("Basic {}", base64_encode(b"u:pw1")));
        std::fs::write(&path, "password-2").unwrap();
        assert_eq!(
            h.value(),
            format!("Basic {}", base64_encode(b"u:password-2"))
        );
    }
}
