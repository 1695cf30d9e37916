//! One endpoint's HTTP side: the reqwest client (TLS, auth, headers) and one
//! POST of an encoded body, classified into sent / retry / reject the way
//! Prometheus does (5xx and network errors retry, 429 retries when enabled,
//! other 4xx reject; `Retry-After` is honoured on retryable answers).

use super::RemoteError;
use super::settings::{EndpointSettings, TlsSettings};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

/// Headers the protocol owns; configured headers may not set them.
const RESERVED: &[&str] = &[
    "content-encoding",
    "content-type",
    "user-agent",
    "x-prometheus-remote-write-version",
    "content-length",
    "host",
];

/// The longest `Retry-After` honoured; longer values are capped so a
/// misbehaving receiver cannot park a shard for days.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// How one POST ended.
#[derive(Debug)]
pub(crate) enum SendOutcome {
    /// 2xx.
    Sent(u16),
    /// Worth retrying: network error, timeout, 5xx, or 429 when enabled.
    Retry {
        /// Status, or `None` when no response arrived.
        code: Option<u16>,
        /// The receiver's `Retry-After`, when it gave a usable one.
        after: Option<Duration>,
        /// Human-readable cause for the log.
        cause: String,
    },
    /// Not retryable: the batch is dropped.
    Reject {
        /// The status code.
        code: u16,
        /// Start of the response body, for the log.
        body: String,
    },
}

/// The HTTP client of one endpoint.
pub(crate) struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    retry_on_429: bool,
}

impl Client {
    pub fn new(s: &EndpointSettings) -> Result<Self, RemoteError> {
        let bad = |field: &str, reason: String| RemoteError::Settings {
            endpoint: s.name.clone(),
            field: field.to_string(),
            reason,
        };
        let url =
            reqwest::Url::parse(&s.url).map_err(|e| bad("url", format!("{:?}: {e}", s.url)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad(
                "url",
                format!("scheme {:?} is not http or https", url.scheme()),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("levee/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
        for (name, value) in &s.headers {
            let field = format!("headers.{name}");
            if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(bad(
                    &field,
                    "is set by the remote-write protocol and cannot be overridden".into(),
                ));
            }
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(&field, format!("invalid header name: {e}")))?;
            let v = HeaderValue::from_str(value)
                .map_err(|e| bad(&field, format!("invalid header value: {e}")))?;
            headers.append(n, v);
        }
        let auth = match (&s.basic_auth, &s.bearer_token) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "authorization",
                    "basic_auth and authorization are mutually exclusive".into(),
                ));
            }
            (Some((user, pass)), None) => Some(format!(
                "Basic {}",
                base64_encode(format!("{user}:{pass}").as_bytes())
            )),
            (None, Some((kind, creds))) => {
                let kind = if kind.is_empty() { "Bearer" } else { kind };
                Some(format!("{kind} {creds}"))
            }
            (None, None) => None,
        };
        if let Some(auth) = auth {
            if headers.contains_key(header::AUTHORIZATION) {
                return Err(bad(
                    "headers.Authorization",
                    "conflicts with basic_auth/authorization".into(),
                ));
            }
            let mut v = HeaderValue::from_str(&auth)
                .map_err(|e| bad("authorization", format!("invalid credentials: {e}")))?;
            v.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, v);
        }
        let builder = reqwest::Client::builder()
            .timeout(s.timeout)
            .pool_idle_timeout(Duration::from_secs(90));
        let builder = if url.scheme() == "https" {
            tls(builder, &s.tls, &s.name)?
        } else {
            // Plain HTTP: no roots needed, so a host without CA certificates
            // still builds the client.
            builder.tls_certs_only([])
        };
        let http = builder.build().map_err(|e| RemoteError::Client {
            endpoint: s.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Client {
            http,
            url,
            headers,
            retry_on_429: s.retry_on_429,
        })
    }

    /// POSTs one encoded body.
    pub async fn send(&self, body: Bytes) -> SendOutcome {
        let resp = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await;
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return SendOutcome::Retry {
                    code: None,
                    after: None,
                    cause: error_chain(&e),
                };
            }
        };
        let code = resp.status().as_u16();
        let after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_prefix(&mut resp, 512).await;
        if (200..300).contains(&code) {
            SendOutcome::Sent(code)
        } else if code >= 500 || (code == 429 && self.retry_on_429) {
            SendOutcome::Retry {
                code: Some(code),
                after,
                cause: format!("HTTP {code}: {body}"),
            }
        } else {
            SendOutcome::Reject { code, body }
        }
    }
}

