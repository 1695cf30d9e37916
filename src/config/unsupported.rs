//! Keys Prometheus (or levee's own roadmap) defines that levee does not
//! implement yet: found before decoding, reported as "not supported yet"
//! with their path and line, and removed so decoding can go on to find
//! other problems. To support a key later: delete its row here, add the
//! field to `raw` and `types` (for a top-level section such as `storage:`
//! or `guard:`, also to `raw::TOP_KEYS` and the match in
//! `raw::decode_root`), and resolve it in `resolve`.

use super::error::{ConfigPath as Path, Problem, ProblemKind};
use super::yaml::{Key, Node, Typed, Value};

/// When an unsupported key is still acceptable.
#[derive(Clone, Copy)]
enum Accept {
    /// Never.
    Never,
    /// When its value is null or empty (e.g. `rule_files:` with only comments).
    IfEmpty,
    /// When it is `false` (e.g. `send_exemplars: false`).
    IfFalse,
    /// When it is `0`, which means "no limit" (e.g. `target_limit: 0`).
    IfZero,
    /// When it names no target anywhere (the stock `alerting:` section with
    /// an empty `targets:`).
    IfNoTargets,
}

/// One unsupported key: name (or `*` prefix pattern), when it is acceptable,
/// and a hint for the user.
struct Row {
    key: &'static str,
    accept: Accept,
    hint: Option<&'static str>,
}

const fn row(key: &'static str, accept: Accept, hint: Option<&'static str>) -> Row {
    Row { key, accept, hint }
}

const TOP: &[Row] = &[
    row(
        "rule_files",
        Accept::IfEmpty,
        Some("levee evaluates no rules; an empty rule_files is accepted"),
    ),
    row(
        "alerting",
        Accept::IfNoTargets,
        Some("levee sends no alerts; an alerting section without Alertmanager targets is accepted"),
    ),
    row("remote_read", Accept::Never, None),
    row("tracing", Accept::Never, None),
];

const SD_HINT: Option<&str> =
    Some("levee does not implement this discovery; docs/discovery.md lists the kinds it has");

/// The `*_sd_configs` keys levee implements, exempt from the `*_sd_configs`
/// row that refuses every other kind. A discovery kind that lands adds its
/// key here, one line.
const SUPPORTED_SD: &[&str] = &[
    "file_sd_configs",       // discovery/file.rs
    "kubernetes_sd_configs", // discovery/kubernetes/provider.rs
    "kubelet_sd_configs",    // discovery/kubernetes/kubelet.rs
];

const SCRAPE: &[Row] = &[
    row("*_sd_configs", Accept::IfEmpty, SD_HINT),
    row("target_limit", Accept::IfZero, None),
    row("oauth2", Accept::Never, None),
    row("proxy_url", Accept::Never, None),
];

/// HTTP client keys of `kubernetes_sd_configs` entries levee does not
/// implement yet.
const SD_HTTP: &[Row] = &[
    row("oauth2", Accept::Never, None),
    row("proxy_url", Accept::Never, None),
];

const REMOTE_WRITE: &[Row] = &[
    row("oauth2", Accept::Never, None),
    row("sigv4", Accept::Never, None),
    row("azuread", Accept::Never, None),
    row("proxy_url", Accept::Never, None),
    row("send_exemplars", Accept::IfFalse, None),
    row("send_native_histograms", Accept::IfFalse, None),
];

const STORAGE: &[Row] = &[
    row(
        "tsdb",
        Accept::IfEmpty,
        Some("Prometheus' out-of-order window; levee refuses out-of-order samples"),
    ),
    row("exemplars", Accept::IfEmpty, None),
];

const TLS: &[Row] = &[
    row("min_version", Accept::Never, None),
    row("max_version", Accept::Never, None),
];

