//! `kubelet_sd_configs` (a levee extension): the pods of the own node, read
//! from the kubelet's `/pods` instead of watching the API server. As
//! written (`RawKubeletSdConfig`) and resolved ([`KubeletSdConfig`]):
//!
//! - `url`: default `https://${NODE_IP}:10250/pods`; `${VAR}` expands from
//!   the environment (see `config::env`).
//! - `refresh_interval`: how often to poll, default 5s.
//! - the HTTP client keys (`authorization`, `bearer_token_file`,
//!   `tls_config`, …); without any credentials, the pod's service-account
//!   token is sent (`/var/run/secrets/kubernetes.io/serviceaccount/token`,
//!   read at the first request and re-read when it rotates, so a config
//!   checked outside a cluster does not fail on it).

use serde::Deserialize;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use super::duration::Duration;
use super::env::expand_env;
use super::error::{ConfigPath, ProblemKind};
use super::http::resolve_http;
use super::raw::{RawAuthorization, RawBasicAuth, RawHttp, RawTlsConfig};
use super::resolve::Ctx;
use super::sd::SdConfig;
use super::types::{Authorization, HttpClientConfig, Secret};

/// The URL polled when none is given.
pub const DEFAULT_URL: &str = "https://${NODE_IP}:10250/pods";

/// The token sent when no credentials are given: the pod's service account.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How often the kubelet is polled when `refresh_interval` is not given.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// One entry of `kubelet_sd_configs:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubeletSdConfig {
    pub url: Option<String>,
    pub refresh_interval: Option<Duration>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

/// One `kubelet_sd_configs` entry, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletSdConfig {
    /// The kubelet's pod list, `${VAR}` expanded.
    pub url: String,
    /// How often it is polled.
    pub refresh_interval: Duration,
    /// How it is reached: TLS and the credentials.
    pub http: HttpClientConfig,
}

// The HTTP settings compare as strings, bytes and booleans: `PartialEq` is
// an equivalence, so equal configs can share one provider.
impl Eq for KubeletSdConfig {}

impl Hash for KubeletSdConfig {
    /// Hashes the URL and interval; equal configs agree on them, so they
    /// hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.url.hash(state);
        self.refresh_interval.hash(state);
    }
}

/// Resolves the entries of `kubelet_sd_configs` found at `base`.
pub(super) fn resolve(
    raws: Vec<RawKubeletSdConfig>,
    base: &ConfigPath,
    cx: &mut Ctx<'_>,
) -> Vec<SdConfig> {
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| SdConfig::Kubelet(resolve_one(raw, &base.index(i), cx)))
        .collect()
}

