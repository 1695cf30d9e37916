//! The `receiver:` section: levee's remote-write receiver (`POST
//! /api/v1/write`), as written and resolved. The section's presence turns
//! the receiver on (as `--web.enable-remote-write-receiver` does); its keys
//! bound what one request may cost. Semantics: `docs/receiver.md`.

use serde::Deserialize;

use super::duration::Duration;
use super::error::{ConfigPath, ProblemKind};
use super::resolve::Ctx;
use super::size::ByteSize;

/// The default cap on a request's body and on its decompressed size
/// (32 MiB, as vmagent's `-maxInsertRequestSize`).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 32 << 20;
/// The default number of requests decoded and stored at once.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 16;
/// The default time a sender has to deliver a request's body.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 30_000;
/// The default header naming a request's source.
pub const DEFAULT_SOURCE_HEADER: &str = "X-Scope-OrgID";

/// `receiver:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub max_request_bytes: Option<ByteSize>,
    pub max_concurrent_requests: Option<usize>,
    pub read_timeout: Option<Duration>,
    pub source_header: Option<String>,
    // Budget keys, moved out by `take_guard` (src/config/receiver_guard.rs).
    pub series_budget: Option<u64>,
    pub budget_action: Option<String>,
    pub keep_top: Option<u64>,
    pub overflow_value: Option<String>,
    pub gauge_fold: Option<String>,
    pub fold_labels: Option<Vec<super::guard::RawFoldLabels>>,
    pub fold_interval: Option<Duration>,
    pub max_sources: Option<u64>,
    pub sources: Option<std::collections::BTreeMap<String, super::receiver_guard::RawSourceGuard>>,
}

/// `receiver:` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverConfig {
    /// Most bytes of a request body, and most bytes it may decompress to.
    pub max_request_bytes: ByteSize,
    /// Requests decoded and stored at once; more are answered 503.
    pub max_concurrent_requests: usize,
    /// How long a sender may take to deliver a request's body.
    pub read_timeout: Duration,
    /// The request header naming the source (tenant) a request comes from.
    pub source_header: String,
    /// Series budgets of the sources (`docs/guard.md`, "Pushed data").
    pub guard: super::receiver_guard::ReceiverGuardConfig,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_request_bytes: ByteSize(DEFAULT_MAX_REQUEST_BYTES),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            read_timeout: Duration::from_millis(DEFAULT_READ_TIMEOUT_MS),
            source_header: DEFAULT_SOURCE_HEADER.to_string(),
            guard: Default::default(),
        }
    }
}

/// Resolves `receiver:`; `None` when the section is absent.
pub fn resolve_receiver(
    raw: Option<RawReceiver>,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Option<ReceiverConfig> {
    let raw = raw?;
    let d = ReceiverConfig::default();
    let max_request_bytes = raw.max_request_bytes.unwrap_or(d.max_request_bytes);
    if max_request_bytes.0 == 0 {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("max_request_bytes"),
            "must be greater than 0",
        );
    }
    let max_concurrent_requests = raw
        .max_concurrent_requests
        .unwrap_or(d.max_concurrent_requests);
    if max_concurrent_requests == 0 {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("max_concurrent_requests"),
            "must be greater than 0",
        );
    }
    let read_timeout = raw.read_timeout.unwrap_or(d.read_timeout);
    if read_timeout.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("read_timeout"),
            "must be greater than 0s",
        );
    }
    let source_header = raw.source_header.unwrap_or(d.source_header);
    if reqwest::header::HeaderName::from_bytes(source_header.as_bytes()).is_err() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("source_header"),
            format!("{source_header:?} is not a valid HTTP header name"),
        );
    }
    Some(ReceiverConfig {
        max_request_bytes,
        max_concurrent_requests,
        read_timeout,
        source_header,
        guard: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_bare_section_turns_the_receiver_on_with_the_defaults() {
        assert_eq!(
            Config::from_yaml("global: {}\n").expect("loads").receiver,
            None
        );
        let bare = Config::from_yaml("receiver:\n").expect("loads");
        assert_eq!(bare.receiver, Some(ReceiverConfig::default()));
        let set = Config::from_yaml(
            "receiver:\n  max_request_bytes: 1MiB\n  max_concurrent_requests: 2\n  read_timeout: 5s\n  source_header: X-Tenant\n",
        )
        .expect("loads");
        assert_eq!(
            set.receiver,
            Some(ReceiverConfig {
                max_request_bytes: ByteSize(1 << 20),
                max_concurrent_requests: 2,
                read_timeout: Duration::from_secs(5),
                source_header: "X-Tenant".into(),
                ..ReceiverConfig::default()
            })
        );
    }

    #[test]
    fn zero_limits_and_a_bad_header_name_are_problems() {
        let e = Config::from_yaml(
            "receiver:\n  max_request_bytes: 0B\n  max_concurrent_requests: 0\n  read_timeout: 0s\n  source_header: 'a b'\n",
        )
        .expect_err("refused")
        .to_string();
        for want in [
            "receiver.max_request_bytes: must be greater than 0",
            "receiver.max_concurrent_requests: must be greater than 0",
            "receiver.read_timeout: must be greater than 0s",
            "receiver.source_header: \"a b\" is not a valid HTTP header name",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
        let e = Config::from_yaml("receiver:\n  max_series: 3\n")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("receiver.max_series: unknown key"), "{e}");
    }
}