pub(crate) fn tls(
    mut b: reqwest::ClientBuilder,
    t: &TlsSettings,
    endpoint: &str,
) -> Result<reqwest::ClientBuilder, RemoteError> {
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| RemoteError::Tls {
            endpoint: endpoint.to_string(),
            field: field.to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let invalid = |field: &str, path: &std::path::Path, e: reqwest::Error| RemoteError::Tls {
        endpoint: endpoint.to_string(),
        field: field.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if t.server_name.is_some() {
        return Err(RemoteError::Settings {
            endpoint: endpoint.to_string(),
            field: "tls_config.server_name".into(),
            reason: "not supported yet".into(),
        });
    }
    if let Some(path) = &t.ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read("tls_config.ca_file", path)?)
            .map_err(|e| invalid("tls_config.ca_file", path, e))?;
        if certs.is_empty() {
            return Err(RemoteError::Tls {
                endpoint: endpoint.to_string(),
                field: "tls_config.ca_file".into(),
                path: path.clone(),
                reason: "no PEM certificate found".into(),
            });
        }
        b = b.tls_certs_only(certs);
    }
    match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let mut pem = read("tls_config.cert_file", cert)?;
            pem.push(b'\n');
            pem.extend(read("tls_config.key_file", key)?);
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| invalid("tls_config.cert_file", cert, e))?;
            b = b.identity(id);
        }
        (None, None) => {}
        (Some(p), None) | (None, Some(p)) => {
            return Err(RemoteError::Tls {
                endpoint: endpoint.to_string(),
                field: "tls_config".into(),
                path: p.clone(),
                reason: "cert_file and key_file must be given together".into(),
            });
        }
    }
    if t.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    Ok(b)
}

/// Reads at most `limit` bytes of the body as (lossy) text.
async fn read_prefix(resp: &mut reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(limit - buf.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).trim().to_string()
}

/// An error with its sources, e.g. `error sending request: connection refused`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Parses `Retry-After`: delay seconds or an HTTP date (relative to `now`),
/// capped at [`MAX_RETRY_AFTER`]. `None` when unparsable; a date in the past
/// gives zero.
pub(crate) fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

pub(crate) fn base64_encode(input: &[u8]) -> String {
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

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // RFC 9110's example date is 784111777 s after the epoch.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
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
    fn reserved_headers_and_double_auth_are_rejected() {
        let mut s = EndpointSettings::new("a", "http://127.0.0.1:1/api/v1/write");
        s.headers = vec![("Content-Type".into(), "text/plain".into())];
        assert!(
            matches!(Client::new(&s), Err(RemoteError::Settings { field, .. }) if field == "headers.Content-Type")
        );
        let mut s = EndpointSettings::new("a", "http://127.0.0.1:1/api/v1/write");
        s.basic_auth = Some(("u".into(), "p".into()));
        s.bearer_token = Some(("Bearer".into(), "t".into()));
        assert!(
            matches!(Client::new(&s), Err(RemoteError::Settings { field, .. }) if field == "authorization")
        );
        let s = EndpointSettings::new("a", "ftp://x/");
        assert!(
            matches!(Client::new(&s), Err(RemoteError::Settings { field, .. }) if field == "url")
        );
    }
}