fn resolve_one(raw: RawKubeletSdConfig, path: &ConfigPath, cx: &mut Ctx<'_>) -> KubeletSdConfig {
    let written = raw.url.filter(|u| !u.is_empty());
    let url_path = path.key("url");
    let url = match expand_env(written.as_deref().unwrap_or(DEFAULT_URL)) {
        Ok(url) => url,
        Err(e) => {
            let what = if written.is_some() {
                String::new()
            } else {
                format!(" (the default url is {DEFAULT_URL})")
            };
            cx.problem(ProblemKind::Invalid, &url_path, format!("{e}{what}"));
            String::new()
        }
    };
    if !url.is_empty() {
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            Ok(_) => cx.problem(
                ProblemKind::Invalid,
                &url_path,
                format!("{url:?} is not an http or https URL"),
            ),
            Err(e) => cx.problem(
                ProblemKind::Invalid,
                &url_path,
                format!("{url:?} is not a valid URL: {e}"),
            ),
        }
    }
    let refresh_interval = raw.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL);
    if refresh_interval == Duration::ZERO {
        cx.problem(
            ProblemKind::Invalid,
            &path.key("refresh_interval"),
            "must be greater than 0",
        );
    }
    let mut http = resolve_http(
        RawHttp {
            basic_auth: raw.basic_auth,
            authorization: raw.authorization,
            bearer_token: raw.bearer_token,
            bearer_token_file: raw.bearer_token_file,
            tls_config: raw.tls_config,
            follow_redirects: raw.follow_redirects,
            enable_http2: raw.enable_http2,
        },
        path,
        cx,
    );
    if http.basic_auth.is_none() && http.authorization.is_none() {
        http.authorization = Some(Authorization {
            kind: "Bearer".into(),
            credentials: Secret::from_file("", PathBuf::from(DEFAULT_TOKEN_FILE)),
        });
    }
    KubeletSdConfig {
        url,
        refresh_interval,
        http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn kubelet(entry: &str) -> Result<KubeletSdConfig, Vec<String>> {
        let yaml = format!(
            "scrape_configs:\n  - job_name: pods\n    kubelet_sd_configs:\n      - {entry}\n"
        );
        match Config::from_yaml(&yaml) {
            Ok(c) => match &c.scrape_configs[0].sd_configs[..] {
                [SdConfig::Kubelet(k)] => Ok(k.clone()),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.problems().iter().map(|p| p.to_string()).collect()),
        }
    }

    #[test]
    fn defaults_poll_the_node_ip_with_the_service_account_token() {
        match (std::env::var("NODE_IP"), kubelet("{}")) {
            (Ok(ip), Ok(k)) => assert_eq!(k.url, format!("https://{ip}:10250/pods")),
            (Err(_), Err(problems)) => assert_eq!(
                problems,
                [
                    "scrape_configs[0].kubelet_sd_configs[0].url: environment variable NODE_IP is not set \
                  (the default url is https://${NODE_IP}:10250/pods) (line 4, column 9)"
                ]
            ),
            other => panic!("{other:?}"),
        }
        let k = kubelet("url: http://127.0.0.1:10255/pods").unwrap();
        assert_eq!(k.refresh_interval, Duration::from_secs(5));
        let auth = k.http.authorization.unwrap();
        assert_eq!(auth.kind, "Bearer");
        assert_eq!(
            auth.credentials.file(),
            Some(std::path::Path::new(DEFAULT_TOKEN_FILE))
        );
        assert!(!k.http.tls_config.insecure_skip_verify);
    }

    #[test]
    fn given_keys_replace_the_defaults() {
        let k = kubelet("{url: 'https://${PATH_FOR_NO_ONE:-x}', refresh_interval: 1s}");
        assert!(k.is_err(), "{k:?}");
        let k = kubelet(
            "{url: 'https://127.0.0.1:10250/pods', refresh_interval: 30s, \
             authorization: {credentials: abc}, tls_config: {insecure_skip_verify: true}}",
        )
        .unwrap();
        assert_eq!(k.refresh_interval, Duration::from_secs(30));
        let auth = k.http.authorization.unwrap();
        assert_eq!(auth.credentials.expose(), "abc");
        assert_eq!(auth.credentials.file(), None);
        assert!(k.http.tls_config.insecure_skip_verify);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "url: 'https://${LEVEE_TEST_SURELY_UNSET}:10250/pods'",
                "scrape_configs[0].kubelet_sd_configs[0].url: environment variable \
                 LEVEE_TEST_SURELY_UNSET is not set",
            ),
            (
                "url: 'ftp://127.0.0.1/pods'",
                "scrape_configs[0].kubelet_sd_configs[0].url: \"ftp://127.0.0.1/pods\" is not an http or https URL",
            ),
            (
                "{url: 'http://127.0.0.1/pods', refresh_interval: 0s}",
                "scrape_configs[0].kubelet_sd_configs[0].refresh_interval: must be greater than 0",
            ),
            (
                "{url: 'http://127.0.0.1/pods', role: pod}",
                "scrape_configs[0].kubelet_sd_configs[0].role: unknown key",
            ),
        ];
        for (entry, want) in cases {
            let problems = kubelet(entry).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].starts_with(want), "{entry}: {problems:?}");
        }
    }
}
