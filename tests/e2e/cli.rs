//! The `levee` binary as an operator uses it: `--version`, `check` on good
//! and bad files, and `run` stopping cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn levee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levee"))
}

#[test]
fn version_names_the_crate_version() {
    let out = levee()
        .arg("--version")
        .output()
        .expect("run levee --version");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("levee {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_accepts_the_embedded_default() {
    let out = levee()
        .args(["check", "examples/levee.yml"])
        .output()
        .expect("run levee check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn check_rejects_an_unknown_key_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - tragets: ['x:1']\n",
    )
    .expect("write config");
    let out = levee()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run levee check");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tragets"), "names the key: {err}");
    assert!(err.contains("line 4"), "names the line: {err}");
}

#[test]
fn check_rejects_a_bad_relabel_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        source_labels: [x]\n        target_label: y\n",
    )
    .expect("write config");
    let out = levee()
        .arg("check")
        .arg(&path)
        .output()
        .expect("run levee check");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("modulus"), "says what is missing: {err}");
}

#[test]
fn run_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("levee.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:1']\n",
    )
    .expect("write config");
    let mut child = levee()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start levee run");
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for levee") {
            let out = child.wait_with_output().expect("collect stderr");
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(status.success(), "exit status {status}: {log}");
            assert!(log.contains("levee stopped"), "{log}");
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("levee did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_refuses_a_bad_web_config_file_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "scrape_configs: []\n").expect("write config");
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_user:\n  alice: x\n").expect("write web config");
    let out = levee()
        .arg("run")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--web.config.file={}", web.display()))
        .output()
        .expect("run levee run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.yml") && err.contains("basic_auth_user"),
        "{err}"
    );
}
