//! `levee cardinality`: asks a running levee's
//! `/api/v1/status/cardinality` and prints it as a table for an operator
//! in a shell.

use serde_json::Value;
use std::fmt::Write as _;

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CardinalityError {
    /// The request failed.
    #[error("GET {url}: {}", crate::http_client::error_chain(source))]
    Http {
        /// The URL asked.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// levee answered with an error.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
        /// The body (the API's error message).
        body: String,
    },
    /// The answer is not the API's JSON.
    #[error("GET {url}: unexpected response: {source}")]
    Format {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
}

/// What is wrong with an answer that is not the API's JSON.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// It does not parse.
    #[error("not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The API reports a failure.
    #[error("status {status}: {error}")]
    Failed {
        /// The `status` field.
        status: Value,
        /// The `error` field.
        error: Value,
    },
    /// It has no `data.targets` list.
    #[error("no data.targets list")]
    NoTargets,
}

/// Fetches the cardinality of the levee at `base_url` (e.g.
/// `http://127.0.0.1:9310`) with `limit` labels per target, as a table.
pub async fn cardinality_report(base_url: &str, limit: usize) -> Result<String, CardinalityError> {
    let url = format!(
        "{}/api/v1/status/cardinality?limit={limit}",
        base_url.trim_end_matches('/')
    );
    let http = |source| CardinalityError::Http {
        url: url.clone(),
        source,
    };
    let client = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .map_err(http)?;
    let resp = client.get(&url).send().await.map_err(http)?;
    let status = resp.status();
    let body = resp.text().await.map_err(http)?;
    if !status.is_success() {
        return Err(CardinalityError::Status {
            url,
            status: status.as_u16(),
            body,
        });
    }
    render_table(&body).map_err(|source| CardinalityError::Format { url, source })
}

/// The API's JSON as a table.
pub fn render_table(json: &str) -> Result<String, FormatError> {
    let v: Value = serde_json::from_str(json).map_err(FormatError::Json)?;
    if v["status"] != "success" {
        return Err(FormatError::Failed {
            status: v["status"].clone(),
            error: v["error"].clone(),
        });
    }
    let targets = v["data"]["targets"]
        .as_array()
        .ok_or(FormatError::NoTargets)?;
    let mut out = String::new();
    if targets.is_empty() {
        out.push_str(
            "no guarded targets or sources (no series_budget, fold_labels or guard.max_series)\n",
        );
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "{:<40} {:>8} {:>8} {:>6} {:>8} {:>8}",
        "TARGET", "ACTIVE", "BUDGET", "ACTION", "SCRAPED", "FOLDED"
    );
    for t in targets {
        let name = match t["source"].as_str() {
            // A remote-write source (`"kind": "source"`).
            Some(source) if t["kind"] == "source" => format!("source {source}"),
            _ => {
                let instance = t["labels"]["instance"].as_str().unwrap_or_default();
                format!("{}/{}", t["job"].as_str().unwrap_or_default(), instance)
            }
        };
        let budget = match t["seriesBudget"].as_u64() {
            Some(0) | None => "-".to_string(),
            Some(b) => b.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>8} {:>6} {:>8} {:>8}",
            name,
            t["activeSeries"],
            budget,
            t["budgetAction"].as_str().unwrap_or_default(),
            t["scrapedSeries"],
            t["foldedSeries"],
        );
        for f in t["folds"].as_array().into_iter().flatten() {
            let labels: Vec<&str> = f["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let kept: Vec<&str> = f["keptValues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let metric = f["metric"]
                .as_str()
                .map(|m| format!(" on {m}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  fold [{}] {}{} since {}{}",
                f["origin"].as_str().unwrap_or_default(),
                labels.join("+"),
                metric,
                f["since"].as_str().unwrap_or_default(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!(", keeping {}", kept.join(", "))
                },
            );
        }
        for l in t["topLabels"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {:<38} {:<28} {:>8} distinct {:>8.1}/min",
                l["family"].as_str().unwrap_or_default(),
                l["label"].as_str().unwrap_or_default(),
                l["distinctValues"],
                l["growthPerMinute"].as_f64().unwrap_or(0.0),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_api_json() {
        let json = r#"{"status":"success","data":{"targets":[{"job":"istio","labels":{"instance":"p:15090","job":"istio"},
            "activeSeries":50,"scrapedSeries":7500,"seriesBudget":600,"budgetAction":"fold","foldedSeries":7500,
            "topLabels":[{"family":"istio_requests_total","label":"destination_service","distinctValues":300,"growthPerMinute":120.0}],
            "folds":[{"labels":["destination_service","destination_workload"],"metric":null,"origin":"auto","keptValues":[],"since":"2026-11-29T08:00:00.000Z"}]}]}}"#;
        let table = render_table(json).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("TARGET"));
        assert!(lines[1].starts_with("istio/p:15090"));
        assert!(
            lines[1].contains(" 50 ") && lines[1].contains(" 600 ") && lines[1].contains("fold")
        );
        assert_eq!(
            lines[2],
            "  fold [auto] destination_service+destination_workload since 2026-11-29T08:00:00.000Z"
        );
        assert!(lines[3].contains("destination_service") && lines[3].contains("300 distinct"));
        assert!(lines[3].ends_with("120.0/min"));
    }

    #[test]
    fn errors_are_reported() {
        let e = render_table("nope").unwrap_err();
        assert!(e.to_string().starts_with("not JSON"), "{e}");
        assert!(matches!(e, FormatError::Json(_)));
        assert_eq!(
            render_table(r#"{"status":"error","error":"x"}"#)
                .unwrap_err()
                .to_string(),
            r#"status "error": "x""#
        );
        let empty = render_table(r#"{"status":"success","data":{"targets":[]}}"#).unwrap();
        assert!(empty.starts_with("no guarded targets"));
    }

    #[test]
    fn sources_are_listed_beside_targets() {
        let json = r#"{"status":"success","data":{"targets":[
            {"kind":"target","job":"node","labels":{"instance":"n:9100","job":"node"},"activeSeries":10,
             "scrapedSeries":10,"seriesBudget":0,"budgetAction":"fold","foldedSeries":0,"topLabels":[],"folds":[]},
            {"kind":"source","source":"tenant-a","labels":{"source":"tenant-a"},"activeSeries":7,
             "scrapedSeries":9000,"seriesBudget":40,"budgetAction":"fold","foldedSeries":8990,"topLabels":[],"folds":[]}]}}"#;
        let table = render_table(json).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[1].starts_with("node/n:9100"), "{table}");
        assert!(lines[2].starts_with("source tenant-a"), "{table}");
        assert!(
            lines[2].contains(" 40 ") && lines[2].contains(" 8990"),
            "{table}"
        );
    }

    #[tokio::test]
    async fn a_failed_request_keeps_the_client_error_and_renders_its_chain() {
        let e = cardinality_report("http://127.0.0.1:1/", 3)
            .await
            .unwrap_err();
        let url = "http://127.0.0.1:1/api/v1/status/cardinality?limit=3";
        let CardinalityError::Http { source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            e.to_string(),
            format!("GET {url}: {}", crate::http_client::error_chain(source))
        );
        assert!(
            std::error::Error::source(&e).is_some_and(|c| c.is::<reqwest::Error>()),
            "{e:?}"
        );
    }
}
