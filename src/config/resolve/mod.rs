//! From the config as written to the config as used: Prometheus 2.42's
//! defaults applied (job intervals from `global`, timeouts capped by the
//! interval, queue defaults), and every value checked, collecting every
//! problem with its key path and line.
//!
//! One file per section of `raw`: `global`, `scrape` (jobs and their static
//! targets), `remote_write` (endpoints, queue and metadata settings),
//! `storage`. The HTTP client keys are resolved in `config::http`, the
//! series budgets in `config::guard`.

mod global;
mod remote_write;
mod scrape;
mod storage;

use std::path::Path;

use super::duration::Duration;
use super::error::{ConfigPath, Problem, ProblemKind};
use super::raw::RawConfig;
use super::types::Config;
use super::yaml::Node;
use crate::labels::Labels;

/// What resolution needs: the tree (to locate problems), the directory
/// relative file names are taken from, and the problems found so far.
pub struct Ctx<'a> {
    pub(super) root: &'a Node,
    /// Directory of the config file, for relative file names.
    pub base_dir: Option<&'a Path>,
    problems: Vec<Problem>,
    pub(super) notes: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// A context for the document `root`.
    pub fn new(root: &'a Node, base_dir: Option<&'a Path>) -> Ctx<'a> {
        Ctx {
            root,
            base_dir,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records a problem at `path`.
    pub fn problem(&mut self, kind: ProblemKind, path: &ConfigPath, message: impl Into<String>) {
        self.problems
            .push(Problem::at(kind, path, self.root, message));
    }

    pub(super) fn note(&mut self, path: &ConfigPath, message: &str) {
        let at = path
            .locate(self.root)
            .and_then(|o| o.at)
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        self.notes.push(format!("{path}: {message}{at}"));
    }
}

/// Resolves a decoded config. Returns the config and the problems found;
/// the config is only meaningful when there are none.
pub fn resolve(raw: RawConfig, cx: &mut Ctx<'_>) -> (Config, Vec<Problem>) {
    let root = ConfigPath::root();
    let global = global::global(raw.global.unwrap_or_default(), &root.key("global"), cx);
    let guard = super::guard::resolve_guard(raw.guard, &root.key("guard"), cx);

    let base = root.key("scrape_configs");
    let scrape_configs = raw
        .scrape_configs
        .into_iter()
        .map(|(i, raw_job)| scrape::scrape_config(raw_job, &global, &guard, &base.index(i), cx))
        .collect();
    scrape::duplicate_job_names(&base, cx);

    let remote_write = remote_write::remote_writes(raw.remote_write, &root.key("remote_write"), cx);

    let storage = storage::storage(raw.storage.unwrap_or_default(), &root.key("storage"), cx);

    let mut raw_receiver = raw.receiver;
    let receiver_guard = raw_receiver.as_mut().map(|r| r.take_guard());
    let mut receiver = super::receiver::resolve_receiver(raw_receiver, &root.key("receiver"), cx);
    if let (Some(r), Some(g)) = (receiver.as_mut(), receiver_guard) {
        let path = root.key("receiver");
        r.guard = super::receiver_guard::resolve_receiver_guard(
            g,
            &guard,
            global.scrape_interval,
            &path,
            cx,
        );
    }

    let config = Config {
        global,
        scrape_configs,
        remote_write,
        guard,
        storage,
        receiver,
        notes: std::mem::take(&mut cx.notes),
    };
    (config, std::mem::take(&mut cx.problems))
}

pub(super) fn nonzero(d: &Duration) -> bool {
    !d.is_zero()
}

/// A scrape interval and timeout as written (zero or absent: unset), with
/// the defaults they fall back to: the timeout defaults to the default
/// timeout capped at the interval, and a timeout longer than the interval
/// is a problem at `path.scrape_timeout`, as Prometheus has it.
pub(super) fn interval_and_timeout(
    interval: Option<Duration>,
    timeout: Option<Duration>,
    defaults: (Duration, Duration),
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> (Duration, Duration) {
    let (default_interval, default_timeout) = defaults;
    let interval = interval.filter(nonzero).unwrap_or(default_interval);
    let timeout = match timeout.filter(nonzero) {
        Some(timeout) => {
            if timeout > interval {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("scrape_timeout"),
                    format!(
                        "scrape_timeout ({timeout}) is greater than scrape_interval ({interval})"
                    ),
                );
            }
            timeout
        }
        None => default_timeout.min(interval),
    };
    (interval, timeout)
}

/// Reports at `path` a `url` that is not an http or https URL with a host.
pub(in crate::config) fn check_http_url(url: &str, path: &ConfigPath, cx: &mut Ctx<'_>) {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        Ok(_) => cx.problem(
            ProblemKind::Invalid,
            path,
            format!("{url:?} is not an http or https URL"),
        ),
        Err(e) => cx.problem(
            ProblemKind::Invalid,
            path,
            format!("{url:?} is not a valid URL: {e}"),
        ),
    }
}

/// True for a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn labels(
    raw: impl IntoIterator<Item = (String, String)>,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Labels {
    let mut pairs = Vec::new();
    for (name, value) in raw {
        if valid_label_name(&name) {
            pairs.push((name, value));
        } else {
            cx.problem(
                ProblemKind::Invalid,
                &path.key(&name),
                format!("{name:?} is not a valid label name"),
            );
        }
    }
    Labels::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "A_1", "__name__"] {
            assert!(valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "ä"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
    }
}
