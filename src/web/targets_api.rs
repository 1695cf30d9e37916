//! `/api/v1/targets` in Prometheus 2.42's response shape (`activeTargets`,
//! `droppedTargets`, `?state=`), rendered from whatever implements
//! [`TargetsView`].

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

/// Which targets `?state=` asks for, as Prometheus 2.42 reads it: absent,
/// `any`, `active` or `dropped` (any case); another value asks for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wanted {
    active: bool,
    dropped: bool,
}

impl Wanted {
    /// From the request's query string.
    pub(super) fn from_query(query: Option<&str>) -> Wanted {
        let state = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == "state")
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        Wanted {
            active: matches!(state.as_str(), "" | "any" | "active"),
            dropped: matches!(state.as_str(), "" | "any" | "dropped"),
        }
    }
}

pub(super) fn render(view: Option<&dyn TargetsView>, wanted: Wanted) -> String {
    let host = hostname();
    let active: Vec<Value> = match view {
        Some(view) if wanted.active => view
            .targets()
            .iter()
            .map(|t| {
                json!({
                    "discoveredLabels": labels_json(&t.discovered_labels),
                    "labels": labels_json(&t.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.scrape_url,
                    "globalUrl": global_url(&t.scrape_url, &host),
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
            .collect(),
        _ => Vec::new(),
    };
    let dropped: Vec<Value> = match view {
        Some(view) if wanted.dropped => view
            .dropped()
            .iter()
            .map(|t| json!({"discoveredLabels": labels_json(&t.discovered_labels)}))
            .collect(),
        _ => Vec::new(),
    };
    json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": dropped}})
        .to_string()
}

/// The scrape URL as seen from elsewhere, as Prometheus shows it: a
/// loopback host (`127.0.0.1`, `localhost`, `::1`) becomes this machine's
/// name.
fn global_url(url: &str, host: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((h, port)) = authority.rsplit_once(':') else {
        return url.to_owned();
    };
    if matches!(h, "127.0.0.1" | "localhost" | "[::1]") {
        format!("{scheme}://{host}:{port}{path}")
    } else {
        url.to_owned()
    }
}

/// This machine's name (`localhost` when it cannot be read).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

/// Formats a time as RFC 3339 in UTC, as Go's `RFC3339Nano` writes it:
/// nanoseconds without trailing zeros, no fraction when they are all zero.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let nanos = format!(".{:09}", since.subsec_nanos());
    let fraction = nanos.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
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
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 158_558_929);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.158558929Z");
    }

    #[test]
    fn state_as_prometheus_reads_it() {
        let w = |q| Wanted::from_query(q);
        let both = Wanted {
            active: true,
            dropped: true,
        };
        assert_eq!(w(None), both);
        assert_eq!(w(Some("state=any")), both);
        assert_eq!(
            w(Some("x=1&state=Active")),
            Wanted {
                active: true,
                dropped: false
            }
        );
        assert_eq!(
            w(Some("state=dropped")),
            Wanted {
                active: false,
                dropped: true
            }
        );
        assert_eq!(
            w(Some("state=bogus")),
            Wanted {
                active: false,
                dropped: false
            }
        );
    }

    #[test]
    fn loopback_hosts_become_the_machine_name() {
        assert_eq!(
            global_url("http://127.0.0.1:9/metrics", "vm"),
            "http://vm:9/metrics"
        );
        assert_eq!(
            global_url("https://localhost:9/m?a=1", "vm"),
            "https://vm:9/m?a=1"
        );
        assert_eq!(
            global_url("http://[::1]:9/metrics", "vm"),
            "http://vm:9/metrics"
        );
        assert_eq!(
            global_url("http://127.0.0.2:9/metrics", "vm"),
            "http://127.0.0.2:9/metrics"
        );
        assert_eq!(global_url("http://h:9/metrics", "vm"), "http://h:9/metrics");
    }
}
