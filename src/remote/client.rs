//! One endpoint's HTTP side: its client (built by [`crate::http_client`])
//! with the protocol headers of 1.0 or 2.0, and one POST of an encoded body,
//! classified into sent / retry / reject the way
//! Prometheus does (5xx and network errors retry, 429 retries when enabled,
//! other 4xx reject; `Retry-After` is honoured on retryable answers).

use super::RemoteError;
use super::settings::EndpointSettings;
use crate::config::ProtobufMessage;
use crate::http_client::{self, Auth, ErrorKind, HttpClient, HttpClientError, HttpSettings, Owner};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime};

/// The longest `Retry-After` honoured; longer values are capped so a
/// misbehaving receiver cannot park a shard for days.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

const VERSION_HEADER: &str = "x-prometheus-remote-write-version";
const SAMPLES_WRITTEN_HEADER: &str = "x-prometheus-remote-write-samples-written";

/// How one POST ended.
#[derive(Debug)]
pub(crate) enum SendOutcome {
    /// 2xx.
    Sent {
        /// The status.
        code: u16,
        /// The receiver's `X-Prometheus-Remote-Write-Samples-Written`, when
        /// it sent a valid one (2.0 receivers do).
        samples_written: Option<u64>,
    },
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
    http: HttpClient,
    url: reqwest::Url,
    /// The headers of every request; the configured ones are the client's
    /// defaults, the protocol's are added per request.
    headers: HeaderMap,
    retry_on_429: bool,
}

impl Client {
    pub fn new(s: &EndpointSettings) -> Result<Self, RemoteError> {
        let bad_url = |reason: String| RemoteError::Settings {
            endpoint: s.name.clone(),
            field: "url".into(),
            reason,
        };
        let url = reqwest::Url::parse(&s.url).map_err(|e| bad_url(format!("{:?}: {e}", s.url)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(bad_url(format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        let owner = Owner::RemoteWrite(s.name.clone());
        let auth = match (&s.basic_auth, &s.bearer_token) {
            (Some(_), Some(_)) => {
                return Err(HttpClientError {
                    owner,
                    field: "authorization".into(),
                    kind: ErrorKind::TwoAuthorizations,
                }
                .into());
            }
            (Some((username, password)), None) => Some(Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            (None, Some((kind, credentials))) => Some(Auth::Authorization {
                kind: if kind.is_empty() { "Bearer" } else { kind }.to_string(),
                credentials: credentials.clone(),
            }),
            (None, None) => None,
        };
        let settings = HttpSettings {
            tls: s.tls.clone(),
            auth,
            headers: s.headers.clone(),
            follow_redirects: true,
            timeout: s.timeout,
        };
        let http = http_client::build(&owner, url.scheme() == "https", &settings)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("levee/", env!("CARGO_PKG_VERSION"))),
        );
        Ok(Client {
            http,
            url,
            headers,
            retry_on_429: s.retry_on_429,
        })
    }

    /// POSTs one body encoded as `message`, with that protocol's
    /// `Content-Type` and `X-Prometheus-Remote-Write-Version`.
    pub async fn send(&self, body: Bytes, message: ProtobufMessage) -> SendOutcome {
        let (content_type, version) = match message {
            ProtobufMessage::V1 => ("application/x-protobuf", "0.1.0"),
            ProtobufMessage::V2 => (
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                "2.0.0",
            ),
        };
        let mut request = self
            .http
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(header::CONTENT_TYPE, content_type)
            .header(VERSION_HEADER, version);
        if let Some(auth) = &self.http.auth {
            request = request.header(header::AUTHORIZATION, auth.value());
        }
        let resp = request.body(body).send().await;
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return SendOutcome::Retry {
                    code: None,
                    after: None,
                    cause: http_client::error_chain(&e),
                };
            }
        };
        let code = resp.status().as_u16();
        let after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let samples_written = resp
            .headers()
            .get(SAMPLES_WRITTEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = read_prefix(&mut resp, 512).await;
        if (200..300).contains(&code) {
            SendOutcome::Sent {
                code,
                samples_written,
            }
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
    fn reserved_headers_and_double_auth_are_rejected() {
        let mut s = EndpointSettings::new("a", "http://127.0.0.1:1/api/v1/write");
        s.headers = vec![("Content-Type".into(), "text/plain".into())];
        assert!(
            matches!(Client::new(&s), Err(RemoteError::Http(e)) if e.field == "headers.Content-Type")
        );
        let mut s = EndpointSettings::new("a", "http://127.0.0.1:1/api/v1/write");
        s.basic_auth = Some(("u".into(), "p".into()));
        s.bearer_token = Some(("Bearer".into(), "t".into()));
        assert!(matches!(Client::new(&s), Err(RemoteError::Http(e)) if e.field == "authorization"));
        let s = EndpointSettings::new("a", "ftp://x/");
        assert!(
            matches!(Client::new(&s), Err(RemoteError::Settings { field, .. }) if field == "url")
        );
    }
}
