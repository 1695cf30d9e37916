//! `/api/v1/targets` in Prometheus' response shape, rendered from whatever
//! implements [`TargetsView`].

use crate::labels::Labels;
use crate::scrape::{TargetHealth, TargetsView};
use serde_json::{Map, Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// A label set as a JSON object, as the Prometheus API writes it.
pub(super) fn labels_json(labels: &Labels) -> Value {
    let mut m = Map::new();
    for l in labels {
        m.insert(l.name.into(), Value::String(l.value.into()));
    }
    Value::Object(m)
}

pub(super) fn render(view: &dyn TargetsView) -> String {
    let active: Vec<Value> = view
        .targets()
        .iter()
        .map(|t| {
            json!({
                "discoveredLabels": labels_json(&t.discovered_labels),
                "labels": labels_json(&t.labels),
                "scrapePool": t.job,
                "scrapeUrl": t.scrape_url,
                "globalUrl": t.scrape_url,
                "lastError": t.last_error,
                "lastScrape": t.last_scrape.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "lastScrapeDuration": t.last_scrape_duration.as_secs_f64(),
                "health": match t.health {
                    TargetHealth::Unknown => "unknown",
                    TargetHealth::Up => "up",
                    TargetHealth::Down => "down",
                },
                "scrapeInterval": t.scrape_interval,
                "scrapeTimeout": t.scrape_timeout,
            })
        })
        .collect();
    json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": []}})
        .to_string()
}

pub(super) fn render_empty() -> String {
    json!({"status": "success", "data": {"activeTargets": [], "droppedTargets": []}}).to_string()
}

/// Formats a time as RFC 3339 in UTC with millisecond precision.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
    }
}
