//! Content negotiation: the `Accept` header a scrape sends and the choice of
//! parser from the `Content-Type` a target answers with, both as Prometheus
//! 2.42 does them.

/// The `Accept` header Prometheus 2.42 sends with every scrape: OpenMetrics
/// 1.0.0 preferred, then OpenMetrics 0.0.1, then text 0.0.4, then anything.
pub const SCRAPE_ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Which text exposition format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// Chooses the parser for a response's `Content-Type` the way Prometheus
    /// 2.42 does: OpenMetrics only when the media type is
    /// `application/openmetrics-text` (case-insensitive, parameters ignored,
    /// any `version`); a missing, malformed or other type falls back to the
    /// Prometheus text format.
    pub fn from_content_type(ct: Option<&str>) -> Format {
        match ct {
            Some(ct) if is_openmetrics(ct) => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }
}

/// True when `ct` parses as a media type (RFC 7231 syntax, as Go's
/// `mime.ParseMediaType` checks it) whose type is
/// `application/openmetrics-text`.
fn is_openmetrics(ct: &str) -> bool {
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/openmetrics-text") {
        return false;
    }
    // Go's parser rejects malformed parameters, and Prometheus then falls
    // back to the text parser.
    let params: Vec<&str> = parts.map(str::trim).collect();
    let last = params.len().saturating_sub(1);
    params.iter().enumerate().all(|(i, param)| {
        if param.is_empty() {
            // Go tolerates one trailing `;`, not an empty parameter inside.
            return i == last;
        }
        let Some((key, value)) = param.split_once('=') else {
            return false;
        };
        let key = key.trim();
        let value = value.trim();
        is_token(key) && (is_token(value) || is_quoted(value))
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_openmetrics_only_for_its_media_type() {
        let cases = [
            (None, Format::PrometheusText),
            (Some(""), Format::PrometheusText),
            (Some("text/plain; version=0.0.4"), Format::PrometheusText),
            (Some("text/plain"), Format::PrometheusText),
            (Some("application/json"), Format::PrometheusText),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                Format::OpenMetrics,
            ),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("Application/OpenMetrics-Text;version=0.0.1"),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text; version=\"1.0.0\""),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text; version"),
                Format::PrometheusText,
            ),
            (
                Some("application/openmetrics-text; =1"),
                Format::PrometheusText,
            ),
            (
                Some("application/openmetrics-textx"),
                Format::PrometheusText,
            ),
        ];
        for (ct, want) in cases {
            assert_eq!(Format::from_content_type(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn accept_header_prefers_openmetrics() {
        let first = SCRAPE_ACCEPT_HEADER.split(',').next();
        assert_eq!(first, Some("application/openmetrics-text;version=1.0.0"));
        assert!(SCRAPE_ACCEPT_HEADER.contains("text/plain;version=0.0.4;q=0.5"));
        assert!(SCRAPE_ACCEPT_HEADER.ends_with("*/*;q=0.1"));
    }
}
