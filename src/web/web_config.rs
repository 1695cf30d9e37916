//! Prometheus' web configuration file (`--web.config.file`, the
//! exporter-toolkit format): `tls_server_config` (served by `tls.rs`) and
//! `basic_auth_users` (user → bcrypt hash), plus levee's
//! `levee_unauthenticated_paths`. Unknown keys are refused by name.
//!
//! The file is read at start (a bad file refuses the start) and, as
//! Prometheus does, again while serving: [`WebConfigSource::current`] is
//! asked on every connection and every request and re-reads the file when
//! its modification time or size changed. A file that turns bad while
//! levee runs is logged and the last good one stays in force (Prometheus
//! would fail every request instead; levee neither locks the operator out
//! nor opens up on a typo). Relative paths are relative to the file's
//! directory, as in Prometheus.
//!
//! Successful and failed bcrypt verifications are cached as the
//! exporter-toolkit does (bcrypt is slow on purpose), keyed by a secret
//! 128-bit SipHash of user, stored hash and the password given, so only
//! the same password for the same hash ever finds an entry.

use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Why the web config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file cannot be read.
    #[error("web config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape (an unknown key is
    /// named here).
    #[error("web config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: Box<serde_saphyr::Error>,
    },
    /// A value is invalid or not supported.
    #[error("web config file {path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, as in the file (`tls_server_config.min_version`).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A certificate, key or CA file of `tls_server_config` cannot be
    /// used.
    #[error("web config file {path}: {key} {file}: {source}")]
    TlsFile {
        /// The web config file.
        path: PathBuf,
        /// The key naming the file.
        key: &'static str,
        /// The certificate, key or CA file.
        file: PathBuf,
        /// What failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// rustls refused the certificate and key.
    #[error("web config file {path}: tls_server_config: {source}")]
    Tls {
        /// The web config file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    /// levee's extension: paths served without authentication.
    #[serde(default)]
    levee_unauthenticated_paths: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsServerConfig {
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
}

/// Whether and how clients present certificates (`client_auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default): none asked for.
    None,
    /// `VerifyClientCertIfGiven`: optional, verified against the CA when
    /// given.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified.
    RequireAndVerify,
}

/// A TLS protocol version (`min_version`, `max_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// `tls_server_config`, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerSettings {
    /// The server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// Client certificates.
    pub client_auth: ClientAuth,
    /// CAs client certificates are verified against (PEM).
    pub client_ca_file: Option<PathBuf>,
    /// Oldest version accepted (default TLS 1.2, as Prometheus).
    pub min_version: TlsVersion,
    /// Newest version accepted (default TLS 1.3).
    pub max_version: TlsVersion,
}

/// A valid web config.
#[derive(Debug)]
pub struct WebConfig {
    /// TLS, when configured.
    pub tls: Option<TlsServerSettings>,
    /// The TLS server config built from `tls` (certificates read).
    pub(super) server_tls: Option<Arc<rustls::ServerConfig>>,
    /// user → bcrypt hash; empty: no authentication.
    users: BTreeMap<String, String>,
    /// Paths served without authentication.
    open_paths: Vec<String>,
}

impl WebConfig {
    /// Parses and checks the web config `text` of the file `path` (whose
    /// directory relative paths are resolved against), and reads its
    /// certificates.
    pub fn parse(path: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
        let raw: RawWebConfig = match text.trim().is_empty() {
            true => RawWebConfig::default(),
            false => serde_saphyr::from_str(text).map_err(|source| WebConfigError::Parse {
                path: path.to_path_buf(),
                source: Box::new(source),
            })?,
        };
        let invalid = |key: &str, reason| WebConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        for (user, hash) in &raw.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(invalid(
                    &format!("basic_auth_users.{user}"),
                    "not a bcrypt hash",
                ));
            }
        }
        for p in &raw.levee_unauthenticated_paths {
            if !p.starts_with('/') {
                return Err(invalid(
                    "levee_unauthenticated_paths",
                    "every path starts with /",
                ));
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = match raw.tls_server_config {
            None => None,
            Some(t) => Some(tls_settings(t, dir, &invalid)?),
        };
        let server_tls = match &tls {
            Some(t) => Some(super::tls::server_config(path, t)?),
            None => None,
        };
        Ok(WebConfig {
            tls,
            server_tls,
            users: raw.basic_auth_users,
            open_paths: raw.levee_unauthenticated_paths,
        })
    }

    /// Whether a request for `path` needs credentials.
    pub fn requires_auth(&self, path: &str) -> bool {
        !self.users.is_empty() && !self.open_paths.iter().any(|p| p == path)
    }
}

