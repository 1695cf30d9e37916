//! `storage:`: the TSDB's directory, retention, WAL and block settings.

use super::Ctx;
use crate::config::duration::Duration;
use crate::config::error::{ConfigPath, ProblemKind};
use crate::config::raw::RawStorage;
use crate::config::types::{StorageConfig, WalSync};

pub(super) fn storage(raw: RawStorage, path: &ConfigPath, cx: &mut Ctx<'_>) -> StorageConfig {
    let defaults = StorageConfig::default();
    let wal_sync = match raw.wal_sync.as_deref() {
        None => defaults.wal_sync,
        Some("always") => WalSync::Always,
        Some("never") => WalSync::Never,
        Some(text) => match Duration::parse(text) {
            Ok(d) if !d.is_zero() => WalSync::Interval(d),
            Ok(_) => WalSync::Always,
            Err(e) => {
                cx.problem(
                    ProblemKind::Invalid,
                    &path.key("wal_sync"),
                    format!(
                        "{text:?}: expected `always`, `never` or a duration such as `1s` ({e})"
                    ),
                );
                defaults.wal_sync
            }
        },
    };
    let block_range = raw.block_range.unwrap_or(defaults.block_range);
    if block_range.as_std() < std::time::Duration::from_secs(1) {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("block_range"),
            format!("{block_range} is too short: at least 1s"),
        );
    }
    let wal_segment_size = raw.wal_segment_size.unwrap_or(defaults.wal_segment_size);
    if wal_segment_size.0 < 64 << 10 {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("wal_segment_size"),
            "must be at least 64KiB",
        );
    }
    if raw.path.as_deref() == Some("") {
        cx.problem(ProblemKind::Invalid, &path.key("path"), "must not be empty");
    }
    StorageConfig {
        path: raw.path.filter(|p| !p.is_empty()).map(Into::into),
        retention: raw.retention.unwrap_or(defaults.retention),
        retention_size: raw.retention_size.filter(|s| s.0 > 0),
        wal_sync,
        wal_segment_size,
        block_range,
        wal_max_size: raw.wal_max_size.filter(|s| s.0 > 0),
        wal_max_lag: raw.wal_max_lag.filter(|d| !d.is_zero()),
    }
}
