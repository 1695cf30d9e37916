//! `GET /api/v1/status/cardinality`: per guarded target its active series,
//! budget, the label names with the most distinct values (with growth),
//! current folds and their kept (`keep_top`) values, in the Prometheus API
//! envelope. `?limit=N` sets how many labels per target (default 10).

use super::targets_api::{labels_json, rfc3339};
use crate::scrape::CardinalityTarget;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// Labels listed per target unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 10;
/// The most labels per target a request may ask for.
pub const MAX_LIMIT: usize = 1000;

/// The `limit` query parameter, or why it is bad.
pub fn parse_limit(query: Option<&str>) -> Result<usize, String> {
    let Some(query) = query else {
        return Ok(DEFAULT_LIMIT);
    };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("limit=") {
            return match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(format!(
                    "invalid limit {v:?}: expected an integer from 1 to {MAX_LIMIT}"
                )),
            };
        }
    }
    Ok(DEFAULT_LIMIT)
}

/// The response body for these targets.
pub fn render(targets: &[CardinalityTarget]) -> String {
    let list: Vec<Value> = targets
        .iter()
        .map(|t| {
            let c = &t.cardinality;
            json!({
                "job": t.job,
                "labels": labels_json(&t.labels),
                "activeSeries": c.active_series,
                "scrapedSeries": c.scraped_series,
                "seriesBudget": c.budget,
                "budgetAction": c.action.as_str(),
                "foldedSeries": c.folded_series,
                "topLabels": c.top_labels.iter().map(|l| json!({
                    "family": l.family,
                    "label": l.label,
                    "distinctValues": l.distinct,
                    "growthPerMinute": l.growth_per_min,
                })).collect::<Vec<_>>(),
                "folds": c.folds.iter().map(|f| json!({
                    "labels": f.labels,
                    "metric": f.metric,
                    "origin": f.origin,
                    "keptValues": f.kept_values,
                    "since": rfc3339(UNIX_EPOCH + Duration::from_millis(f.started_ms.max(0) as u64)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"status": "success", "data": {"targets": list}}).to_string()
}

/// The error body for a bad request.
pub fn render_error(message: &str) -> String {
    json!({"status": "error", "errorType": "bad_data", "error": message}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("x=1&limit=3")), Ok(3));
        assert_eq!(
            parse_limit(Some("limit=0")),
            Err("invalid limit \"0\": expected an integer from 1 to 1000".into())
        );
        assert!(parse_limit(Some("limit=abc")).is_err());
    }
}
