//! Processes, ports and directories for peer tests.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A fresh temporary directory, removed on drop.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

/// Panics with a clear message naming the Debian package when `path` is
/// missing.
pub fn require_binary(path: &str, debian_package: &str) {
    if !Path::new(path).exists() {
        panic!(
            "{path} not found: this test needs a real peer; install it with `apt-get install {debian_package}` (scripts/test does this)"
        );
    }
}

/// A running child process, killed (by its PID) and reaped on drop, also
/// when the test panics. Its stderr/stdout go to a log file in `log_dir`
/// that is printed when startup fails.
pub struct Child {
    child: std::process::Child,
    name: String,
    log: std::path::PathBuf,
}

impl Child {
    /// Starts `program` with `args`, output to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, program: &str, args: &[String], log_dir: &Path) -> Child {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Child {
            child,
            name: name.to_string(),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last part of the process' log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!(
            "--- {} log ({}) ---\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early with {status}\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// Asks the process to stop (SIGTERM by PID, through `kill(1)`) and
    /// waits up to `timeout` for it to exit; kills it if it does not.
    pub fn terminate(&mut self, timeout: Duration) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < timeout {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Kills the process now (SIGKILL by PID) and reaps it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url` until it answers 2xx, failing with the child's log after
/// `timeout` (a readiness wait, not a timing assertion).
pub async fn wait_http_ok(url: &str, child: &mut Child, timeout: Duration) {
    wait_http_ok_with(&reqwest::Client::new(), url, child, timeout).await;
}

/// [`wait_http_ok`] with a given client (e.g. one holding TLS settings).
pub async fn wait_http_ok_with(
    client: &reqwest::Client,
    url: &str,
    child: &mut Child,
    timeout: Duration,
) {
    let start = Instant::now();
    loop {
        child.assert_running();
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        if start.elapsed() > timeout {
            panic!("{url} not ready after {timeout:?}\n{}", child.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
