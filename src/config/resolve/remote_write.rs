//! `remote_write:`: each endpoint with its name, headers, queue and
//! metadata settings, and names used twice.

use std::collections::HashMap;

use md5::{Digest, Md5};

use super::Ctx;
use crate::config::duration::Duration;
use crate::config::error::{ConfigPath, ProblemKind};
use crate::config::http::resolve_http;
use crate::config::raw::{RawMetadataConfig, RawQueueConfig, RawRemoteWrite};
use crate::config::types::{MetadataConfig, ProtobufMessage, QueueConfig, RemoteWriteConfig};

/// Resolves every `remote_write` entry; names must be unique.
pub(super) fn remote_writes(
    raw: Vec<(usize, RawRemoteWrite)>,
    base: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Vec<RemoteWriteConfig> {
    let mut remote_write = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, raw_rw) in raw {
        let path = base.index(i);
        let named = raw_rw.name.as_deref().is_some_and(|n| !n.is_empty());
        let rw = remote_write_config(raw_rw, &path, cx);
        if let Some(first) = names.get(&rw.name) {
            let message = if named {
                format!(
                    "name {:?} is already used by remote_write[{first}]",
                    rw.name
                )
            } else {
                format!("same URL as remote_write[{first}]: give each endpoint a distinct `name`")
            };
            let at = if named {
                path.key("name")
            } else {
                path.key("url")
            };
            cx.problem(ProblemKind::Invalid, &at, message);
        } else {
            names.insert(rw.name.clone(), i);
        }
        remote_write.push(rw);
    }
    remote_write
}

/// The default name of a remote-write endpoint: the first 6 hex digits of
/// the MD5 of its URL (Prometheus hashes its whole JSON-encoded config).
pub(super) fn derived_name(url: &str) -> String {
    let digest = Md5::digest(url.as_bytes());
    digest.iter().take(3).map(|b| format!("{b:02x}")).collect()
}

fn remote_write_config(
    mut raw: RawRemoteWrite,
    path: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> RemoteWriteConfig {
    let http = resolve_http(raw.take_http(), path, cx);
    let url = raw.url.unwrap_or_default();
    if url.is_empty() {
        cx.problem(ProblemKind::Invalid, path, "missing required key `url`");
    } else {
        super::check_http_url(&url, &path.key("url"), cx);
    }
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| derived_name(&url));
    let remote_timeout = raw.remote_timeout.unwrap_or(Duration::from_secs(30));
    if remote_timeout.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("remote_timeout"),
            "must be greater than 0s",
        );
    }
    let headers = raw.headers.unwrap_or_default();
    for (name, value) in &headers {
        // The one reserved list, so that a header accepted here is also
        // accepted when the endpoint's client is built.
        if let Err(e) = crate::config::check_header(name, value) {
            let at = path.key("headers").key(name);
            cx.problem(ProblemKind::Invalid, &at, format!("{name:?} {e}"));
        }
    }
    let queue_config = queue_config(
        raw.queue_config.unwrap_or_default(),
        &path.key("queue_config"),
        cx,
    );
    let protobuf_message = protobuf_message(
        raw.protobuf_message.as_deref(),
        &path.key("protobuf_message"),
        cx,
    );
    RemoteWriteConfig {
        url,
        name,
        remote_timeout,
        headers,
        write_relabel_configs: raw.write_relabel_configs.unwrap_or_default(),
        queue_config,
        metadata_config: metadata_config(raw.metadata_config.unwrap_or_default()),
        protobuf_message,
        http,
    }
}

fn queue_config(raw: RawQueueConfig, path: &ConfigPath, cx: &mut Ctx<'_>) -> QueueConfig {
    let d = QueueConfig::default();
    let q = QueueConfig {
        capacity: raw.capacity.unwrap_or(d.capacity),
        max_shards: raw.max_shards.unwrap_or(d.max_shards),
        min_shards: raw.min_shards.unwrap_or(d.min_shards),
        max_samples_per_send: raw.max_samples_per_send.unwrap_or(d.max_samples_per_send),
        batch_send_deadline: raw.batch_send_deadline.unwrap_or(d.batch_send_deadline),
        min_backoff: raw.min_backoff.unwrap_or(d.min_backoff),
        max_backoff: raw.max_backoff.unwrap_or(d.max_backoff),
        retry_on_http_429: raw.retry_on_http_429.unwrap_or(d.retry_on_http_429),
    };
    for (key, value) in [
        ("capacity", q.capacity),
        ("max_shards", q.max_shards),
        ("min_shards", q.min_shards),
        ("max_samples_per_send", q.max_samples_per_send),
    ] {
        if value == 0 {
            cx.problem(
                ProblemKind::Invalid,
                &path.key(key),
                "must be greater than 0",
            );
        }
    }
    if q.min_shards > q.max_shards {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("min_shards"),
            format!(
                "min_shards ({}) is greater than max_shards ({})",
                q.min_shards, q.max_shards
            ),
        );
    }
    if q.min_backoff > q.max_backoff {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("min_backoff"),
            format!(
                "min_backoff ({}) is greater than max_backoff ({})",
                q.min_backoff, q.max_backoff
            ),
        );
    }
    if q.batch_send_deadline.is_zero() {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("batch_send_deadline"),
            "must be greater than 0s",
        );
    }
    q
}

/// `protobuf_message`: one of the two message names; anything else is a
/// problem naming the accepted values (and the default is kept).
fn protobuf_message(raw: Option<&str>, path: &ConfigPath, cx: &mut Ctx<'_>) -> ProtobufMessage {
    let Some(raw) = raw else {
        return ProtobufMessage::default();
    };
    match ProtobufMessage::ALL.into_iter().find(|m| m.name() == raw) {
        Some(m) => m,
        None => {
            cx.problem(
                ProblemKind::Invalid,
                path,
                format!(
                    "{raw:?} is not a remote-write protobuf message: use {:?} (remote write 1.0, the default) or {:?} (2.0)",
                    ProtobufMessage::V1.name(),
                    ProtobufMessage::V2.name()
                ),
            );
            ProtobufMessage::default()
        }
    }
}

fn metadata_config(raw: RawMetadataConfig) -> MetadataConfig {
    let d = MetadataConfig::default();
    MetadataConfig {
        send: raw.send.unwrap_or(d.send),
        send_interval: raw.send_interval.unwrap_or(d.send_interval),
        max_samples_per_send: raw.max_samples_per_send.unwrap_or(d.max_samples_per_send),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_stable_hex() {
        let name = derived_name("http://127.0.0.1:9090/api/v1/write");
        assert_eq!(name.len(), 6);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(name, derived_name("http://127.0.0.1:9090/api/v1/write"));
        assert_ne!(name, derived_name("http://127.0.0.1:8428/api/v1/write"));
    }
}
