//! The one list of headers no configuration may set, and the check every
//! configured header passes: at config load, and again when
//! [`crate::http_client`] builds a client from settings made in code.

use reqwest::header::{HeaderName, HeaderValue, InvalidHeaderName, InvalidHeaderValue};

/// Headers levee's clients or the HTTP layer set themselves, lower-case.
///
/// This is what Prometheus refuses in a remote-write `headers:` block: its
/// `reservedHeaders` list (`Host`, the content and hop-by-hop headers, the
/// remote write and remote read protocol version headers) plus
/// `Authorization`, which Prometheus refuses in a separate check (credentials
/// go in `basic_auth` or `authorization`). Prometheus' SigV4 headers
/// (`X-Amz-*`) are not listed: levee has no SigV4.
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
];

/// Why a configured header cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The name is in [`RESERVED_HEADERS`].
    #[error("is a reserved header and cannot be set")]
    Reserved,
    /// Not a valid header name.
    #[error("is not a valid header name")]
    Name(#[source] InvalidHeaderName),
    /// The value holds bytes a header cannot carry.
    #[error("has a value that is not a valid header value")]
    Value(#[source] InvalidHeaderValue),
}

/// Checks one configured header and returns it ready to send.
pub fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), HeaderError> {
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(HeaderError::Reserved);
    }
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(HeaderError::Name)?;
    let value = HeaderValue::from_str(value).map_err(HeaderError::Value)?;
    Ok((name, value))
}
