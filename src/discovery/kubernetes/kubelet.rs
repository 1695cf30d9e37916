//! The `kubelet_sd_configs` provider: polls the own node's kubelet for its
//! pods (`GET /pods`, a `PodList`) every `refresh_interval` and reports the
//! same target groups as role `pod` does (see [`roles::pod`]). Each poll
//! replaces the whole set: pods gone since the last good poll get empty
//! groups; unchanged groups are not sent again. A failed poll (kubelet
//! unreachable, an error status, a body that does not parse or is larger
//! than [`MAX_BODY`]) keeps the last good targets, is counted in
//! `levee_sd_kubelet_failures_total` and logged (the first of a run of
//! failures as a warning, the rest at debug level).
//!
//! This takes no load off the kubelet beyond one list per interval and puts
//! none on the API server: thousands of DaemonSet agents each watching all
//! pods is what it replaces.

use super::objects::{List, Pod};
use super::roles::{self, pod};
use crate::config::KubeletSdConfig;
use crate::discovery::{GroupSender, TargetGroup};
use crate::http_client::{self, HttpClient, HttpClientError, HttpSettings, Owner, error_chain};
use crate::selfmon::{Counter, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// The largest pod list read: a node's pods in full are a few MB.
pub const MAX_BODY: usize = 64 << 20;

/// Timeout of one poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a poll failed.
#[derive(Debug, Error)]
pub enum KubeletError {
    /// The HTTP client could not be built (a TLS file, the credentials).
    #[error(transparent)]
    Client(#[from] HttpClientError),
    /// The request failed (connect, TLS, timeout, a body cut short).
    #[error("GET {url}")]
    Request {
        /// The kubelet URL.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The kubelet answered with an error status.
    #[error("GET {url}: status {status}")]
    Status {
        /// The kubelet URL.
        url: String,
        /// The status it sent.
        status: reqwest::StatusCode,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("GET {url}: the pod list is larger than {MAX_BODY} bytes")]
    TooLarge {
        /// The kubelet URL.
        url: String,
    },
    /// The body is not a pod list.
    #[error("GET {url}: not a pod list")]
    Decode {
        /// The kubelet URL.
        url: String,
        /// Where and why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// Starts polling for `config`, reporting to `out` until the task is
/// aborted.
pub fn spawn(
    config: KubeletSdConfig,
    out: GroupSender,
    registry: &Registry,
) -> tokio::task::JoinHandle<()> {
    let failures = registry.counter(
        "levee_sd_kubelet_failures_total",
        "Polls of a kubelet's /pods (kubelet_sd_configs) that failed; the last good targets were kept.",
    );
    tokio::spawn(run(config, out, failures))
}

async fn run(config: KubeletSdConfig, out: GroupSender, failures: Arc<Counter>) {
    let url = config.url.clone();
    let mut poller = Poller::new(config);
    let mut tick = tokio::time::interval(poller.config.refresh_interval.as_std());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Failures in a row: the first is a warning, the rest are counted and
    // logged at debug level, so a kubelet down for an hour does not fill
    // the log; the recovery is logged.
    let mut failing = 0u64;
    loop {
        tick.tick().await;
        match poller.poll().await {
            Ok(pods) => {
                if failing > 0 {
                    tracing::info!(%url, failed_polls = failing, "kubelet_sd_configs: polling again");
                    failing = 0;
                }
                out.send(poller.changes(&pods));
            }
            Err(e) => {
                failures.inc();
                failing += 1;
                let msg = error_chain(&e);
                if failing == 1 {
                    tracing::warn!(%url, "kubelet_sd_configs: poll failed, keeping the last targets: {msg}");
                } else {
                    tracing::debug!(%url, "kubelet_sd_configs: poll failed again: {msg}");
                }
            }
        }
    }
}

/// One kubelet's poller: its client (built at the first poll, rebuilt
/// after a failure to build) and the groups last reported.
struct Poller {
    config: KubeletSdConfig,
    client: Option<HttpClient>,
    sent: HashMap<String, TargetGroup>,
}

impl Poller {
    fn new(config: KubeletSdConfig) -> Poller {
        Poller {
            config,
            client: None,
            sent: HashMap::new(),
        }
    }

    /// Fetches and parses the pod list.
    async fn poll(&mut self) -> Result<Vec<Pod>, KubeletError> {
        let url = &self.config.url;
        let client = match &self.client {
            Some(c) => c,
            None => {
                let owner = Owner::Discovery(format!("kubelet_sd_configs url {url:?}"));
                let settings = HttpSettings::from_config(&self.config.http, REQUEST_TIMEOUT);
                let https = url.starts_with("https:");
                self.client
                    .insert(http_client::build(&owner, https, &settings)?)
            }
        };
        let request_error = |source| KubeletError::Request {
            url: url.clone(),
            source,
        };
        let mut request = client
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(auth) = &client.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.value());
        }
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(KubeletError::Status {
                url: url.clone(),
                status,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(KubeletError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        let list: List<Pod> =
            serde_json::from_slice(&body).map_err(|source| KubeletError::Decode {
                url: url.clone(),
                source,
            })?;
        Ok(list.items)
    }

    /// The groups to report for a poll that found `pods`: those new or
    /// changed since the last report, and an empty one for each pod gone
    /// (or without an IP now). Remembers what it reports.
    fn changes(&mut self, pods: &[Pod]) -> Vec<TargetGroup> {
        let mut now: HashMap<String, TargetGroup> = HashMap::with_capacity(pods.len());
        // A nameless pod cannot be told from another: skipped.
        for p in pods.iter().filter(|p| !p.metadata.name.is_empty()) {
            let g = pod::group(p, None);
            if g.targets.is_empty() {
                now.remove(&g.source);
            } else {
                now.insert(g.source.clone(), g);
            }
        }
        let mut out: Vec<TargetGroup> = self
            .sent
            .keys()
            .filter(|source| !now.contains_key(*source))
            .map(|source| roles::removed(source.clone()))
            .collect();
        out.extend(
            now.values()
                .filter(|g| self.sent.get(&g.source) != Some(g))
                .cloned(),
        );
        self.sent = now;
        out
    }
}

#[cfg(test)]
mod tests;
