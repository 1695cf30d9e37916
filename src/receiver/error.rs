//! Why a request was refused as a whole, and the status each reason is
//! answered with.

use axum::http::StatusCode;

/// A request refused before any of its samples was stored.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// `max_concurrent_requests` requests are being served.
    #[error("too many concurrent requests (at most {limit}); retry later")]
    Saturated {
        /// `max_concurrent_requests`.
        limit: usize,
    },
    /// A `Content-Type` that names no protocol levee speaks.
    #[error(
        "unsupported Content-Type {value:?}: expected application/x-protobuf with proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request"
    )]
    UnsupportedContentType {
        /// The header as sent.
        value: String,
    },
    /// A `Content-Encoding` other than snappy.
    #[error("unsupported Content-Encoding {value:?}: only snappy (block format) is accepted")]
    UnsupportedEncoding {
        /// The header as sent.
        value: String,
    },
    /// The body is longer than `max_request_bytes` (by its `Content-Length`
    /// or as it streamed in).
    #[error("the request body is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// `max_request_bytes`.
        limit: u64,
    },
    /// The snappy header declares a decompressed size over the limit.
    #[error("the body decompresses to {declared} bytes, over the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The length the snappy header declares.
        declared: u64,
        /// `max_request_bytes`.
        limit: u64,
    },
    /// The body did not arrive within `read_timeout`.
    #[error("the request body did not arrive within {after:?}")]
    BodyTimeout {
        /// `read_timeout`.
        after: std::time::Duration,
    },
    /// Reading the body failed (the connection broke).
    #[error("reading the request body failed: {source}")]
    BodyRead {
        /// What the connection said.
        source: axum::Error,
    },
    /// An empty body.
    #[error("the request body is empty")]
    EmptyBody,
    /// The body is not snappy block format.
    #[error("the body is not snappy (block format): {source}")]
    Snappy {
        /// What the decoder said.
        source: snap::Error,
    },
    /// The decompressed body is not the protocol's message.
    #[error("the body is not a valid {message}: {source}")]
    Protobuf {
        /// The message expected.
        message: &'static str,
        /// What the decoder said (it names the field).
        source: prost::DecodeError,
    },
    /// The storage could not take the samples (an I/O error); nothing of the
    /// request was stored, and the sender should retry.
    #[error("storing the samples failed; nothing of this request was stored, retry later")]
    Storage,
    /// The request would take its source past its series budget
    /// (`budget_action: fail`): nothing of it was stored.
    #[error(transparent)]
    SeriesBudget(#[from] crate::guard::PushError),
    /// Decoding or storing panicked.
    #[error("the request could not be processed: {source}")]
    Panicked {
        /// The blocking task's report.
        source: tokio::task::JoinError,
    },
}

impl RequestError {
    /// The HTTP status the request is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Saturated { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::UnsupportedContentType { .. }
            | RequestError::UnsupportedEncoding { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestError::BodyTooLarge { .. } | RequestError::DecompressedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            RequestError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            RequestError::BodyRead { .. }
            | RequestError::EmptyBody
            | RequestError::Snappy { .. }
            | RequestError::Protobuf { .. }
            | RequestError::SeriesBudget(crate::guard::PushError::BudgetExceeded { .. }) => {
                StatusCode::BAD_REQUEST
            }
            RequestError::SeriesBudget(crate::guard::PushError::TooManySources { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            RequestError::Storage | RequestError::Panicked { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `reason` label of the request in self-metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::Saturated { .. } => "saturated",
            RequestError::UnsupportedContentType { .. } => "content_type",
            RequestError::UnsupportedEncoding { .. } => "content_encoding",
            RequestError::BodyTooLarge { .. } => "body_too_large",
            RequestError::DecompressedTooLarge { .. } => "decompressed_too_large",
            RequestError::BodyTimeout { .. } => "body_timeout",
            RequestError::BodyRead { .. } => "body_read",
            RequestError::EmptyBody => "empty_body",
            RequestError::Snappy { .. } => "snappy",
            RequestError::Protobuf { .. } => "protobuf",
            RequestError::Storage => "storage",
            RequestError::SeriesBudget(crate::guard::PushError::BudgetExceeded { .. }) => {
                "series_budget"
            }
            RequestError::SeriesBudget(crate::guard::PushError::TooManySources { .. }) => {
                "too_many_sources"
            }
            RequestError::Panicked { .. } => "panicked",
        }
    }
}
