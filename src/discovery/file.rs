//! `file_sd_configs`: target groups read from JSON and YAML files, with
//! Prometheus' meaning. Each group of file `F` at position `i` has source
//! `F:i` and the label `__meta_filepath` = `F`.
//!
//! Change detection is a poll, not inotify: every [`CHECK_INTERVAL`] the
//! patterns are expanded again and each matched file is `stat`ed; a file
//! whose modification time or length changed (or that is new) is read
//! again, and every file is read again each `refresh_interval`. A poll
//! also sees what inotify misses (a Kubernetes ConfigMap's `..data`
//! symlink swapped, network filesystems), and costs one `stat` per file
//! per second. A file that no longer matches (deleted, renamed) removes
//! its groups; a file that fails to read or parse keeps the groups it had,
//! and the failure is logged and counted in
//! `levee_sd_file_read_errors_total`.

use super::{GroupSender, TargetGroup};
use crate::config::FileSdConfig;
use crate::labels::Labels;
use crate::selfmon::{Counter, Registry};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often matched files are checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Largest file read; a larger one is a read error (its groups are kept).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why a file's groups could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{} is {len} bytes, more than the {MAX_FILE_BYTES} read for discovery", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The JSON does not parse as a list of target groups.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
    /// The YAML does not parse as a list of target groups.
    #[error("{}: {source}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column), boxed: it is large.
        source: Box<serde_saphyr::Error>,
    },
    /// A group is `null`.
    #[error("{}: group {index} is null", path.display())]
    NullGroup {
        /// The file.
        path: PathBuf,
        /// Its position in the file.
        index: usize,
    },
    /// A label name is not valid.
    #[error("{}: group {index}: {name:?} is not a valid label name", path.display())]
    LabelName {
        /// The file.
        path: PathBuf,
        /// The group's position in the file.
        index: usize,
        /// The name.
        name: String,
    },
}

/// How a file is written, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`.
    Json,
    /// `.yml`, `.yaml`.
    Yaml,
}

