//! `levee cardinality`: asks a running levee's
//! `/api/v1/status/cardinality` and prints it as a table for an operator
//! in a shell.

use serde_json::Value;
use std::fmt::Write as _;

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CardinalityError {
    /// The request failed.
    #[error("GET {url}: {message}")]
    Http {
        /// The URL asked.
        url: String,
        /// What failed.
        message: String,
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
    #[error("GET {url}: unexpected response: {message}")]
    Format {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Fetches the cardinality of the levee at `base_url` (e.g.
/// `http://127.0.0.1:9310`) with `limit` labels per target, as a table.
pub async fn cardinality_report(base_url: &str, limit: usize) -> Result<String, CardinalityError> {
    let url = format!(
        "{}/api/v1/status/cardinality?limit={limit}",
        base_url.trim_end_matches('/')
    );
    let http = |message: String| CardinalityError::Http {
        url: url.clone(),
        message,
    };
    let client = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .map_err(|e| http(crate::http_client::error_chain(&e)))?;
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| http(crate::http_client::error_chain(&e)))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| http(crate::http_client::error_chain(&e)))?;
    if !status.is_success() {
        return Err(CardinalityError::Status {
            url,
            status: status.as_u16(),
            body,
        });
    }
    render_table(&body).map_err(|message| CardinalityError::Format { url, message })
}

/// The API's JSON as a table.
pub fn render_table(json: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("status {}: {}", v["status"], v["error"]));
    }
    let targets = v["data"]["targets"]
        .as_array()
        .ok_or("no data.targets list")?;
    let mut out = String::new();
    if targets.is_empty() {
        out.push_str("no guarded targets (no series_budget, fold_labels or guard.max_series)\n");
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "{:<40} {:>8} {:>8} {:>6} {:>8} {:>8}",
        "TARGET", "ACTIVE", "BUDGET", "ACTION", "SCRAPED", "FOLDED"
    );
    for t in targets {
        let instance = t["labels"]["instance"].as_str().unwrap_or_default();
        let name = format!("{}/{}", t["job"].as_str().unwrap_or_default(), instance);
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
        assert!(render_table("nope").unwrap_err().starts_with("not JSON"));
        assert!(render_table(r#"{"status":"error","error":"x"}"#).is_err());
        let empty = render_table(r#"{"status":"success","data":{"targets":[]}}"#).unwrap();
        assert!(empty.starts_with("no guarded targets"));
    }
}