fn tls_settings(
    t: RawTlsServerConfig,
    dir: &Path,
    invalid: &dyn Fn(&str, &'static str) -> WebConfigError,
) -> Result<TlsServerSettings, WebConfigError> {
    let key = |k: &str| format!("tls_server_config.{k}");
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    let cert_file = t
        .cert_file
        .ok_or_else(|| invalid(&key("cert_file"), "missing (key_file needs it)"))?;
    let key_file = t
        .key_file
        .ok_or_else(|| invalid(&key("key_file"), "missing (cert_file needs it)"))?;
    let client_auth = match t.client_auth_type.as_deref() {
        None | Some("NoClientCert") => ClientAuth::None,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
        Some("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(invalid(
                &key("client_auth_type"),
                "levee verifies every client certificate it accepts: use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ));
        }
        Some(_) => {
            return Err(invalid(
                &key("client_auth_type"),
                "expected NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ));
        }
    };
    if client_auth != ClientAuth::None && t.client_ca_file.is_none() {
        return Err(invalid(
            &key("client_ca_file"),
            "required when client_auth_type verifies client certificates",
        ));
    }
    let version = |k: &str, v: Option<&str>, default| match v {
        None => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some("TLS10" | "TLS11") => Err(invalid(
            &key(k),
            "TLS 1.0 and 1.1 are not supported (rustls); use TLS12 or TLS13",
        )),
        Some(_) => Err(invalid(&key(k), "expected TLS12 or TLS13")),
    };
    let min_version = version("min_version", t.min_version.as_deref(), TlsVersion::Tls12)?;
    let max_version = version("max_version", t.max_version.as_deref(), TlsVersion::Tls13)?;
    if max_version < min_version {
        return Err(invalid(&key("max_version"), "older than min_version"));
    }
    Ok(TlsServerSettings {
        cert_file: resolve(cert_file),
        key_file: resolve(key_file),
        client_auth,
        client_ca_file: t.client_ca_file.map(resolve),
        min_version,
        max_version,
    })
}

/// The web config file while levee serves: re-read when it changes, with
/// the bcrypt verification cache.
pub struct WebConfigSource {
    path: PathBuf,
    state: Mutex<Loaded>,
    cache: Mutex<HashMap<u128, bool>>,
    cache_key: (u64, u64),
}

struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    config: Arc<WebConfig>,
}

/// Most cached verifications; the cache is emptied when full.
const CACHE_ENTRIES: usize = 100;

impl WebConfigSource {
    /// Reads and checks the file: an error refuses the start.
    pub fn open(path: &Path) -> Result<WebConfigSource, WebConfigError> {
        let (stamp, config) = read(path)?;
        Ok(WebConfigSource {
            path: path.to_path_buf(),
            state: Mutex::new(Loaded {
                stamp,
                config: Arc::new(config),
            }),
            cache: Mutex::new(HashMap::new()),
            cache_key: (secret_word(), secret_word()),
        })
    }

    /// The config in force: the file is re-read when its modification
    /// time or size changed; a file that turned bad is logged and the last
    /// good config returned.
    pub fn current(&self) -> Arc<WebConfig> {
        let now = stamp(&self.path);
        let mut state = self.state.lock();
        if now.is_some() && now == state.stamp {
            return state.config.clone();
        }
        match read(&self.path) {
            Ok((stamp, config)) => {
                if config.tls.is_some() != state.config.tls.is_some() {
                    tracing::error!(path = %self.path.display(), "web config file: TLS was turned on or off; that needs a restart, the last good web config stays in force");
                } else {
                    tracing::info!(path = %self.path.display(), "web config file reloaded");
                    state.config = Arc::new(config);
                    self.cache.lock().clear();
                }
                state.stamp = stamp;
            }
            Err(e) => {
                tracing::error!(error = %e, "web config file: cannot use the changed file; the last good one stays in force");
                state.stamp = now;
            }
        }
        state.config.clone()
    }

    /// Whether `user` with `password` is one of `config`'s users.
    pub fn verify(&self, config: &WebConfig, user: &str, password: &str) -> bool {
        let Some(hash) = config.users.get(user) else {
            return false;
        };
        let key = self.key(user, hash, password);
        if let Some(&ok) = self.cache.lock().get(&key) {
            return ok;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }

    fn key(&self, user: &str, hash: &str, password: &str) -> u128 {
        use std::hash::Hasher;
        let mut h =
            siphasher::sip128::SipHasher13::new_with_keys(self.cache_key.0, self.cache_key.1);
        for part in [user, hash, password] {
            h.write_usize(part.len());
            h.write(part.as_bytes());
        }
        siphasher::sip128::Hasher128::finish128(&h).as_u128()
    }
}

/// A secret word for the cache key, from the OS's randomness (std's
/// `RandomState` is seeded from it).
fn secret_word() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read(path: &Path) -> Result<(Option<(SystemTime, u64)>, WebConfig), WebConfigError> {
    let before = stamp(path);
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((before, WebConfig::parse(path, &text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(Path::new("/etc/levee/web.yml"), text)
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        for (text, names) in [
            ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
            ("tls_server_config:\n  cert: x\n", "cert"),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file",
            ),
            (
                "tls_server_config:\n  key_file: k\n",
                "tls_server_config.cert_file",
            ),
            (
                "levee_unauthenticated_paths: [metrics]\n",
                "levee_unauthenticated_paths",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(names), "{text}: {err}");
            assert!(err.contains("/etc/levee/web.yml"), "{err}");
        }
    }

    #[test]
    fn an_empty_file_asks_for_nothing_and_open_paths_skip_auth() {
        let empty = parse("").expect("empty is valid");
        assert!(!empty.requires_auth("/metrics"));
        assert!(empty.tls.is_none());
        let hash = bcrypt::hash("x", 4).expect("hash");
        let cfg = parse(&format!(
            "basic_auth_users:\n  alice: '{hash}'\nlevee_unauthenticated_paths: [/metrics]\n"
        ))
        .expect("valid");
        assert!(!cfg.requires_auth("/metrics"));
        assert!(cfg.requires_auth("/-/healthy"));
        assert!(cfg.requires_auth("/metrics/"));
    }

    #[test]
    fn verification_is_cached_per_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("web.yml");
        let hash = bcrypt::hash("secret", 4).expect("hash");
        std::fs::write(&path, format!("basic_auth_users:\n  alice: '{hash}'\n")).expect("write");
        let source = WebConfigSource::open(&path).expect("valid");
        let cfg = source.current();
        for _ in 0..2 {
            assert!(source.verify(&cfg, "alice", "secret"));
            assert!(!source.verify(&cfg, "alice", "wrong"));
            assert!(!source.verify(&cfg, "bob", "secret"));
        }
        assert_eq!(source.cache.lock().len(), 2, "one entry per password tried");
    }
}
