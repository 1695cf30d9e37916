//! Running levee itself in a test: in process through [`levee::agent::Agent`]
//! (fast, inspectable) with a config written to a temp dir, or as the real
//! `levee` binary in a child process (to kill -9 it).

use super::process::{Child, wait_http_ok};
use levee::agent::{Agent, AgentOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a `levee run` child may take to start.
const CHILD_START: Duration = Duration::from_secs(60);

/// Starts `levee run --config <config> --data-dir <data_dir>` as a child
/// named `name` (log in `log_dir`) and waits until it is ready. It listens
/// on a port of its own (`--listen 127.0.0.1:0`) and names it in its
/// `levee started` log line, so no port is picked for it beforehand (and
/// none can be taken from it); returns that address.
pub async fn run_child(
    name: &str,
    config: &Path,
    data_dir: &Path,
    log_dir: &Path,
) -> (Child, SocketAddr) {
    let args = vec![
        "run".to_string(),
        "--config".to_string(),
        config.display().to_string(),
        "--data-dir".to_string(),
        data_dir.display().to_string(),
        "--listen".to_string(),
        "127.0.0.1:0".to_string(),
    ];
    run_child_with(name, &args, log_dir).await
}

/// Starts `levee` with `args` (which must make it listen on
/// `127.0.0.1:0`) as a child named `name`, as [`run_child`] does.
pub async fn run_child_with(name: &str, args: &[String], log_dir: &Path) -> (Child, SocketAddr) {
    let mut child = Child::spawn(name, env!("CARGO_BIN_EXE_levee"), args, log_dir);
    let start = Instant::now();
    let addr = loop {
        child.assert_running();
        if let Some(addr) = started_on(&child.log_text()) {
            break addr;
        }
        if start.elapsed() > CHILD_START {
            panic!(
                "{name} did not start after {CHILD_START:?}\n{}",
                child.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready = format!("http://{addr}/-/ready");
    wait_http_ok(&ready, &mut child, CHILD_START).await;
    (child, addr)
}

/// The `listen=` address of a `levee started` line in `log`.
fn started_on(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|l| l.contains("levee started"))
        .find_map(|l| {
            l.split_once(" listen=")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

/// An agent started from a YAML config, with its temp dirs.
pub struct TestAgent {
    /// The running agent.
    pub agent: Agent,
    /// Holds the config file and data dir.
    pub dir: tempfile::TempDir,
}

impl TestAgent {
    /// Writes `yaml` to a temp file and starts an agent on a free port.
    pub async fn start(yaml: &str) -> TestAgent {
        TestAgent::start_in(tempfile::tempdir().expect("temp dir"), yaml).await
    }

    /// Like [`TestAgent::start`], in an existing dir (whose `data/` a
    /// previous agent may have left).
    pub async fn start_in(dir: tempfile::TempDir, yaml: &str) -> TestAgent {
        let config_path: PathBuf = dir.path().join("levee.yml");
        std::fs::write(&config_path, yaml).expect("write config");
        let agent = Agent::start(AgentOptions {
            config_path,
            data_dir: Some(dir.path().join("data")),
            listen: "127.0.0.1:0".into(),
            enable_remote_write_receiver: false,
            enable_lifecycle: false,
            web_config: None,
        })
        .await
        .unwrap_or_else(|e| panic!("levee failed to start: {e}\nconfig:\n{yaml}"));
        TestAgent { agent, dir }
    }

    /// levee's own `/metrics` text.
    pub async fn self_metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.agent.web_addr());
        reqwest::get(&url)
            .await
            .expect("GET levee /metrics")
            .text()
            .await
            .expect("read levee /metrics")
    }

    /// The value of one self-metric line (exact series text), if present.
    pub async fn self_metric(&self, series: &str) -> Option<f64> {
        let text = self.self_metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|v| v.trim().parse().ok())
    }
}
