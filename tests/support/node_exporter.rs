//! A real prometheus-node-exporter as a scrape target.

use super::process::{Child, Listening, require_binary, temp_dir};
use std::time::Duration;

const BIN: &str = "/usr/bin/prometheus-node-exporter";

/// A node_exporter listening on 127.0.0.1; killed on drop.
pub struct NodeExporter {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl NodeExporter {
    /// Starts node_exporter and waits until `/metrics` answers.
    pub async fn start() -> NodeExporter {
        Self::start_with(&[]).await
    }

    /// Starts node_exporter with extra flags (e.g. collector selection).
    pub async fn start_with(extra: &[String]) -> NodeExporter {
        require_binary(BIN, "prometheus-node-exporter");
        let dir = temp_dir("levee-node-exporter");
        let listening = Listening {
            name: "node_exporter",
            program: BIN,
            log_dir: dir.path(),
            client: &reqwest::Client::new(),
            timeout: Duration::from_secs(30),
        };
        let args = |port| {
            let mut args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
            args.extend(extra.iter().cloned());
            args
        };
        let (child, port) = listening
            .spawn(args, |port| format!("http://127.0.0.1:{port}/metrics"))
            .await;
        NodeExporter {
            child,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>`, as a static_config target.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The metrics URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }

    /// The process (to kill it early or read its log).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}
