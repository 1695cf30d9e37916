//! Which protocol a request speaks and whether its body is encoded as
//! levee can read it, from its `Content-Type` and `Content-Encoding`
//! headers, as the remote-write 2.0 specification has receivers decide.

use super::error::RequestError;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};

/// The media type of every remote-write body.
const PROTOBUF: &str = "application/x-protobuf";
/// The `proto` parameter of a 1.0 request.
const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto` parameter of a 2.0 request.
const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// A remote-write protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    /// The version as self-metrics label it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::V1 => "1.0",
            Protocol::V2 => "2.0",
        }
    }
}

/// The protocol `headers` ask for: no `Content-Type`, or
/// `application/x-protobuf` without a `proto` parameter or with
/// `proto=prometheus.WriteRequest`, is 1.0; `proto=io.prometheus.write.v2.Request`
/// is 2.0; anything else is refused (415). The body must be snappy (block
/// format); a missing `Content-Encoding` is taken as snappy, as 1.0 senders
/// that leave it out mean it.
pub fn negotiate(headers: &HeaderMap) -> Result<Protocol, RequestError> {
    if let Some(encoding) = headers.get(CONTENT_ENCODING) {
        let ok = encoding
            .to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("snappy"));
        if !ok {
            return Err(RequestError::UnsupportedEncoding {
                value: String::from_utf8_lossy(encoding.as_bytes()).into_owned(),
            });
        }
    }
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(Protocol::V1);
    };
    let unsupported = || RequestError::UnsupportedContentType {
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    };
    let text = value.to_str().map_err(|_| unsupported())?;
    let mut parts = text.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(PROTOBUF) {
        return Err(unsupported());
    }
    let mut protocol = Protocol::V1;
    for param in parts {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("proto") {
            protocol = match val.trim().trim_matches('"') {
                PROTO_V1 => Protocol::V1,
                PROTO_V2 => Protocol::V2,
                _ => return Err(unsupported()),
            };
        }
    }
    Ok(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ask(content_type: Option<&str>, encoding: Option<&str>) -> Result<Protocol, u16> {
        let mut h = HeaderMap::new();
        if let Some(t) = content_type {
            h.insert(CONTENT_TYPE, HeaderValue::from_str(t).expect("a header"));
        }
        if let Some(e) = encoding {
            h.insert(
                CONTENT_ENCODING,
                HeaderValue::from_str(e).expect("a header"),
            );
        }
        negotiate(&h).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn content_type_chooses_the_protocol_as_the_2_0_spec_says() {
        let v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
        for (ct, enc, want) in [
            (None, None, Ok(Protocol::V1)),
            (
                Some("application/x-protobuf"),
                Some("snappy"),
                Ok(Protocol::V1),
            ),
            (
                Some("application/x-protobuf; proto=prometheus.WriteRequest"),
                Some("snappy"),
                Ok(Protocol::V1),
            ),
            (Some(v2), Some("snappy"), Ok(Protocol::V2)),
            (Some(v2), None, Ok(Protocol::V2)),
            (Some("application/x-protobuf;proto=foo.Bar"), None, Err(415)),
            (Some("application/json"), None, Err(415)),
            (Some(v2), Some("gzip"), Err(415)),
            (None, Some("zstd"), Err(415)),
        ] {
            assert_eq!(ask(ct, enc), want, "{ct:?} {enc:?}");
        }
    }
}