/// Reports and removes every unsupported key in `root`.
pub fn strip(root: &mut Node) -> Vec<Problem> {
    let mut problems = Vec::new();
    let top = Path::root();
    strip_rows(root, &top, TOP, &mut problems);
    if let Some(storage) = get_mut(root, "storage") {
        strip_rows(storage, &top.key("storage"), STORAGE, &mut problems);
    }
    for (section, rows) in [("scrape_configs", SCRAPE), ("remote_write", REMOTE_WRITE)] {
        let Some(Value::Seq(items)) = get_mut(root, section).map(|n| &mut n.value) else {
            continue;
        };
        let base = top.key(section);
        for (i, item) in items.iter_mut().enumerate() {
            let path = base.index(i);
            strip_rows(item, &path, rows, &mut problems);
            if let Some(tls) = get_mut(item, "tls_config") {
                strip_rows(tls, &path.key("tls_config"), TLS, &mut problems);
            }
            // The HTTP client keys of a Kubernetes discovery config.
            let Some(Value::Seq(sds)) =
                get_mut(item, "kubernetes_sd_configs").map(|n| &mut n.value)
            else {
                continue;
            };
            let base = path.key("kubernetes_sd_configs");
            for (j, sd) in sds.iter_mut().enumerate() {
                strip_rows(sd, &base.index(j), SD_HTTP, &mut problems);
                if let Some(tls) = get_mut(sd, "tls_config") {
                    strip_rows(tls, &base.index(j).key("tls_config"), TLS, &mut problems);
                }
            }
        }
    }
    problems
}

fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v),
        _ => None,
    }
}

fn strip_rows(node: &mut Node, path: &Path, rows: &[Row], problems: &mut Vec<Problem>) {
    let Value::Map(entries) = &mut node.value else {
        return;
    };
    entries.retain(|(key, value)| {
        let Some(row) = rows.iter().find(|r| matches_key(r.key, &key.name)) else {
            return true;
        };
        if !acceptable(row.accept, value) {
            problems.push(problem(path, key, row.hint));
        }
        false
    });
}

fn matches_key(pattern: &str, key: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => key.ends_with(suffix) && !SUPPORTED_SD.contains(&key),
        None => pattern == key,
    }
}

fn acceptable(accept: Accept, value: &Node) -> bool {
    match accept {
        Accept::Never => false,
        Accept::IfEmpty => value.is_empty(),
        Accept::IfFalse => matches!(
            value.value,
            Value::Null
                | Value::Scalar {
                    typed: Typed::Bool(false),
                    ..
                }
        ),
        Accept::IfZero => matches!(
            value.value,
            Value::Null
                | Value::Scalar {
                    typed: Typed::UInt(0),
                    ..
                }
        ),
        Accept::IfNoTargets => !names_targets(value),
    }
}

/// True if `node` holds a non-empty `targets` list or `*_sd_configs` anywhere.
fn names_targets(node: &Node) -> bool {
    match &node.value {
        Value::Map(entries) => entries.iter().any(|(k, v)| {
            ((k.name == "targets" || k.name.ends_with("_sd_configs")) && !v.is_empty())
                || names_targets(v)
        }),
        Value::Seq(items) => items.iter().any(names_targets),
        _ => false,
    }
}

fn problem(path: &Path, key: &Key, hint: Option<&str>) -> Problem {
    Problem {
        kind: ProblemKind::NotSupported,
        path: path.key(&key.name).to_string(),
        origin: Some(key.origin),
        message: "not supported yet".into(),
        hint: hint.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    fn messages(text: &str) -> (Vec<String>, Node) {
        let mut doc = parse(text).unwrap();
        let problems = strip(&mut doc);
        (problems.iter().map(|p| p.to_string()).collect(), doc)
    }

    #[test]
    fn reports_and_removes_unsupported_keys() {
        let (msgs, doc) = messages(
            "remote_read: []\nscrape_configs:\n  - job_name: a\n    consul_sd_configs: [{server: x}]\n    file_sd_configs: [{files: [x.json]}]\n",
        );
        assert_eq!(
            msgs,
            [
                "remote_read: not supported yet (line 1, column 1)",
                "scrape_configs[0].consul_sd_configs: not supported yet (line 4, column 5); \
                 levee does not implement this discovery; docs/discovery.md lists the kinds it has",
            ]
        );
        assert!(doc.get("remote_read").is_none());
        let job = &doc.get("scrape_configs").unwrap();
        let Value::Seq(jobs) = &job.value else {
            panic!()
        };
        assert!(jobs[0].get("consul_sd_configs").is_none());
        assert!(jobs[0].get("file_sd_configs").is_some());
    }

    #[test]
    fn accepts_inert_forms() {
        let (msgs, doc) = messages(
            "rule_files:\n  # - a.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets:\n\
             remote_write:\n  - url: http://x\n    send_exemplars: false\n",
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        assert!(doc.get("rule_files").is_none());
        assert!(doc.get("alerting").is_none());
    }

    #[test]
    fn rejects_alerting_with_targets() {
        let (msgs, _) = messages(
            "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['localhost:9093']\n",
        );
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].starts_with("alerting: not supported yet (line 1, column 1)"));
    }
}
