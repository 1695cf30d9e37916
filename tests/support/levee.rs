//! Running levee itself in a test: in process through [`levee::agent::Agent`]
//! (fast, inspectable) with a config written to a temp dir.

use levee::agent::{Agent, AgentOptions};
use std::path::PathBuf;

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
