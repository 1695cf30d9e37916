//! The HTTP client keys shared by scrape jobs and remote write
//! (`basic_auth`, `authorization`, the deprecated `bearer_token[_file]`,
//! `tls_config`, `follow_redirects`, `enable_http2`): validated as
//! Prometheus validates them, with secret and certificate files read now.

use std::path::{Path, PathBuf};

use super::error::{ConfigPath, ProblemKind};
use super::raw::{RawAuthorization, RawBasicAuth, RawHttp, RawTlsConfig};
use super::resolve::Ctx;
use super::types::{Authorization, BasicAuth, FileContents, HttpClientConfig, Secret, TlsConfig};

/// Resolves the HTTP client keys found at `path`.
pub fn resolve_http(raw: RawHttp, path: &ConfigPath, cx: &mut Ctx<'_>) -> HttpClientConfig {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let auth_kinds = [
        raw.basic_auth.is_some(),
        raw.authorization.is_some(),
        set(&raw.bearer_token) || set(&raw.bearer_token_file),
    ];
    if auth_kinds.iter().filter(|set| **set).count() > 1 {
        cx.problem(
            ProblemKind::Invalid,
            path,
            "at most one of basic_auth, authorization and bearer_token/bearer_token_file may be set",
        );
    }
    let basic_auth = raw
        .basic_auth
        .map(|b| basic_auth(b, &path.key("basic_auth"), cx));
    let mut authorization = raw
        .authorization
        .map(|a| authorization(a, &path.key("authorization"), cx));
    if authorization.is_none() {
        let bearer = secret(
            raw.bearer_token,
            raw.bearer_token_file,
            ("bearer_token", "bearer_token_file"),
            path,
            cx,
        );
        authorization = bearer.map(|credentials| Authorization {
            kind: "Bearer".into(),
            credentials,
        });
    }
    let tls_config = raw
        .tls_config
        .map(|t| tls(t, &path.key("tls_config"), cx))
        .unwrap_or_default();
    HttpClientConfig {
        basic_auth,
        authorization,
        tls_config,
        follow_redirects: raw.follow_redirects.unwrap_or(true),
        enable_http2: raw.enable_http2.unwrap_or(true),
    }
}

fn basic_auth(raw: RawBasicAuth, path: &ConfigPath, cx: &mut Ctx<'_>) -> BasicAuth {
    let password = secret(
        raw.password,
        raw.password_file,
        ("password", "password_file"),
        path,
        cx,
    );
    BasicAuth {
        username: raw.username.unwrap_or_default(),
        password: password.unwrap_or_else(|| Secret::inline("")),
    }
}

fn authorization(raw: RawAuthorization, path: &ConfigPath, cx: &mut Ctx<'_>) -> Authorization {
    let kind = raw
        .kind
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "Bearer".into());
    if kind.eq_ignore_ascii_case("basic") {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("type"),
            r#"authorization type cannot be "Basic", use basic_auth instead"#,
        );
    }
    let credentials = secret(
        raw.credentials,
        raw.credentials_file,
        ("credentials", "credentials_file"),
        path,
        cx,
    );
    Authorization {
        kind,
        credentials: credentials.unwrap_or_else(|| Secret::inline("")),
    }
}

/// An inline secret or one read from a file (trimmed, as Prometheus does).
/// An empty string counts as not set, as in Prometheus.
fn secret(
    inline: Option<String>,
    file: Option<String>,
    (inline_key, file_key): (&str, &str),
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Option<Secret> {
    let inline = inline.filter(|s| !s.is_empty());
    let file = file.filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => {
            cx.problem(
                ProblemKind::Invalid,
                &path.key(file_key),
                format!("at most one of {inline_key} and {file_key} may be set"),
            );
            None
        }
        (Some(value), None) => Some(Secret::inline(value)),
        (None, Some(file)) => {
            let contents = read_file(&file, &path.key(file_key), cx)?;
            let text = String::from_utf8_lossy(&contents.bytes).trim().to_owned();
            Some(Secret::from_file(text, contents.path))
        }
        (None, None) => None,
    }
}

fn tls(raw: RawTlsConfig, path: &ConfigPath, cx: &mut Ctx<'_>) -> TlsConfig {
    let mut read = |name: Option<String>, key: &str| {
        name.filter(|n| !n.is_empty())
            .and_then(|n| read_file(&n, &path.key(key), cx))
    };
    let ca = read(raw.ca_file, "ca_file");
    let cert = read(raw.cert_file, "cert_file");
    let key = read(raw.key_file, "key_file");
    match (&cert, &key) {
        (Some(_), None) => cx.problem(
            ProblemKind::Invalid,
            &path.key("cert_file"),
            "cert_file needs key_file as well",
        ),
        (None, Some(_)) => cx.problem(
            ProblemKind::Invalid,
            &path.key("key_file"),
            "key_file needs cert_file as well",
        ),
        _ => {}
    }
    TlsConfig {
        ca,
        cert,
        key,
        server_name: raw.server_name.filter(|s| !s.is_empty()),
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
    }
}

/// Reads a file named in the config; relative names are taken from the
/// config file's directory, as Prometheus does.
fn read_file(name: &str, path: &ConfigPath, cx: &mut Ctx<'_>) -> Option<FileContents> {
    let full: PathBuf = match cx.base_dir {
        Some(dir) if Path::new(name).is_relative() => dir.join(name),
        _ => PathBuf::from(name),
    };
    match std::fs::read(&full) {
        Ok(bytes) => Some(FileContents { path: full, bytes }),
        Err(err) => {
            cx.problem(
                ProblemKind::File,
                path,
                format!("cannot read {}: {err}", full.display()),
            );
            None
        }
    }
}
