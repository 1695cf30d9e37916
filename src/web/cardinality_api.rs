//! `GET /api/v1/status/cardinality`: per guarded target and per guarded
//! remote-write source (`"kind": "target"` / `"source"`, in one list) its
//! active series, budget, the label names with the most distinct values
//! (with growth), current folds and their kept (`keep_top`) values, in the
//! Prometheus API envelope. `?limit=N` sets how many labels per entry
//! (default 10).

use super::targets_api::{labels_json, rfc3339};
use crate::guard::TargetCardinality;
use crate::labels::Labels;
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

/// The response body for these targets and sources (name, cardinality).
pub fn render(targets: &[CardinalityTarget], sources: &[(String, TargetCardinality)]) -> String {
    let mut list: Vec<Value> = targets
        .iter()
        .map(|t| entry("target", &t.job, &t.labels, &t.cardinality))
        .collect();
    for (name, c) in sources {
        let labels = Labels::from_pairs([("source", name.clone())]);
        let mut e = entry("source", "", &labels, c);
        e["source"] = json!(name);
        list.push(e);
    }
    json!({"status": "success", "data": {"targets": list}}).to_string()
}

fn entry(kind: &str, job: &str, labels: &Labels, c: &TargetCardinality) -> Value {
    let mut e = json!({
        "kind": kind,
        "labels": labels_json(labels),
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
    });
    if kind == "target" {
        e["job"] = json!(job);
    }
    e
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

    #[test]
    fn sources_are_entries_of_their_own_kind() {
        let c = TargetCardinality {
            active_series: 7,
            scraped_series: 9000,
            budget: 40,
            action: crate::guard::BudgetAction::Fold,
            folded_series: 8990,
            top_labels: Vec::new(),
            folds: Vec::new(),
        };
        let body = render(&[], &[("tenant-a".into(), c)]);
        let v: Value = serde_json::from_str(&body).unwrap();
        let e = &v["data"]["targets"][0];
        assert_eq!(e["kind"], "source");
        assert_eq!(e["source"], "tenant-a");
        assert_eq!(e["labels"]["source"], "tenant-a");
        assert_eq!(
            (e["activeSeries"].as_u64(), e["seriesBudget"].as_u64()),
            (Some(7), Some(40))
        );
        assert!(e.get("job").is_none());
    }
}