impl Format {
    /// The format of `path` by its extension (anything but `.json` is
    /// YAML: config validation allows only the three).
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A group as written in JSON: unknown keys are ignored, as Prometheus'
/// `json.Unmarshal` ignores them; `null` lists are empty.
#[derive(Deserialize)]
struct RawGroup {
    targets: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// A group as written in YAML: unknown keys are errors, as Prometheus
/// reads YAML files strictly.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictRawGroup {
    targets: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
}

impl From<StrictRawGroup> for RawGroup {
    fn from(g: StrictRawGroup) -> RawGroup {
        RawGroup {
            targets: g.targets,
            labels: g.labels,
        }
    }
}

/// Parses the target groups of file `path` (named in errors, sources and
/// `__meta_filepath`) from its bytes.
pub fn parse(path: &Path, bytes: &[u8], format: Format) -> Result<Vec<TargetGroup>, FileSdError> {
    let raw: Vec<Option<RawGroup>> = match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|source| FileSdError::Json {
            path: path.to_owned(),
            source,
        })?,
        Format::Yaml => {
            let text = String::from_utf8_lossy(bytes);
            serde_saphyr::from_str::<Option<Vec<Option<StrictRawGroup>>>>(&text)
                .map_err(|source| FileSdError::Yaml {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
                .unwrap_or_default()
                .into_iter()
                .map(|g| g.map(RawGroup::from))
                .collect()
        }
    };
    let name = path.to_string_lossy();
    raw.into_iter()
        .enumerate()
        .map(|(index, group)| {
            let group = group.ok_or_else(|| FileSdError::NullGroup {
                path: path.to_owned(),
                index,
            })?;
            let group_labels = group.labels.unwrap_or_default();
            if let Some(bad) = group_labels
                .keys()
                .find(|n| !crate::config::valid_label_name(n))
            {
                return Err(FileSdError::LabelName {
                    path: path.to_owned(),
                    index,
                    name: bad.clone(),
                });
            }
            let mut labels: Vec<(String, String)> = group_labels.into_iter().collect();
            labels.push((FILEPATH_LABEL.to_owned(), name.to_string()));
            Ok(TargetGroup {
                source: source_of(path, index),
                targets: group
                    .targets
                    .unwrap_or_default()
                    .iter()
                    .map(|t| Labels::from_pairs([(super::ADDRESS_LABEL, t.as_str())]))
                    .collect(),
                labels: Labels::from_pairs(labels),
            })
        })
        .collect()
}

/// The source of group `index` of file `path`, as Prometheus names it.
fn source_of(path: &Path, index: usize) -> String {
    format!("{}:{index}", path.display())
}

/// The files `pattern` matches now: itself, or with a `*` in its last
/// segment, the regular files of its directory whose names match.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let Some(name) = pattern.file_name().and_then(|n| n.to_str()) else {
        return vec![pattern.to_owned()];
    };
    if !name.contains('*') {
        return vec![pattern.to_owned()];
    }
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// `*` matching any run of characters, everything else itself.
fn wildcard(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What a file looked like when it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

struct Seen {
    stamp: Stamp,
    /// Groups sent for the file (their sources are `F:0` … `F:n-1`).
    groups: usize,
}

/// One `file_sd_configs` entry being watched.
struct FileDiscovery {
    config: FileSdConfig,
    out: GroupSender,
    read_errors: Arc<Counter>,
    seen: HashMap<PathBuf, Seen>,
}

/// Starts watching `config`'s files, reporting to `out` until aborted.
pub fn spawn(
    config: FileSdConfig,
    out: GroupSender,
    registry: &Registry,
) -> tokio::task::JoinHandle<()> {
    let read_errors = registry.counter(
        "levee_sd_file_read_errors_total",
        "Files of file_sd_configs that failed to read or parse (their targets were kept).",
    );
    let mut fd = FileDiscovery {
        config,
        out,
        read_errors,
        seen: HashMap::new(),
    };
    tokio::spawn(async move {
        let refresh = fd.config.refresh_interval.as_std();
        let mut last_full: Option<Instant> = None;
        loop {
            let full = last_full.is_none_or(|t| t.elapsed() >= refresh);
            if full {
                last_full = Some(Instant::now());
            }
            // `stat` and reads block: they run on the blocking pool.
            fd = match tokio::task::spawn_blocking(move || {
                fd.scan(full);
                fd
            })
            .await
            {
                Ok(fd) => fd,
                Err(e) => {
                    tracing::error!(error = %e, "file_sd: the scan panicked; discovery of these files stopped");
                    return;
                }
            };
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    })
}

impl FileDiscovery {
    /// Expands the patterns, reads new and changed files (every file when
    /// `full`), and reports what changed.
    fn scan(&mut self, full: bool) {
        let matched: BTreeSet<PathBuf> = self.config.files.iter().flat_map(|p| expand(p)).collect();
        let mut changed = Vec::new();
        let mut present = BTreeSet::new();
        for path in matched {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let stamp = Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
            };
            present.insert(path.clone());
            let before = self.seen.get(&path);
            if !full && before.is_some_and(|s| s.stamp == stamp) {
                continue;
            }
            let had = before.map_or(0, |s| s.groups);
            match read(&path, stamp.len) {
                Ok(groups) => {
                    let n = groups.len();
                    changed.extend(groups);
                    // Positions the file no longer has lose their groups.
                    changed.extend((n..had).map(|i| empty(&path, i)));
                    self.seen.insert(path, Seen { stamp, groups: n });
                }
                Err(e) => {
                    self.read_errors.inc();
                    tracing::warn!(error = %e, "file_sd: keeping the file's previous targets");
                    // Read again when it changes or at the next refresh.
                    self.seen.insert(path, Seen { stamp, groups: had });
                }
            }
        }
        let gone: Vec<PathBuf> = self
            .seen
            .keys()
            .filter(|p| !present.contains(*p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(s) = self.seen.remove(&path) {
                tracing::info!(file = %path.display(), "file_sd: file gone, its targets removed");
                changed.extend((0..s.groups).map(|i| empty(&path, i)));
            }
        }
        self.out.send(changed);
    }
}

fn read(path: &Path, len: u64) -> Result<Vec<TargetGroup>, FileSdError> {
    if len > MAX_FILE_BYTES {
        return Err(FileSdError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| FileSdError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes, Format::of(path))
}

fn empty(path: &Path, index: usize) -> TargetGroup {
    TargetGroup {
        source: source_of(path, index),
        targets: Vec::new(),
        labels: Labels::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as ConfigDuration;

    fn addrs(g: &TargetGroup) -> Vec<&str> {
        g.targets
            .iter()
            .map(|t| t.get(super::super::ADDRESS_LABEL).unwrap_or(""))
            .collect()
    }

    #[test]
    fn json_and_yaml_read_alike() {
        let json = br#"[{"targets": ["127.0.0.1:1", "127.0.0.2:2"], "labels": {"env": "a"}}, {"targets": []}]"#;
        let yaml =
            b"- targets: ['127.0.0.1:1', '127.0.0.2:2']\n  labels: {env: a}\n- targets: []\n";
        let p = Path::new("/etc/t.json");
        let a = parse(p, json, Format::Json).unwrap();
        let b = parse(p, yaml, Format::Yaml).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].source, "/etc/t.json:0");
        assert_eq!(a[1].source, "/etc/t.json:1");
        assert_eq!(addrs(&a[0]), ["127.0.0.1:1", "127.0.0.2:2"]);
        assert_eq!(a[0].labels.get("env"), Some("a"));
        assert_eq!(a[0].labels.get(FILEPATH_LABEL), Some("/etc/t.json"));
    }

    #[test]
    fn an_empty_yaml_file_has_no_groups() {
        assert!(
            parse(Path::new("x.yml"), b"", Format::Yaml)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse(Path::new("x.yml"), b"# none\n", Format::Yaml)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let p = Path::new("t.json");
        assert!(matches!(
            parse(p, b"[{", Format::Json),
            Err(FileSdError::Json { .. })
        ));
        assert!(matches!(
            parse(p, b"{}", Format::Json),
            Err(FileSdError::Json { .. })
        ));
        assert!(matches!(
            parse(
                p,
                br#"[{"targets": ["a:1"], "labels": {"bad-name": "x"}}]"#,
                Format::Json
            ),
            Err(FileSdError::LabelName { index: 0, .. })
        ));
        assert!(matches!(
            parse(p, b"[null]", Format::Json),
            Err(FileSdError::NullGroup { index: 0, .. })
        ));
        assert!(matches!(
            parse(p, b"- targets: [a:1]\n  extra: 1\n", Format::Yaml),
            Err(FileSdError::Yaml { .. })
        ));
        // JSON ignores unknown keys and takes null lists, as Prometheus does.
        let g = parse(
            p,
            br#"[{"targets": ["a:1"], "labels": null, "x": 1}, {"targets": null}]"#,
            Format::Json,
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(addrs(&g[0]), ["a:1"]);
        assert!(g[1].targets.is_empty());
        let e = parse(p, b"[{\"targets\": 1}]", Format::Json).unwrap_err();
        assert!(e.to_string().starts_with("t.json: "), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.json", "a.json"));
        assert!(wildcard("*.json", ".json"));
        assert!(wildcard("t-*-x*.yml", "t-1-x2.yml"));
        assert!(!wildcard("*.json", "a.yml"));
        assert!(!wildcard("a*a", "a"));
        assert!(wildcard("exact.json", "exact.json"));
        assert!(!wildcard("exact.json", "exact.jsonx"));
    }

    #[test]
    fn a_glob_expands_to_matching_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a.json", "b.json", "c.yml"] {
            std::fs::write(dir.path().join(n), "[]").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.json")).unwrap();
        let got = expand(&dir.path().join("*.json"));
        // The directory matches the pattern; scanning skips it.
        assert_eq!(
            got,
            ["a.json", "b.json", "d.json"].map(|n| dir.path().join(n))
        );
        assert!(expand(&dir.path().join("none/*.json")).is_empty());
    }

    fn scanner(files: Vec<PathBuf>) -> (FileDiscovery, super::super::GroupReceiver, Registry) {
        let (out, rx) = super::super::group_channel();
        let reg = Registry::new();
        let fd = FileDiscovery {
            config: FileSdConfig {
                files,
                refresh_interval: ConfigDuration::from_secs(300),
            },
            out,
            read_errors: reg.counter("levee_sd_file_read_errors_total", "x"),
            seen: HashMap::new(),
        };
        (fd, rx, reg)
    }

    #[test]
    fn add_change_break_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.json");
        let (mut fd, mut rx, _reg) = scanner(vec![dir.path().join("*.json")]);
        fd.scan(true);
        assert!(rx.try_take().is_empty());

        std::fs::write(
            &f,
            r#"[{"targets": ["127.0.0.1:1"]}, {"targets": ["127.0.0.1:2"]}]"#,
        )
        .unwrap();
        fd.scan(false);
        let got = rx.try_take();
        assert_eq!(got.len(), 2);
        assert_eq!(addrs(&got[1]), ["127.0.0.1:2"]);

        // Unchanged: nothing read, nothing sent.
        fd.scan(false);
        assert!(rx.try_take().is_empty());

        // One group fewer (and a different length): its source is emptied.
        std::fs::write(&f, r#"[{"targets": ["127.0.0.1:3"]}]"#).unwrap();
        fd.scan(false);
        let got = rx.try_take();
        assert_eq!(got.len(), 2);
        assert_eq!(addrs(&got[0]), ["127.0.0.1:3"]);
        assert!(got[1].targets.is_empty());

        // Broken: nothing sent, counted once.
        std::fs::write(&f, "[{").unwrap();
        fd.scan(false);
        fd.scan(false);
        assert!(rx.try_take().is_empty());
        assert_eq!(fd.read_errors.get(), 1);
        assert_eq!(fd.seen[&f].groups, 1);

        // Deleted: its group is emptied.
        std::fs::remove_file(&f).unwrap();
        fd.scan(false);
        let got = rx.try_take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].source, format!("{}:0", f.display()));
        assert!(got[0].targets.is_empty());
        assert!(fd.seen.is_empty());
    }
}
