//! levee's configuration: Prometheus' `prometheus.yml` keys with the same
//! defaults and meaning (Prometheus 2.42), loaded into resolved structs.
//!
//! Loading runs in four steps, each in its own file:
//! 1. `yaml`: the text becomes a tree of located nodes (serde-saphyr resolves
//!    anchors, aliases and `<<` merge keys; scalars keep their text).
//! 2. `unsupported`: keys levee does not implement yet are reported as
//!    "not supported yet" and removed.
//! 3. `de` + `raw`: the tree is decoded into serde structs, section by
//!    section and list entry by list entry; unknown keys and wrong types are
//!    errors naming the key path and line.
//! 4. `resolve` + `http`: defaults applied, values checked, secret files read.
//!
//! Relabel rules are kept raw ([`crate::relabel::RelabelConfig`]); compile
//! them with the relabel module before use.
//!
//! ```
//! use levee::config::Config;
//!
//! let config = Config::from_yaml(
//!     "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n",
//! )
//! .unwrap();
//! assert_eq!(config.scrape_configs[0].scrape_interval.to_string(), "1m");
//! assert_eq!(config.scrape_configs[0].metrics_path, "/metrics");
//! ```

mod de;
mod duration;
mod env;
mod error;
mod guard;
mod headers;
mod http;
mod raw;
mod receiver;
mod receiver_guard;
mod resolve;
mod sd;
mod sd_file;
mod sd_kubelet;
mod sd_kubernetes;
mod size;
mod types;
mod unsupported;
mod yaml;

use std::path::Path;

pub use duration::{Duration, DurationError};
pub use env::{EnvError, expand_env, expand_with};
pub use error::{ConfigError, Problem, ProblemKind};
pub use guard::{GuardConfig, JobGuardConfig};
pub use headers::{HeaderError, RESERVED_HEADERS, check_header};
pub use receiver::ReceiverConfig;
pub use receiver_guard::ReceiverGuardConfig;
pub use resolve::valid_label_name;

pub use sd::{KubeletSdConfig, SdConfig};
pub use sd_file::{DEFAULT_REFRESH_INTERVAL, FileSdConfig, valid_file_sd_name};
pub use sd_kubernetes::{
    ApiAccess, KubernetesRole, KubernetesSdConfig, NamespaceDiscovery, RoleSelector,
};
pub use size::{ByteSize, SizeError};
pub use types::{
    Authorization, BasicAuth, Config, FileContents, GlobalConfig, HttpClientConfig, MetadataConfig,
    ProtobufMessage, QueueConfig, RemoteWriteConfig, Scheme, ScrapeConfig, Secret, StaticConfig,
    StorageConfig, TlsConfig, WalSync,
};
pub use yaml::{Origin, Pos};

impl Config {
    /// Reads, parses, defaults and validates the config file at `path`.
    /// Relative file names inside it (`password_file`, `ca_file`, …) are
    /// taken from the file's directory.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        load(&text, Some(dir.unwrap_or(Path::new("."))))
    }

    /// Parses, defaults and validates config text. Relative file names
    /// inside it are taken from the current directory.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        load(text, None)
    }

    /// A one-line summary for `levee check`: jobs, targets and endpoints.
    pub fn summary(&self) -> String {
        let targets: usize = self
            .scrape_configs
            .iter()
            .flat_map(|j| &j.static_configs)
            .map(|s| s.targets.len())
            .sum();
        format!(
            "{} scrape job(s) with {} static target(s), {} remote_write endpoint(s)",
            self.scrape_configs.len(),
            targets,
            self.remote_write.len()
        )
    }
}

fn load(text: &str, base_dir: Option<&Path>) -> Result<Config, ConfigError> {
    let mut root = yaml::parse(text)?;
    let mut problems = unsupported::strip(&mut root);
    let (raw, decode_problems) = raw::decode_root(&root);
    problems.extend(decode_problems);
    let mut cx = resolve::Ctx::new(&root, base_dir);
    let (config, more) = resolve::resolve(raw, &mut cx);
    problems.extend(more);
    // Report in file order; problems without a position last.
    problems.sort_by_key(|p| {
        p.origin
            .and_then(|o| o.at)
            .map_or((u64::MAX, 0), |at| (at.line, at.column))
    });
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

/// What `levee check FILE` prints: on success the summary and any notes
/// (exit 0); on failure the error, naming every problem found (exit 1).
pub fn check_file(path: &Path) -> Result<String, ConfigError> {
    let config = Config::load_file(path)?;
    let mut out = format!("{}: OK: {}", path.display(), config.summary());
    for note in &config.notes {
        out.push_str("\n  note: ");
        out.push_str(note);
    }
    Ok(out)
}
