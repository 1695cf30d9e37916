//! Why a scrape failed. Every failure makes `up` 0 and is counted in
//! `levee_scrape_failures_total{reason}`.

/// A failed scrape.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The whole scrape (request and body) took longer than scrape_timeout.
    #[error("scrape timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Connecting or reading failed: the HTTP client's error (a
    /// `reqwest::Error` for HTTP targets), shown with its causes.
    #[error("{}", crate::http_client::error_chain(.0.as_ref()))]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The target answered with a status other than 200.
    #[error("server returned HTTP status {0}")]
    HttpStatus(reqwest::StatusCode),
    /// The (decompressed) body grew past body_size_limit.
    #[error("body size limit exceeded: more than {limit} bytes")]
    BodySizeLimit {
        /// The configured limit.
        limit: u64,
    },
    /// The body is not valid exposition text.
    #[error("parse error: {0}")]
    Parse(#[source] crate::exposition::ParseError),
    /// More samples than sample_limit after metric relabeling.
    #[error("sample_limit exceeded: more than {limit} samples")]
    SampleLimit {
        /// The configured limit.
        limit: u64,
    },
    /// A series had more labels than label_limit.
    #[error("label_limit exceeded: series {series} has {got} labels, limit {limit}")]
    LabelLimit {
        /// The offending series.
        series: String,
        /// Its label count.
        got: usize,
        /// The configured limit.
        limit: u64,
    },
    /// A label name longer than label_name_length_limit.
    #[error("label_name_length_limit exceeded: label name {name:?} is {got} bytes, limit {limit}")]
    LabelNameLength {
        /// The offending name (truncated for the message).
        name: String,
        /// Its length.
        got: usize,
        /// The configured limit.
        limit: u64,
    },
    /// A label value longer than label_value_length_limit.
    #[error(
        "label_value_length_limit exceeded: value of label {name:?} is {got} bytes, limit {limit}"
    )]
    LabelValueLength {
        /// The label whose value is too long.
        name: String,
        /// The value's length.
        got: usize,
        /// The configured limit.
        limit: u64,
    },
    /// `budget_action: fail` and the scrape has more series than the budget.
    #[error("{0}")]
    SeriesBudget(crate::guard::GuardError),
}

impl ScrapeError {
    /// The `reason` label value for `levee_scrape_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::Connection(_) => "connection",
            ScrapeError::HttpStatus(_) => "http_status",
            ScrapeError::BodySizeLimit { .. } => "body_size_limit",
            ScrapeError::Parse(_) => "parse",
            ScrapeError::SampleLimit { .. } => "sample_limit",
            ScrapeError::LabelLimit { .. } => "label_limit",
            ScrapeError::LabelNameLength { .. } => "label_name_length_limit",
            ScrapeError::LabelValueLength { .. } => "label_value_length_limit",
            ScrapeError::SeriesBudget(_) => "series_budget",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{ErrorKind, ParseError};
    use std::error::Error as _;

    #[test]
    fn causes_stay_typed_and_messages_stay_as_they_were() {
        let e = ScrapeError::Parse(ParseError {
            line: 12,
            column: 5,
            kind: ErrorKind::WhitespaceBeforeName,
        });
        assert_eq!(
            e.to_string(),
            "parse error: line 12, column 5: whitespace before the metric name"
        );
        let source = e.source().and_then(|s| s.downcast_ref::<ParseError>());
        assert_eq!(source.map(|p| (p.line, p.column)), Some((12, 5)));

        let e = ScrapeError::HttpStatus(reqwest::StatusCode::NOT_FOUND);
        assert_eq!(e.to_string(), "server returned HTTP status 404 Not Found");
        assert_eq!(e.reason(), "http_status");

        let e = ScrapeError::Connection("connection refused".into());
        assert_eq!(e.to_string(), "connection refused");
        assert_eq!(e.reason(), "connection");
    }
}
