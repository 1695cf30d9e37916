//! Fetching a target's body: the [`Fetcher`] edge the scrape loop is
//! generic over, and its HTTP implementation.
//!
//! The body is handed over chunk by chunk as it arrives, so the parser never
//! needs it whole; the body size limit is enforced on decompressed bytes.

use super::error::ScrapeError;
use crate::http_client::AuthHeader;
use bytes::Bytes;
use std::future::Future;

/// One scrape request.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The full URL, with query parameters.
    pub url: String,
    /// Sent as `X-Prometheus-Scrape-Timeout-Seconds`.
    pub timeout: std::time::Duration,
}

/// A body being received.
pub trait BodyStream: Send {
    /// The response's Content-Type, used to pick the parser.
    fn content_type(&self) -> Option<&str>;
    /// The next piece of the (decompressed) body; `None` at the end.
    fn chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, ScrapeError>> + Send;
}

/// Starts fetches; one per target, shared by its scrape loop.
pub trait Fetcher: Send + Sync + 'static {
    /// The body type.
    type Body: BodyStream;
    /// Sends the request and returns the body once the status line and
    /// headers are in. Non-200 statuses are errors.
    fn fetch(
        &self,
        req: &FetchRequest,
    ) -> impl Future<Output = Result<Self::Body, ScrapeError>> + Send;
}

/// Fetches over HTTP(S) with reqwest, negotiating formats like Prometheus.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
    auth: Option<AuthHeader>,
}

impl HttpFetcher {
    /// A fetcher using `client` (configured with TLS, redirects, gzip) and
    /// the source of each request's `Authorization` header, both as
    /// [`crate::http_client::build`] makes them.
    pub fn new(client: reqwest::Client, auth: Option<AuthHeader>) -> Self {
        HttpFetcher { client, auth }
    }
}

/// A body arriving over HTTP.
pub struct HttpBody {
    response: reqwest::Response,
    content_type: Option<String>,
    timeout: std::time::Duration,
}

/// A client-side timeout is the scrape timeout (whichever of the client's
/// and the loop's clocks fires first); anything else is a connection error.
fn classify(e: reqwest::Error, timeout: std::time::Duration) -> ScrapeError {
    if e.is_timeout() {
        ScrapeError::Timeout(timeout)
    } else {
        ScrapeError::Connection(Box::new(e))
    }
}

impl BodyStream for HttpBody {
    fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, ScrapeError> {
        self.response
            .chunk()
            .await
            .map_err(|e| classify(e, self.timeout))
    }
}

impl Fetcher for HttpFetcher {
    type Body = HttpBody;

    async fn fetch(&self, req: &FetchRequest) -> Result<HttpBody, ScrapeError> {
        let mut builder = self
            .client
            .get(&req.url)
            .header(
                reqwest::header::ACCEPT,
                crate::exposition::SCRAPE_ACCEPT_HEADER,
            )
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", req.timeout.as_secs_f64()),
            );
        if let Some(auth) = &self.auth {
            builder = builder.header(reqwest::header::AUTHORIZATION, auth.value());
        }
        let response = builder.send().await.map_err(|e| classify(e, req.timeout))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(ScrapeError::HttpStatus(status));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(HttpBody {
            response,
            content_type,
            timeout: req.timeout,
        })
    }
}
