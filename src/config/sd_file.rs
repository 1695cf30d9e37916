//! `file_sd_configs`: target groups read from JSON or YAML files, as
//! Prometheus 2.42 has them (`files` with a `*` glob in the last path
//! segment, `refresh_interval` default 5m). Relative file names are taken
//! from the config file's directory.

use std::path::PathBuf;

use serde::Deserialize;

use super::duration::Duration;
use super::error::{ConfigPath, ProblemKind};
use super::resolve::Ctx;

/// One entry of `file_sd_configs:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSdConfig {
    pub files: Option<Vec<String>>,
    pub refresh_interval: Option<Duration>,
}

/// One entry of `file_sd_configs:`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileSdConfig {
    /// File names or patterns (`*` in the last segment), relative ones
    /// joined to the config file's directory.
    pub files: Vec<PathBuf>,
    /// How often every file is read again even when it looks unchanged
    /// (default 5m).
    pub refresh_interval: Duration,
}

/// Prometheus' default `refresh_interval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// True for a name Prometheus accepts for file discovery: no `*` before
/// the last segment, at most a glob in it, and a `.json`, `.yml` or
/// `.yaml` extension (all lower or all upper case).
pub fn valid_file_sd_name(name: &str) -> bool {
    let glob_ok = match name.find('*') {
        Some(at) => !name[at..].contains('/'),
        None => true,
    };
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|ext| name.strip_suffix(ext).is_some_and(|s| s.ends_with('.')));
    glob_ok && ext_ok
}

pub(super) fn resolve_file_sd(
    raw: RawFileSdConfig,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> FileSdConfig {
    let names = raw.files.unwrap_or_default();
    if names.is_empty() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("files"),
            "file service discovery config must contain at least one path name",
        );
    }
    let files_path = path.key("files");
    let files = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            if !valid_file_sd_name(name) {
                cx.problem(
                    ProblemKind::Invalid,
                    &files_path.index(i),
                    format!(
                        "path name {name:?} is not valid for file discovery \
                         (a .json, .yml or .yaml file; `*` only in the last path segment)"
                    ),
                );
                return None;
            }
            // As Prometheus joins them: `.` adds nothing (the name is also
            // the targets' `__meta_filepath`).
            Some(match cx.base_dir {
                Some(dir)
                    if std::path::Path::new(name).is_relative()
                        && dir != std::path::Path::new(".") =>
                {
                    dir.join(name)
                }
                _ => PathBuf::from(name),
            })
        })
        .collect();
    let refresh_interval = match raw.refresh_interval {
        None => DEFAULT_REFRESH_INTERVAL,
        Some(d) if d.is_zero() => {
            cx.problem(
                ProblemKind::Invalid,
                &path.key("refresh_interval"),
                "refresh_interval must be greater than zero",
            );
            DEFAULT_REFRESH_INTERVAL
        }
        Some(d) => d,
    };
    FileSdConfig {
        files,
        refresh_interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_prometheus_validates_them() {
        for ok in [
            "a.json",
            "dir/a.yml",
            "/abs/dir/*.yaml",
            "dir/pre*post.JSON",
            "dir/*x*.yml",
        ] {
            assert!(valid_file_sd_name(ok), "{ok}");
        }
        for bad in ["a.txt", "a", "*/a.json", "d*/x/a.json", "a.Json", "json"] {
            assert!(!valid_file_sd_name(bad), "{bad}");
        }
    }
}
